"""Request bodies are JSON, sent as such: another Content-Type answers 415 before the body
is read, so a form post or text/plain never passes for JSON (nor changes anything).

Accepted: application/json and application/*+json, without a charset or with utf-8 (the
only encoding JSON on the wire may use, RFC 8259). Upload chunks are raw bytes and do
not come here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from api.errors import UnsupportedMediaType

_SHOWN = 100  # characters of a refused Content-Type quoted back


def require_json(request: HttpRequest) -> None:
    media_type = (request.content_type or "").lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        charset = (request.content_params or {}).get("charset", "utf-8").lower()
        if charset in ("utf-8", "utf8"):
            return
        raise UnsupportedMediaType(f"Content-Type: JSON is utf-8, not {charset[:_SHOWN]!r}")
    sent = request.META.get("CONTENT_TYPE", "")
    raise UnsupportedMediaType(
        f"Content-Type: send the body as application/json, not {sent[:_SHOWN]!r}"
        if sent
        else "Content-Type: send the body as application/json (no Content-Type was sent)"
    )


class JsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        require_json(request)
        return super().parse_body(request)
