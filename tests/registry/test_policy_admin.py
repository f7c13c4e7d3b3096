"""Promotion policies in the Django admin: validated like the team page, audited; requests
are read-only there."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from registry import promotions
from registry.models import PromotionGate, PromotionPolicy, PromotionRequest, Stage
from registry.services import apply_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


def form(team, **gate):
    data = {
        "team": team.pk,
        "model": "",
        "target_stage": "production",
        "purpose": "promotion",
        "required_approvals": "2",
        "reviewer_roles": '["reviewer", "maintainer"]',
        "expiry_hours": "72",
        "replaced_stage": "archived",
        "gates-TOTAL_FORMS": "1" if gate else "0",
        "gates-INITIAL_FORMS": "0",
        "gates-MIN_NUM_FORMS": "0",
        "gates-MAX_NUM_FORMS": "1000",
    }
    for key, value in gate.items():
        data[f"gates-0-{key}"] = value
    if gate:
        data.setdefault("gates-0-tolerance", "0")
        data.setdefault("gates-0-hours", "0")
        data.setdefault("gates-0-fields", "[]")
    return data


def test_a_policy_with_a_gate_is_saved_and_audited(admin_client, team):
    url = reverse("admin:registry_promotionpolicy_add")
    response = admin_client.post(
        url, form(team, kind="metric_rule", rule="metrics.test.auc >= 0.9")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = PromotionPolicy.objects.get()
    assert policy.required_approvals == 2
    assert PromotionGate.objects.get().rule == "metrics.test.auc >= 0.9"
    assert AuditEvent.objects.filter(action="policy.save").exists()
    assert AuditEvent.objects.filter(action="policy.gates").exists()


@pytest.mark.parametrize(
    ("gate", "fields", "message"),
    [
        ({"kind": "metric_rule", "rule": "metrics.test.auc >="}, {}, "does not parse"),
        ({}, {"reviewer_roles": '["viewer"]'}, "choose among"),
    ],
)
def test_an_invalid_policy_or_gate_is_refused(admin_client, team, gate, fields, message):
    url = reverse("admin:registry_promotionpolicy_add")
    response = admin_client.post(url, form(team, **gate) | fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PromotionPolicy.objects.exists()


def test_requests_are_read_only_in_the_admin(admin_client, make_model, make_version, contributor):
    version = make_version(make_model("churn"), "1.0.0")
    apply_transition(version=version, to_stage=Stage.STAGING, actor=None)
    request = promotions.request_promotion(
        version=version, to_stage="production", actor=contributor, justification="go"
    )
    change = reverse("admin:registry_promotionrequest_change", args=[request.pk])
    assert admin_client.get(change).status_code == 200
    admin_client.post(change, {"state": "applied"})
    assert PromotionRequest.objects.get().state == "open"
    assert admin_client.get(reverse("admin:registry_promotionrequest_add")).status_code == 403
