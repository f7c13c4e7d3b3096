"""Account forms: a new API token, and the admin's user forms for our User model.

They clean input; accounts.tokens validates and creates tokens.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import ApiToken, Membership, User
from registry.forms import BootstrapMixin

NEVER = "never"
ON_DATE = "date"
EXPIRY_CHOICES = [
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    (ON_DATE, "On a date…"),
    (NEVER, "Never"),
]


class TokenForm(BootstrapMixin, forms.Form):
    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What uses it, e.g. “deploy job, fraud cluster”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiToken.Scope.READ],
        help_text="read: browse and download · write: register and change (includes read) · "
        "review: approve or reject promotions (on its own).",
    )
    expiry = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, initial="90")
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="With “On a date…”: the token stops working at the start of that day (UTC).",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        expiry = data.get("expiry")
        data["expires_at"] = None
        if expiry == ON_DATE:
            day = data.get("expires_on")
            if day is None:
                if "expires_on" not in self.errors:
                    self.add_error("expires_on", "Pick the day the token should expire.")
                return data
            expires_at = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            if expires_at <= timezone.now():
                self.add_error("expires_on", "Pick a day after today.")
                return data
            data["expires_at"] = expires_at
        elif expiry and expiry != NEVER:
            data["expires_at"] = timezone.now() + dt.timedelta(days=int(expiry))
        return data

    def add_service_errors(self, exc: ValidationError) -> None:
        """Errors from accounts.tokens.create, on the fields they concern."""
        targets = {"name": "name", "scopes": "scopes", "expires_at": "expires_on"}
        for field, messages in exc.message_dict.items():
            self.add_error(targets.get(field), messages)


# Django's admin user forms name django.contrib.auth's User; ours is accounts.User.
class AdminUserCreationForm(auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User


class MembershipInlineForm(forms.ModelForm):
    """A membership row in the team admin: the member of a saved row is fixed (remove the
    row and add another to swap people), so each row is one add, role change or removal."""

    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["user"].disabled = True

    def clean_user(self) -> User:
        user = self.cleaned_data["user"]
        if self.instance.pk is None and user is not None and not user.is_active:
            raise ValidationError(f"The account {user.username} is deactivated.")
        return user
