"""Registry workflows: every view, API endpoint, admin action and task calls these."""

from __future__ import annotations

import datetime as dt
import io
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Model, ProtectedError, QuerySet, RestrictedError, Value
from django.utils import timezone

from accounts import audit, rows
from accounts.models import Team
from accounts.policy import Action, require
from registry import (
    archiving,
    artifacts,
    compare,
    parent_links,
    policies,
    promotions,
    signals,
    uploads,
    versioning,
    webhooks,
)
from registry.errors import Conflict
from registry.markdown import MAX_DESCRIPTION_LENGTH
from registry.metadata import VersionMetadata, clean_tags
from registry.models import (
    Alias,
    AliasEvent,
    Artifact,
    Blob,
    GatedStage,
    Job,
    Metric,
    ModelTag,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    Stage,
    StageTransition,
    VersionTag,
    Visibility,
)
from registry.storage import artifact_storage

log = logging.getLogger(__name__)

# A stage change's comment (and a gate override's reason): as long as the stage form's
# and MLflow's transition comment; a promotion request's justification may say more.
MAX_TRANSITION_COMMENT = 2000


@dataclass(frozen=True)
class ArtifactUpload:
    """A file to attach to a new version: where it goes in the manifest and its bytes."""

    path: str
    stream: IO[bytes]


def create_model(
    *,
    team: Team,
    name: str,
    actor: Any,
    description: str = "",
    task_type: str = "other",
    framework: str = "",
    versioning_scheme: str = versioning.Scheme.SEMANTIC,
    visibility: str = Visibility.TEAM,
    tags: dict[str, str] | None = None,
) -> RegisteredModel:
    require(actor, Action.CONTRIBUTE, team)
    if visibility != Visibility.TEAM:
        require(actor, Action.MAINTAIN, team)
    model = RegisteredModel(
        team=team,
        name=name.strip(),
        description=description,
        task_type=task_type,
        framework=framework.strip().lower(),
        versioning_scheme=versioning_scheme,
        visibility=visibility,
        created_by=actor,
    )
    model.full_clean(validate_unique=False, validate_constraints=False)
    tags = clean_tags(tags)
    with transaction.atomic():
        taken = ValidationError(
            {"name": f"team {team.slug} already has a model named {model.name!r}"}
        )
        if RegisteredModel.objects.filter(team=team, name__iexact=model.name).exists():
            raise taken
        try:
            with transaction.atomic():
                model.save()
        except IntegrityError:  # registered by someone else a moment ago
            raise taken from None
        ModelTag.objects.bulk_create(
            ModelTag(model=model, key=key, value=value) for key, value in tags.items()
        )
        audit.record(
            "model.create",
            actor=actor,
            obj=model,
            team=team,
            changes=audit.diff({}, model_fields(model, tags)),
        )
    return model


# What a model's edit form may change, and who may change it.
MODEL_EDITABLE = ("description", "task_type", "framework", "tags")
MODEL_MAINTAINER_ONLY = ("visibility", "allow_multiple_production")


def update_model(*, model: RegisteredModel, actor: Any, **changes: Any) -> RegisteredModel:
    """Edit a model's description, task, framework and tags (contributors) or its
    visibility and whether several versions may serve in Production (maintainers);
    audited with a before/after diff."""
    unknown = set(changes) - set(MODEL_EDITABLE) - set(MODEL_MAINTAINER_ONLY)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "cannot be changed"))
    require(actor, Action.CONTRIBUTE, model)
    if any(changes.get(f, getattr(model, f)) != getattr(model, f) for f in MODEL_MAINTAINER_ONLY):
        require(actor, Action.MAINTAIN, model)
    tags = clean_tags(changes.pop("tags")) if "tags" in changes else None
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        before = model_fields(locked, _tags_of(locked))
        for field, value in changes.items():
            setattr(locked, field, value.strip().lower() if field == "framework" else value)
        locked.full_clean(validate_unique=False, validate_constraints=False)
        locked.save()
        if tags is not None:
            ModelTag.objects.filter(model=locked).delete()
            ModelTag.objects.bulk_create(
                ModelTag(model=locked, key=key, value=value) for key, value in tags.items()
            )
        after = model_fields(locked, tags if tags is not None else before["tags"])
        if before != after:
            audit.record(
                "model.update",
                actor=actor,
                obj=locked,
                team=locked.team,
                changes=audit.diff(before, after),
            )
    return locked


def rename_model(*, model: RegisteredModel, actor: Any, name: str) -> RegisteredModel:
    """Give a model a new name in its team (maintainers); audited. URLs with the old name
    stop working, as they name a model by its name."""
    require(actor, Action.MAINTAIN, model)
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        old = locked.name
        locked.name = (name or "").strip()
        locked.full_clean(validate_unique=False, validate_constraints=False)
        if locked.name == old:
            return locked
        taken = ValidationError(
            {"name": f"team {locked.team.slug} already has a model named {locked.name!r}"}
        )
        clash = RegisteredModel.objects.filter(team_id=locked.team_id, name__iexact=locked.name)
        if clash.exclude(pk=locked.pk).exists():
            raise taken
        try:
            with transaction.atomic():
                locked.save(update_fields=["name", "updated_at"])
        except IntegrityError:
            raise taken from None
        audit.record(
            "model.rename",
            actor=actor,
            obj=locked,
            team=locked.team,
            changes={"name": [old, locked.name]},
        )
    return locked


