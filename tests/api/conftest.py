from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts import tokens
from accounts.models import User

API = "/api/v1"


class ApiClient:
    """A test client speaking JSON, as a token holder or a signed-in browser."""

    def __init__(self, client: Client, token: str | None = None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        call = getattr(self.client, method)
        if body is not None:
            kw["data"] = body
            kw["content_type"] = "application/json"
        return call(f"{API}{path}", headers=self.headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("get", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self._call("post", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self._call("patch", path, body if body is not None else {}, **kw)


@pytest.fixture
def as_user(db: None) -> Callable[..., ApiClient]:
    """as_user(user) signs in a browser session; as_user(None) is anonymous."""

    def make(user: User | None) -> ApiClient:
        client = Client()
        if user is not None:
            client.force_login(user)
        return ApiClient(client)

    return make


@pytest.fixture
def as_token(db: None) -> Callable[..., ApiClient]:
    """as_token(user, "read", ...) calls with a fresh token of those scopes."""
    count = 0

    def make(user: User, *scopes: str) -> ApiClient:
        nonlocal count
        count += 1
        _token, secret = tokens.create(user, name=f"t{count}", scopes=list(scopes or ["read"]))
        return ApiClient(Client(), secret)

    return make


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "field"} <= set(error)
    assert error["code"] == code, error
    assert error["message"]
    assert error["field"] == field, error
    return error
