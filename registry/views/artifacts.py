from __future__ import annotations

import mimetypes

from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from accounts.tokens import token_or_session
from registry.access import version_for_user
from registry.models import Artifact, blob_storage_name
from registry.storage import artifact_storage
from registry.views.common import HtmxHttpRequest


@require_GET
@token_or_session(scope="read")  # deploy jobs: curl -H "Authorization: Bearer mg_…"
def artifact_download(
    request: HtmxHttpRequest, team: str, name: str, version: str, path: str
) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    artifact = get_object_or_404(Artifact, version=mv, path=path)
    stream = artifact_storage.open(blob_storage_name(artifact.blob_id), "rb")
    content_type = mimetypes.guess_type(artifact.filename)[0] or "application/octet-stream"
    response = FileResponse(
        stream, as_attachment=True, filename=artifact.filename, content_type=content_type
    )
    response["Content-Length"] = str(artifact.size)
    response["ETag"] = f'"{artifact.blob_id}"'
    response["X-Checksum-SHA256"] = artifact.blob_id
    return response


@require_GET
@token_or_session(scope="read")
def version_manifest(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    files = [{"path": a.path, "size": a.size, "sha256": a.blob_id} for a in mv.artifacts.all()]
    return JsonResponse({"model": f"{team}/{name}", "version": mv.version, "files": files})
