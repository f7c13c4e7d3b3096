"""Path and query parameters and the error responses every API module declares."""

from __future__ import annotations

from typing import Any

from ninja import Path, Query

from api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from api.schemas import MODEL_NAME, TEAM_SLUG, VERSION, Error

ERRORS: dict[int, Any] = {
    400: Error,
    401: Error,
    403: Error,
    404: Error,
    409: Error,
    413: Error,
    422: Error,
}

Team_ = Path(..., pattern=TEAM_SLUG, description="team slug")
Name_ = Path(..., pattern=MODEL_NAME, description="model name")
Version_ = Path(..., pattern=VERSION, description="version string")
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
