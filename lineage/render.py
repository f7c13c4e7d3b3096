"""Rendering lineage graphs to SVG with Graphviz, as jobs that Celery workers run.

    version_dot(lineage, version) -> str | None     DOT source, None over the size limit
    job_for(dot) -> RenderJob                         the row for that graph (enqueued once)
    run(job_id)                                       claim, render with `dot`, store, record
    sweep()                                           re-enqueue queued/running jobs gone stale
    svg_of(job) -> str                                the stored SVG

Labels are escaped for DOT (no HTML-like labels, no backslash escapes), so a name with
markup, quotes or DOT syntax renders as plain text; node links are Modelgate's own paths.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import subprocess

import graphviz
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from lineage.graph import VersionLineage
from lineage.models import NodeType, RenderJob, RenderState
from registry.models import ModelVersion, Stage
from registry.storage import artifact_storage

log = logging.getLogger(__name__)

MAX_RENDER_NODES = 300  # larger graphs are shown as lists only
RENDER_TIMEOUT = 20  # seconds `dot` may run
MAX_SVG_BYTES = 5 * 1024**2
STALE_QUEUED = dt.timedelta(minutes=1)  # enqueued, but no worker took it (broker down)
STALE_RUNNING = dt.timedelta(minutes=5)  # the worker died while rendering

_STAGE_COLOURS = {
    Stage.DEVELOPMENT: "#e9ecef",
    Stage.STAGING: "#ffe69c",
    Stage.PRODUCTION: "#a3cfbb",
    Stage.ARCHIVED: "#c5ccd3",
}


def _key(node_type: str, pk: int) -> str:
    return f"{node_type}_{pk}"  # not "type:id": a colon in a DOT node id names a port


def _node(g: graphviz.Digraph, key: str, label: str, url: str, **style: str) -> None:
    g.node(key, graphviz.escape(label), URL=url, target="_top", tooltip=graphviz.escape(label),
           **style)  # fmt: skip


def _version_node(g: graphviz.Digraph, v: ModelVersion, root: bool) -> None:
    _node(g, _key(NodeType.VERSION, v.pk), f"{v.model.name} {v.version}\n{Stage(v.stage).label}",
          v.get_absolute_url(), shape="box", style="rounded,filled",
          fillcolor=_STAGE_COLOURS[Stage(v.stage)], penwidth="2.5" if root else "1")  # fmt: skip


def version_dot(lineage: VersionLineage, version: ModelVersion) -> str | None:
    """The DOT source of a version's lineage graph, or None when it has too many nodes."""
    if lineage.node_count + 1 > MAX_RENDER_NODES:
        return None
    g = graphviz.Digraph("lineage", graph_attr={"rankdir": "LR", "fontname": "DejaVu Sans"},
                         node_attr={"fontname": "DejaVu Sans", "fontsize": "10"},
                         edge_attr={"fontname": "DejaVu Sans"})  # fmt: skip
    _version_node(g, version, root=True)
    for v, _depth in [*lineage.ancestors, *lineage.descendants]:
        _version_node(g, v, root=False)
    for dv in lineage.datasets:
        _node(g, _key(NodeType.DATASET, dv.pk), str(dv), dv.get_absolute_url(), shape="cylinder",
              style="filled", fillcolor="#cfe2ff")  # fmt: skip
    for code in lineage.code:
        _node(g, _key(NodeType.CODE, code.pk), str(code), code.get_absolute_url(), shape="note",
              style="filled", fillcolor="#f8f9fa")  # fmt: skip
    for fv in lineage.features:
        _node(g, _key(NodeType.FEATURES, fv.pk), str(fv), fv.get_absolute_url(), shape="box3d",
              style="filled", fillcolor="#e0cffc")  # fmt: skip
    for run in lineage.runs:
        _node(g, _key(NodeType.RUN, run.pk), f"run {run.external_id}\n{run.job}".strip(),
              run.get_absolute_url(), shape="component", style="filled",
              fillcolor="#fff3cd")  # fmt: skip
    for d in lineage.deployments:
        _node(g, _key(NodeType.DEPLOYMENT, d.pk), f"{d.environment}\n{d.get_status_display()}",
              d.get_absolute_url(), shape="hexagon", style="filled",
              fillcolor="#a3cfbb" if d.status == "active" else "#e9ecef")  # fmt: skip
    for edge in lineage.edges:
        g.edge(_key(*edge.src), _key(*edge.dst),
               label=edge.kind.replace("_", " "), fontsize="8")  # fmt: skip
    return g.source


def job_for(dot: str) -> RenderJob:
    """The render job of this graph; a new one is handed to the workers after commit."""
    digest = hashlib.sha256(dot.encode()).hexdigest()
    job, created = RenderJob.objects.get_or_create(digest=digest, defaults={"dot": dot})
    if created:
        from lineage import tasks

        transaction.on_commit(lambda: tasks.dispatch(job.pk))
    return job


def run(job_id: int) -> None:
    """Render a queued job; a job another worker claimed (or finished) is left alone."""
    now = timezone.now()
    claimed = RenderJob.objects.filter(pk=job_id, state=RenderState.QUEUED).update(
        state=RenderState.RUNNING, started_at=now
    )
    if not claimed:
        return
    job = RenderJob.objects.get(pk=job_id)
    try:
        svg = _render(job.dot)
        if not artifact_storage.exists(job.svg_name):
            artifact_storage.save(job.svg_name, ContentFile(svg))
    except Exception as exc:
        log.warning("lineage render %s failed: %s", job.digest, exc)
        _finish(job_id, RenderState.FAILED, str(exc)[:2000] or exc.__class__.__name__)
    else:
        _finish(job_id, RenderState.DONE, "")


def _render(dot: str) -> bytes:
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True,
                              timeout=RENDER_TIMEOUT, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"dot took longer than {RENDER_TIMEOUT} s") from None
    if done.returncode:
        raise RuntimeError(done.stderr.decode(errors="replace").strip() or "dot failed")
    if len(done.stdout) > MAX_SVG_BYTES:
        raise RuntimeError(f"the SVG is over {MAX_SVG_BYTES:,} bytes")
    return done.stdout


def _finish(job_id: int, state: str, error: str) -> None:
    RenderJob.objects.filter(pk=job_id, state=RenderState.RUNNING).update(
        state=state, error=error, finished_at=timezone.now()
    )


def sweep(now: dt.datetime | None = None) -> int:
    """Hand again to the workers the jobs whose message was lost (broker down when they
    were enqueued) or whose worker died; returns how many."""
    from lineage import tasks

    now = now or timezone.now()
    RenderJob.objects.filter(state=RenderState.RUNNING, started_at__lt=now - STALE_RUNNING).update(
        state=RenderState.QUEUED, started_at=None
    )
    stale = list(
        RenderJob.objects.filter(state=RenderState.QUEUED, created_at__lt=now - STALE_QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)[:100]
    )
    for pk in stale:
        tasks.dispatch(pk)
    return len(stale)


def svg_bytes(job: RenderJob) -> bytes:
    """The stored SVG document."""
    with artifact_storage.open(job.svg_name) as f:
        return f.read()
