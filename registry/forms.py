"""Browser forms. They only turn form fields into the plain data the services validate."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.policy import Action, teams_for
from registry import versioning
from registry.markdown import MAX_DESCRIPTION_LENGTH
from registry.metadata import clean_tags, parse_requirements_text
from registry.models import (
    MAX_SOURCE_LENGTH,
    Decision,
    GateKind,
    RegisteredModel,
    Stage,
    TaskType,
    Visibility,
)
from registry.policies import METADATA_FIELDS, REVIEWER_ROLES
from registry.services import MAX_TRANSITION_COMMENT


class BootstrapMixin:
    """Bootstrap classes on every widget; fields with errors are marked invalid.

    (Django itself adds aria-invalid and points aria-describedby at the help text and at
    the error list, id "<field id>_error", which templates/_field.html renders.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{css} {widget.attrs.get('class', '')}".strip()

    def mark_invalid(self, name: str) -> None:
        attrs = self.fields[name].widget.attrs  # type: ignore[attr-defined]
        if "is-invalid" not in attrs["class"]:
            attrs["class"] += " is-invalid"

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in self.errors:  # type: ignore[attr-defined]
            if name in self.fields:  # type: ignore[attr-defined]
                self.mark_invalid(name)


class ServiceErrorsMixin:
    """Attach a service's ValidationError to the matching fields (or the form as a whole)."""

    def service_field(self, field: str, message: str) -> str:
        """The form field that shows a service error about `field`."""
        return field

    def add_service_errors(self, exc: ValidationError) -> None:
        form: forms.Form = self  # type: ignore[assignment]
        if not hasattr(exc, "error_dict"):
            form.add_error(None, exc)
            return
        for field, messages in exc.message_dict.items():
            for message in messages:
                target = self.service_field(field, message)
                if target in form.fields:
                    form.add_error(target, message)
                    if isinstance(self, BootstrapMixin):
                        self.mark_invalid(target)
                else:
                    form.add_error(None, f"{field}: {message}")


def parse_tag_lines(text: str) -> dict[str, str]:
    """'key=value' (or a bare 'label') per line; values may contain commas."""
    tags: dict[str, str] = {}
    for item in text.splitlines():
        if item.strip():
            key, _, value = item.partition("=")
            tags[key.strip()] = value.strip()
    try:
        return clean_tags(tags)
    except ValidationError as exc:
        raise ValidationError(exc.messages) from None


class NewModelForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    team = forms.ModelChoiceField(queryset=None, to_field_name="slug")  # type: ignore[arg-type]
    name = forms.CharField(max_length=100, help_text="Letters, digits, '.', '_' and '-'.")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
        help_text="Markdown.",
    )
    task_type = forms.ChoiceField(choices=TaskType.choices, initial=TaskType.CLASSIFICATION)
    framework = forms.CharField(
        max_length=50, required=False, help_text="e.g. sklearn, pytorch, xgboost"
    )
    versioning_scheme = forms.ChoiceField(
        choices=RegisteredModel._meta.get_field("versioning_scheme").choices,
        help_text="semantic 1.4.2 · git abc123d · timestamp 20241219-143022 · "
        "hybrid v1.2.3-20241219-abc123d",
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        help_text="Who may read the model. Internal models are readable by every signed-in "
        "user; only the team may change them.",
    )
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="key=value (or a bare label), one per line",
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_for(user, Action.CONTRIBUTE)  # type: ignore[attr-defined]
        self.fields["name"].validators = RegisteredModel._meta.get_field("name").validators

    def clean_tags(self) -> dict[str, str]:
        return parse_tag_lines(self.cleaned_data["tags"])


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def _json_field(label: str, example: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace", "placeholder": example}),
    )


class RegisterVersionForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    def service_field(self, field: str, message: str) -> str:
        if field == "environment":  # the messages name the part: environment.python: …
            return "python" if message.startswith("environment.python") else "requirements"
        return field

    version = forms.CharField(max_length=versioning.MAX_VERSION_LENGTH, required=False)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
        help_text="Markdown.",
    )
    files = MultipleFileField(required=False, help_text="Model files; stored by SHA-256.")
    framework_version = forms.CharField(max_length=50, required=False)
    metrics = _json_field(
        "Metrics (JSON by split)",
        '{"test": {"auc": 0.93, "p95_latency_ms": 41}, "validation": {...}}',
    )
    params = _json_field("Hyperparameters (JSON)", '{"learning_rate": 0.05, "max_depth": 8}')
    signature = _json_field(
        "Signature (JSON)",
        '{"inputs": [{"name": "age", "type": "long"}], "outputs": [{"type": "double"}]}',
    )
    python = forms.CharField(label="Python version", max_length=20, required=False)
    os = forms.CharField(label="Operating system", max_length=200, required=False)
    hardware = forms.CharField(max_length=200, required=False, help_text="e.g. 1× A100 40GB")
    requirements = forms.CharField(
        label="Packages",
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "class": "font-monospace",
                "placeholder": "numpy==1.26.4\nscikit-learn==1.5.0",
            }
        ),
        help_text="requirements.txt or `pip freeze` output",
    )
    code_repository = forms.CharField(label="Repository", max_length=500, required=False)
    code_commit = forms.CharField(label="Commit", max_length=64, required=False)
    code_branch = forms.CharField(label="Branch", max_length=255, required=False)
    code_entry_point = forms.CharField(label="Entry point", max_length=500, required=False)
    code_dirty = forms.BooleanField(label="Uncommitted changes", required=False)
    source = forms.CharField(
        label="Source",
        max_length=MAX_SOURCE_LENGTH,
        required=False,
        help_text="Where the model came from, e.g. s3://bucket/model/ or runs:/<run id>/model; "
        "recorded as text, never fetched.",
    )
    training_started_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    training_ended_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="key=value (or a bare label), one per line",
    )

    def _clean_json(self, name: str) -> Any:
        text = self.cleaned_data[name].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except RecursionError:
            raise ValidationError("is nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None

    def clean_metrics(self) -> Any:
        return self._clean_json("metrics")

    def clean_params(self) -> Any:
        return self._clean_json("params")

    def clean_signature(self) -> Any:
        return self._clean_json("signature")

    def clean_tags(self) -> dict[str, str]:
        return parse_tag_lines(self.cleaned_data["tags"])

    def metadata(self) -> dict[str, Any]:
        """The cleaned fields as the metadata dict clean_version_metadata takes."""
        data = dict(self.cleaned_data)
        environment = {key: data.pop(key) for key in ("python", "os", "hardware")}
        environment["packages"] = parse_requirements_text(data.pop("requirements"))
        data["environment"] = {k: v for k, v in environment.items() if v}
        # An unticked box means "clean" only when a commit was given; otherwise unknown.
        data["code_dirty"] = (
            True if data["code_dirty"] else (False if data["code_commit"] else None)
        )
        for key in ("version", "files"):
            data.pop(key)
        return data


class StageForm(forms.Form):
    to_stage = forms.ChoiceField(label="Move to", choices=Stage.choices)
    comment = forms.CharField(
        required=False, max_length=MAX_TRANSITION_COMMENT, widget=forms.Textarea(attrs={"rows": 2})
    )
    override_reason = forms.CharField(required=False, max_length=MAX_TRANSITION_COMMENT)


class DeprecateForm(forms.Form):
    reason = forms.CharField(max_length=500)
    sunset = forms.DateField(required=False)


class EditModelForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    """What contributors may change on a model; visibility only for maintainers."""

    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
        help_text="Markdown.",
    )
    task_type = forms.ChoiceField(choices=TaskType.choices)
    framework = forms.CharField(max_length=50, required=False)
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="key=value (or a bare label), one per line",
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        help_text="Internal models are readable by every signed-in user; only the team may "
        "change them.",
    )
    allow_multiple_production = forms.BooleanField(
        required=False,
        label="Several versions may serve in Production at once",
        help_text="For A/B tests or regional variants. Otherwise a version entering "
        "Production replaces the current one.",
    )

    def __init__(self, *args: Any, may_maintain: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_maintain:
            del self.fields["visibility"]
            del self.fields["allow_multiple_production"]

    def clean_tags(self) -> dict[str, str]:
        return parse_tag_lines(self.cleaned_data["tags"])


class EditVersionForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
        help_text="Markdown.",
    )
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="key=value (or a bare label), one per line",
    )

    def clean_tags(self) -> dict[str, str]:
        return parse_tag_lines(self.cleaned_data["tags"])


def tag_lines(tags: Any) -> str:
    """Tags as the edit forms show them: one key=value per line."""
    return "\n".join(f"{t.key}={t.value}" if t.value else t.key for t in tags)


class PromotionRequestForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    to_stage = forms.ChoiceField(label="Move to")
    justification = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Why this version should go there: what changed, how it was evaluated.",
    )

    def __init__(self, *args: Any, stages: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].choices = stages  # type: ignore[attr-defined]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)


class PolicyForm(forms.Form):
    required_approvals = forms.IntegerField(min_value=0, max_value=10)
    reviewer_roles = forms.MultipleChoiceField(
        required=False,
        choices=[(r.value, r.label) for r in REVIEWER_ROLES],
        widget=forms.CheckboxSelectMultiple,
    )
    author_may_review = forms.BooleanField(required=False)
    expiry_hours = forms.IntegerField(min_value=1, max_value=24 * 90)
    replaced_stage = forms.ChoiceField(
        choices=[("archived", "Archived"), ("staging", "Staging"), ("development", "Development")]
    )


class GateForm(forms.Form):
    kind = forms.ChoiceField(choices=GateKind.choices)
    rule = forms.CharField(required=False, max_length=500)
    metric = forms.CharField(required=False, max_length=200)
    tolerance = forms.FloatField(required=False, min_value=0)
    stage = forms.ChoiceField(required=False, choices=[("", "—"), *Stage.choices[:3]])
    hours = forms.IntegerField(required=False, min_value=1, max_value=24 * 365)
    fields = forms.MultipleChoiceField(
        required=False, choices=list(METADATA_FIELDS.items()), widget=forms.CheckboxSelectMultiple
    )

    def gate_fields(self) -> dict[str, Any]:
        """Only the fields the chosen kind uses (the domain validates them)."""
        data = self.cleaned_data
        return {
            GateKind.METRIC_RULE: {"rule": data["rule"]},
            GateKind.CHAMPION: {"metric": data["metric"], "tolerance": data["tolerance"] or 0},
            GateKind.TIME_IN_STAGE: {"stage": data["stage"], "hours": data["hours"] or 0},
            GateKind.REQUIRED_METADATA: {"fields": list(data["fields"])},
        }[data["kind"]]
