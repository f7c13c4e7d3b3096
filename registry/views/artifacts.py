from __future__ import annotations

import mimetypes
import re

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_safe

from accounts.tokens import token_or_session
from registry import artifacts, deprecation
from registry.access import version_for_user
from registry.models import Artifact, BlobLocation, ModelVersion, blob_storage_name
from registry.storage import artifact_storage, is_local
from registry.views.common import HtmxHttpRequest

_RANGE = re.compile(r"\Abytes=([0-9]*)-([0-9]*)\Z")
UNSATISFIABLE = "unsatisfiable"


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, length) for a single byte range, UNSATISFIABLE, or None for the whole file.

    Understands `bytes=a-b`, `bytes=a-` and `bytes=-n` (RFC 9110). Several ranges, other
    units and malformed headers are ignored (the whole file, 200), as the RFC allows.
    """
    if not header:
        return None
    match = _RANGE.match(header.replace(" ", ""))
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.groups()
    if not first:  # the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(size - suffix, 0), min(suffix, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        return UNSATISFIABLE
    end = min(end, size - 1)
    return start, end - start + 1


@require_safe
@token_or_session(scope="read")  # deploy jobs: curl -H "Authorization: Bearer mg_…"
def artifact_download(
    request: HtmxHttpRequest, team: str, name: str, version: str, path: str
) -> HttpResponse:
    """The artifact's bytes; `Range: bytes=…` (one range) answers 206 with just those, so
    a broken download resumes. `If-Range` with another ETag sends the whole file."""
    mv = version_for_user(request.user, team, name, version)
    artifact = get_object_or_404(Artifact.objects.select_related("blob"), version=mv, path=path)
    if artifact.blob.location == BlobLocation.ARCHIVE:
        return _archived(request, mv)
    size, etag = artifact.size, f'"{artifact.blob_id}"'
    wanted = parse_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the client holds another file's bytes: send it all
    if wanted == UNSATISFIABLE:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    content_type = mimetypes.guess_type(artifact.filename)[0] or "application/octet-stream"
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    elif isinstance(wanted, tuple):
        start, length = wanted
        response = StreamingHttpResponse(
            artifacts.iter_blob(artifact.blob_id, start, length),
            status=206,
            content_type=content_type,
        )
    elif is_local(artifact_storage):  # a file: the WSGI server may use sendfile
        stream = artifact_storage.open(blob_storage_name(artifact.blob_id), "rb")
        response = FileResponse(stream, content_type=content_type)
    else:  # remote: one streamed GET, never spooled to a temporary file first
        response = StreamingHttpResponse(
            artifacts.iter_blob(artifact.blob_id), content_type=content_type
        )
    response["Content-Disposition"] = content_disposition_header(True, artifact.filename)
    if isinstance(wanted, tuple) and request.method != "HEAD":
        start, length = wanted
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
        response["Content-Length"] = str(length)
    else:
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["X-Checksum-SHA256"] = artifact.blob_id
    return deprecation.add_headers(response, mv)


ARCHIVED_MESSAGE = "archived — request a restore"


def _archived(request: HtmxHttpRequest, mv: ModelVersion) -> HttpResponse:
    """409: the bytes are in the archive storage; a maintainer restores them (page, API)."""
    restore_url = reverse("version-detail", args=[mv.model.team.slug, mv.model.name, mv.version])
    if "text/html" in request.headers.get("Accept", ""):
        return render(request, "registry/archived.html", {"version": mv}, status=409)
    body = {
        "error": {
            "code": "archived",
            "message": ARCHIVED_MESSAGE,
            "field": None,
            "details": {
                "restore": request.build_absolute_uri(
                    reverse("api:api-version-restore",
                            args=[mv.model.team.slug, mv.model.name, mv.version])
                ),
                "version_page": request.build_absolute_uri(restore_url),
            },
        }
    }  # fmt: skip
    return JsonResponse(body, status=409, json_dumps_params={"ensure_ascii": False})


@require_GET
@token_or_session(scope="read")
def version_manifest(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    files = [{"path": a.path, "size": a.size, "sha256": a.blob_id} for a in mv.artifacts.all()]
    return JsonResponse({"model": f"{team}/{name}", "version": mv.version, "files": files})
