"""Promotion requests, reviews, the stage/alias timeline and deprecation over the API.

The same domain functions as the pages (registry.promotions, registry.timeline,
registry.deprecation); every object is fetched through registry.access.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from accounts.policy import readable_models_q
from api.pagination import page
from api.params import ERRORS, Limit, Name_, Team_, Version_
from api.schemas import Body, IsoDate
from registry import deprecation, promotions, timeline
from registry.access import model_for_user, request_for_user, version_for_user
from registry.models import PromotionRequest
from registry.pagination import int_key
from registry.views.timeline import parse_moment

router = Router(tags=["promotions"])
VERSION_PATH = "/models/{team}/{name}/versions/{version}"


class RequestCreate(Body):
    to_stage: Literal["staging", "production"]
    justification: str
    purpose: Literal["promotion", "rollback"] = "promotion"


class ReviewCreate(Body):
    decision: Literal["approve", "reject", "comment"]
    comment: str = ""


class OverrideCreate(Body):
    reason: str


class DeprecationSet(Body):
    reason: str
    sunset: IsoDate | None = None


class ReviewOut(Schema):
    reviewer: str | None
    decision: str
    comment: str
    created_at: dt.datetime


class GateOut(Schema):
    gate: str
    kind: str
    passed: bool
    detail: str


class RequestOut(Schema):
    id: int
    model: str
    version: str
    purpose: str
    from_stage: str
    to_stage: str
    state: str
    requested_by: str | None
    justification: str
    required_approvals: int
    approvals: int
    gates_passed: bool
    gates: list[GateOut]
    override_reason: str
    created_at: dt.datetime
    expires_at: dt.datetime
    closed_at: dt.datetime | None
    close_reason: str
    reviews: list[ReviewOut] | None = None
    url: str


class RequestPage(Schema):
    items: list[RequestOut]
    next: str | None


class HolderOut(Schema):
    name: str
    version: str
    since: dt.datetime
    by: str | None
    request: int | None


class EventOut(Schema):
    kind: str  # "stage" or "alias"
    at: dt.datetime
    version: str | None
    actor: str | None
    from_stage: str
    to_stage: str
    alias: str
    comment: str
    request: int | None


class TimelineOut(Schema):
    model: str
    at: dt.datetime
    stages: dict[str, list[HolderOut]]
    aliases: list[HolderOut]
    history: list[EventOut]  # the 50 latest stage and alias changes up to `at`, newest first


class DeprecationOut(Schema):
    version: str
    deprecated_at: dt.datetime | None
    reason: str
    sunset: dt.date | None


def _request_out(
    request: HttpRequest, r: PromotionRequest, approvals: int, reviews: bool = False
) -> dict[str, Any]:
    out = {
        "id": r.pk,
        "model": f"{r.model.team.slug}/{r.model.name}",
        "version": r.version.version,
        "purpose": r.purpose,
        "from_stage": r.from_stage,
        "to_stage": r.to_stage,
        "state": r.effective_state,
        "requested_by": r.requested_by.get_username() if r.requested_by else None,
        "justification": r.justification,
        "required_approvals": r.required_approvals,
        "approvals": approvals,
        "gates_passed": r.gates_passed,
        "gates": r.gate_results,
        "override_reason": r.override_reason,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "closed_at": r.closed_at,
        "close_reason": r.close_reason,
        "url": request.build_absolute_uri(r.get_absolute_url()),
    }
    if reviews:
        out["reviews"] = [
            {
                "reviewer": e.reviewer.get_username() if e.reviewer else None,
                "decision": e.decision,
                "comment": e.comment,
                "created_at": e.created_at,
            }
            for e in r.reviews.select_related("reviewer")
        ]
    return out


def _detail(request: HttpRequest, pk: int) -> dict[str, Any]:
    r = request_for_user(request.user, pk)
    return _request_out(request, r, promotions.approvals(r), reviews=True)


@router.post(
    VERSION_PATH + "/requests",
    response={201: RequestOut, **ERRORS},
    url_name="api-version-requests",
)
def open_request(
    request: HttpRequest,
    payload: RequestCreate,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> Status:
    """Ask for a version to enter Staging or Production (or, with purpose "rollback", to
    return to Production). Applied at once when the policy needs no approval and every
    gate passes; otherwise eligible reviewers are notified."""
    mv = version_for_user(request.user, team, name, version)
    opened = promotions.request_promotion(version=mv, actor=request.user, **payload.model_dump())
    return Status(201, _detail(request, opened.pk))


@router.get("/requests", response={200: RequestPage, **ERRORS}, url_name="api-requests")
def list_requests(
    request: HttpRequest,
    state: Literal["open", "applied", "rejected", "cancelled", "expired", ""] = "",
    to_review: bool = Query(False, description="only requests you may approve or reject"),
    cursor: str = "",
    limit: int = Limit,
) -> dict[str, Any]:
    """Promotion requests of models you may read, newest first."""
    if to_review:
        qs = promotions.open_requests_to_review(request.user)
    else:
        qs = PromotionRequest.objects.filter(readable_models_q(request.user, "model"))
    if state:
        qs = qs.filter(state=state)
    qs = qs.select_related("model__team", "version", "requested_by").with_approval_count()
    result = page(qs, key="id", cursor=cursor or None, limit=limit, key_type=int_key)
    return {
        "items": [_request_out(request, r, r.approval_count) for r in result.items],
        "next": result.next_cursor,
    }


@router.get("/requests/{pk}", response={200: RequestOut, **ERRORS}, url_name="api-request")
def get_request(request: HttpRequest, pk: int) -> dict[str, Any]:
    return _detail(request, pk)


@router.post(
    "/requests/{pk}/reviews", response={201: RequestOut, **ERRORS}, url_name="api-request-reviews"
)
def review_request(request: HttpRequest, pk: int, payload: ReviewCreate) -> Status:
    """Approve, reject (with a comment) or comment. Approving twice counts once; the
    approval that completes the policy applies the transition."""
    promotions.review(
        request=request_for_user(request.user, pk), actor=request.user, **payload.model_dump()
    )
    return Status(201, _detail(request, pk))


@router.post(
    "/requests/{pk}/override", response={200: RequestOut, **ERRORS}, url_name="api-request-override"
)
def override_request(request: HttpRequest, pk: int, payload: OverrideCreate) -> dict[str, Any]:
    """A maintainer lets the request through failing gates; the reason is recorded."""
    promotions.override_gates(
        request=request_for_user(request.user, pk), actor=request.user, reason=payload.reason
    )
    return _detail(request, pk)


@router.post(
    "/requests/{pk}/cancel", response={200: RequestOut, **ERRORS}, url_name="api-request-cancel"
)
def cancel_request(request: HttpRequest, pk: int) -> dict[str, Any]:
    promotions.cancel(request=request_for_user(request.user, pk), actor=request.user)
    return _detail(request, pk)


@router.get(
    "/models/{team}/{name}/timeline",
    response={200: TimelineOut, **ERRORS},
    url_name="api-timeline",
)
def model_timeline(
    request: HttpRequest,
    at: str = Query("", description="ISO 8601 date-time; default: now"),
    team: str = Team_,
    name: str = Name_,
) -> dict[str, Any]:
    """Which version held Staging, Production and each alias at `at`, who put it there
    and under which request."""
    model = model_for_user(request.user, team, name)
    moment = parse_moment(at) if at else dt.datetime.now(dt.UTC)
    if moment is None:
        raise ValidationError({"at": "is not an ISO 8601 date-time, e.g. 2025-03-01T14:00Z"})
    state = timeline.state_at(model, moment)

    def holder(h: timeline.Holding) -> dict[str, Any]:
        return {
            "name": h.label,
            "version": h.version.version,
            "since": h.since,
            "by": h.by.get_username() if h.by else None,
            "request": h.request_id,
        }

    return {
        "model": f"{team}/{name}",
        "at": moment,
        "stages": {stage.value: [holder(h) for h in held] for stage, held in state["stages"]},
        "aliases": [holder(h) for h in state["aliases"]],
        "history": [
            {"kind": e.kind, "at": e.at, "version": e.version.version if e.version else None,
             "actor": e.actor.get_username() if e.actor else None, "from_stage": e.from_stage,
             "to_stage": e.to_stage, "alias": e.alias, "comment": e.comment,
             "request": e.request_id}
            for e in timeline.history(model, before=moment + dt.timedelta(microseconds=1))
        ],
    }  # fmt: skip


def _deprecation_out(mv: Any) -> dict[str, Any]:
    return {
        "version": mv.version,
        "deprecated_at": mv.deprecated_at,
        "reason": mv.deprecation_reason,
        "sunset": mv.sunset_date,
    }


@router.put(
    VERSION_PATH + "/deprecation",
    response={200: DeprecationOut, **ERRORS},
    url_name="api-version-deprecation",
)
def deprecate_version(
    request: HttpRequest,
    payload: DeprecationSet,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> dict[str, Any]:
    """Mark the version deprecated (maintainers); resolves and downloads of it then carry
    `Deprecation` and `Sunset` headers."""
    mv = version_for_user(request.user, team, name, version)
    return _deprecation_out(
        deprecation.deprecate(
            version=mv, actor=request.user, reason=payload.reason, sunset=payload.sunset
        )
    )


@router.delete(
    VERSION_PATH + "/deprecation",
    response={200: DeprecationOut, **ERRORS},
    url_name="api-version-deprecation",
)
def undeprecate_version(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> dict[str, Any]:
    mv = version_for_user(request.user, team, name, version)
    return _deprecation_out(deprecation.undeprecate(version=mv, actor=request.user))
