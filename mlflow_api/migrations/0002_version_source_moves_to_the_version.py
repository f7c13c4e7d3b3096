"""The `source` an MLflow client sent moves to the version itself (ModelVersion.source),
where Modelgate's API and pages record and show it; MLflow's table keeps run_id and
run_link.

A source longer than the version's column (2000 characters; MLflow's own SQL store
holds 500) is cut to fit.
"""

from django.db import migrations

BATCH = 1000


def to_the_version(apps, schema_editor):
    VersionSource = apps.get_model("mlflow_api", "VersionSource")
    ModelVersion = apps.get_model("registry", "ModelVersion")
    limit = ModelVersion._meta.get_field("source").max_length
    found = VersionSource.objects.exclude(source="").values_list("version_id", "source")
    for version_id, source in found.iterator(chunk_size=BATCH):
        ModelVersion.objects.filter(pk=version_id, source="").update(source=source[:limit])


def back_to_mlflow(apps, schema_editor):
    VersionSource = apps.get_model("mlflow_api", "VersionSource")
    found = VersionSource.objects.exclude(version__source="").values_list(
        "version_id", "version__source"
    )
    for version_id, source in found.iterator(chunk_size=BATCH):
        VersionSource.objects.filter(pk=version_id).update(source=source)


class Migration(migrations.Migration):
    dependencies = [
        ("mlflow_api", "0001_initial"),
        ("registry", "0013_version_source"),
    ]

    operations = [
        migrations.RunPython(to_the_version, back_to_mlflow),
        migrations.RemoveField(model_name="versionsource", name="source"),
    ]
