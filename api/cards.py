"""Model cards over the API: read a card (its sections, and the whole card as Markdown)
and set its written sections, through cards.cards as the pages do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from accounts.policy import Action
from api.params import ERRORS, Name_, Team_, Version_
from api.schemas import Body
from cards import cards
from registry.access import version_for_user

router = Router(tags=["model cards"])
CARD_PATH = "/models/{team}/{name}/versions/{version}/card"


class CardIn(Body):
    intended_use: str | None = None
    out_of_scope: str | None = None
    limitations: str | None = None
    ethical_considerations: str | None = None
    caveats: str | None = None


class CardOut(Schema):
    sections: dict[str, str]
    missing: list[str]
    markdown: str


def _out(request: HttpRequest, mv: Any) -> dict[str, Any]:
    card = cards.assemble(request.user, mv)
    return {"sections": {f: text for f, _title, text in card.sections},
            "missing": card.missing, "markdown": cards.to_markdown(card)}  # fmt: skip


@router.get(CARD_PATH, response={200: CardOut, **ERRORS}, url_name="api-model-card")
def get_card(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> dict[str, Any]:
    return _out(request, version_for_user(request.user, team, name, version))


@router.put(CARD_PATH, response={200: CardOut, **ERRORS}, url_name="api-model-card")
def set_card(
    request: HttpRequest,
    payload: CardIn,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> dict[str, Any]:
    """Set the sections sent (Markdown; contributors); the others keep their text."""
    mv = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    cards.save_card(request.user, mv, payload.dict(exclude_none=True))
    return _out(request, mv)
