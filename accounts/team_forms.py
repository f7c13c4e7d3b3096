"""Team page forms. They only clean input; accounts.teams applies the rules."""

from __future__ import annotations

from django import forms

from accounts.models import Membership
from registry.forms import BootstrapMixin, ServiceErrorsMixin


class AddMemberForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    SERVICE_FIELD_MAP: dict[str, str] = {}

    user = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)
