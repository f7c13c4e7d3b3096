"""Rendering lineage graphs: DOT, the job row and its states, the page and its placeholder."""

from __future__ import annotations

import datetime as dt
import os
import time
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from lineage import graph, render
from lineage.models import EdgeKind, RenderJob, RenderState
from registry.storage import artifact_storage
from registry.tasks import background
from tests.lineage.conftest import edge

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(make_model, make_version, make_dataset):
    model = make_model()
    base, tuned = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    data = make_dataset('<script>alert(1)</script>"]; evil [URL="http://x', "v1")
    edge(data, base, EdgeKind.USED)
    edge(base, tuned)
    return data, base, tuned


def graph_url(v):
    return reverse("version-graph", args=[v.model.team.slug, v.model.name, v.version])


def svg_url(v):
    return reverse("version-graph-svg", args=[v.model.team.slug, v.model.name, v.version])


def assert_served_svg(client, version):
    """The SVG at its own URL, served so that it cannot run script or load anything."""
    response = client.get(svg_url(version))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # the graph page frames it
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "allow-scripts" not in policy
    body = response.content.decode()
    assert "<svg" in body and version.get_absolute_url() in body
    return body


def test_it_renders_the_svg_with_names_as_plain_text_and_only_own_links(world, viewer):
    data, base, tuned = world
    dot = render.version_dot(graph.version_lineage(viewer, base), base)
    # Rendered here, not also by the background thread job_for hands it to on commit
    # (whichever claims it first renders: the other one leaves it alone).
    with mock.patch("lineage.tasks.dispatch"):
        job = render.job_for(dot)
    render.run(job.pk)
    job.refresh_from_db()
    assert job.state == RenderState.DONE, job.error
    svg = render.svg_bytes(job).decode()
    assert "<svg" in svg
    assert "<script" not in svg and "&lt;script&gt;" in svg
    links = [part.split('"')[0] for part in svg.split('xlink:href="')[1:]]
    assert sorted(links) == sorted(
        [base.get_absolute_url(), tuned.get_absolute_url(), data.get_absolute_url()]
    )
    assert svg.count('class="node"') == 3 and svg.count('class="edge"') == 2


def test_an_unchanged_graph_is_rendered_once(world, viewer):
    _data, base, _tuned = world
    dot = render.version_dot(graph.version_lineage(viewer, base), base)
    with mock.patch("lineage.tasks.dispatch") as dispatch:
        first, again = render.job_for(dot), render.job_for(dot)
    assert first.pk == again.pk and dispatch.call_count == 1


def test_a_failed_render_records_the_error(world):
    job = RenderJob.objects.create(digest="x" * 64, dot="digraph { this is not dot")
    render.run(job.pk)
    job.refresh_from_db()
    assert job.state == RenderState.FAILED and "syntax error" in job.error


def test_a_graph_over_the_limit_is_not_drawn(world, viewer, client, monkeypatch):
    _data, base, _tuned = world
    monkeypatch.setattr(render, "MAX_RENDER_NODES", 2)
    client.force_login(viewer)
    body = client.get(graph_url(base)).content.decode()
    assert "over the limit of 2 for drawing" in body
    assert not RenderJob.objects.exists()


def test_the_page_polls_while_pending_then_shows_the_svg(world, viewer, client):
    _data, base, _tuned = world
    client.force_login(viewer)
    with mock.patch("lineage.tasks.dispatch"):  # as if no worker were there
        response = client.get(graph_url(base), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "Rendering pending" in body and 'hx-trigger="load delay:1s"' in body
    assert "<html" not in body  # the partial alone
    assert client.get(svg_url(base)).status_code == 404  # not drawn yet
    render.run(RenderJob.objects.get().pk)  # the worker's turn
    body = client.get(graph_url(base), headers={"HX-Request": "true"}).content.decode()
    assert "<iframe" in body and svg_url(base) in body and "hx-get" not in body
    assert 'sandbox="allow-top-navigation-by-user-activation"' in body
    assert_served_svg(client, base)


def test_the_page_answers_with_the_broker_down(world, viewer, client, settings):
    _data, base, _tuned = world
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client.force_login(viewer)
    with (
        mock.patch("lineage.tasks.render_graph.apply_async", side_effect=OSError("down")) as send,
        mock.patch.object(background, "schedule", lambda job: job()),  # hand off at once
    ):
        response = client.get(graph_url(base))
    assert send.called
    assert response.status_code == 200
    assert "Rendering pending" in response.content.decode()
    assert RenderJob.objects.get().state == RenderState.QUEUED  # for the sweep


def test_the_sweep_requeues_stale_jobs(world):
    job = RenderJob.objects.create(digest="y" * 64, dot="digraph { a }")
    RenderJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    with mock.patch("lineage.tasks.dispatch") as dispatch:
        assert render.sweep() == 1
    dispatch.assert_called_once_with(job.pk)


def test_an_outsider_gets_404_for_the_graph_and_its_svg(world, outsider, viewer, client):
    _data, base, _tuned = world
    dot = render.version_dot(graph.version_lineage(viewer, base), base)
    render.run(render.job_for(dot).pk)
    client.force_login(outsider)
    assert client.get(graph_url(base)).status_code == 404
    assert client.get(svg_url(base)).status_code == 404


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_a_celery_worker_renders_through_the_broker_and_the_page_serves_it(
    world, viewer, client, settings
):
    """End to end: the page enqueues the job in Redis, a real Celery worker claims and
    renders it into storage, and the next poll of the page swaps the SVG in."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    assert not settings.CELERY_TASK_ALWAYS_EAGER
    _data, base, _tuned = world
    client.force_login(viewer)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert "Rendering pending" in client.get(graph_url(base)).content.decode()
        job = RenderJob.objects.get()
        deadline = time.monotonic() + 30
        while job.state not in (RenderState.DONE, RenderState.FAILED):
            assert time.monotonic() < deadline, "the worker did not render the graph"
            time.sleep(0.2)
            job.refresh_from_db()
    assert job.state == RenderState.DONE, job.error
    assert artifact_storage.exists(job.svg_name)
    body = client.get(graph_url(base), headers={"HX-Request": "true"}).content.decode()
    assert svg_url(base) in body
    assert_served_svg(client, base)
