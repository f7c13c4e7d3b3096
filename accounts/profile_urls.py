from __future__ import annotations

from django.urls import path

from accounts.views import profile
from mlflow_api import settings_views

urlpatterns = [
    path("profile/", profile.profile, name="profile"),
    path("profile/tokens/", profile.token_create, name="token-create"),
    path("profile/tokens/<int:token_id>/revoke/", profile.token_revoke, name="token-revoke"),
    path("profile/mlflow/", settings_views.default_team, name="mlflow-default-team"),
    path("password/", profile.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", profile.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
