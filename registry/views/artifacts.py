from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_safe

from accounts.tokens import token_or_session
from registry import downloads
from registry.access import version_for_user
from registry.models import ModelVersion
from registry.views.common import HtmxHttpRequest


@require_safe
@token_or_session(scope="read")  # deploy jobs: curl -H "Authorization: Bearer mg_…"
def artifact_download(
    request: HtmxHttpRequest, team: str, name: str, version: str, path: str
) -> HttpResponse:
    """The artifact's bytes for the browser and curl (registry.downloads; the API serves
    the same at /api/v1/…/artifacts/{path})."""
    mv = version_for_user(request.user, team, name, version)
    artifact = downloads.artifact_for(mv, path)
    try:
        return downloads.artifact_response(request, mv, artifact)
    except downloads.RangeNotSatisfiable as exc:
        return exc.add_headers(HttpResponse(status=416))
    except downloads.Archived:
        return _archived(request, mv)


def _archived(request: HtmxHttpRequest, mv: ModelVersion) -> HttpResponse:
    """409: the bytes are in the archive storage; a maintainer restores them (page, API)."""
    if "text/html" in request.headers.get("Accept", ""):
        return render(request, "registry/archived.html", {"version": mv}, status=409)
    body = {
        "error": {
            "code": "archived",
            "message": downloads.ARCHIVED_MESSAGE,
            "field": None,
            "details": downloads.archived_details(request, mv),
        }
    }
    return JsonResponse(body, status=409, json_dumps_params={"ensure_ascii": False})


@require_GET
@token_or_session(scope="read")
def version_manifest(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    files = [{"path": a.path, "size": a.size, "sha256": a.blob_id} for a in mv.artifacts.all()]
    return JsonResponse({"model": f"{team}/{name}", "version": mv.version, "files": files})
