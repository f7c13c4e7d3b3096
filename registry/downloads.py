"""Serving an artifact's bytes over HTTP, for the page's download link and the API's
download endpoint alike: streamed with constant memory, one `Range` (206, or 416 for a
range past the end), `If-Range` against the ETag, and `X-Checksum-SHA256`.

The callers answer the two refusals (RangeNotSatisfiable, Archived) in their own way:
the page with its HTML or an empty body, the API with its error body.
"""

from __future__ import annotations

import mimetypes
import re

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header

from registry import artifacts, deprecation
from registry.models import Artifact, BlobLocation, ModelVersion, blob_storage_name
from registry.storage import artifact_storage, is_local

_RANGE = re.compile(r"\Abytes=([0-9]*)-([0-9]*)\Z")
UNSATISFIABLE = "unsatisfiable"
_PAST_ANY_FILE = 10**19
ARCHIVED_MESSAGE = "archived — request a restore"


class RangeNotSatisfiable(Exception):
    """416: the range starts at or past the file's end (`Content-Range: bytes */size`)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"Range: the file has {size} bytes; no requested byte is among them")
        self.size = size

    def add_headers(self, response: HttpResponse) -> HttpResponse:
        response["Content-Range"] = f"bytes */{self.size}"
        response["Accept-Ranges"] = "bytes"
        return response


class Archived(Exception):
    """409: the bytes are in the archive storage; a maintainer restores them first."""

    def __init__(self, version: ModelVersion) -> None:
        super().__init__(ARCHIVED_MESSAGE)
        self.version = version


def archived_details(request: HttpRequest, version: ModelVersion) -> dict[str, str]:
    """Where to restore the version (API) and where its page is, for the 409 body."""
    args = [version.model.team.slug, version.model.name, version.version]
    return {
        "restore": request.build_absolute_uri(reverse("api:api-version-restore", args=args)),
        "version_page": request.build_absolute_uri(reverse("version-detail", args=args)),
    }


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, length) for a single byte range, UNSATISFIABLE, or None for the whole file.

    Understands `bytes=a-b`, `bytes=a-` and `bytes=-n` (RFC 9110). Several ranges, other
    units and malformed headers are ignored (the whole file, 200), as the RFC allows.
    Numbers of any length are understood (one past every file's end as such).
    """
    if not header:
        return None
    match = _RANGE.match(header.replace(" ", ""))
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.groups()
    if not first:  # the last n bytes
        suffix = _position(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(size - suffix, 0), min(suffix, size)
    start = _position(first)
    end = _position(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        return UNSATISFIABLE
    end = min(end, size - 1)
    return start, end - start + 1


def _position(digits: str) -> int:
    """A byte position or count in ASCII digits; one of more than 19 significant digits
    (past any file's end, and maybe past what int() takes) as _PAST_ANY_FILE."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else _PAST_ANY_FILE


def artifact_for(version: ModelVersion, path: str) -> Artifact:
    """The version's file at `path` (with its blob); 404 naming both when it has none."""
    found = Artifact.objects.select_related("blob").filter(version=version, path=path).first()
    if found is None:
        model = version.model
        raise Http404(f"{model.team.slug}/{model.name} {version.version} has no file {path!r}.")
    return found


def artifact_response(
    request: HttpRequest,
    version: ModelVersion,
    artifact: Artifact,
    *,
    content_type: str | None = None,
) -> HttpResponse:
    """The artifact's bytes (HEAD: only the headers); `Range: bytes=…` (one range) answers
    206 with just those, so a broken download resumes, and `If-Range` with another ETag
    sends the whole file. `content_type` None guesses it from the file's name."""
    if artifact.blob.location == BlobLocation.ARCHIVE:
        raise Archived(version)
    size, etag = artifact.size, f'"{artifact.blob_id}"'
    wanted = parse_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the client holds another file's bytes: send it all
    if wanted == UNSATISFIABLE:
        raise RangeNotSatisfiable(size)
    if content_type is None:
        content_type = mimetypes.guess_type(artifact.filename)[0] or "application/octet-stream"
    response: HttpResponse
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
    return deprecation.add_headers(response, version)
