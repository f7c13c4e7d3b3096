"""Every URL × every persona → the status the permission policy promises.

The URL list comes from the URL conf: a new view without a rule here fails
`test_every_url_has_a_rule`. Objects belong to team "fraud"; "outsider" is a maintainer
of another team (so not even existence leaks: 404), "anonymous" is signed out.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns
from django.db import transaction
from django.test import Client, override_settings
from django.urls import get_resolver, reverse

from accounts import tokens
from accounts.models import Membership, Team, User
from cards.models import ModelCard
from lineage import deployments
from lineage.models import (
    CodeVersion,
    Dataset,
    DatasetVersion,
    Deployment,
    Edge,
    FeatureSet,
    FeatureSetVersion,
    TrainingRun,
)
from monitoring.models import Monitor, RetrainRequest
from registry import promotions, services, webhooks
from registry.metadata import clean_version_metadata
from registry.models import (
    Job,
    ModelVersion,
    PromotionGate,
    PromotionPolicy,
    RegisteredModel,
    Webhook,
    WebhookAllowedHost,
    WebhookDelivery,
)
from tests.conftest import FAST_HASHERS, _member, local_storages

pytestmark = pytest.mark.django_db

PERSONAS = ["site_admin", "maintainer", "reviewer", "contributor", "viewer", "outsider",
            "anonymous"]  # fmt: skip
LOGIN = 302  # anonymous visitors are sent to sign in

# Who sees what: statuses for GET, in PERSONAS order.
ALL_SIGNED_IN = (200, 200, 200, 200, 200, 200, LOGIN)
TEAM_READ = (200, 200, 200, 200, 200, 404, LOGIN)
TEAM_CONTRIBUTE = (200, 200, 200, 200, 403, 404, LOGIN)
SITE_ADMIN_ONLY = (200, 404, 404, 404, 404, 404, LOGIN)
POST_ONLY = (405, 405, 405, 405, 405, 405, LOGIN)
OWN_TOKEN = (404, 200, 404, 404, 404, 404, LOGIN)  # the maintainer's token
TEAM_MAINTAIN = (200, 200, 403, 403, 403, 404, LOGIN)
API_SIGNED_IN = (200, 200, 200, 200, 200, 200, 401)
API_TEAM_READ = (200, 200, 200, 200, 200, 404, 401)
TEAM_MAINTAIN = (200, 200, 403, 403, 403, 404, LOGIN)

M = ("fraud", "churn")
V = (*M, "1.0.0")
UPLOAD = "00000000-0000-4000-8000-000000000000"  # an upload session id nobody has
GET_RULES: dict[str, tuple[tuple[Any, ...], tuple[int, ...]]] = {
    "dashboard": ((), ALL_SIGNED_IN),
    "models": ((), ALL_SIGNED_IN),
    "model-create": ((), ALL_SIGNED_IN),
    "search": ((), ALL_SIGNED_IN),  # the form explains who may register where
    # Without ?v= the compare page explains how to pick versions; the export needs them.
    # Permissions by version: tests/registry/test_compare_views.py.
    "compare": ((), ALL_SIGNED_IN),
    "compare-export": (("md",), (400, 400, 400, 400, 400, 400, LOGIN)),
    "model-detail": (M, TEAM_READ),
    "model-edit": (M, TEAM_CONTRIBUTE),
    "model-delete": (M, TEAM_MAINTAIN),  # the confirmation (here: why it cannot go)
    "version-register": (M, TEAM_CONTRIBUTE),
    "version-detail": (V, TEAM_READ),
    "version-edit": (V, TEAM_CONTRIBUTE),
    "version-delete": (V, TEAM_MAINTAIN),
    "version-stage": (V, POST_ONLY),
    "version-alias": (V, POST_ONLY),
    "version-manifest": (V, TEAM_READ),
    "artifact-download": ((*V, "model.bin"), TEAM_READ),
    "version-deprecate": (V, POST_ONLY),
    "model-timeline": (M, TEAM_READ),
    "request-new": (V, TEAM_CONTRIBUTE),
    "review-inbox": ((), ALL_SIGNED_IN),
    "request-detail": (("request",), TEAM_READ),
    "request-review": (("request",), POST_ONLY),
    "request-override": (("request",), POST_ONLY),
    "request-cancel": (("request",), POST_ONLY),
    "notifications": ((), ALL_SIGNED_IN),
    "notifications-read": ((), POST_ONLY),
    "team-policies": (("fraud",), TEAM_MAINTAIN),
    "policy-save": (("fraud",), POST_ONLY),
    "policy-delete": (("fraud", "policy"), POST_ONLY),
    "gate-add": (("fraud", "policy"), POST_ONLY),
    "gate-remove": (("fraud", "gate"), POST_ONLY),
    "login": ((), (302, 302, 302, 302, 302, 302, 200)),
    "logout": ((), (405, 405, 405, 405, 405, 405, LOGIN)),  # sign out is a POST
    "profile": ((), ALL_SIGNED_IN),
    "token-create": ((), POST_ONLY),
    "mlflow-default-team": ((), POST_ONLY),
    "token-revoke": (("token",), OWN_TOKEN),
    "password_change": ((), ALL_SIGNED_IN),
    "password_change_done": ((), ALL_SIGNED_IN),
    "team-list": ((), ALL_SIGNED_IN),
    "team-detail": (("fraud",), TEAM_READ),
    "team-member-add": (("fraud",), POST_ONLY),
    "team-member-role": (("fraud", "membership"), POST_ONLY),
    "team-member-remove": (("fraud", "membership"), POST_ONLY),
    "webhook-list": (("fraud",), TEAM_MAINTAIN),
    "webhook-create": (("fraud",), TEAM_MAINTAIN),
    "webhook-detail": (("fraud", "webhook"), TEAM_MAINTAIN),
    "webhook-edit": (("fraud", "webhook"), TEAM_MAINTAIN),
    "webhook-delete": (("fraud", "webhook"), TEAM_MAINTAIN),  # a confirmation page
    "webhook-rotate": (("fraud", "webhook"), TEAM_MAINTAIN),  # a confirmation page
    "webhook-ping": (("fraud", "webhook"), POST_ONLY),
    "webhook-delivery": (("fraud", "webhook", "delivery"), TEAM_MAINTAIN),
    "webhook-redeliver": (("fraud", "webhook", "delivery"), POST_ONLY),
    "audit-log": ((), SITE_ADMIN_ONLY),
    "audit-log-export": (("csv",), SITE_ADMIN_ONLY),
    "audit-team": (("fraud",), TEAM_READ),
    "audit-team-export": (("fraud", "jsonl"), TEAM_READ),
    "audit-model": (M, TEAM_READ),
    "audit-model-export": ((*M, "csv"), TEAM_READ),
    "dataset-version": (("fraud", "dataset_version"), TEAM_READ),
    "code-version": (("fraud", "code_version"), TEAM_READ),
    "version-graph": (V, TEAM_READ),
    # Not drawn yet for anyone (tests/lineage/test_render.py serves a drawn one).
    "version-graph-svg": (V, (404, 404, 404, 404, 404, 404, LOGIN)),
    "version-lineage-add": (V, POST_ONLY),
    "version-deploy": (V, POST_ONLY),
    "datasets": ((), ALL_SIGNED_IN),  # each lists what the user's teams may read
    "feature-sets": ((), ALL_SIGNED_IN),
    "training-runs": ((), ALL_SIGNED_IN),
    "deployments": ((), ALL_SIGNED_IN),
    "feature-set-version": (("fraud", "feature_set_version"), TEAM_READ),
    "training-run": (("fraud", "training_run"), TEAM_READ),
    "deployment": (("fraud", "deployment"), TEAM_READ),
    "deployment-end": (("fraud", "deployment"), POST_ONLY),
    "model-deployments": (M, TEAM_READ),
    "model-monitors": (M, TEAM_READ),
    "monitor-create": (M, POST_ONLY),
    "monitors-evaluate": (M, POST_ONLY),
    "monitor-toggle": ((*M, "monitor"), POST_ONLY),
    "monitor-delete": ((*M, "monitor"), POST_ONLY),
    "retrain-request": (("fraud", "retrain"), TEAM_READ),
    "retrain-dismiss": (("fraud", "retrain"), POST_ONLY),
    "model-card": (V, TEAM_READ),
    "model-card-edit": (V, TEAM_CONTRIBUTE),
    "model-card-markdown": (V, TEAM_READ),
    # Archive storage: the storage panel polls with HTMX (without it: the version page).
    "version-storage": (V, (302, 302, 302, 302, 302, 404, LOGIN)),
    "version-restore": (V, POST_ONLY),
    "jobs": ((), ALL_SIGNED_IN),  # each sees the jobs of the teams they can read
    "team-retention": (("fraud",), TEAM_MAINTAIN),
    "api:api-version-restore": (V, (405,) * 7),
    "api:api-job": (("job",), API_TEAM_READ),
    # The REST API answers 401 (not a redirect) to anonymous callers.
    "api:api-teams": ((), API_SIGNED_IN),
    "api:api-models": ((), API_SIGNED_IN),
    "api:api-model": (M, API_TEAM_READ),
    "api:api-versions": (M, API_TEAM_READ),
    "api:api-version": (V, API_TEAM_READ),
    "api:api-version-stage": (V, (405,) * 7),
    "api:api-resolve": (M, (400, 400, 400, 400, 400, 400, 401)),  # ?stage= or ?alias= needed
    "api:api-aliases": (M, API_TEAM_READ),
    "api:api-alias": ((*M, "champion"), (405,) * 7),  # PUT sets, DELETE removes
    "api:api-search-versions": ((), (422, 422, 422, 422, 422, 422, 401)),  # ?q= is required
    "api:api-search-models": ((), (422, 422, 422, 422, 422, 422, 401)),
    "api:api-uploads": ((), (405,) * 7),  # POST opens an upload
    # Upload sessions are private to their creator: nobody else's exists (404).
    "api:api-upload": ((UPLOAD,), (404, 404, 404, 404, 404, 404, 401)),
    "api:api-upload-complete": ((UPLOAD,), (405,) * 7),
    "api:api-blobs-known": ((), (405,) * 7),
    "api:api-version-requests": (V, (405,) * 7),  # POST opens a request
    "api:api-requests": ((), API_SIGNED_IN),
    "api:api-request": (("request",), API_TEAM_READ),
    "api:api-request-reviews": (("request",), (405,) * 7),
    "api:api-request-override": (("request",), (405,) * 7),
    "api:api-request-cancel": (("request",), (405,) * 7),
    "api:api-timeline": (M, API_TEAM_READ),
    "api:api-version-deprecation": (V, (405,) * 7),  # PUT deprecates, DELETE undoes
    "api:api-version-lineage": (V, API_TEAM_READ),
    "api:api-version-parents": (V, (405,) * 7),  # POST links a parent
    "api:api-lineage-impact": (("datasets", "fraud", "dataset_version"), API_TEAM_READ),
    "api:api-version-impact": (V, API_TEAM_READ),
    "api:api-openlineage": ((), (405,) * 7),  # POST records an event
    "api:api-version-deployments": (V, (405,) * 7),  # POST records a deployment
    "api:api-model-deployments": (M, API_TEAM_READ),
    "api:api-deployments": ((), API_SIGNED_IN),
    "api:api-deployment": (("deployment",), API_TEAM_READ),
    "api:api-deployment-end": (("deployment",), (405,) * 7),
    "api:api-deployment-metrics": (("deployment",), (422, 422, 422, 422, 422, 422, 401)),
    "api:api-deployment-series": (("deployment",), (422, 422, 422, 422, 422, 422, 401)),
    "api:api-monitors": (M, API_TEAM_READ),
    "api:api-monitors-evaluate": (M, (405,) * 7),
    "api:api-monitor": ((*M, "monitor"), (405,) * 7),  # DELETE removes it
    "api:api-retrain-requests": ((), API_SIGNED_IN),
    "api:api-retrain-request": (("retrain",), API_TEAM_READ),
    "api:api-retrain-dismiss": (("retrain",), (405,) * 7),
    "api:api-model-card": (V, API_TEAM_READ),
    "api:api-artifact": ((*V, "model.bin"), API_TEAM_READ),
    "api:openapi-json": ((), (200,) * 7),
    "api:openapi-view": ((), (200,) * 7),
    "api:api-root": ((), (404,) * 7),
}

# State-changing requests: (args, form data, statuses in PERSONAS order). 302 = done.
OK, DENIED, HIDDEN = 302, 403, 404
SHOWN = 200  # done, and the answer is a page (a new secret, shown once)
POST_RULES: dict[str, tuple[tuple[Any, ...], dict[str, Any], tuple[int, ...]]] = {
    "model-edit": (M, {"description": "x", "task_type": "other", "visibility": "team"},
                   (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "version-edit": (V, {"description": "x"}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    # 0.9.0 was registered by mistake (nothing refers to it); churn has versions (409).
    "version-delete": ((*M, "0.9.0"), {}, (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "model-delete": (M, {}, (409, 409, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "version-stage": (V, {"to_stage": "staging"}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "version-alias": (V, {"name": "champion"}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "version-register": (M, {"version": "2.0.0"}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "team-member-add": (("fraud",), {"user": "newcomer", "role": "viewer"},
                        (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "team-member-role": (("fraud", "membership"), {"role": "contributor"},
                         (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "team-member-remove": (("fraud", "membership"), {},
                           (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "token-revoke": (("token",), {}, (HIDDEN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN, LOGIN)),
    "version-deprecate": (V, {"reason": "superseded"},
                          (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "request-new": (V, {"to_stage": "staging", "justification": "ready"},
                    (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "request-review": (("request",), {"decision": "comment", "comment": "looks fine"},
                       (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "request-override": (("request",), {"reason": "hotfix"},
                         (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "request-cancel": (("request",), {}, (DENIED, DENIED, DENIED, OK, DENIED, HIDDEN, LOGIN)),
    "notifications-read": ((), {}, (OK, OK, OK, OK, OK, OK, LOGIN)),
    # Only a team one belongs to may be the default for MLflow names.
    "mlflow-default-team": ((), {"team": "fraud"}, (OK, OK, OK, OK, OK, HIDDEN, LOGIN)),
    "policy-save": (("fraud",), {"target_stage": "production", "required_approvals": "1",
                                 "expiry_hours": "24", "replaced_stage": "archived",
                                 "reviewer_roles": "reviewer"},
                    (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "policy-delete": (("fraud", "policy"), {}, (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "gate-add": (("fraud", "policy"), {"kind": "metric_rule", "rule": "metrics.test.auc > 0.5"},
                 (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "gate-remove": (("fraud", "gate"), {}, (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    # The new secret is shown on the answer itself (200), never redirected through a session.
    "webhook-create": (("fraud",), {"name": "new", "url": "http://127.0.0.1:9/",
                                    "events": ["stage.changed"]},
                       (SHOWN, SHOWN, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "webhook-edit": (("fraud", "webhook"), {"name": "ci", "url": "http://127.0.0.1:9/",
                                            "events": ["alias.moved"]},
                     (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "webhook-delete": (("fraud", "webhook"), {}, (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "webhook-rotate": (("fraud", "webhook"), {},
                       (SHOWN, SHOWN, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "webhook-ping": (("fraud", "webhook"), {}, (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "webhook-redeliver": (("fraud", "webhook", "delivery"), {},
                          (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "version-lineage-add": (V, {"kind": "dataset", "ref": "tx@2"},
                            (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "version-deploy": (V, {"environment": "prod-us"}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "deployment-end": (("fraud", "deployment"), {"status": "retired"},
                       (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "monitor-create": (M, {"name": "new", "rule": "live.auc < 0.5 over 1h"},
                       (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "monitor-toggle": ((*M, "monitor"), {}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "monitors-evaluate": (M, {}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "monitor-delete": ((*M, "monitor"), {}, (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "model-card-edit": (V, {"intended_use": "Fraud triage."},
                        (OK, OK, OK, OK, DENIED, HIDDEN, LOGIN)),
    "retrain-dismiss": (("fraud", "retrain"), {"reason": "a known outage"},
                        (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "version-restore": (V, {}, (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
    "team-retention": (("fraud",), {"keep_last": "3"},
                       (OK, OK, DENIED, DENIED, DENIED, HIDDEN, LOGIN)),
}  # fmt: skip


def stored() -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    return (
        ModelVersion.objects.count(),
        RegisteredModel.objects.get().description,
        list(Webhook.objects.values_list("name", "url", "events", "active", "secret")),
        WebhookDelivery.objects.count(),
        list(Deployment.objects.values_list("status", "ended_at")),
        Edge.objects.count(),
        list(Monitor.objects.values_list("name", "enabled")),
        list(RetrainRequest.objects.values_list("state", flat=True)),
        list(ModelCard.objects.values_list("intended_use", flat=True)),
    )


# The MLflow wire API (mlflow_api) answers MLflow's JSON errors to token callers, not pages:
# its allow/deny rules per role are tested with the real MlflowClient in tests/mlflow_api/.
EXEMPT_NAMESPACES = {"mlflow", "mlflow-ajax", "mlflow-artifacts"}


def named_urls() -> set[str]:
    names = set()
    for _view, _pattern, namespace, name in extract_views_from_urlpatterns(
        get_resolver().url_patterns
    ):
        if EXEMPT_NAMESPACES & set(namespace or []):
            continue
        if name and "admin" not in (namespace or []):  # the admin has its own test
            names.add(":".join([*(namespace or []), name]))
    return names


def test_every_url_has_a_rule():
    missing = named_urls() - set(GET_RULES)
    assert not missing, f"add these views to the role matrix: {sorted(missing)}"
    assert set(GET_RULES) <= named_urls()


def build_world() -> dict[str, int]:
    """Team "fraud" with one member per role, a model with three versions and one of each kind
    of object the URLs name; the ids of those objects by the names the rules use."""
    team = Team.objects.create(name="Fraud", slug="fraud")
    contributor = _member(team, "contributor", Membership.Role.CONTRIBUTOR)
    maintainer = _member(team, "maintainer", Membership.Role.MAINTAINER)
    _member(team, "reviewer", Membership.Role.REVIEWER)
    viewer = _member(team, "viewer", Membership.Role.VIEWER)
    _member(Team.objects.create(name="Growth", slug="growth"), "outsider", "maintainer")
    User.objects.create_superuser("admin", "admin@example.com", "pw-for-tests-only")
    User.objects.create_user("newcomer", "new@example.com", "pw")

    model = services.create_model(team=team, name="churn", actor=contributor)

    def register(version: str, files: dict[str, bytes]) -> ModelVersion:
        uploads = [services.ArtifactUpload(path, io.BytesIO(data)) for path, data in files.items()]
        return services.register_version(
            model=model, actor=contributor, version=version,
            metadata=clean_version_metadata({}), files=uploads,
        )  # fmt: skip

    first = register("1.0.0", {"model.bin": b"weights"})
    other = register("1.1.0", {})
    register("0.9.0", {})  # nothing refers to it: a maintainer may delete it
    token, _secret = tokens.create(maintainer, name="ci", scopes=["read"])
    opened = promotions.request_promotion(
        version=other, to_stage="staging", actor=contributor, justification="ready"
    )
    policy = PromotionPolicy.objects.create(team=model.team, target_stage="production")
    gate = PromotionGate.objects.create(
        policy=policy, kind="metric_rule", rule="metrics.test.auc > 0"
    )
    WebhookAllowedHost.objects.create(host="127.0.0.1")
    hook, _secret = webhooks.create_webhook(
        model.team, maintainer, name="ci", url="http://127.0.0.1:9/", events=["stage.changed"]
    )
    return {
        "token": token.pk,
        "membership": Membership.objects.get(user=viewer, team=model.team).pk,
        "request": opened.pk,
        "policy": policy.pk,
        "gate": gate.pk,
        "webhook": hook.pk,
        "delivery": webhooks.send_ping(hook, maintainer).pk,
        "dataset_version": DatasetVersion.objects.create(
            dataset=Dataset.objects.create(team=model.team, name="tx"), version="1"
        ).pk,
        "job": Job.objects.create(kind="archive", team=model.team).pk,
        "code_version": CodeVersion.objects.create(
            team=model.team, repository="git@example:churn.git", commit="abc1234"
        ).pk,
        "feature_set_version": FeatureSetVersion.objects.create(
            feature_set=FeatureSet.objects.create(team=model.team, name="fx"), version="1"
        ).pk,
        "training_run": TrainingRun.objects.create(team=model.team, external_id="run-1").pk,
        "deployment": deployments.record_deployment(contributor, first, "prod-eu").pk,
        "monitor": Monitor.objects.create(
            model=model, name="auc", rule="live.auc < 0.5 over 1h"
        ).pk,
        "retrain": RetrainRequest.objects.create(
            model=model, version=first, metric="auc", reason="drop", since=first.created_at
        ).pk,
    }


@pytest.fixture(scope="module")
def shared_world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, int], Path]]:
    """The world, built once for this module in a transaction rolled back at its end (about
    1,300 requests; building it for each took most of their time). Each test runs in a
    savepoint inside that transaction (pytest-django's `db`), rolled back after it, and gets
    its own copy of the world's files (`_world_files`): every test starts from the world as
    built, whatever the tests before it changed."""
    storage = tmp_path_factory.mktemp("role-matrix")
    with (
        django_db_blocker.unblock(),
        transaction.atomic(),
        override_settings(PASSWORD_HASHERS=FAST_HASHERS, STORAGES=local_storages(storage)),
    ):
        world = build_world()
        yield world, storage
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _world_files(shared_world: tuple[dict[str, int], Path], tmp_path: Path) -> None:
    """The world's artifacts, copied where this test's storages are (tests/conftest.py)."""
    shutil.copytree(shared_world[1], tmp_path, dirs_exist_ok=True)


@pytest.fixture
def world(db: None, shared_world: tuple[dict[str, int], Path]) -> dict[str, int]:
    return shared_world[0]


# The personas of tests/conftest.py, as the shared world has them (fresh instances per test).
@pytest.fixture
def site_admin(world: dict[str, int]) -> User:
    return User.objects.get(username="admin")


@pytest.fixture
def maintainer(world: dict[str, int]) -> User:
    return User.objects.get(username="maintainer")


@pytest.fixture
def reviewer(world: dict[str, int]) -> User:
    return User.objects.get(username="reviewer")


@pytest.fixture
def contributor(world: dict[str, int]) -> User:
    return User.objects.get(username="contributor")


@pytest.fixture
def viewer(world: dict[str, int]) -> User:
    return User.objects.get(username="viewer")


@pytest.fixture
def outsider(world: dict[str, int]) -> User:
    return User.objects.get(username="outsider")


@pytest.fixture
def other_team(world: dict[str, int]) -> Team:
    return Team.objects.get(slug="growth")


def resolve_args(args: tuple[Any, ...], world: dict[str, int]) -> list[Any]:
    return [world.get(arg, arg) if isinstance(arg, str) else arg for arg in args]


def sign_in(client, request, persona: str) -> None:
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(GET_RULES))
def test_get(client, request, world, name, persona):
    args, statuses = GET_RULES[name]
    sign_in(client, request, persona)
    response = client.get(reverse(name, args=resolve_args(args, world)))
    assert response.status_code == statuses[PERSONAS.index(persona)]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(POST_RULES))
def test_post(client, request, world, name, persona):
    args, data, statuses = POST_RULES[name]
    sign_in(client, request, persona)
    before = stored()
    response = client.post(reverse(name, args=resolve_args(args, world)), data)
    expected = statuses[PERSONAS.index(persona)]
    assert response.status_code == expected
    if expected not in (OK, SHOWN):  # refused: nothing changed
        after = stored()
        assert after == before


@pytest.mark.parametrize("name", sorted(POST_RULES))
def test_every_state_change_needs_the_csrf_token(world, maintainer, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    args, data, _statuses = POST_RULES[name]
    before = stored()
    response = client.post(reverse(name, args=resolve_args(args, world)), data)
    assert response.status_code == 403
    after = stored()
    assert after == before


class TestOtherTeamsIds:
    """IDOR: another team's ids in URLs and forms are refused as if they did not exist."""

    @pytest.fixture
    def growth_member(self, other_team, outsider):
        return Membership.objects.get(user=outsider, team=other_team)

    def test_it_ignores_a_membership_of_another_team_under_ones_own_team(
        self, client, world, maintainer, growth_member
    ):
        client.force_login(maintainer)
        url = reverse("team-member-role", args=["fraud", growth_member.pk])
        assert client.post(url, {"role": "viewer"}).status_code == 404
        url = reverse("team-member-remove", args=["fraud", growth_member.pk])
        assert client.post(url).status_code == 404
        growth_member.refresh_from_db()
        assert growth_member.role == "maintainer"

    def test_it_hides_another_teams_members_pages(self, client, world, maintainer, growth_member):
        client.force_login(maintainer)
        url = reverse("team-member-role", args=["growth", growth_member.pk])
        assert client.post(url, {"role": "viewer"}).status_code == 404
        assert (
            client.post(
                reverse("team-member-add", args=["growth"]), {"user": "newcomer", "role": "viewer"}
            ).status_code
            == 404
        )

    def test_it_refuses_registering_a_model_in_another_team(self, client, world, contributor):
        client.force_login(contributor)
        response = client.post(reverse("model-create"), {
            "team": "growth", "name": "sneaky", "task_type": "other",
            "versioning_scheme": "semantic", "visibility": "team",
        })  # fmt: skip
        assert "team" in response.context["form"].errors
        assert not RegisteredModel.objects.filter(name="sneaky").exists()

    def test_it_hides_another_teams_model_even_when_internal_for_changes(
        self, client, world, outsider
    ):
        model = RegisteredModel.objects.get()
        model.visibility = "internal"
        model.save()
        client.force_login(outsider)
        assert client.get(model.get_absolute_url()).status_code == 200  # may read
        edit = reverse("model-edit", args=["fraud", "churn"])
        assert client.post(edit, {"description": "x", "task_type": "other"}).status_code == 403
        stage = reverse("version-stage", args=["fraud", "churn", "1.0.0"])
        assert client.post(stage, {"to_stage": "staging"}).status_code == 403
