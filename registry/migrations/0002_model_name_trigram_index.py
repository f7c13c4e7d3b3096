"""Index the models list text search on PostgreSQL.

`name__icontains` compiles to UPPER("name"::text) LIKE UPPER('%q%') there, which only a
trigram index on that expression can serve. SQLite has no such index type; it scans.
"""

from django.db import migrations

INDEX = "registry_model_name_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON registry_registeredmodel "
        "USING gin ((UPPER(name::text)) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
