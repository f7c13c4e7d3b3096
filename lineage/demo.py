"""Demo lineage for `seed_demo`: monthly data pipelines reported as OpenLineage events,
the datasets, feature sets and training runs each demo version came from, warm starts
from earlier versions, and deployments that follow each model's stage history.

Everything goes through the same domain functions as the API (lineage.openlineage,
lineage.graph, lineage.deployments), with times on the demo's timeline.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from accounts.models import Team, User
from lineage import deployments, graph, openlineage
from lineage.runs import RunData
from registry.demo import ModelSpec, PlannedVersion, stable_seed
from registry.models import ModelVersion, Stage, StageTransition

LAKE = "s3://acme-lake"
# Per domain: the raw table the monthly feature job reads and the feature table it writes.
PIPELINE_SOURCES = {
    "payments": "raw/card-transactions",
    "subscriptions": "raw/subscription-events",
    "marketing": "raw/campaign-touches",
    "operations": "raw/orders-daily",
    "ecommerce": "raw/catalog-and-clicks",
    "manufacturing": "raw/line-camera-frames",
    "support": "raw/support-tickets",
}
ENVIRONMENTS = {"fraud": ["prod-eu", "prod-us"], "growth": ["prod-eu"], "vision": ["prod-eu"]}


def _domain(spec: ModelSpec) -> str:
    return spec.tags.get("domain", "data")


def _month(when: dt.datetime) -> str:
    return f"{when:%Y-%m}"


def months_before(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The first instants of the `count` months up to `now`'s, oldest first."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = [first]
    while len(months) < count:
        months.append((months[-1] - dt.timedelta(days=1)).replace(day=1))
    return months[::-1]


def seed_pipelines(
    team: Team, actor: User, domains: set[str], months: Sequence[dt.datetime]
) -> int:
    """One feature job run per domain and month, as Airflow would report it: START, then
    COMPLETE, reading the month's raw data and writing its feature table."""
    events = 0
    for domain in sorted(domains):
        source = PIPELINE_SOURCES.get(domain, f"raw/{domain}")
        for start in months:
            run_id = str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"pipeline/{team.slug}/{domain}/{start:%Y-%m}")
            )
            month = _month(start)
            base = {
                "run": {"runId": run_id},
                "job": {"namespace": team.slug, "name": f"{domain}.features_monthly"},
                "producer": "https://github.com/apache/airflow/tree/2.10.0",
                "inputs": [{"namespace": LAKE, "name": source,
                            "facets": {"version": {"datasetVersion": month}}}],
                "outputs": [{"namespace": LAKE, "name": f"features/{domain}",
                             "facets": {"version": {"datasetVersion": month},
                                        "schema": {"fields": [
                                            {"name": "entity_id", "type": "STRING"},
                                            {"name": f"{domain}_30d_count", "type": "BIGINT"},
                                            {"name": f"{domain}_90d_mean", "type": "DOUBLE"},
                                        ]}},
                             "outputFacets": {"outputStatistics": {
                                 "rowCount": 1_000_000 + stable_seed(run_id) % 900_000}}}],
            }  # fmt: skip
            for event_type, when in (("START", start), ("COMPLETE", start + dt.timedelta(hours=2))):
                openlineage.ingest(actor, {**base, "eventType": event_type,
                                           "eventTime": when.isoformat()}, team.slug)  # fmt: skip
                events += 1
    return events


def version_inputs(spec: ModelSpec, pv: PlannedVersion) -> dict[str, Any]:
    """What a demo version was trained on: its month's feature table and feature set,
    and its training run."""
    domain, month = _domain(spec), _month(pv.created_at)
    meta = pv.metadata
    return {
        "datasets": [{"name": f"{LAKE}/features/{domain}", "version": month}],
        "features": [
            {
                "name": f"{domain}-features",
                "version": month,
                "features": [f"{domain}_30d_count", f"{domain}_90d_mean"],
            }
        ],  # fmt: skip
        "run": RunData(
            meta["tags"]["run_id"],
            {
                "job": f"{spec.team}/train-{spec.name}",
                "url": f"https://airflow.acme.internal/{spec.team}/{spec.name}/{meta['tags']['run_id']}",
                "state": "complete",
                "started_at": dt.datetime.fromisoformat(meta["training_started_at"]),
                "ended_at": dt.datetime.fromisoformat(meta["training_ended_at"]),
                "params": meta["params"],
                "hardware": {"gpu": "1x A10G"} if spec.gpu else {"cpu": "16 vCPU"},
            },
        ),
    }


def seed_version_lineage(
    spec: ModelSpec, planned: Sequence[PlannedVersion], versions: Sequence[ModelVersion],
    actor: User,
) -> None:  # fmt: skip
    """Each version's inputs; an HPO sweep warm-starts from the version before it."""
    rng = random.Random(stable_seed("lineage", spec.name))
    team = versions[0].model.team
    for i, (pv, mv) in enumerate(zip(planned, versions, strict=True)):
        inputs = version_inputs(spec, pv)
        datasets = graph.resolve_datasets(actor, team, inputs["datasets"])
        features = graph.resolve_feature_sets(actor, team, inputs["features"])
        parents = []
        if i and (pv.metadata["tags"]["trigger"] == "hpo-sweep" or rng.random() < 0.15):
            parents = [graph.ParentRef(versions[i - 1], "fine_tuned_from")]
        graph.record_version_lineage(mv, datasets, parents, features, inputs["run"])


def seed_deployments(spec: ModelSpec, versions: Sequence[ModelVersion], actor: User) -> int:
    """Deployments that follow the stage history: Staging versions to "staging", each new
    Production version to the team's production environments a little later."""
    transitions = (
        StageTransition.objects.filter(version__in=versions,
                                       to_stage__in=[Stage.STAGING, Stage.PRODUCTION])
        .select_related("version__model__team")
        .order_by("created_at", "pk")
    )  # fmt: skip
    count, now = 0, timezone.now()
    for t in transitions:
        places = ["staging"] if t.to_stage == Stage.STAGING else ENVIRONMENTS[spec.team]
        for n, environment in enumerate(places):
            deployments.record_deployment(
                actor, t.version, environment, f"https://{environment}.acme.internal/{spec.name}",
                at=min(t.created_at + dt.timedelta(minutes=20 + 40 * n), now),
                comment="rolled out by the deploy pipeline",
            )  # fmt: skip
            count += 1
    return count
