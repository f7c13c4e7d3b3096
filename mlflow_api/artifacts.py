"""MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/…`) over Modelgate's
stored artifacts: `models/<team>/<model>/<version number>/<path>` lists and streams a
version's files (what get-download-uri points at), through the permission policy."""

from __future__ import annotations

import posixpath
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from mlflow_api.errors import (
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    MlflowError,
    invalid,
    not_found,
)
from mlflow_api.views import endpoint
from registry import downloads
from registry.access import model_for_user
from registry.models import Artifact, ModelVersion


def _locate(user: Any, raw: str) -> tuple[ModelVersion, str]:
    """The version and the path inside it that an artifact path names."""
    parts = [p for p in (raw or "").strip("/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise invalid("Invalid artifact path: '..' is not allowed.")
    if len(parts) < 4 or parts[0] != "models" or not parts[3].isdigit() or len(parts[3]) > 10:
        raise not_found(
            f"No artifacts at {raw!r}: Modelgate serves models/<team>/<model>/<version>/…"
        )
    try:
        model = model_for_user(user, parts[1], parts[2], with_latest=False)
    except Http404:
        raise not_found(f"No artifacts at {raw!r}.") from None
    mv = (
        ModelVersion.objects.filter(model=model, sequence=int(parts[3]))
        .select_related("model__team")
        .first()
    )
    if mv is None:
        raise not_found(f"No artifacts at {raw!r}.")
    return mv, "/".join(parts[4:])


@endpoint("GET")
def list_artifacts(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    raw = params.get("path") or ""
    if not isinstance(raw, str):
        raise invalid("Parameter 'path' must be a string.")
    mv, inner = _locate(user, raw)
    files: dict[str, dict[str, Any]] = {}
    prefix = f"{inner}/" if inner else ""
    for path, size in Artifact.objects.filter(version=mv).values_list("path", "size"):
        if inner and path == inner:  # the path is a file: MLflow lists it alone
            return {"files": [{"path": posixpath.basename(path), "is_dir": False,
                               "file_size": size}]}  # fmt: skip
        if not path.startswith(prefix):
            continue
        head, slash, _rest = path[len(prefix) :].partition("/")
        if slash:
            files.setdefault(head, {"path": head, "is_dir": True})
        else:
            files[head] = {"path": head, "is_dir": False, "file_size": size}
    return {"files": [files[k] for k in sorted(files)]}


@csrf_exempt
@login_not_required
def artifact(request: HttpRequest, path: str) -> HttpResponse:
    """GET/HEAD downloads; the endpoint wrappers authenticate and answer MLflow errors."""
    if request.method in ("GET", "HEAD"):
        return _download(request, path=path)
    return _refuse(request, path=path)


@endpoint("PUT", "DELETE", "POST")
def _refuse(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    raise MlflowError(
        INVALID_PARAMETER_VALUE,
        "A version's artifacts are immutable in Modelgate: upload them when registering the "
        "version (Modelgate API or client), not into an existing version.",
    )


@endpoint("GET", "HEAD")
def _download(request: HttpRequest, user: Any, params: dict[str, Any]) -> HttpResponse:
    """The file's bytes, as the page's and the API's download serve them (registry.downloads:
    constant memory, Range, ETag, X-Checksum-SHA256)."""
    path = params["path"]
    mv, inner = _locate(user, path)
    found = (
        Artifact.objects.select_related("blob").filter(version=mv, path=inner).first()
        if inner
        else None
    )
    if found is None:
        raise not_found(f"No artifact at {path!r}.")
    try:
        return downloads.artifact_response(request, mv, found)
    except downloads.RangeNotSatisfiable as exc:
        return exc.add_headers(HttpResponse(status=416))
    except downloads.Archived:
        raise MlflowError(
            INVALID_STATE, f"{path!r} is in archive storage: a maintainer restores it first."
        ) from None
