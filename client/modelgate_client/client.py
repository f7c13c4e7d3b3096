"""The HTTP client: register versions with their artifacts, find, resolve and download."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from tqdm import tqdm

from modelgate_client import capture as _capture
from modelgate_client import dvc as _dvc
from modelgate_client import encoding
from modelgate_client.config import server_and_token

READ_SIZE = 1024 * 1024  # hashing and download chunk
RETRY_STATUS = frozenset({502, 503, 504})
KNOWN_BATCH = 1000  # the server's limit for POST /blobs/known
MAX_PATH_LENGTH = 1024  # the server's limit for an artifact path
DEFAULT_PORTS = {"http": 80, "https": 443}
PARTIAL_DIR = ".modelgate-partial"  # interrupted downloads, resumed with Range
Files = str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | Mapping[str, Any]


class ModelgateError(Exception):
    """An error answer from the server (or a failed transfer: status None)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or []

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_response(cls, response: requests.Response) -> ModelgateError:
        try:
            body = response.json()
            error = body["error"]
            return cls(
                response.status_code,
                str(error.get("code") or "error"),
                str(error.get("message") or response.reason),
                error.get("field"),
                error.get("details"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            status = response.status_code
            if "html" in response.headers.get("Content-Type", ""):
                message = (
                    f"HTTP {status} from {response.url}: a web page, not an answer of "
                    "Modelgate's API (is the server URL right?)"
                )
            else:
                text = (response.text or "").strip()[:200] or response.reason or "error"
                message = f"HTTP {status}: {text}"
            return cls(status, "http_error", message)


class ChecksumMismatch(ModelgateError):
    """A downloaded file's size or SHA-256 is not the one the server announced."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(READ_SIZE):
            digest.update(block)
    return digest.hexdigest()


def artifact_path(raw: str) -> str:
    """`raw` as the clean relative POSIX path the server stores, or ValueError saying why.

    The server's rules (registry.artifacts.normalise_path), checked before anything is
    uploaded: NFC Unicode, no control or invisible characters, no backslashes, nothing
    absolute (nor a drive letter), no '..' segments, at most 1024 characters.
    """
    path = unicodedata.normalize("NFC", raw).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in path):
        problem = "must not contain control or invisible characters"
    elif "\\" in path:
        problem = "must use '/' separators, not backslashes"
    elif path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        problem = "must be relative"
    else:
        parts = [part for part in path.split("/") if part not in ("", ".")]
        clean = "/".join(parts)
        if ".." in parts:
            problem = "must not contain '..' segments"
        elif not parts:
            problem = "names no file"
        elif len(clean) > MAX_PATH_LENGTH:
            problem = f"is longer than {MAX_PATH_LENGTH} characters"
        else:
            return clean
    raise ValueError(f"unsafe artifact path {raw!r}: {problem}")


def _walk(root: Path) -> list[tuple[str, Path]]:
    return [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()]


def collect_files(files_or_dir: Files | None) -> list[tuple[str, Path]]:
    """(artifact path, local file) pairs: a directory's files relative to it, a file by its
    name, a list of either (merged), or an explicit {artifact path: local file} mapping."""
    if files_or_dir is None:
        return []
    if isinstance(files_or_dir, Mapping):
        pairs = [(str(k), Path(v)) for k, v in files_or_dir.items()]
    else:
        items = (
            [files_or_dir] if isinstance(files_or_dir, str | os.PathLike) else list(files_or_dir)
        )
        pairs = []
        for item in items:
            local = Path(item)
            if local.is_dir():
                pairs.extend(_walk(local))
            else:
                pairs.append((local.name, local))
    pairs = [(artifact_path(name), local) for name, local in pairs]
    seen: set[str] = set()
    for name, local in pairs:
        if not local.is_file():
            raise FileNotFoundError(f"not a file: {local}")
        if name in seen:
            raise ValueError(f"two files would be stored as {name!r}")
        seen.add(name)
    return pairs


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port as they decide where a request goes: case does not matter in
    the first two, and http's port 80 (https's 443) is the same as none. None when the
    URL's port is not a number."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, parts.hostname or "", port or DEFAULT_PORTS.get(scheme)


class Client:
    """A Modelgate server: `Client("https://modelgate.example.com", "mg_…")`.

    Without arguments, `Client()` takes the server and token from `MODELGATE_URL` and
    `MODELGATE_TOKEN`, else from what `modelgate login` saved (modelgate_client.config).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        chunk_size: int | None = None,
        progress: bool | None = None,
    ) -> None:
        url, token = server_and_token(url, token)
        if not url:
            raise ValueError(
                "no Modelgate server: pass its URL, set MODELGATE_URL or run `modelgate login`"
            )
        self.url = url.rstrip("/")
        self.api = self.url + "/api/v1"
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.chunk_size = chunk_size  # None: the server's chunk size
        self.progress = progress  # None: only when stderr is a terminal
        self.last_uploaded = 0  # blobs the last register_version uploaded
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "modelgate-client/0.1"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # --- plumbing -----------------------------------------------------------------------

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.backoff * 2**attempt)

    def _send(
        self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> requests.Response:
        """One request, retried with exponential backoff on connection errors and
        502/503/504 when repeating it is safe; other answers are returned as they are.

        GET, HEAD and PUT (upload chunks are offset-checked) are safe to repeat; a POST only
        when the caller says so. A POST that timed out may have been applied already, so it
        is never repeated blindly (that could register a version twice). Requests go only
        to this client's server: the token is never sent anywhere else.
        """
        if not self._same_origin(url):
            raise ModelgateError(
                None, "foreign_url", f"refusing to send the token to {url}: not {self.url}"
            )
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "OPTIONS")
        kwargs.setdefault("timeout", self.timeout)
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout):
                if not idempotent or attempt >= self.retries:
                    raise
            else:
                if (
                    not idempotent
                    or response.status_code not in RETRY_STATUS
                    or attempt >= self.retries
                ):
                    return response
                response.close()
            self._sleep(attempt)
            attempt += 1

    def _same_origin(self, url: str) -> bool:
        mine, theirs = _origin(self.url), _origin(url)
        return mine is not None and mine == theirs

    def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> Any:
        """The decoded JSON answer of an API call; ModelgateError for an error answer."""
        url = path if path.startswith(("http://", "https://")) else self.api + path
        body = kwargs.pop("json", None)
        if body is not None:  # NumPy values, dates and paths too (encoding.plain)
            kwargs["data"] = encoding.dumps(body)
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
        response = self._send(method, url, idempotent=idempotent, **kwargs)
        if response.status_code >= 400:
            raise ModelgateError.from_response(response)
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        while True:
            body = self.request("GET", path, params=params)
            yield from body["items"]
            if not body.get("next"):
                return
            params["cursor"] = body["next"]

    def _bar(self, total: int, desc: str, progress: bool | None) -> tqdm:
        show = self.progress if progress is None else progress
        if show is None:
            show = sys.stderr.isatty()
        return tqdm(
            total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not show
        )

    @staticmethod
    def _model_path(team: str, model: str) -> str:
        return f"/models/{quote(team, safe='')}/{quote(model, safe='')}"

    # --- reading ------------------------------------------------------------------------

    def teams(self) -> list[dict[str, Any]]:
        return list(self._pages("/teams"))

    def models(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Models you may read; filters: team, framework, task, tag, stage, q."""
        return self._pages("/models", filters)

    def get_model(self, team: str, model: str) -> dict[str, Any]:
        return self.request("GET", self._model_path(team, model))

    def versions(self, team: str, model: str, stage: str | None = None) -> Iterator[dict[str, Any]]:
        """The model's versions, highest first (summaries)."""
        return self._pages(self._model_path(team, model) + "/versions", {"stage": stage})

    def create_model(self, team: str, name: str, **fields: Any) -> dict[str, Any]:
        """Register a model (description, task_type, framework, versioning_scheme,
        visibility, tags)."""
        return self.request("POST", "/models", json={"team": team, "name": name, **fields})

    def update_version(
        self,
        team: str,
        model: str,
        version: str,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """Change a version's description or tags. `tags`, when given, replace all of the
        version's tags: leave a key out to remove it; a None value keeps the key as a label
        with the value ""."""
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if tags is not None:
            body["tags"] = dict(tags)
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}"
        return self.request("PATCH", path, json=body)

    def delete_model(self, team: str, model: str) -> None:
        """Delete a model that has no versions (maintainers). One with versions is refused
        (ModelgateError, status 409): archive its versions instead."""
        self.request("DELETE", self._model_path(team, model))

    def delete_version(self, team: str, model: str, version: str) -> None:
        """Delete a version registered by mistake (maintainers): one still in Development
        that nothing refers to. Otherwise ModelgateError, status 409, naming the reasons:
        archive it instead (change_stage(..., "archived"))."""
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}"
        self.request("DELETE", path)

    def set_alias(
        self, team: str, model: str, alias: str, version: str, protected: bool | None = None
    ) -> dict[str, Any]:
        """Point an alias (e.g. "champion") at a version, creating or moving it."""
        body: dict[str, Any] = {"version": version}
        if protected is not None:
            body["protected"] = protected
        path = f"{self._model_path(team, model)}/aliases/{quote(alias, safe='')}"
        return self.request("PUT", path, json=body)

    def timeline(self, team: str, model: str) -> dict[str, Any]:
        """Who moved which version to which stage, and aliases, when: the model's history."""
        return self.request("GET", self._model_path(team, model) + "/timeline")

    def get_version(self, team: str, model: str, version: str) -> dict[str, Any]:
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}"
        return self.request("GET", path)

    def resolve(
        self, team: str, model: str, stage: str | None = None, *, alias: str | None = None
    ) -> dict[str, Any]:
        """The version in `stage` (e.g. "production") or named by `alias` (e.g.
        "champion"), with its artifacts."""
        if (stage is None) == (alias is None):
            raise ValueError("give a stage or an alias")
        params = {"stage": stage} if stage is not None else {"alias": alias}
        return self.request("GET", self._model_path(team, model) + "/resolve", params=params)

    def search(self, query: str, kind: str = "versions") -> Iterator[dict[str, Any]]:
        """Versions (or, with kind="models", models) matching a search-language query."""
        if kind not in ("versions", "models"):
            raise ValueError('kind is "versions" or "models"')
        return self._pages(f"/search/{kind}", {"q": query})

    def change_stage(
        self, team: str, model: str, version: str, stage: str, comment: str = ""
    ) -> dict[str, Any]:
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}/stage"
        return self.request("POST", path, json={"stage": stage, "comment": comment})

    def request_promotion(
        self,
        team: str,
        model: str,
        version: str,
        to_stage: str,
        justification: str,
        *,
        rollback: bool = False,
    ) -> dict[str, Any]:
        """Ask for `version` to enter "staging" or "production" (or, with rollback=True, to
        return to Production). The answer is the request: its state ("applied" when the
        policy needs no approval and every gate passed), approvals and gate results."""
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}/requests"
        body = {
            "to_stage": to_stage,
            "justification": justification,
            "purpose": "rollback" if rollback else "promotion",
        }
        return self.request("POST", path, json=body)

    def promotion_requests(
        self, state: str | None = None, to_review: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Promotion requests you may read (newest first), or those waiting for you."""
        params: dict[str, Any] = {"to_review": "true"} if to_review else {}
        if state:
            params["state"] = state
        return self._pages("/requests", params)

    def review(self, request_id: int, decision: str, comment: str = "") -> dict[str, Any]:
        """Approve, reject (with a comment) or comment on a promotion request; needs a
        token with the "review" scope."""
        return self.request(
            "POST",
            f"/requests/{int(request_id)}/reviews",
            json={"decision": decision, "comment": comment},
        )

    # --- deployments --------------------------------------------------------------------

    def deploy(
        self,
        team: str,
        model: str,
        version: str,
        environment: str,
        target: str = "",
        at: str | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        """Record that a version now serves in `environment` (e.g. "prod-eu") at `target`;
        the model's live deployment there is marked replaced. `at` (ISO 8601) defaults
        to now. Recording the live one again changes nothing."""
        body: dict[str, Any] = {"environment": environment, "target": target, "comment": comment}
        if at is not None:
            body["deployed_at"] = at
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}/deployments"
        return self.request("POST", path, json=body)

    def deployments(
        self,
        team: str | None = None,
        model: str | None = None,
        environment: str | None = None,
        at: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Deployment history, newest first: of one model, or of every model you may read;
        with `environment` and `at` (ISO 8601), what served there at that time."""
        params = {k: v for k, v in (("environment", environment), ("at", at)) if v}
        if team and model:
            return self._pages(self._model_path(team, model) + "/deployments", params)
        return self._pages("/deployments", params)

    def end_deployment(self, deployment_id: int, status: str = "retired") -> dict[str, Any]:
        """Take a live deployment down ("retired") or record that it "failed"."""
        return self.request(
            "POST", f"/deployments/{int(deployment_id)}/end", json={"status": status}
        )

    # --- model cards --------------------------------------------------------------------

    def set_model_card(
        self, team: str, model: str, version: str, **sections: str
    ) -> dict[str, Any]:
        """Write model card sections (Markdown): intended_use, out_of_scope, limitations,
        ethical_considerations, caveats. Returns the card, with its Markdown export."""
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}/card"
        return self.request("PUT", path, json=sections)

    # --- live metrics and retraining ---------------------------------------------------

    def report_metrics(
        self,
        deployment_id: int,
        metrics: Mapping[str, float] | None = None,
        at: str | None = None,
        points: Iterable[Mapping[str, Any]] | None = None,
    ) -> int:
        """Report live metrics of a deployment: one report, e.g.
        `report_metrics(7, {"auc": 0.91, "p95_latency_ms": 40})` (at `at`, ISO 8601,
        default now), or a batch `points=[{"name", "value", "at"}, …]` (sent in requests
        of at most 10,000). Returns how many points were stored."""
        path = f"/deployments/{int(deployment_id)}/metrics"
        if points is None:
            body = {"metrics": dict(metrics or {}), "at": at}
            return int(self.request("POST", path, json=body)["stored"])
        stored, batch = 0, []
        for point in points:
            batch.append(dict(point))
            if len(batch) == 10_000:
                stored += int(self.request("POST", path, json={"points": batch})["stored"])
                batch = []
        if batch:
            stored += int(self.request("POST", path, json={"points": batch})["stored"])
        return stored

    def retrain_requests(
        self, state: str | None = "open", model: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Retrain requests a monitor opened (newest first): what a training pipeline
        picks up; `model` is "team/name"."""
        params = {k: v for k, v in (("state", state), ("model", model)) if v}
        return self._pages("/retrain-requests", params)

    def add_monitor(
        self, team: str, model: str, name: str, rule: str, open_retrain: bool = True
    ) -> dict[str, Any]:
        """Add a monitor, e.g. rule="live.auc < metrics.test.auc - 0.05 over 1h"."""
        body = {"name": name, "rule": rule, "open_retrain": open_retrain}
        return self.request("POST", self._model_path(team, model) + "/monitors", json=body)

    def restore(self, team: str, model: str, version: str) -> dict[str, Any]:
        """Ask for an archived version's files to be copied back to hot storage (needs a
        maintainer's token with the "write" scope). The answer holds the restore job
        ({"archived": true, "job": {...}}) or {"archived": false, "job": null}; downloads
        answer 409 "archived" until the job is done (see `job`)."""
        path = f"{self._model_path(team, model)}/versions/{quote(version, safe='')}/restore"
        return self.request("POST", path)

    def job(self, job_id: int) -> dict[str, Any]:
        """An archive or restore job: state, progress_done/progress_total, last_error."""
        return self.request("GET", f"/jobs/{int(job_id)}")

    # --- uploading ----------------------------------------------------------------------

    def known_blobs(self, hashes: Iterable[str]) -> set[str]:
        """Which of these SHA-256s the server holds already (in versions you may read)."""
        wanted = sorted(set(hashes))
        known: set[str] = set()
        for i in range(0, len(wanted), KNOWN_BATCH):
            body = self.request(
                "POST",
                "/blobs/known",
                json={"sha256": wanted[i : i + KNOWN_BATCH]},
                idempotent=True,  # a question, not a change
            )
            known.update(body["known"])
        return known

    def upload(self, local: str | os.PathLike[str], sha256: str, bar: tqdm | None = None) -> None:
        """Upload one file by the resumable protocol; a broken connection or a 409 resumes
        from the offset the server reports."""
        size = os.path.getsize(local)
        session = self.request("POST", "/uploads", json={"sha256": sha256, "size": size})
        url = f"{self.api}/uploads/{session['id']}"
        chunk = min(self.chunk_size or session["chunk_size"], session["chunk_size"])
        offset, failures = session["offset"], 0  # a session of this file left earlier resumes
        if bar is not None:
            bar.update(offset)
        with open(local, "rb") as fh:
            while offset < size:
                fh.seek(offset)
                data = fh.read(chunk)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {offset}-{offset + len(data) - 1}/{size}",
                }
                try:
                    response = self.session.put(
                        url, data=data, headers=headers, timeout=self.timeout
                    )
                except (requests.ConnectionError, requests.Timeout):
                    response = None
                if response is not None and response.status_code < 400:
                    new = int(response.json()["offset"])
                    if bar is not None:
                        bar.update(new - offset)
                    offset, failures = new, 0
                    continue
                if response is not None and response.status_code not in {409, *RETRY_STATUS}:
                    raise ModelgateError.from_response(response)
                if failures >= self.retries:
                    if response is not None:
                        raise ModelgateError.from_response(response)
                    raise ModelgateError(None, "upload_failed", f"upload of {local} kept failing")
                self._sleep(failures)
                failures += 1
                new = int(self.request("GET", f"/uploads/{session['id']}")["offset"])
                if bar is not None:
                    bar.update(new - offset)
                offset = new
        if not session["complete"]:
            self.request("POST", f"/uploads/{session['id']}/complete", idempotent=True)

    def register_version(
        self,
        team: str,
        model: str,
        files_or_dir: Files | None = None,
        version: str | None = None,
        *,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
        datasets: Iterable[str | Mapping[str, Any]] | None = None,
        parents: Iterable[str | Mapping[str, Any]] | None = None,
        features: Iterable[str | Mapping[str, Any]] | None = None,
        run: str | Mapping[str, Any] | None = None,
        retrain_request: int | None = None,
        source: str | None = None,
        capture: bool = True,
        dvc: bool | str | os.PathLike[str] = True,
        progress: bool | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Register a version with its files; uploads only blobs the server lacks.

        `metrics` is {split: {name: value}}, e.g. {"test": {"auc": 0.93}}. Values may be
        NumPy scalars and arrays, dates or paths too; one JSON has no form for raises
        TypeError (NaN or infinity: ValueError) naming its field, and a file name the
        server would refuse raises ValueError, both before anything is uploaded. With
        capture, the environment (Python, OS, hardware, packages) and git state of the
        working directory are recorded (the commit becomes the version's code lineage).
        `datasets` are URIs, "[team/]name[@version]" strings or objects (name, version,
        uri, digest, size_bytes, rows, schema); `parents` are "[team/]model@version" or
        {"version": ..., "kind": "fine_tuned_from" | "distilled_from" | "derived_from"};
        `features` are feature set versions ("[team/]name[@version]" or objects with name,
        version, features, digest); `run` is the training run's id in your orchestrator,
        or an object (external_id, url, started_at, ended_at, hardware, params, metrics);
        `retrain_request` is the id of the retrain request this version answers (its
        version becomes the parent). `source` is where the model came from outside
        Modelgate ("s3://bucket/model/", "runs:/<run id>/model"), recorded as text only.
        With `dvc` (and capture), the datasets DVC tracks in the training repository
        (`dvc.lock`, `*.dvc`; the repository holding the working directory, or the path
        given) are added to `datasets`: path, md5/etag and the default remote's URL.
        Other server fields (framework, task_type, training_started_at, ...) go in
        `extra`. Returns the created version, as GET would answer it.
        """
        pairs = collect_files(files_or_dir)
        body: dict[str, Any] = {**extra}
        for key, value in (
            ("version", version),
            ("metrics", metrics),
            ("params", params),
            ("description", description),
            ("signature", signature),
            ("tags", tags),
            ("source", source),
        ):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        for key, refs in (("datasets", datasets), ("parents", parents), ("features", features)):
            if refs is not None:
                body[key] = [ref if isinstance(ref, Mapping) else str(ref) for ref in refs]
        if run is not None:
            body["run"] = dict(run) if isinstance(run, Mapping) else str(run)
        if retrain_request is not None:
            body["retrain_request"] = int(retrain_request)
        if capture and dvc:
            start = None if dvc is True else dvc
            tracked = self._safe(lambda: _dvc.datasets(start)) or []
            named = {
                ref.get("name") if isinstance(ref, Mapping) else ref
                for ref in body.get("datasets", [])
            }
            extra_refs = [ref for ref in tracked if ref["name"] not in named]
            if extra_refs:
                body["datasets"] = [*body.get("datasets", []), *extra_refs]
        if capture:
            body.setdefault("environment", self._safe(capture_environment))
            where = pairs[0][1].parent if pairs else None
            code = self._safe(lambda: _capture.git(None)) or (
                self._safe(lambda: _capture.git(where)) if where else {}
            )
            for key, value in code.items():
                body.setdefault(key, value)
            entry = _capture.entry_point()
            if entry:
                body.setdefault("code_entry_point", entry)
        # A value JSON cannot carry fails here, naming its field, before any upload.
        body = encoding.plain(body)
        for key, value in (body["tags"] if isinstance(body.get("tags"), dict) else {}).items():
            if not isinstance(value, str):
                raise TypeError(f"tags.{key}: a tag's value is text, got {value!r}")

        hashes = {name: sha256_file(local) for name, local in pairs}
        known = self.known_blobs(hashes.values()) if pairs else set()
        todo: dict[str, Path] = {}
        for name, local in pairs:
            if hashes[name] not in known:
                todo.setdefault(hashes[name], local)
        if todo:
            total = sum(p.stat().st_size for p in todo.values())
            with self._bar(total, f"upload {team}/{model}", progress) as bar:
                for sha, local in todo.items():
                    self.upload(local, sha, bar)
        self.last_uploaded = len(todo)

        if pairs:
            body["files"] = [{"path": name, "sha256": hashes[name]} for name, _ in pairs]
        return self.request("POST", self._model_path(team, model) + "/versions", json=body)

    @staticmethod
    def _safe(func: Any) -> Any:
        """Capturing never breaks a registration; what the user can fix is a warning."""
        try:
            return func()
        except _dvc.YAMLUnavailable as exc:
            warnings.warn(str(exc), stacklevel=3)
            return {}
        except Exception:  # best effort by design
            return {}

    # --- downloading --------------------------------------------------------------------

    def download(
        self,
        team: str,
        model: str,
        dest: str | os.PathLike[str],
        version: str | None = None,
        stage: str | None = None,
        *,
        alias: str | None = None,
        progress: bool | None = None,
    ) -> list[Path]:
        """Download every artifact of a version (by version, stage, alias, or else the
        highest) to dest/<path>, verifying size and SHA-256; an interrupted download
        resumes with a Range request. Returns the files' paths."""
        if sum(x is not None for x in (version, stage, alias)) > 1:
            raise ValueError("give at most one of version, stage and alias")
        if version:
            detail = self.get_version(team, model, version)
        elif stage or alias:
            detail = self.resolve(team, model, stage, alias=alias)
        else:
            latest = next(iter(self.versions(team, model)), None)
            if latest is None:
                raise ModelgateError(404, "not_found", f"{team}/{model} has no versions")
            detail = self.get_version(team, model, latest["version"])
        root = Path(dest).resolve()
        targets = []
        for artifact in detail["artifacts"]:
            target = (root / artifact["path"]).resolve()
            if os.path.isabs(artifact["path"]) or not target.is_relative_to(root):
                raise ModelgateError(None, "unsafe_path", f"refusing to write {artifact['path']!r}")
            targets.append((artifact, target))
        total = sum(a["size"] for a, _ in targets)
        with self._bar(total, f"download {team}/{model}", progress) as bar:
            for artifact, target in targets:
                self._download_file(artifact, target, bar)
        return [t for _, t in targets]

    def _download_file(self, artifact: dict[str, Any], target: Path, bar: tqdm) -> None:
        size, expected = int(artifact["size"]), artifact["sha256"]
        if target.is_file() and target.stat().st_size == size and sha256_file(target) == expected:
            bar.update(size)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Partial bytes live apart from the artifacts, named by content: never one of them.
        partial_dir = target.parent / PARTIAL_DIR
        partial_dir.mkdir(exist_ok=True)
        part = partial_dir / expected
        attempt, base = 0, bar.n
        while True:
            have = part.stat().st_size if part.exists() else 0
            if have > size:
                part.unlink()
                have = 0
            headers = {"Range": f"bytes={have}-", "If-Range": f'"{expected}"'} if have else {}
            try:
                self._fetch(artifact["download_url"], part, have, base, headers, bar)
                break
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ):
                if attempt >= self.retries:
                    raise
                self._sleep(attempt)
                attempt += 1
        actual_size = part.stat().st_size
        actual = sha256_file(part)
        try:
            if actual_size != size or actual != expected:
                part.unlink()
                raise ChecksumMismatch(
                    None,
                    "checksum_mismatch",
                    f"{artifact['path']}: got {actual_size} bytes with SHA-256 {actual}, "
                    f"expected {size} bytes with {expected}",
                )
            os.replace(part, target)
        finally:
            with contextlib.suppress(OSError):
                partial_dir.rmdir()  # only when nothing else is still partial

    def _fetch(
        self, url: str, part: Path, have: int, base: int, headers: dict[str, str], bar: tqdm
    ) -> None:
        response = self._send("GET", url, headers=headers, stream=True)
        with response:
            if response.status_code == 416:
                part.unlink(missing_ok=True)
                raise requests.ConnectionError("range not satisfiable; starting over")
            if response.status_code >= 400:
                raise ModelgateError.from_response(response)
            resumed = response.status_code == 206 and have > 0
            bar.n = base + (have if resumed else 0)
            bar.refresh()
            mode = "ab" if resumed else "wb"
            with open(part, mode) as fh:
                for block in response.iter_content(READ_SIZE):
                    fh.write(block)
                    bar.update(len(block))


def capture_environment() -> dict[str, Any]:
    return _capture.environment()
