"""The webhook form. It only cleans input; registry.webhooks applies the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from registry import webhooks
from registry.forms import BootstrapMixin, ServiceErrorsMixin
from registry.webhooks import EVENT_HELP, SUBSCRIBABLE


class WebhookForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="Unique in the team, e.g. “CI deploys”.")
    url = forms.CharField(
        label="Payload URL",
        max_length=2000,
        help_text="http:// or https://; events are POSTed here as signed JSON.",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    events = forms.MultipleChoiceField(
        choices=[(str(e), str(e)) for e in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    active = forms.BooleanField(
        required=False, initial=True, help_text="Inactive webhooks receive nothing."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["events"].widget.attrs["class"] = "form-check-input"

    def clean(self) -> dict[str, Any]:
        """Every problem at once: the service's rules for the fields that are filled in
        (the URL's scheme and address, say) even when another field is missing."""
        data = super().clean()
        checked = {name: data[name] for name in ("name", "url", "events") if data.get(name)}
        try:
            webhooks.clean_fields(checked)
        except ValidationError as exc:
            self.add_service_errors(exc)
        return data

    def event_choices(self) -> list[tuple[str, str, bool]]:
        """(event, what it means, checked) for the template's checkboxes."""
        chosen = set(self["events"].value() or [])
        return [(str(e), EVENT_HELP[e], str(e) in chosen) for e in SUBSCRIBABLE]
