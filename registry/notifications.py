"""Telling people about promotion requests (and, through notify(), anything else): an
in-app notification and an email each.

Called inside the transaction that changes the request; emails go out after it commits
(console backend by default), and a mail server that fails never fails the request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import QuerySet

from accounts.models import Membership, User
from registry.models import Decision, Notification, PromotionRequest, RequestState, Stage

log = logging.getLogger(__name__)


def eligible_reviewers(request: PromotionRequest) -> QuerySet[User]:
    """Team members who may approve or reject the request."""
    roles = [r for r in request.reviewer_roles.split(",") if r]
    qs = User.objects.filter(
        is_active=True,
        memberships__team_id=request.team_id,
        memberships__role__in=roles,
    ).exclude(pk=request.requested_by_id)
    if not request.author_may_review and request.version.created_by_id:
        qs = qs.exclude(pk=request.version.created_by_id)
    return qs.distinct()


def request_opened(request: PromotionRequest) -> None:
    who = _name(request.requested_by)
    _send(
        eligible_reviewers(request),
        request,
        f"{who} asks to move {_subject(request)}: your review is needed",
    )


def request_approved(request: PromotionRequest, reviewer: Any) -> None:
    from registry.promotions import approvals

    _send(
        _requester(request),
        request,
        f"{_name(reviewer)} approved {_subject(request)} "
        f"({approvals(request)} of {request.required_approvals})",
    )


def request_blocked(request: PromotionRequest) -> None:
    maintainers = User.objects.filter(
        memberships__team_id=request.team_id, memberships__role=Membership.Role.MAINTAINER
    )
    _send(
        [*_requester(request), *maintainers],
        request,
        f"{_subject(request)} has its approvals but failing gates: fix them or override",
    )


def request_commented(request: PromotionRequest, author: Any) -> None:
    others = User.objects.filter(pk__in=request.reviews.exclude(reviewer=author).values("reviewer"))
    people = [u for u in [*_requester(request), *others] if u.pk != author.pk]
    _send(people, request, f"{_name(author)} commented on {_subject(request)}")


def request_decided(request: PromotionRequest, actor: Any) -> None:
    if request.state == RequestState.APPLIED:
        text = f"{_subject(request)} was approved and applied"
    else:
        decision = Decision.REJECT.label.lower()
        text = f"{_name(actor)} {decision} {_subject(request)}"
    _send([u for u in _requester(request) if u.pk != getattr(actor, "pk", None)], request, text)


def _requester(request: PromotionRequest) -> list[User]:
    return [request.requested_by] if request.requested_by else []


def _subject(request: PromotionRequest) -> str:
    version = request.version
    return (
        f"{version.model.name} {version.version} to {Stage(request.to_stage).label} (#{request.pk})"
    )


def _name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user else "Someone"


def _send(users: Iterable[User], request: PromotionRequest, message: str) -> None:
    notify(users, message, request.get_absolute_url(), request=request)


def notify(
    users: Iterable[User], message: str, url: str, request: PromotionRequest | None = None
) -> None:
    """An in-app notification and (after commit) an email to each of `users`."""
    people = {u.pk: u for u in users if u is not None}.values()
    Notification.objects.bulk_create(
        Notification(user=u, request=request, message=message[:300], url=url) for u in people
    )
    mails = [
        (
            f"[Modelgate] {message}"[:200],
            f"{message}.\n\n{settings.MODELGATE_BASE_URL}{url}\n",
            None,
            [u.email],
        )
        for u in people
        if u.email
    ]
    if mails:
        transaction.on_commit(lambda: _mail(mails))


def _mail(mails: list[tuple[str, str, None, list[str]]]) -> None:
    try:
        send_mass_mail(mails, fail_silently=False)
    except Exception:  # a mail server problem must never fail the change it reports
        log.exception("could not send %d notification emails", len(mails))
