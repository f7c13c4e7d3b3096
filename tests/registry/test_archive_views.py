"""The jobs page (scoping, filters, query count), the retention settings page (dry run
before enabling) and the admin's retry action."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.urls import reverse

from lineage.models import RenderJob
from registry import archiving, services
from registry.models import Job, JobKind, JobState, RetentionPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_dispatch() -> Any:
    with mock.patch("registry.archiving.dispatch") as dispatch:
        yield dispatch


def test_jobs_page_shows_the_teams_jobs_only(
    client, team, other_team, viewer, outsider, site_admin, django_assert_max_num_queries
):
    for _ in range(3):
        Job.objects.create(kind=JobKind.ARCHIVE, team=team, state=JobState.DONE,
                           progress_done=10, progress_total=10)  # fmt: skip
    Job.objects.create(kind=JobKind.RESTORE, team=team, state=JobState.FAILED,
                       last_error="the archive copy is corrupt")  # fmt: skip
    Job.objects.create(kind=JobKind.ARCHIVE, team=other_team, last_error="growth's secret")
    RenderJob.objects.create(digest="d" * 64, dot="digraph {}")
    client.force_login(viewer)
    with django_assert_max_num_queries(8):
        page = client.get(reverse("jobs")).content.decode()
    assert page.count("Archive ·") == 3 and "corrupt" in page and "growth" not in page
    failed = client.get(reverse("jobs"), {"state": "failed"}).content.decode()
    assert "Restore ·" in failed and "Archive ·" not in failed
    restores = client.get(reverse("jobs"), {"kind": "archive", "state": "queued"}).content
    assert b"No jobs match these filters" in restores
    renders = client.get(reverse("jobs"), {"source": "renders"}).content.decode()
    assert "only site admins" in renders and "graph dddd" not in renders
    client.force_login(outsider)
    page = client.get(reverse("jobs")).content.decode()
    assert "growth&#x27;s secret" in page and "corrupt" not in page
    client.force_login(site_admin)
    assert (
        "graph dddddddddddd" in client.get(reverse("jobs"), {"source": "renders"}).content.decode()
    )
    assert client.get(reverse("jobs")).content.decode().count("Archive ·") == 4


def test_jobs_page_pages_by_id(client, team, viewer):
    Job.objects.bulk_create([Job(kind=JobKind.ARCHIVE, team=team) for _ in range(55)])
    client.force_login(viewer)
    first = client.get(reverse("jobs"))
    assert first.content.decode().count("Archive ·") == 50
    older = first.content.decode().split('rel="next" href="')[1].split('"')[0]
    second = client.get(reverse("jobs") + older.replace("&amp;", "&"))
    assert second.content.decode().count("Archive ·") == 5


def test_retention_needs_a_preview_before_enabling(
    client, team, maintainer, make_model, make_version
):
    model = make_model()
    for i in range(4):
        make_version(model, f"1.{i}.0", files={"m.bin": bytes([i]) * 1000})
    client.force_login(maintainer)
    url = reverse("team-retention", args=["fraud"])
    refused = client.post(url, {"keep_last": "2", "enabled": "on"}, follow=True)
    assert "Preview these rules before enabling them" in refused.content.decode()
    assert not RetentionPolicy.objects.filter(enabled=True).exists()
    preview = client.get(url, {"keep_last": "2", "preview": "1"}).content.decode()
    assert "2 versions would be archived now, 2.0" in preview and "churn 1.1.0" in preview
    assert 'name="previewed" value=":2"' in preview
    saved = client.post(url, {"keep_last": "2", "enabled": "on", "previewed": ":2"})
    assert saved.status_code == 302
    policy = RetentionPolicy.objects.get(team=team)
    assert policy.enabled and policy.keep_last == 2
    # Other rules than the previewed ones are refused again.
    client.post(url, {"keep_last": "1", "enabled": "on", "previewed": ":2"})
    policy.refresh_from_db()
    assert policy.keep_last == 2


def test_admin_retries_a_failed_job(client, site_admin, make_model, make_version, maintainer):
    version = make_version(make_model(), "1.0.0", files={"m.bin": b"x"})
    services.apply_transition(version=version, to_stage="archived", actor=maintainer)
    job = Job.objects.get(version=version)
    Job.objects.filter(pk=job.pk).update(state=JobState.FAILED, attempts=5, last_error="boom")
    client.force_login(site_admin)
    changelist = reverse("admin:registry_job_changelist")
    assert client.get(changelist).status_code == 200
    assert client.get(reverse("admin:registry_job_change", args=[job.pk])).status_code == 200
    client.post(changelist, {"action": "retry_selected", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.attempts == 0
    archiving.run(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.DONE
