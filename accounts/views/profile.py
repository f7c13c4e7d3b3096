"""The signed-in user's own page: details, teams, password change and API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit, tokens
from accounts.forms import TokenForm
from accounts.models import ApiToken, Membership
from registry.views.common import HtmxHttpRequest


def _profile_context(request: HtmxHttpRequest, form: TokenForm) -> dict[str, Any]:
    now = timezone.now()
    user_tokens = list(ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk"))
    for token in user_tokens:
        token.status = tokens.status(token, now)  # type: ignore[attr-defined]
    return {
        # With the user's MLflow settings (mlflow_api), shown beside the teams.
        "memberships": Membership.objects.filter(user=request.user)
        .select_related("team", "user__mlflow_settings")
        .order_by("team__name"),
        "tokens": user_tokens,
        "form": form,
    }


@require_GET
@never_cache
def profile(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "accounts/profile.html", _profile_context(request, TokenForm()))


@require_POST
@never_cache
def token_create(request: HtmxHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = tokens.create(
                request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_at"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            # Shown on this response only: the secret is not stored and never redirected
            # through the session, and never_cache keeps the page out of caches.
            context = _profile_context(request, TokenForm())
            context |= {"new_token": token, "secret": secret}
            return render(request, "accounts/profile.html", context)
    return render(request, "accounts/profile.html", _profile_context(request, form), status=400)


@require_http_methods(["GET", "POST"])
def token_revoke(request: HtmxHttpRequest, token_id: int) -> HttpResponse:
    # Only the user's own tokens: anyone else's answers 404, as an unknown id does.
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if request.method == "POST":
        if tokens.revoke(token, actor=request.user):
            messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
        else:
            messages.info(request, f"Token “{token.name}” was already revoked.")
        return redirect("profile")
    return render(
        request,
        "accounts/token_revoke.html",
        {"token": token, "status": tokens.status(token)},
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, in the layout, with the change recorded in the audit log."""

    template_name = "registration/password_change_form.html"

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            # The action says what happened; no password or hash goes into the log.
            audit.record("user.password_change", actor=self.request.user, obj=self.request.user)
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"
