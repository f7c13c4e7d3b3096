"""Index the search language's `params.<key> = value` and `description ~ "text"` terms on
PostgreSQL (registry.search).

An equality on a hyperparameter also compiles to `params @> '{"key": value}'`, which a GIN
index with jsonb_path_ops serves whatever the key; `description ~` compiles to
UPPER("description"::text) LIKE UPPER('%text%'), which only a trigram index on that
expression can serve. SQLite has neither index type; it scans.
"""

from django.db import migrations

INDEXES = {
    "registry_version_params_gin": "USING gin (params jsonb_path_ops)",
    "registry_version_description_trgm": "USING gin ((UPPER(description::text)) gin_trgm_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, how in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON registry_modelversion {how}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0013_version_source")]

    operations = [migrations.RunPython(create, drop)]
