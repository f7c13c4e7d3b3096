"""The site admins' view of webhooks: subscriptions, their deliveries (read-only, with a
redeliver action) and the allow list of private hosts webhooks may reach.

Changes go through registry.webhooks like the team pages', so they are validated and
audited the same way; allow-list changes are audited here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import audit
from registry import archiving, policies, webhooks
from registry.models import (
    Job,
    PromotionGate,
    PromotionPolicy,
    PromotionRequest,
    RetentionPolicy,
    Review,
    Webhook,
    WebhookAllowedHost,
    WebhookDelivery,
)

EDITABLE = ["name", "url", "events", "active"]


class WebhookAdminForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = EDITABLE

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            webhooks.clean_fields({name: data[name] for name in EDITABLE if name in data})
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookAdminForm
    list_display = ["name", "team", "url", "active", "created_at"]
    list_select_related = ["team"]
    list_filter = ["active", "team"]
    search_fields = ["name", "url", "team__slug"]
    # Never the secret: maintainers see it once, when they create or rotate it.
    fields = [*EDITABLE, "team", "created_by", "created_at", "secret_rotated_at"]
    readonly_fields = ["team", "created_by", "created_at", "secret_rotated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # maintainers add webhooks on their team's page, which shows the secret

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        if changed:
            webhooks.update_webhook(Webhook.objects.get(pk=obj.pk), request.user, **changed)

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        webhooks.delete_webhook(obj, request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        with transaction.atomic():
            for hook in queryset.select_related("team"):
                webhooks.delete_webhook(hook, request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "webhook", "event", "state", "attempts", "last_status_code", "created_at"]
    list_select_related = ["webhook__team"]
    list_filter = ["state", "event"]
    search_fields = ["=event_id", "webhook__name"]
    ordering = ["-id"]
    actions = ["redeliver_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the log is written by delivery attempts only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("registry.add_webhookdelivery")

    @admin.action(description="Redeliver selected deliveries", permissions=["redeliver"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        done, refused = 0, []
        for delivery in queryset.select_related("webhook__team"):
            try:
                webhooks.redeliver(delivery, request.user)
            except ValidationError as exc:
                refused.append(f"#{delivery.pk}: {' '.join(exc.messages)}")
            else:
                done += 1
        self.message_user(request, f"Queued {done} redeliver{'ies' if done != 1 else 'y'}.")
        if refused:
            self.message_user(request, "Not queued: " + "; ".join(refused), messages.WARNING)


@admin.register(WebhookAllowedHost)
class WebhookAllowedHostAdmin(admin.ModelAdmin):
    list_display = ["host", "note", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["host", "note"]
    fields = ["host", "note", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: WebhookAllowedHost, form: Any, change: bool
    ) -> None:
        with transaction.atomic():
            before = {} if not change else {k: form.initial.get(k) for k in ("host", "note")}
            if not change:
                obj.created_by = request.user
            super().save_model(request, obj, form, change)
            after = {"host": obj.host, "note": obj.note}
            action = "webhook.allowed_host.change" if change else "webhook.allowed_host.add"
            audit.record(action, actor=request.user, obj=obj, changes=audit.diff(before, after))

    def delete_model(self, request: HttpRequest, obj: WebhookAllowedHost) -> None:
        with transaction.atomic():
            self._record_delete(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookAllowedHost]) -> None:
        with transaction.atomic():
            for host in queryset:
                self._record_delete(request, host)
            super().delete_queryset(request, queryset)

    def _record_delete(self, request: HttpRequest, host: WebhookAllowedHost) -> None:
        audit.record(
            "webhook.allowed_host.delete",
            actor=request.user,
            obj=host,
            changes={"host": [host.host, None], "note": [host.note, None]},
        )


# --- promotion policies and requests ------------------------------------------------------


class PromotionGateInline(admin.TabularInline):
    model = PromotionGate
    extra = 0
    fields = ("kind", "rule", "metric", "tolerance", "stage", "hours", "fields")


@admin.register(PromotionPolicy)
class PromotionPolicyAdmin(admin.ModelAdmin):
    """Validated by the same rules as the team page (the models' clean() calls
    registry.policies); every save is audited with what changed."""

    list_display = ("__str__", "team", "model", "required_approvals", "expiry_hours", "updated_at")
    list_filter = ("target_stage", "purpose", "team")
    list_select_related = ("team", "model")
    raw_id_fields = ("model",)
    exclude = ("updated_by",)
    inlines = [PromotionGateInline]

    def save_model(
        self, request: HttpRequest, obj: PromotionPolicy, form: Any, change: bool
    ) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
        audit.record(
            "policy.save",
            actor=request.user,
            obj=obj,
            team=obj.team,
            changes={name: [None, form.cleaned_data.get(name)] for name in form.changed_data},
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        gates = [str(g) for g in formset.new_objects + [o for o, _ in formset.changed_objects]]
        removed = [str(g) for g in formset.deleted_objects]
        if gates or removed:
            audit.record(
                "policy.gates",
                actor=request.user,
                obj=form.instance,
                team=form.instance.team,
                changes={"gates": [removed or None, gates or None]},
            )

    def delete_model(self, request: HttpRequest, obj: PromotionPolicy) -> None:
        policies.delete_policy(policy=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PromotionPolicy]) -> None:
        for policy in queryset:
            policies.delete_policy(policy=policy, actor=request.user)


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    fields = ("reviewer", "decision", "comment", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PromotionRequest)
class PromotionRequestAdmin(admin.ModelAdmin):
    """Read-only: requests change only through the review workflow (registry.promotions)."""

    list_display = ("__str__", "team", "state", "requested_by", "created_at", "expires_at")
    list_filter = ("state", "to_stage", "purpose", "team")
    list_select_related = ("team", "version__model", "requested_by")
    search_fields = ("model__name", "version__version", "justification")
    inlines = [ReviewInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Archive, restore and retention-sweep jobs: read-only, with a retry action."""

    list_display = ["id", "kind", "state", "version", "team", "attempts", "progress_done",
                    "progress_total", "created_at", "finished_at"]  # fmt: skip
    list_select_related = ["version__model", "team"]
    list_filter = ["kind", "state"]
    ordering = ["-id"]
    actions = ["retry_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # written by the workers only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("registry.add_job")

    @admin.action(description="Retry selected failed jobs", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        done = sum(archiving.retry(job, request.user) for job in queryset)
        skipped = queryset.count() - done
        self.message_user(request, f"Queued {done} job(s) again.")
        if skipped:
            self.message_user(request, f"{skipped} job(s) were not failed archive/restore "
                              "jobs (or another job of the version is under way).",
                              messages.WARNING)  # fmt: skip


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["team", "enabled", "max_age_days", "keep_last", "last_swept_at"]
    list_select_related = ["team"]
    readonly_fields = ["team", "updated_by", "updated_at", "last_swept_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created on the team's retention page (with its preview)