def delete_model(*, model: RegisteredModel, actor: Any) -> None:
    """Delete a model that has no versions (maintainers); audited. A model with versions
    keeps its history: archive its versions instead."""
    require(actor, Action.MAINTAIN, model)
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        if ModelVersion.objects.filter(model=locked).exists():
            raise Conflict(
                f"{locked.name} has versions: Modelgate keeps their history, archive them instead."
            )
        audit.record(
            "model.delete",
            actor=actor,
            obj=locked,
            team=locked.team,
            changes=audit.diff(model_fields(locked, _tags_of(locked)), {}),
        )
        locked.delete()


def _tags_of(model: RegisteredModel) -> dict[str, str]:
    return dict(ModelTag.objects.filter(model=model).values_list("key", "value"))


def model_fields(model: RegisteredModel, tags: dict[str, str]) -> dict[str, Any]:
    """A model's own fields and tags: what the audit log diffs and the API shows."""
    return {
        "name": model.name,
        "description": model.description,
        "task_type": model.task_type,
        "framework": model.framework,
        "versioning_scheme": model.versioning_scheme,
        "visibility": model.visibility,
        "allow_multiple_production": model.allow_multiple_production,
        "tags": dict(sorted(tags.items())),
    }


def update_version(
    *,
    version: ModelVersion,
    actor: Any,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Edit the mutable parts of a version (description, tags); audited. Everything else
    a version carries is what was registered and never changes."""
    require(actor, Action.CONTRIBUTE, version)
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        # The limit registration applies (clean_version_metadata).
        raise ValidationError(
            {"description": f"must be at most {MAX_DESCRIPTION_LENGTH} characters"}
        )
    clean = clean_tags(tags) if tags is not None else None
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        old_tags = dict(VersionTag.objects.filter(version=locked).values_list("key", "value"))
        before = {"description": locked.description, "tags": old_tags}
        if description is not None:
            locked.description = description
            locked.save(update_fields=["description"])
        if clean is not None:
            VersionTag.objects.filter(version=locked).delete()
            VersionTag.objects.bulk_create(
                VersionTag(version=locked, key=key, value=value) for key, value in clean.items()
            )
        after = {
            "description": locked.description,
            "tags": clean if clean is not None else old_tags,
        }
        if before != after:
            audit.record(
                "version.update",
                actor=actor,
                obj=locked,
                team=locked.model.team,
                changes=audit.diff(before, after),
            )
    return locked


# Why a version may not be deleted. Modelgate keeps the history of every version something
# happened to, so only a version registered by mistake (never moved, pointed at, asked
# about, deployed, built on or archived) may go; the others are archived. Each check is a
# relation whose history the deletion would otherwise lose.
DELETION_REFUSALS = {
    "moved": "it has left Development, and its stage history is kept",
    "alias": "an alias points at it",
    "alias_history": "an alias pointed at it once, and alias history is kept",
    "requested": "promotion was requested for it",
    "deployed": "it has been deployed",
    "descendants": "other versions or deployments descend from it in the lineage graph",
    "retrain_from": "a retrain request names it as the version to replace",
    "retrain_for": "it was registered for a retrain request",
    "jobs": "its files were archived or restored",
}


def _deletion_checks(pk: int) -> dict[str, Exists]:
    from lineage.models import Deployment, Edge, NodeType
    from monitoring.models import RetrainRequest

    return {
        "moved": Exists(StageTransition.objects.filter(version_id=pk).exclude(from_stage="")),
        "alias": Exists(Alias.objects.filter(version_id=pk)),
        "alias_history": Exists(AliasEvent.objects.filter(version_id=pk)),
        "requested": Exists(PromotionRequest.objects.filter(version_id=pk)),
        "deployed": Exists(Deployment.objects.filter(version_id=pk)),
        "descendants": Exists(Edge.objects.filter(src_type=NodeType.VERSION, src_id=pk)),
        "retrain_from": Exists(RetrainRequest.objects.filter(version_id=pk)),
        "retrain_for": Exists(RetrainRequest.objects.filter(new_version_id=pk)),
        "jobs": Exists(Job.objects.filter(version_id=pk)),
    }


def version_deletion_blockers(version: ModelVersion) -> list[str]:
    """Why `version` may not be deleted (empty when it may be), in one query."""
    checks = _deletion_checks(version.pk)
    found = (
        ModelVersion.objects.filter(pk=version.pk)
        .annotate(**{f"refused_{name}": check for name, check in checks.items()})
        .values("stage", "cold_since", *(f"refused_{name}" for name in checks))
        .first()
    )
    if found is None:
        return ["it was deleted already"]
    refused = {name for name in checks if found[f"refused_{name}"]}
    if "alias" in refused:  # that an alias pointed here once goes without saying
        refused.discard("alias_history")
    reasons = [reason for name, reason in DELETION_REFUSALS.items() if name in refused]
    if found["stage"] != Stage.DEVELOPMENT and "moved" not in refused:
        reasons.insert(0, f"it is in {Stage(found['stage']).label}")
    if found["cold_since"] is not None and "jobs" not in refused:
        reasons.append("its files are in cold storage")
    return reasons


def delete_version(*, version: ModelVersion, actor: Any) -> None:
    """Delete a version registered by mistake (maintainers): one still in Development that
    nothing refers to (see version_deletion_blockers); anything else is refused with the
    reasons (Conflict), and archived instead. Audited with a snapshot of what was deleted.

    Its sequence number stays a gap (the model's last_sequence is kept, so it is never
    handed out again); the model's version count and latest version are corrected. Its
    blobs stay where they are: other versions may share them.
    """
    from lineage.models import Edge, NodeType

    require(actor, Action.MAINTAIN, version)
    with transaction.atomic():
        # Links of children to it in progress first (they take no model lock of ours).
        parent_links.lock_for_deletion(version.pk)
        # The model's row, as registrations and stage changes take it, then the
        # version's: a concurrent alias, request or deployment waits for (or precedes) us.
        row = _lock_model_row(version.model_id)
        locked = (
            ModelVersion.objects.select_for_update(of=("self",))
            .select_related("model__team", "created_by")
            .filter(pk=version.pk)
            .first()
        )
        if locked is None:
            raise Conflict(f"version {version.version} was deleted already")
        model = locked.model
        reasons = version_deletion_blockers(locked)
        if reasons:
            raise Conflict(
                f"{model.name} {locked.version} cannot be deleted: {'; '.join(reasons)}. "
                "Modelgate keeps the history of versions that were used: archive it instead."
            )
        audit.record(
            "version.delete",
            actor=actor,
            obj=locked,
            team=model.team,
            changes=audit.diff(version_snapshot(locked), {}),
        )
        # Lineage into the version (its datasets, code, run, parents) describes it alone.
        Edge.objects.filter(dst_type=NodeType.VERSION, dst_id=locked.pk).delete()
        # Its one "registered" transition: stage history is append-only for the
        # application, and goes only with the version it records (snapshotted above).
        QuerySet.delete(StageTransition.objects.filter(version=locked))
        pk = locked.pk  # delete() forgets it
        try:
            with transaction.atomic():
                locked.delete()  # tags, metrics, artifacts, card, MLflow source
        except (ProtectedError, RestrictedError, IntegrityError):  # referenced meanwhile
            raise Conflict(
                f"{model.name} {locked.version} cannot be deleted: something refers to it now"
            ) from None
        latest = row.latest_version_id
        if latest == pk or latest is None:
            latest = (
                ModelVersion.objects.filter(model_id=model.pk)
                .order_by("-sort_key")
                .values_list("pk", flat=True)
                .first()
            )
        _update_model_row(
            model.pk,
            last_sequence=row.last_sequence,  # never lowered: the number is not handed out again
            version_count=max(row.version_count - 1, 0),
            latest_version_id=latest,
        )


def version_snapshot(version: ModelVersion) -> dict[str, Any]:
    """Everything a version carried, as the audit log keeps it once the version is gone."""
    from cards.models import SECTIONS as card_sections
    from lineage.models import Edge, NodeType

    v = version
    card = getattr(v, "card", None)  # None when it has none (RelatedObjectDoesNotExist)
    return {
        "version": v.version,
        "sequence": v.sequence,
        "stage": v.stage,
        "description": v.description,
        "created_by": v.created_by.get_username() if v.created_by else None,
        "created_at": v.created_at.isoformat(),
        "task_type": v.task_type,
        "framework": v.framework,
        "framework_version": v.framework_version,
        "signature": v.signature,
        "params": v.params,
        "environment": v.environment,
        "code": {
            "repository": v.code_repository,
            "commit": v.code_commit,
            "branch": v.code_branch,
            "entry_point": v.code_entry_point,
            "dirty": v.code_dirty,
        },
        "training": [
            v.training_started_at.isoformat() if v.training_started_at else None,
            v.training_ended_at.isoformat() if v.training_ended_at else None,
        ],
        "deprecated": v.deprecation_reason if v.deprecated_at else None,
        "metrics": [
            [m.split, m.name, m.value, m.direction]
            for m in Metric.objects.filter(version=v).order_by("split", "name")
        ],
        "tags": dict(VersionTag.objects.filter(version=v).values_list("key", "value")),
        "artifacts": dict(Artifact.objects.filter(version=v).values_list("path", "blob_id")),
        "lineage": [
            f"{src_type}:{src_id} {kind}"
            for kind, src_type, src_id in Edge.objects.filter(
                dst_type=NodeType.VERSION, dst_id=v.pk
            ).values_list("kind", "src_type", "src_id")
        ],
        "card": (
            {f: getattr(card, f) for f, _title, _help in card_sections if getattr(card, f)}
            if card
            else None
        ),
    }


def register_version(
    *,
    model: RegisteredModel,
    actor: Any,
    metadata: VersionMetadata,
    version: str | None = None,
    files: Sequence[ArtifactUpload] = (),
    blobs: Sequence[tuple[str, str]] = (),
    sequence: int | None = None,
    references: Callable[[ModelVersion], None] | None = None,
    numbered: bool = False,
) -> ModelVersion:
    """Create a version with its metadata and artifacts, all or nothing.

    `sequence` keeps a number given elsewhere (an import from another registry): it must
    be above the model's last one (gaps are allowed); by default the next number is taken.
    `references(version)`, when given, writes rows that refer to the new version and need
    no lock (its lineage edges, say), in the same transaction: with the version's metrics
    and tags, before the model's lock where the id is known up front (PostgreSQL), so they
    do not lengthen the time the model and the audit log stay locked. It sees the version
    unsaved, with its id, model and metadata but no sequence number yet; an automatic
    timestamp version may still move to the next free second, and a `numbered` one has
    no string yet.

    `numbered` (a semantic model, no `version`) names the version after its sequence
    number, `<number>.0.0`, taken under the model's lock: clients that only number their
    versions (MLflow's) register 1.0.0, 2.0.0 and so on. Should someone have registered
    that string by hand already, the new one gets a `+<random>` build suffix.

    `files` are streams to store; `blobs` are (path, sha256) pairs naming bytes stored
    already: a completed upload session of the actor (registry.uploads), or a blob of a
    version the actor may read. Either way the client never names a storage location.

    Everything is validated before any byte is stored. Uploads stream into private
    temporary objects outside the transaction (storage may be remote), and are durable
    (fsynced) before it starts; the model row lock then assigns the next sequence number,
    so concurrent registrations get consecutive numbers with no gaps, and the blobs get
    their content address last. Whatever fails, the temporary objects are deleted: no
    version, no orphaned blob.

    The version comes back as a read would give it (what the database normalises is
    refreshed from the insert; metrics and tags loaded as prefetch_related would), so
    showing it does not read back what was just written.
    """
    require(actor, Action.CONTRIBUTE, model)
    automatic = not numbered and not (version or "").strip()
    if numbered:
        if version or sequence is not None or model.versioning_scheme != "semantic":
            raise ValueError("numbered: a semantic model, and no version or sequence given")
        version = ""  # named under the lock
    else:
        version = clean_version_string(model, version, metadata)
    # Attached paths are checked with the uploaded ones (unique, no file/directory clash).
    placeholders = [ArtifactUpload(path, io.BytesIO()) for path, _sha in blobs]
    all_paths = _clean_artifact_paths([*files, *placeholders])
    paths = all_paths[: len(files)]
    refs = _clean_blob_refs(all_paths[len(files) :], blobs)

    staged: list[artifacts.StagedBlob] = []
    session_temps: list[str] = []
    try:
        for upload, path in zip(files, paths, strict=True):
            try:
                staged.append(artifacts.stage_blob(upload.stream, path))
            except ValidationError as exc:  # a stream longer than announced
                raise ValidationError({"files": exc.messages}) from None
        hooks = webhooks.subscribed(model.team, webhooks.Event.VERSION_REGISTERED)
        with transaction.atomic():
            from_sessions: list[tuple[str, artifacts.StagedBlob]] = []
            existing: list[tuple[str, Blob]] = []
            if refs:
                claimed, existing, used = uploads.claim_blobs(actor, refs)
                from_sessions = uploads.staged_for(refs, claimed)
                session_temps = [b.temp_name for b in claimed]
                # The sessions are consumed with the version (their rows are locked by
                # the claim; deleting them now keeps the model lock's time short).
                used.delete()
            mv = _create_version_rows(
                model,
                actor,
                version,
                metadata,
                [*paths, *(path for path, _b in from_sessions)],
                [*staged, *(b for _path, b in from_sessions)],
                automatic=automatic,
                numbered=numbered,
                existing=existing,
                sequence=sequence,
                references=references,
                # The deliveries commit with the version, queued before the audit log's
                # head is locked; the team's webhooks were looked up before any lock.
                saved=lambda mv: webhooks.emit(
                    model.team, webhooks.Event.VERSION_REGISTERED, {}, actor=actor,
                    version=mv, hooks=hooks,
                ),
            )  # fmt: skip
        # A session's bytes promoted to their address are gone; those whose blob was
        # stored already are deleted once the version is committed.
        transaction.on_commit(lambda: _delete_temps(session_temps))
        return mv
    finally:
        artifacts.discard_staged(staged)


def _clean_blob_refs(paths: list[str], blobs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    refs = []
    for path, (_raw, sha) in zip(paths, blobs, strict=True):
        try:
            refs.append((path, uploads.clean_sha256(sha, "files")))
        except ValidationError as exc:
            raise ValidationError({"files": f"{path}: {exc.messages[0]}"}) from None
    return refs


def _delete_temps(names: list[str]) -> None:
    for name in names:
        if artifact_storage.exists(name):
            artifact_storage.delete(name)


def clean_version_string(
    model: RegisteredModel, version: str | None, metadata: VersionMetadata | None = None
) -> str:
    """The version to register: validated for the model's scheme, or assigned when left
    out — the registration time (timestamp scheme), or for a semantic model the bump
    registry.compare advises from the signature change since the latest version (needs
    the new version's `metadata`)."""
    scheme = model.versioning_scheme
    if not version or not version.strip():
        automatic = versioning.auto_version(scheme, timezone.now())
        if automatic is None and scheme == versioning.Scheme.SEMANTIC and metadata is not None:
            automatic = _suggested_semantic_version(model, metadata)
        if automatic is None:
            raise ValidationError({"version": f"a version is required for the {scheme} scheme"})
        version = automatic
    try:
        return versioning.validate(scheme, version)
    except versioning.VersionError as exc:
        raise ValidationError({"version": str(exc)}) from None


def _suggested_semantic_version(model: RegisteredModel, metadata: VersionMetadata) -> str:
    # Read afresh: the caller's model object may predate its latest registration.
    latest = (
        ModelVersion.objects.filter(model=model)
        .order_by("-sort_key")
        .only("version", "signature")
        .first()
    )
    try:
        version, _advice = compare.suggest_version(
            latest.version if latest else None,
            latest.signature if latest else {},
            metadata.signature,
        )
    except versioning.VersionError as exc:
        raise ValidationError({"version": f"give a version: {exc}"}) from None
    return version


def _next_free_version(model: RegisteredModel, version: str, metadata: VersionMetadata) -> str:
    """An automatic version (chosen before the model's lock), or, where a concurrent
    registration took it meanwhile, the next one: for a timestamp the next free second,
    for a semantic version the suggestion from the version that is now the latest. Under
    the lock, so parallel training jobs that leave the version out all get one."""
    if model.versioning_scheme == versioning.Scheme.TIMESTAMP:
        return _next_free_timestamp(model, version)
    if not ModelVersion.objects.filter(model=model, version=version).exists():
        return version
    return _suggested_semantic_version(model, metadata)


def _next_free_timestamp(model: RegisteredModel, version: str) -> str:
    """Two automatic versions in the same second: the later one takes the next free second."""
    taken = ModelVersion.objects.filter(model=model, version=version)
    when = dt.datetime.strptime(version, versioning.TIMESTAMP_FORMAT)
    while taken.exists():
        when += dt.timedelta(seconds=1)
        version = when.strftime(versioning.TIMESTAMP_FORMAT)
        taken = ModelVersion.objects.filter(model=model, version=version)
    return version


def _clean_artifact_paths(files: Sequence[ArtifactUpload]) -> list[str]:
    paths: list[str] = []
    messages: list[str] = []
    for upload in files:
        try:
            paths.append(artifacts.normalise_path(upload.path))
            known_size = getattr(upload.stream, "size", None)  # uploaded files know theirs
            if known_size is not None:
                artifacts.check_size(paths[-1], known_size)
        except ValidationError as exc:
            messages.extend(exc.messages)
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        messages.append(f"artifact paths must be unique; repeated: {', '.join(duplicates)}")
    unique = set(paths)
    clashes = sorted(p for p in unique if any(q.startswith(f"{p}/") for q in unique))
    if clashes:
        messages.append(
            f"artifact path {clashes[0]!r} is both a file and a directory of another file"
        )
    if messages:
        raise ValidationError({"files": messages})
    return paths


def _create_version_rows(
    model: RegisteredModel,
    actor: Any,
    version: str,
    metadata: VersionMetadata,
    paths: list[str],
    staged: list[artifacts.StagedBlob],
    *,
    automatic: bool,
    numbered: bool = False,
    existing: Sequence[tuple[str, Blob]] = (),
    sequence: int | None = None,
    references: Callable[[ModelVersion], None] | None = None,
    saved: Callable[[ModelVersion], None] | None = None,
) -> ModelVersion:
    """Write the version's rows inside the registering transaction.

    `saved(version)` runs once the version row is written, before the audit event.

    The model row lock serialises the registrations of one model from the moment it is
    taken until the transaction commits, so its hold time bounds how many registrations a
    second one model takes. Everything that does not need the sequence number is therefore
    built before it is taken (on PostgreSQL even the version's metrics, tags, first
    transition and the caller's `references` are written before it), and the audit log's
    head (one lock for the whole site) is taken last: only the blobs' promotion follows it,
    for registrations with files.
    """
    mv = ModelVersion(
        model=model,
        version=version,
        description=metadata.description,
        framework_version=metadata.framework_version,
        code_repository=metadata.code_repository,
        code_commit=metadata.code_commit,
        code_branch=metadata.code_branch,
        code_entry_point=metadata.code_entry_point,
        code_dirty=metadata.code_dirty,
        source=metadata.source,
        created_by=actor,
        **{field: _as_stored(field, getattr(metadata, field)) for field in _NORMALISED},
    )
    metrics = [
        Metric(
            version=mv,
            model=model,
            split=m.split,
            name=m.name,
            value=m.value,
            direction=m.direction,
        )
        for m in metadata.metrics
    ]
    tags = [VersionTag(version=mv, key=key, value=value) for key, value in metadata.tags.items()]
    blob_artifacts = [
        *(
            Artifact(version=mv, path=path, blob_id=b.sha256, size=b.size)
            for path, b in zip(paths, staged, strict=True)
        ),
        *(Artifact(version=mv, path=path, blob=blob, size=blob.size) for path, blob in existing),
    ]

    def insert_contents() -> None:
        # Plain-SQL inserts (accounts.rows): every registration writes these rows.
        rows.insert(metrics)
        rows.insert(tags)
        rows.insert(
            [
                StageTransition(
                    version=mv,
                    from_stage="",
                    to_stage=Stage.DEVELOPMENT,
                    actor=actor,
                    comment="registered",
                )
            ]
        )
        _sort_as_stored(mv, metrics, tags)
        if references is not None:
            references(mv)

    # Where the database hands out the version's id up front (PostgreSQL), its metrics,
    # tags, first transition and the caller's references are written before the lock:
    # foreign keys are checked at commit (Django creates them DEFERRABLE INITIALLY
    # DEFERRED), when the version exists.
    mv.pk = _reserve_id(ModelVersion)
    pk_reserved = mv.pk is not None
    if pk_reserved:
        insert_contents()

    locked = _lock_model_row(model.pk, probe_numbered=numbered)
    if automatic:
        mv.version = version = _next_free_version(model, version, metadata)
    if sequence is None:
        sequence = locked.last_sequence + 1
    elif not locked.last_sequence < sequence <= versioning.MAX_SEQUENCE:
        raise ValidationError(
            {"sequence": f"{model.name} is at number {locked.last_sequence}: "
                         f"{sequence} cannot be kept"}
        )  # fmt: skip
    if numbered:
        mv.version = version = f"{sequence}.0.0"
        if locked.numbered_taken:  # registered by hand meanwhile
            mv.version = version = f"{version}+{uuid.uuid4().hex[:8]}"
    mv.sequence = sequence
    mv.sort_key = versioning.sort_key(model.versioning_scheme, version, sequence)
    mv.task_type = metadata.task_type or locked.task_type
    mv.framework = (metadata.framework or locked.framework).lower()
    mv.stage_changed_at = timezone.now()
    try:
        # No savepoint: a failed insert aborts the transaction, and the error below ends it.
        rows.insert([mv])
    except IntegrityError:  # (model, version) is unique; the lock rules out the rest
        raise ValidationError(
            {"version": f"version {version} of {model.name} already exists"}
        ) from None
    if not pk_reserved:
        insert_contents()
    # "Latest" is the highest version by the scheme's precedence, not the newest one: a
    # hotfix 1.4.3 registered after 2.0.0 does not make 1.4.3 the latest.
    newest = locked.latest_sort_key is None or mv.sort_key > locked.latest_sort_key
    _update_model_row(
        model.pk,
        last_sequence=sequence,
        version_count=locked.version_count + 1,
        latest_version_id=mv.pk if newest else locked.latest_version_id,
    )
    # Rows that need the version's number, before the audit log's head is locked: that
    # lock serialises every audited change in the site until this transaction commits.
    # (Foreign keys are checked at commit: the artifacts' new blobs are inserted below.)
    rows.insert(blob_artifacts)
    if saved is not None:
        saved(mv)
    audit.record(
        "version.register",
        actor=actor,
        obj=mv,
        team=model.team,
        changes={
            "version": [None, version],
            "artifacts": [
                None,
                {
                    **{path: b.sha256 for path, b in zip(paths, staged, strict=True)},
                    **{path: blob.sha256 for path, blob in existing},
                },
            ],
            "metrics": [None, len(metadata.metrics)],
        },
    )
    # Last, so that nothing after it can fail: the blobs become visible at their address.
    artifacts.commit_blobs(staged)
    # Artifacts are listed in the database's path order: only "none" is known without it.
    _preload(mv, metrics=metrics, tags=tags, **({} if blob_artifacts else {"artifacts": []}))
    return mv


def _sort_as_stored(mv: ModelVersion, metrics: list[Metric], tags: list[VersionTag]) -> None:
    """Put the rows just written in the order a read gives them: their Meta.ordering,
    compared by the database's collation (which need not be Python's code point order)."""
    if len(metrics) < 2 and len(tags) < 2:
        return
    if _orders_by_code_point():
        metrics.sort(key=lambda m: (m.split, m.name))  # Metric.Meta.ordering
        tags.sort(key=lambda t: t.key)  # VersionTag.Meta.ordering
        return
    q = connection.ops.quote_name
    metric_table, tag_table = q(Metric._meta.db_table), q(VersionTag._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 0, {q('split')}, {q('name')} FROM {metric_table} WHERE version_id = %s "
            f"UNION ALL SELECT 1, {q('key')}, '' FROM {tag_table} WHERE version_id = %s "
            "ORDER BY 1, 2, 3",
            [mv.pk, mv.pk],
        )
        rank = {tuple(row): index for index, row in enumerate(cursor.fetchall())}
    metrics.sort(key=lambda m: rank[0, m.split, m.name])  # Metric.Meta.ordering
    tags.sort(key=lambda t: rank[1, t.key, ""])  # VersionTag.Meta.ordering


_CODE_POINT_COLLATIONS = {"C", "POSIX", "C.UTF-8", "C.utf8"}
_code_point_order: dict[str, bool] = {}


def _orders_by_code_point() -> bool:
    """Whether the database compares text as Python does, by code point: SQLite, and
    PostgreSQL databases on the C locale of the C library (asked once per database)."""
    if connection.vendor == "sqlite":
        return True
    if connection.vendor != "postgresql":
        return False
    name = connection.settings_dict["NAME"]
    if name not in _code_point_order:
        with connection.cursor() as cursor:
            # datlocprovider exists from PostgreSQL 15 on ("c": the C library, "i": ICU).
            cursor.execute(
                "SELECT datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database d "
                "WHERE datname = current_database()"
            )
            collate, provider = cursor.fetchone()
        _code_point_order[name] = provider in (None, "c") and collate in _CODE_POINT_COLLATIONS
    return _code_point_order[name]


def _reserve_id(model: type[Model]) -> int | None:
    """A primary key for a row not inserted yet, from its table's sequence (PostgreSQL);
    None where the database has no sequences to ask."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s))",
            [model._meta.db_table, model._meta.pk.column],
        )
        return cursor.fetchone()[0]


# Fields whose stored form can differ from what was written: jsonb orders object keys and
# normalises numbers, and datetimes come back in UTC.
_NORMALISED = ("params", "environment", "signature", "training_started_at", "training_ended_at")


def _as_stored(field: str, value: Any) -> Any:
    """The value as an expression: rows.insert() then refreshes the field from the
    INSERT's RETURNING clause, so the new version holds what a later read gives, at no
    query."""
    if value is None:
        return None
    return Value(value, output_field=ModelVersion._meta.get_field(field))


# The two statements on the model row are plain SQL: they run while the row is locked,
# where the ORM's query building would be paid again by every registration waiting behind.


@dataclass(frozen=True)
class _LockedModel:
    last_sequence: int
    version_count: int
    task_type: str
    framework: str
    latest_version_id: int | None
    latest_sort_key: str | None
    numbered_taken: bool = False


def _lock_model_row(model_id: int, *, probe_numbered: bool = False) -> _LockedModel:
    """Lock the model's row (not its latest version's) until the transaction ends, and
    read what a new version needs: the sequence so far, the defaults, the latest key (and,
    with `probe_numbered`, whether `<next number>.0.0` is taken)."""
    model_table = connection.ops.quote_name(RegisteredModel._meta.db_table)
    version_table = connection.ops.quote_name(ModelVersion._meta.db_table)
    lock = ""
    if connection.features.has_select_for_update:  # SQLite locks the whole database
        lock = connection.ops.for_update_sql(
            of=("m",) if connection.features.has_select_for_update_of else ()
        )
    probe = (
        f", EXISTS(SELECT 1 FROM {version_table} taken WHERE taken.model_id = m.id "
        "AND taken.version = CAST(m.last_sequence + 1 AS TEXT) || '.0.0')"
        if probe_numbered
        else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.last_sequence, m.version_count, m.task_type, m.framework, "
            f"m.latest_version_id, latest.sort_key{probe}, latest.id "
            f"FROM {model_table} m LEFT JOIN {version_table} latest "
            f"ON latest.id = m.latest_version_id WHERE m.id = %s {lock}",
            [model_id],
        )
        row = cursor.fetchone()
        if row is None:
            raise RegisteredModel.DoesNotExist(f"model {model_id} was deleted")
        *row, joined_id = row
        if joined_id != row[4]:
            # The lock waited for a registration (or deletion) that committed a new latest
            # version: the locked row is read afresh, but the join saw the statement's
            # snapshot, from before that version existed. A new statement sees it.
            row[5] = None
            if row[4] is not None:
                cursor.execute(f"SELECT sort_key FROM {version_table} WHERE id = %s", [row[4]])
                row[5] = cursor.fetchone()[0]
    return _LockedModel(*row)


def _update_model_row(
    model_id: int, *, last_sequence: int, version_count: int, latest_version_id: int | None
) -> None:
    table = connection.ops.quote_name(RegisteredModel._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # updated_at is auto_now
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_sequence = %s, version_count = %s, "
            "latest_version_id = %s, updated_at = %s WHERE id = %s",
            [last_sequence, version_count, latest_version_id, now, model_id],
        )


def _preload(instance: Any, **related: list[Any]) -> None:
    """Cache rows just written as the instance's related objects, the way prefetch_related
    would, so that reading them back costs no query. The lists must be in the related
    model's Meta.ordering."""
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, objs in related.items():
        queryset = getattr(instance, name).all()
        queryset._result_cache = objs
        queryset._prefetch_done = True
        cache[name] = queryset


def change_stage(
    *,
    version: ModelVersion,
    to_stage: str,
    actor: Any,
    comment: str = "",
    override_reason: str = "",
) -> StageTransition:
    """Move a version to another stage directly, where the lifecycle and policy allow it.

    Staging and Production are gated: a policy that needs approvals refuses a direct
    change (open a promotion request instead); with 0 approvals the gates still apply,
    and only a maintainer may override failing ones, with a reason.

    Every stage change someone asks for with their own words comes here (pages, API,
    MLflow), so the comment's and the reason's length are checked here.
    """
    require(actor, stage_change_action(to_stage), version)
    for field, text in (("comment", comment), ("override_reason", override_reason)):
        if len(text or "") > MAX_TRANSITION_COMMENT:
            raise ValidationError(
                {field: f"must be at most {MAX_TRANSITION_COMMENT} characters (got {len(text)})"}
            )
    promotions.check_transition(version.stage, to_stage)
    if to_stage in GatedStage.values:
        policy = policies.effective_policy(version.model, to_stage)
        if policy.required_approvals:
            raise Conflict(
                f"Moving a version to {Stage(to_stage).label} needs a promotion request "
                f"approved by {policy.required_approvals} reviewer(s).",
                "to_stage",
            )
        failing = [r for r in policies.evaluate_gates(policy, version) if not r.passed]
        if failing and not override_reason.strip():
            raise Conflict(
                "Failing gates: " + "; ".join(f"{r.gate} ({r.detail})" for r in failing),
                "to_stage",
            )
        if failing:
            require(actor, Action.MAINTAIN, version)
            comment = f"{comment} [gates overridden: {override_reason.strip()}]".strip()
    return apply_transition(version=version, to_stage=to_stage, actor=actor, comment=comment)


def stage_change_action(to_stage: str) -> Action:
    """Directly putting a version into or out of service is for maintainers."""
    if to_stage in (Stage.PRODUCTION, Stage.ARCHIVED):
        return Action.MAINTAIN
    return Action.CONTRIBUTE


def _check_stage(to_stage: str) -> None:
    if to_stage not in Stage.values:
        raise ValidationError(
            {"to_stage": f"unknown stage {to_stage!r}: use one of {', '.join(Stage.values)}"}
        )


def apply_transition(
    *,
    version: ModelVersion,
    to_stage: str,
    actor: Any,
    comment: str = "",
    request: PromotionRequest | None = None,
    replaced_stage: str = Stage.ARCHIVED,
) -> StageTransition:
    """Record and apply a stage change; the single path every stage change takes.

    Entering Production moves the model's current Production version to `replaced_stage`
    (Archived unless the policy names another) in the same transaction, under the model's
    row lock, so a model never has two, unless it allows several.
    """
    _check_stage(to_stage)
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=version.model_id)
        current = ModelVersion.objects.select_related("model__team").filter(pk=version.pk).first()
        if current is None:  # deleted (delete_version) since it was fetched
            raise Conflict(f"version {version.version} was deleted", "version")
        if current.stage == to_stage:
            raise Conflict(
                f"version {current.version} is already in {Stage(to_stage).label}", "to_stage"
            )
        now = timezone.now()
        if to_stage == Stage.PRODUCTION and not model.allow_multiple_production:
            for previous in ModelVersion.objects.filter(
                model_id=current.model_id, stage=Stage.PRODUCTION
            ).select_related("model__team"):
                _move(
                    previous, replaced_stage, actor, f"replaced by {current.version}", now, request
                )
        transition = _move(current, to_stage, actor, comment, now, request)
        RegisteredModel.objects.filter(pk=current.model_id).update(updated_at=now)
    version.stage, version.stage_changed_at = current.stage, current.stage_changed_at
    return transition


def _move(
    version: ModelVersion,
    to_stage: str,
    actor: Any,
    comment: str,
    now: Any,
    request: PromotionRequest | None,
) -> StageTransition:
    transition = StageTransition.objects.create(
        version=version,
        from_stage=version.stage,
        to_stage=to_stage,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        comment=comment,
        request=request,
    )
    audit.record(
        "version.stage",
        actor=actor,
        obj=version,
        team=version.model.team,
        changes={
            "stage": [version.stage, to_stage],
            "comment": [None, comment or None],
            "request": [None, request.pk if request else None],
        },
    )
    from_stage = version.stage
    # Entering Archived makes the version cold (its files move to the archive storage),
    # leaving it makes it live again: saved with the stage, the job enqueued on commit.
    cold_fields = archiving.on_stage_change(version, from_stage, to_stage)
    version.stage = to_stage
    version.stage_changed_at = now
    version.save(update_fields=["stage", "stage_changed_at", *cold_fields])
    archiving.after_stage_saved(version, from_stage, to_stage, actor)
    signals.stage_changed.send(ModelVersion, version=version, from_stage=from_stage,
                               to_stage=to_stage, actor=actor)  # fmt: skip
    webhooks.emit(
        version.model.team,
        webhooks.Event.STAGE_CHANGED,
        {
            "from_stage": transition.from_stage,
            "to_stage": to_stage,
            "comment": comment,
            "transition_id": transition.pk,
        },
        actor=actor,
        version=version,
    )
    return transition
