from __future__ import annotations

from tests.api.conftest import as_token, as_user  # noqa: F401 -- the API's test clients
