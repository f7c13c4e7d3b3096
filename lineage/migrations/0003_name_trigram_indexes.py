"""Index the datasets' and feature sets' name search on PostgreSQL.

`name__icontains` compiles to UPPER("name"::text) LIKE UPPER('%q%') there, which only a
trigram index on that expression can serve (as for models, registry 0002). SQLite has no
such index type; it scans.
"""

from django.db import migrations

INDEXES = {
    "lineage_dataset_name_trgm": "lineage_dataset",
    "lineage_featureset_name_trgm": "lineage_featureset",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index, table in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON {table} "
            "USING gin ((UPPER(name::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [("lineage", "0002_runs_features_deployments")]

    operations = [migrations.RunPython(create, drop)]
