"""Model card pages: the card (printable), its editing form, and the Markdown export."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.policy import Action, can
from cards import cards
from cards.models import MAX_SECTION, SECTIONS, ModelCard
from registry.access import version_for_user
from registry.views.common import HtmxHttpRequest


@require_GET
def card_detail(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    context = {
        "card": cards.assemble(request.user, mv),
        "version": mv,
        "model": mv.model,
        "may_edit": can(request.user, Action.CONTRIBUTE, mv),
    }
    return render(request, "cards/card.html", context)


@require_http_methods(["GET", "POST"])
def card_edit(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    card = ModelCard.objects.filter(version=mv).first()
    values = {f: getattr(card, f) if card else "" for f, _t, _h in SECTIONS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {f: request.POST.get(f, "") for f, _t, _h in SECTIONS}
        try:
            cards.save_card(request.user, mv, values)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, "The model card is saved.")
            return redirect(reverse("model-card", args=[team, name, version]))
    fields = [
        (f, title, help_text, values[f], errors.get(f, [])) for f, title, help_text in SECTIONS
    ]
    context = {"version": mv, "model": mv.model, "fields": fields, "max": MAX_SECTION}
    return render(request, "cards/card_edit.html", context, status=400 if errors else 200)


@require_GET
def card_markdown(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    text = cards.to_markdown(cards.assemble(request.user, mv))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    filename = f"model-card-{mv.model.name}-{mv.version}.md".replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
