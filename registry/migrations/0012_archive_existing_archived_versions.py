"""Versions already Archived before archiving existed become cold and get a queued archive
job each; the stale-job sweep (Celery beat, every minute) hands those to the workers."""

from django.db import migrations
from django.utils import timezone


def queue_archived(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    Job = apps.get_model("registry", "Job")
    now = timezone.now()
    pending = ModelVersion.objects.filter(stage="archived", cold_since__isnull=True).exclude(
        jobs__state__in=["queued", "running"]
    )
    for version in pending.select_related("model").iterator(chunk_size=500):
        ModelVersion.objects.filter(pk=version.pk).update(cold_since=now, cold_reason="archived")
        Job.objects.create(kind="archive", version=version, team_id=version.model.team_id,
                           created_at=now)  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("registry", "0011_archiving")]

    operations = [migrations.RunPython(queue_archived, migrations.RunPython.noop)]
