"""Model cards: writing the sections, what the card assembles, the page, the Markdown
export, the API, and required sections as a promotion gate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from cards import cards
from cards.models import ModelCard
from lineage import graph
from registry import policies, promotions
from registry.models import PromotionGate, PromotionPolicy
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
CARD = "/models/fraud/churn/versions/1.0.0/card"


@pytest.fixture
def version(make_model, make_version, contributor):
    v = make_version(
        make_model(), "1.0.0", metrics={"test": {"auc": 0.93}, "validation": {"auc": 0.94}}
    )
    refs = graph.resolve_datasets(contributor, v.model.team, ["transactions@2026-05"])
    graph.record_version_lineage(v, refs)
    return v


def _urls(v):
    args = [v.model.team.slug, v.model.name, v.version]
    return (reverse("model-card", args=args), reverse("model-card-edit", args=args),
            reverse("model-card-markdown", args=args))  # fmt: skip


def test_contributors_write_the_card_and_everyone_reads_it_with_what_modelgate_knows(
    client, contributor, viewer, reviewer, maintainer, version
):
    page, edit, markdown = _urls(version)
    client.force_login(contributor)
    response = client.post(edit, {"intended_use": "Score card transactions in the EU.",
                                  "limitations": "Weak on <script>alert(1)</script> new merchants.",
                                  "caveats": ""})  # fmt: skip
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="card.update").count() == 1
    request = promotions.request_promotion(version=version, to_stage="staging", actor=contributor,
                                           justification="ready")  # fmt: skip
    promotions.review(request=request, actor=reviewer, decision="approve", comment="LGTM")

    client.force_login(viewer)
    body = client.get(page).content.decode()
    assert "Score card transactions in the EU." in body
    assert "<script>alert(1)</script>" not in body  # sanitised Markdown
    assert "transactions@2026-05" in body and "0.93" in body and "Validation" in body
    assert "reviewer approved Staging" in body
    assert "Not written yet: Out-of-scope uses, Ethical considerations, Caveats" in body
    assert client.get(edit).status_code == 403

    exported = client.get(markdown)
    assert exported["Content-Disposition"] == 'attachment; filename="model-card-churn-1.0.0.md"'
    text = exported.content.decode()
    assert text.startswith("# Model card: fraud/churn 1.0.0")
    assert "## Intended use\n\nScore card transactions in the EU." in text
    assert "- Dataset transactions@2026-05" in text and "| auc | 0.93 |" in text
    assert "- reviewer approved Staging" in text and "_Not written yet._" in text


def test_a_section_over_the_limit_is_a_form_error_and_nothing_is_saved(client, contributor,
                                                                       version):  # fmt: skip
    _page, edit, _md = _urls(version)
    client.force_login(contributor)
    response = client.post(edit, {"intended_use": "x" * 20_001})
    assert response.status_code == 400
    assert "at most 20,000 characters" in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ModelCard.objects.exists()


def test_the_api_reads_and_writes_sections(as_token, contributor, viewer, version):
    api = as_token(contributor, "read", "write")
    response = api._call("put", CARD, {"intended_use": "Fraud triage.", "caveats": "EU only."})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["sections"]["intended_use"] == "Fraud triage."
    assert "Limitations" in body["missing"] and "## Caveats and recommendations" in body["markdown"]
    again = api._call("put", CARD, {"limitations": "Cold start."})
    assert again.json()["sections"]["caveats"] == "EU only."  # kept
    assert_error(api._call("put", CARD, {"colour": "red"}), 422, "unknown_field", "colour")
    assert_error(api._call("put", CARD, {"caveats": "x" * 20_001}), 400, "invalid", "caveats")
    assert as_token(viewer, "read", "write")._call("put", CARD, {"caveats": "x"}).status_code == 403
    assert as_token(viewer, "read").get(CARD).status_code == 200


def test_required_card_sections_can_gate_a_promotion(version, contributor, team):
    policy, _ = PromotionPolicy.objects.get_or_create(team=team, target_stage="production")
    fields = ["card.intended_use", "card.limitations", "datasets"]
    PromotionGate.objects.create(policy=policy, kind="required_metadata", fields=fields)

    def results():
        found = policies.effective_policy(version.model, "production")
        return [(r.passed, r.detail) for r in policies.evaluate_gates(found, version)]

    assert results() == [(False, "missing the model card's intended use, "
                                 "the model card's limitations")]  # fmt: skip
    cards.save_card(contributor, version, {"intended_use": "x", "limitations": "y"})
    assert results() == [(True, "all present")]
