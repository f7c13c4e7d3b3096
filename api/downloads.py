"""Artifact downloads under /api/v1: the bytes of one file of a version, as the version's
`artifacts[].download_url` names them.

The same streaming as the page's download link (registry.downloads): constant memory,
one `Range` (206; 416 past the end), `If-Range` against the `ETag`, and the SHA-256 in
`X-Checksum-SHA256`. Errors are the API's error body; reading needs the "read" scope.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Router

import registry.converters  # noqa: F401 -- registers artifact_path, which the URL uses
from api.params import ERRORS, Name_, Team_, Version_
from api.schemas import Error
from registry import downloads
from registry.access import version_for_user

router = Router(tags=["versions"])

# Slashes included; the page's converter (no control characters, at most 1024).
ARTIFACT_PATH = "/models/{team}/{name}/versions/{version}/artifacts/{artifact_path:path}"
ArtifactPath_ = Path(..., description="the file's path in the version, slashes included")

BYTES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
HEADERS = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("ETag", "the file's SHA-256, quoted: send it back in If-Range"),
        ("X-Checksum-SHA256", "the whole file's SHA-256, in hex"),
        ("Accept-Ranges", "bytes"),
    )
}
OPENAPI = {
    "parameters": [
        {"in": "header", "name": "Range", "required": False, "schema": {"type": "string"},
         "description": "one range: bytes=START-END, bytes=START- or bytes=-LAST_N"},
        {"in": "header", "name": "If-Range", "required": False, "schema": {"type": "string"},
         "description": "the ETag of the bytes you hold: another ETag sends the whole file"},
    ],
    "responses": {
        200: {"content": BYTES, "headers": HEADERS},
        206: {"content": BYTES, "headers": {**HEADERS, "Content-Range": {
            "description": "bytes START-END/SIZE", "schema": {"type": "string"}}}},
        416: {"headers": {"Content-Range": {
            "description": "bytes */SIZE", "schema": {"type": "string"}}}},
    },
}  # fmt: skip
RESPONSES: dict[int, Any] = {200: None, 206: None, **ERRORS, 416: Error}


def _download(request: HttpRequest, team: str, name: str, version: str, path: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)  # 404 naming the version
    artifact = downloads.artifact_for(mv, path)
    return downloads.artifact_response(
        request, mv, artifact, content_type="application/octet-stream"
    )


@router.get(ARTIFACT_PATH, response=RESPONSES, url_name="api-artifact", openapi_extra=OPENAPI)
def download_artifact(
    request: HttpRequest,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
    path: str = ArtifactPath_,
) -> HttpResponse:
    """The file's bytes (application/octet-stream). A broken download resumes with
    `Range: bytes=N-` and `If-Range: <ETag>`; check the result against
    `X-Checksum-SHA256`. 409 "archived" when the file waits in archive storage for a
    restore."""
    return _download(request, team, name, version, path)


@router.api_operation(["HEAD"], ARTIFACT_PATH, response=RESPONSES, url_name="api-artifact",
                      openapi_extra={"parameters": OPENAPI["parameters"]})  # fmt: skip
def artifact_headers(
    request: HttpRequest,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
    path: str = ArtifactPath_,
) -> HttpResponse:
    """The download's headers without its bytes: size, ETag and SHA-256."""
    return _download(request, team, name, version, path)
