"""The site admins' panel: teams and memberships, users, API tokens, the audit log.

Every change made here goes through the same domain functions as the browser (team
memberships through accounts.teams, token revocation through accounts.tokens) or records
its own audit event inside the admin's transaction; the audit log itself is read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.functional import cached_property

from accounts import audit, teams, tokens
from accounts.forms import AdminUserCreationForm, MembershipInlineForm, UserChangeForm
from accounts.models import ApiToken, AuditEvent, Membership, Team, User

Role = Membership.Role

admin.site.site_header = "Modelgate administration"
admin.site.site_title = "Modelgate admin"
admin.site.index_title = "Teams, users, tokens and the audit log"


def _plain(value: Any) -> Any:
    """A form value as audit.record stores it: objects by name, many-to-many as a list."""
    if isinstance(value, QuerySet | list | tuple | set):
        return sorted(str(v) for v in value)
    if isinstance(value, models.Model):
        return str(value)
    return value


def _form_changes(form: ModelForm, exclude: Iterable[str] = ()) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields the admin form changed.

    Only real differences: a form may call a field changed that only lost its microseconds.
    """
    skip = set(exclude)
    changes = {}
    for name in form.changed_data:
        if name in skip:
            continue
        before, after = _plain(form.initial.get(name)), _plain(form.cleaned_data.get(name))
        if before != after:
            changes[name] = [before, after]
    return changes


# --- teams and memberships ---------------------------------------------------------------


class MembershipFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        """Refuse, on the form, a submission that leaves a team with maintainers none.

        The same rule as accounts.teams.ensure_a_maintainer_remains, for all rows at once;
        the domain functions check it again, under the team's locks, as they apply them.
        """
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        before = set(
            Membership.objects.filter(team=self.instance, role=Role.MAINTAINER).values_list(
                "pk", flat=True
            )
        )
        if not before:
            return  # a team that has none yet may stay so until one is added
        shown = {form.instance.pk for form in self.initial_forms}
        remaining = len(before - shown)  # added elsewhere since this page was loaded
        last: Membership | None = None
        for form in self.forms:
            if form.instance.pk is None and not form.has_changed():
                continue  # an empty extra row
            removed = self.can_delete and self._should_delete_form(form)
            if not removed and form.cleaned_data.get("role") == Role.MAINTAINER:
                remaining += 1
            elif form.instance.pk in before:
                last = form.instance
        if remaining == 0 and last is not None:
            raise ValidationError(
                f"{last.user} is the last maintainer of {self.instance}; "
                "make someone else a maintainer first."
            )


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    formset = MembershipFormSet
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    extra = 1

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "team")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "member_count", "model_count", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        # One correlated count each, rather than joining members × models per team.
        registered_model = Team._meta.get_field("models").related_model
        members = (
            Membership.objects.filter(team=OuterRef("pk"))
            .order_by()
            .values("team")
            .annotate(n=Count("pk"))
            .values("n")
        )
        team_models = (
            registered_model.objects.filter(team=OuterRef("pk"))  # type: ignore[union-attr]
            .order_by()
            .values("team")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=Coalesce(Subquery(members), 0),
                model_count=Coalesce(Subquery(team_models), 0),
            )
        )

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count  # type: ignore[attr-defined]

    @admin.display(description="Models", ordering="model_count")
    def model_count(self, team: Team) -> int:
        return team.model_count  # type: ignore[attr-defined]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # A membership rule refused under the team's locks (e.g. another admin removed
            # a maintainer meanwhile): the whole save was rolled back with it.
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Team, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            changes = _form_changes(form)
            if changes:
                audit.record("team.change", actor=request.user, obj=obj, team=obj, changes=changes)
        else:
            changes = {name: [None, _plain(form.cleaned_data.get(name))] for name in form.fields}
            audit.record("team.create", actor=request.user, obj=obj, team=obj, changes=changes)

    def delete_model(self, request: HttpRequest, obj: Team) -> None:
        with transaction.atomic():
            self._record_delete(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        with transaction.atomic():
            for team in queryset:
                self._record_delete(request, team)
            super().delete_queryset(request, queryset)

    def _record_delete(self, request: HttpRequest, team: Team) -> None:
        members = list(
            Membership.objects.filter(team=team)
            .order_by("user__username")
            .values_list("user__username", "role")
        )
        audit.record(
            "team.delete",
            actor=request.user,
            obj=team,
            team=team,
            changes={
                "name": [team.name, None],
                "slug": [team.slug, None],
                "members": [[f"{u} ({r})" for u, r in members], None],
            },
        )

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        self._save_memberships(request, form.instance, formset)

    def _save_memberships(self, request: HttpRequest, team: Team, formset: Any) -> None:
        """Apply the rows through accounts.teams (policy, locks, audit) in an order that
        never leaves the team without a maintainer midway: new maintainers first, then
        new members and other role changes, removals last."""
        promote: list[tuple[Membership, str]] = []
        other: list[tuple[Membership, str]] = []
        remove: list[Membership] = []
        add: list[tuple[User, str]] = []
        for f in formset.initial_forms:
            if formset.can_delete and formset._should_delete_form(f):
                remove.append(f.instance)
            elif "role" in f.changed_data:
                role = f.cleaned_data["role"]
                (promote if role == Role.MAINTAINER else other).append((f.instance, role))
        for f in formset.extra_forms:
            if f.has_changed() and not (formset.can_delete and formset._should_delete_form(f)):
                add.append((f.cleaned_data["user"], f.cleaned_data["role"]))
        add.sort(key=lambda pair: pair[1] != Role.MAINTAINER)

        new: list[Membership] = []
        changed: list[tuple[Membership, list[str]]] = []
        for membership, role in promote:
            changed.append((teams.change_role(membership, request.user, role), ["role"]))
        for user, role in add:
            new.append(teams.add_member(team, request.user, user.get_username(), role))
        for membership, role in other:
            changed.append((teams.change_role(membership, request.user, role), ["role"]))
        for membership in remove:
            teams.remove_member(membership, request.user)
        # What the admin's own change message (its LogEntry) reads.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = new, changed, remove


# --- users ------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = AdminUserCreationForm
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "team_roles",
        "is_staff",
        "is_superuser",
        "is_active",
        "last_login",
    ]
    list_filter = ["is_staff", "is_superuser", "is_active", "memberships__team"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        memberships = Membership.objects.select_related("team").order_by("team__name")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("memberships", queryset=memberships))
        )

    @admin.display(description="Teams")
    def team_roles(self, user: User) -> str:
        return ", ".join(f"{m.team.slug} ({m.role})" for m in user.memberships.all()) or "—"

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Never the password (its hash is in form data on both forms).
        if change:
            changes = _form_changes(form, exclude={"password", "password1", "password2"})
            if changes:
                audit.record("user.change", actor=request.user, obj=obj, changes=changes)
        else:
            audit.record(
                "user.create",
                actor=request.user,
                obj=obj,
                changes={
                    "username": [None, obj.username],
                    "usable_password": [None, obj.has_usable_password()],
                },
            )

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        with transaction.atomic():
            self._record_delete(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        with transaction.atomic():
            for user in queryset:
                self._record_delete(request, user)
            super().delete_queryset(request, queryset)

    def _record_delete(self, request: HttpRequest, user: User) -> None:
        audit.record(
            "user.delete",
            actor=request.user,
            obj=user,
            changes={"username": [user.username, None], "email": [user.email, None]},
        )

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        with transaction.atomic():
            target = self.get_object(request, unquote(id))
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and target is not None:
                after = User.objects.get(pk=target.pk)
                if after.password != target.password:
                    audit.record(
                        "user.password_change",
                        actor=request.user,
                        obj=after,
                        changes={
                            "usable_password": [
                                target.has_usable_password(),
                                after.has_usable_password(),
                            ]
                        },
                    )
        return response


# --- API tokens ---------------------------------------------------------------------------


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        live = Q(revoked_at__isnull=True)
        expired = Q(expires_at__isnull=False, expires_at__lte=now)
        match self.value():
            case "active":
                return queryset.filter(live & ~expired)
            case "expired":
                return queryset.filter(live & expired)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


class TokenScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(ApiToken.Scope.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        scope = self.value()
        if scope not in ApiToken.Scope.values:
            return queryset
        # accounts.tokens stores scopes in one canonical order, so a token "has read" when
        # its list is one of the few lists containing it (JSON `contains` is not portable).
        values = ApiToken.Scope.values
        lists = [
            list(combo)
            for size in range(1, len(values) + 1)
            for combo in combinations(values, size)
            if scope in combo
        ]
        match = Q()
        for scopes in lists:
            match |= Q(scopes=scopes)
        return queryset.filter(match)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "prefix_shown",
        "name",
        "user",
        "scopes_shown",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked",
    ]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    list_filter = [TokenStatusFilter, TokenScopeFilter, "user__is_staff"]
    # Never key_hash: not shown, not editable, not searchable.
    fields = [
        "name",
        "user",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # users create their own tokens on their profile page; secrets are theirs

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the change page is read-only; revoking is the one change

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead, which keeps the record and is audited

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.display(description="Token", ordering="prefix")
    def prefix_shown(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(description="Scopes")
    def scopes_shown(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    @admin.display(description="Revoked", boolean=True, ordering="revoked_at")
    def revoked(self, token: ApiToken) -> bool:
        return token.revoked_at is not None

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = already = 0
        for token in queryset.select_related("user"):
            if tokens.revoke(token, actor=request.user):
                revoked += 1
            else:
                already += 1
        message = f"Revoked {revoked} token{'s' if revoked != 1 else ''}."
        if already:
            message += f" {already} {'was' if already == 1 else 'were'} already revoked."
        self.message_user(request, message, messages.SUCCESS)


# --- the audit log --------------------------------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """Counting every event for each unfiltered page is a scan of the whole table; on
    PostgreSQL a large unfiltered list uses the planner's estimate (pg_class.reltuples)."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return super().count
        table = queryset.model._meta.db_table
        with connection.cursor() as cursor:
            # One statement: the exact count (an InitPlan, run only when needed) for a small
            # or never-analysed table, the estimate for a large one.
            cursor.execute(
                f"""
                SELECT CASE WHEN c.reltuples > %s THEN c.reltuples::bigint
                            ELSE (SELECT COUNT(*) FROM {connection.ops.quote_name(table)}) END
                FROM pg_class c WHERE c.oid = %s::regclass
                """,
                [self.ESTIMATE_ABOVE, table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else super().count


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(a, a) for a in distinct_actions()]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent]
    ) -> QuerySet[AuditEvent]:
        return queryset.filter(action=self.value()) if self.value() else queryset


def distinct_actions() -> list[str]:
    """The actions in the log, read from the (action, id) index.

    PostgreSQL cannot skip through an index for DISTINCT, so it walks it one action at a
    time (a recursive "loose index scan"): a few dozen index probes instead of reading a
    million rows. Elsewhere (SQLite, small installations) a plain DISTINCT does.
    """
    connection = connections[AuditEvent.objects.db]
    if connection.vendor != "postgresql":
        return list(
            AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
        )
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE actions(action) AS (
                (SELECT action FROM {table} ORDER BY action LIMIT 1)
                UNION ALL
                SELECT (SELECT e.action FROM {table} e WHERE e.action > a.action
                        ORDER BY e.action LIMIT 1)
                FROM actions a WHERE a.action IS NOT NULL
            )
            SELECT action FROM actions WHERE action IS NOT NULL
            """
        )
        return [row[0] for row in cursor.fetchall()]


class TeamSlugFilter(admin.SimpleListFilter):
    """Teams from the (small) team table rather than a DISTINCT over every event."""

    title = "team"
    parameter_name = "team_slug"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Team.objects.order_by("slug").values_list("slug", "name"))

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent]
    ) -> QuerySet[AuditEvent]:
        return queryset.filter(team_slug=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "actor_name", "action", "object_repr", "team_slug", "ip"]
    list_display_links = ["id", "created_at"]
    search_fields = ["actor_name", "action", "object_repr", "=request_id"]
    list_filter = [ActionFilter, TeamSlugFilter]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
