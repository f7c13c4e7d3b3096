"""Resumable chunked uploads and the known-blobs query, under /api/v1.

The protocol is described in registry.uploads (the domain module these endpoints call).
Uploading needs a token with the "write" scope (or a signed-in session with the CSRF
token); a session belongs to whoever opened it, and anyone else gets 404.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Path, Router, Schema, Status

from api import errors
from api.schemas import Body, Error, VersionCreate
from registry import uploads

router = Router(tags=["uploads"])

SHA256 = r"^[0-9a-fA-F]{64}$"
Sha256 = Annotated[str, Field(pattern=SHA256, description="SHA-256 of the file, in hex")]
UploadId = Path(..., description="the upload's id, as POST /uploads answered it")

ERRORS: dict[int, Any] = {
    400: Error,
    401: Error,
    403: Error,
    404: Error,
    409: Error,
    413: Error,
    422: Error,
}


class UploadCreate(Body):
    sha256: Sha256
    size: int = Field(..., ge=0, description="the file's size in bytes")


class UploadOut(Schema):
    id: str
    sha256: str
    offset: int
    size: int
    chunk_size: int
    complete: bool


class ChunkOut(Schema):
    offset: int


class KnownIn(Body):
    sha256: list[Sha256] = Field(..., max_length=uploads.MAX_KNOWN_QUERY)


class KnownOut(Schema):
    known: list[str]


class FileRef(Body):
    path: str
    sha256: Sha256


class VersionCreateWithFiles(VersionCreate):
    """A version's metadata and, optionally, files stored already (uploads or known blobs)."""

    files: list[FileRef] | None = Field(None, max_length=1000)


def file_refs(files: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    return [(f["path"], f["sha256"].lower()) for f in files or ()]


def _upload_out(session: Any) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "sha256": session.sha256,
        "offset": session.offset,
        "size": session.size,
        "chunk_size": uploads.CHUNK_SIZE,
        "complete": session.complete,
    }


def _error(status: int, code: str, message: str, field: str, **extra: Any) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "field": field}, **extra}
    return JsonResponse(body, status=status)


def _offset_conflict(exc: uploads.OffsetMismatch) -> HttpResponse:
    return _error(409, "offset_mismatch", exc.message, "Content-Range", offset=exc.offset)


@router.post(
    "/uploads",
    response={200: UploadOut, 201: UploadOut, **ERRORS},
    url_name="api-uploads",
    openapi_extra={
        "responses": {
            200: {"description": "your live upload of this sha256 and size, as it stands"},
            201: {"description": "a new upload"},
        }
    },
)
def create_upload(request: HttpRequest, payload: UploadCreate) -> Status:
    """Open a resumable upload of `size` bytes hashing to `sha256` (201); send the bytes
    with PUT in chunks of at most `chunk_size`, then POST …/complete. When you have an
    upload of this sha256 and size already (not expired), it answers that one instead
    (200): send the rest from its `offset`, or, when it is `complete`, name its sha256 in
    a version's `files`. 400 naming `uploads` when you have too many open or completed
    but unattached: attach, complete or DELETE some, or wait until they expire."""
    try:
        session, created = uploads.create_upload(actor=request.user, sha256=payload.sha256,
                                                 size=payload.size)  # fmt: skip
    except uploads.TooLarge as exc:
        raise errors.PayloadTooLarge(exc.message, exc.field) from None
    return Status(201 if created else 200, _upload_out(session))


@router.get("/uploads/{upload_id}", response={200: UploadOut, **ERRORS}, url_name="api-upload")
def get_upload(request: HttpRequest, upload_id: str = UploadId) -> dict[str, Any]:
    """Where an upload stands: resume by sending the bytes from `offset` on."""
    return _upload_out(uploads.get_upload(request.user, upload_id, settled=True))


@router.delete("/uploads/{upload_id}", response={204: None, **ERRORS}, url_name="api-upload")
def discard_upload(request: HttpRequest, upload_id: str = UploadId) -> Status:
    """Discard an upload, complete or not, with its bytes (a completed one can no longer
    be attached). Uploads are private: anyone else's answers 404."""
    uploads.discard_upload(uploads.get_upload(request.user, upload_id))
    return Status(204, None)


@router.put(
    "/uploads/{upload_id}",
    response={200: ChunkOut, **ERRORS, 411: Error},
    url_name="api-upload",
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                "format": "binary"}}},
            "required": True,
        }
    },
)  # fmt: skip
def put_chunk(request: HttpRequest, upload_id: str = UploadId, offset: str | None = None) -> Any:
    """Append the body (raw bytes) at `Content-Range: bytes START-END/TOTAL` (or
    ?offset=START). START must be the upload's offset, else 409 with the offset to resume
    from."""
    _check_length(request)
    session = uploads.get_upload(request.user, upload_id)
    start, end, total = uploads.parse_content_range(request.headers.get("Content-Range"), offset)
    try:
        new_offset = uploads.write_chunk(session, request, start=start, end=end, total=total)
    except uploads.OffsetMismatch as exc:
        return _offset_conflict(exc)
    return {"offset": new_offset}


def _check_length(request: HttpRequest) -> None:
    """A chunk declares its Content-Length, at most the chunk size (413, answered before
    the body is read). Chunked transfer encoding answers 411: Django reads no body
    without a length, so the chunk would look empty."""
    declared = request.META.get("CONTENT_LENGTH", "").strip()
    if not declared:
        if "Transfer-Encoding" in request.headers:
            raise errors.LengthRequired(
                "Content-Length: send each chunk with a Content-Length header (at most "
                f"{uploads.CHUNK_SIZE:,} bytes); chunked transfer encoding is not accepted"
            )
        return  # no body at all: the chunk is empty (400)
    if not re.fullmatch(uploads.NUMBER, declared):
        raise ValidationError(
            {"Content-Length": "must be the body's length in bytes (at most 19 digits)"}
        )
    if int(declared) > uploads.CHUNK_SIZE:
        raise errors.PayloadTooLarge(
            f"the chunk is {int(declared):,} bytes, over the {uploads.CHUNK_SIZE:,}-byte "
            "chunk limit: send it in parts",
            "body",
        )


@router.post(
    "/uploads/{upload_id}/complete",
    response={200: UploadOut, **ERRORS},
    url_name="api-upload-complete",
)
def complete_upload(request: HttpRequest, upload_id: str = UploadId) -> Any:
    """Check the bytes against the declared SHA-256; then name the sha256 in a version's
    `files` to attach it. A mismatch (400 checksum_mismatch) discards the upload."""
    session = uploads.get_upload(request.user, upload_id)
    try:
        session = uploads.complete_upload(session)
    except uploads.OffsetMismatch as exc:
        return _offset_conflict(exc)
    except uploads.ChecksumMismatch as exc:
        return _error(400, "checksum_mismatch", str(exc), "sha256")
    return _upload_out(session)


@router.post("/blobs/known", response={200: KnownOut, **ERRORS}, url_name="api-blobs-known")
def known_blobs(request: HttpRequest, payload: KnownIn) -> dict[str, Any]:
    """Which of these hashes need no upload (name them in a version's `files`): stored
    already in a version of one of your teams, or a completed upload of yours not yet
    attached. Other teams' blobs and other users' uploads are never told."""
    return {"known": uploads.known_blobs(request.user, payload.sha256)}
