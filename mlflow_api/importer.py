"""Copy an MLflow registry into Modelgate over MLflow's REST API (`import_mlflow`).

Registered models, versions (their numbers kept), tags, descriptions, stages, aliases and
artifacts (through MLflow's artifact proxy, streamed to temporary files) are created
through the registry's services, so the permission policy applies and every object is in
the audit log, each also recorded as "mlflow.import" with where it came from. Re-running
imports only what is new: models are matched by name, versions by number.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import audit
from accounts.models import Team
from accounts.policy import Action, require
from mlflow_api.models import VersionSource
from mlflow_api.views import FROM_MLFLOW, VERSION_TAG
from registry import aliases, services
from registry.errors import Conflict
from registry.metadata import clean_tags, clean_version_metadata
from registry.models import ModelVersion, RegisteredModel, Stage, model_name_validator

PAGE = 1000
CHUNK = 1 << 20


class ImportError_(Exception):
    """The source answered something unusable (the command reports it and stops)."""


@dataclass
class Summary:
    models_created: int = 0
    models_existing: int = 0
    versions_created: int = 0
    versions_existing: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    aliases_set: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"models: {self.models_created} imported, {self.models_existing} already here",
            f"versions: {self.versions_created} imported, {self.versions_existing} already here",
            f"artifacts: {self.artifacts} files, {self.artifact_bytes:,} bytes",
            f"aliases set: {self.aliases_set}",
            f"skipped: {len(self.skipped)}",
            *(f"  - {reason}" for reason in self.skipped),
        ]


class Source:
    """A running MLflow server's REST API (read-only use)."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 60) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImportError_(f"--from must be an http(s) URL, got {base_url!r}")
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=timeout),
            retries=urllib3.Retry(total=3, backoff_factor=0.5, status_forcelist=(502, 503, 504)),
        )

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"{self.base}/api/2.0/mlflow/{path}" + (f"?{query}" if query else "")
        response = self.http.request("GET", url, headers=self.headers)
        if response.status != 200:
            raise ImportError_(f"GET {path} answered {response.status}: {response.data[:300]!r}")
        try:
            return json.loads(response.data or b"{}")
        except ValueError:
            raise ImportError_(f"GET {path} did not answer JSON") from None

    def paged(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            page = self.get(path, max_results=PAGE, page_token=token, **params)
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    def list_files(self, root: str) -> Iterator[tuple[str, int]]:
        """(path relative to root, size) of every file under an artifact-proxy path."""
        stack = [""]
        while stack:
            inner = stack.pop()
            url = f"{self.base}/api/2.0/mlflow-artifacts/artifacts?" + urlencode(
                {"path": posixpath.join(root, inner) if inner else root}
            )
            response = self.http.request("GET", url, headers=self.headers)
            if response.status != 200:
                raise ImportError_(f"listing {root}/{inner} answered {response.status}")
            for item in json.loads(response.data or b"{}").get("files", []):
                path = posixpath.join(inner, item["path"]) if inner else item["path"]
                if item.get("is_dir"):
                    stack.append(path)
                else:
                    yield path, int(item.get("file_size") or 0)

    def download(self, root: str, path: str, target: Path) -> int:
        url = f"{self.base}/api/2.0/mlflow-artifacts/artifacts/{quote(posixpath.join(root, path))}"
        response = self.http.request("GET", url, headers=self.headers, preload_content=False)
        try:
            if response.status != 200:
                raise ImportError_(f"downloading {root}/{path} answered {response.status}")
            size = 0
            with open(target, "wb") as out:
                for chunk in response.stream(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
            return size
        finally:
            response.release_conn()


def _proxied_root(artifact_uri: str) -> str | None:
    """The artifact-proxy path of a download URI MLflow's server can serve, else None."""
    parts = urlsplit(artifact_uri)
    if parts.scheme == "mlflow-artifacts":
        return parts.path.lstrip("/")
    anchor = "/api/2.0/mlflow-artifacts/artifacts/"
    if parts.scheme in ("http", "https") and anchor in parts.path:
        return parts.path.split(anchor, 1)[1]
    return None


class Importer:
    def __init__(
        self,
        source: Source,
        *,
        actor: Any,
        team: Team | None,
        since_ms: int = 0,
        progress: Callable[[str, int, int], None] = lambda label, done, total: None,
    ) -> None:
        self.source = source
        self.actor = actor
        self.team = team
        self.since_ms = since_ms
        self.progress = progress
        self.summary = Summary()
        self.run_id = f"import-{uuid.uuid4().hex[:12]}"

    # -- mapping -------------------------------------------------------------------------

    def target(self, mlflow_name: str) -> tuple[Team, str] | None:
        prefix, dot, rest = mlflow_name.partition(".")
        team = Team.objects.filter(slug=prefix).first() if dot and rest else None
        name = rest if team else mlflow_name
        team = team or self.team
        if team is None:
            self.summary.skipped.append(f"{mlflow_name}: names no team; pass --team")
            return None
        try:
            model_name_validator(name)
        except ValidationError:
            self.summary.skipped.append(
                f"{mlflow_name}: not a valid Modelgate model name ({model_name_validator.message})"
            )
            return None
        return team, name

    def _tags(self, items: list[dict[str, Any]], where: str) -> dict[str, str]:
        kept: dict[str, str] = {}
        for item in items or []:
            key, value = item.get("key", ""), item.get("value") or ""
            if key == VERSION_TAG:
                continue
            try:
                kept.update(clean_tags({key: value}))
            except ValidationError as exc:
                self.summary.skipped.append(f"{where}: tag {key!r} ({' '.join(exc.messages)})")
        return kept

    def _version_source(self, source: str, where: str) -> str:
        """The version's source, or "" (noted) when Modelgate's rule refuses it: the
        version is still worth importing."""
        try:
            clean_version_metadata({"source": source})
        except ValidationError as exc:
            self.summary.skipped.append(f"{where}: source ({' '.join(exc.messages)})")
            return ""
        return source

    def _record(self, obj: Any, team: Team, what: dict[str, Any]) -> None:
        audit.record(
            "mlflow.import",
            actor=self.actor,
            obj=obj,
            team=team,
            changes={"source": [None, self.source.base], "run": [None, self.run_id], **what},
        )

    # -- run -----------------------------------------------------------------------------

    def run(self) -> Summary:
        token = audit.set_request_context(
            audit.RequestContext(
                user_agent=f"import_mlflow {self.source.base}", request_id=self.run_id
            )  # fmt: skip
        )
        try:
            models = [
                m
                for m in self.source.paged("registered-models/search", "registered_models")
                if int(m.get("last_updated_timestamp") or 0) >= self.since_ms
            ]
            for index, data in enumerate(models, 1):
                self.progress("models", index - 1, len(models))
                self.import_model(data)
            self.progress("models", len(models), len(models))
        finally:
            audit.reset_request_context(token)
        return self.summary

    def import_model(self, data: dict[str, Any]) -> None:
        name = data["name"]
        mapped = self.target(name)
        if mapped is None:
            return
        team, model_name = mapped
        require(self.actor, Action.MAINTAIN, team)
        model = RegisteredModel.objects.filter(team=team, name__iexact=model_name).first()
        if model is None:
            with transaction.atomic():
                model = services.create_model(
                    team=team, name=model_name, actor=self.actor,
                    description=data.get("description") or "",
                    tags=self._tags(data.get("tags", []), name),
                )  # fmt: skip
                self._record(model, team, {"mlflow_name": [None, name]})
            self.summary.models_created += 1
        else:
            self.summary.models_existing += 1
        found = self.source.paged(
            "model-versions/search", "model_versions", filter=f"name='{_q(name)}'"
        )
        versions = sorted(found, key=lambda v: int(v["version"]))
        have = set(ModelVersion.objects.filter(model=model).values_list("sequence", flat=True))
        for data_version in versions:
            number = int(data_version["version"])
            if number in have:
                self.summary.versions_existing += 1
                continue
            if int(data_version.get("last_updated_timestamp") or 0) < self.since_ms:
                continue
            self.import_version(model, name, data_version)
        for alias in data.get("aliases") or []:
            self.import_alias(model, name, alias)

    def import_version(self, model: RegisteredModel, name: str, data: dict[str, Any]) -> None:
        number = int(data["version"])
        where = f"{name} version {number}"
        model.refresh_from_db(fields=["last_sequence"])
        if number <= model.last_sequence:
            self.summary.skipped.append(
                f"{where}: {model.name} already has later versions; its number cannot be kept"
            )
            return
        uri = self.source.get(
            "model-versions/get-download-uri", name=name, version=str(number)
        ).get("artifact_uri", "")
        root = _proxied_root(self.resolve(uri))
        with tempfile.TemporaryDirectory(prefix="mlflow-import-") as tmp, ExitStack() as stack:
            files: list[services.ArtifactUpload] = []
            size = 0
            if root is None:
                if uri:
                    self.summary.skipped.append(
                        f"{where}: artifacts at {uri} are not served by the MLflow server's "
                        "artifact proxy; imported without them"
                    )
            else:
                for index, (path, _size) in enumerate(self.source.list_files(root)):
                    target = Path(tmp) / f"{index}"
                    size += self.source.download(root, path, target)
                    files.append(
                        services.ArtifactUpload(path, stack.enter_context(open(target, "rb")))
                    )
            try:
                with transaction.atomic():
                    metadata = clean_version_metadata(
                        {
                            "description": data.get("description") or "",
                            "tags": self._tags(data.get("tags", []), where),
                            "source": self._version_source(data.get("source") or "", where),
                        }  # fmt: skip
                    )
                    mv = services.register_version(
                        model=model, actor=self.actor, metadata=metadata,
                        version=_version_string(model, number), files=files, sequence=number,
                    )  # fmt: skip
                    VersionSource.objects.create(
                        version=mv,
                        run_id=(data.get("run_id") or "")[:64], run_link=data.get("run_link") or "",
                    )  # fmt: skip
                    stage = FROM_MLFLOW.get(str(data.get("current_stage") or "None").lower())
                    if stage and stage != Stage.DEVELOPMENT:
                        services.apply_transition(
                            version=mv, to_stage=stage, actor=self.actor,
                            comment=f"imported from MLflow ({self.source.base})",
                        )  # fmt: skip
                    self._record(mv, model.team, {"mlflow_name": [None, name],
                                                  "mlflow_version": [None, number]})  # fmt: skip
            except (ValidationError, Conflict) as exc:
                message = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                self.summary.skipped.append(f"{where}: {' '.join(message)}")
                return
        self.summary.versions_created += 1
        self.summary.artifacts += len(files)
        self.summary.artifact_bytes += size

    def resolve(self, uri: str) -> str:
        """A download URI as storage: `runs:/<run>/<path>` is the run's artifact location
        plus the path, `models:/<model id>` a logged model's location (MLflow 3)."""
        parts = urlsplit(uri)
        try:
            if parts.scheme == "runs":
                run_id, _, path = parts.path.lstrip("/").partition("/")
                run = self.source.get("runs/get", run_id=run_id).get("run", {})
                base = run.get("info", {}).get("artifact_uri", "")
                return posixpath.join(base, path) if base and path else base
            if parts.scheme == "models" and parts.path.lstrip("/").startswith("m-"):
                model_id = parts.path.lstrip("/").split("/", 1)[0]
                found = self.source.get(f"logged-models/{quote(model_id)}").get("model", {})
                return found.get("info", {}).get("artifact_uri", "")
        except ImportError_:
            return uri
        return uri

    def import_alias(self, model: RegisteredModel, name: str, data: dict[str, Any]) -> None:
        alias, number = data.get("alias", ""), int(data.get("version") or 0)
        target = ModelVersion.objects.filter(model=model, sequence=number).first()
        if target is None:
            self.summary.skipped.append(f"{name}@{alias}: version {number} was not imported")
            return
        try:
            current = aliases.resolve_alias(model, alias)
        except aliases.AliasNotFound:
            current = None
        if current is not None and current.pk == target.pk:
            return
        try:
            aliases.set_alias(model, alias, target, self.actor)
        except ValidationError as exc:
            self.summary.skipped.append(f"{name}@{alias}: {' '.join(exc.messages)}")
            return
        self.summary.aliases_set += 1


def _q(name: str) -> str:
    return name.replace("'", "''")


def _version_string(model: RegisteredModel, number: int) -> str | None:
    if model.versioning_scheme == "semantic":
        return f"{number}.0.0"
    return None
