"""Where the client finds its server and token: arguments, environment, saved login."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("modelgate_client", reason="install the client: pip install -e ./client")
from modelgate_client import Client  # noqa: E402
from modelgate_client.config import save_config, server_and_token  # noqa: E402

SAVED = "https://registry.example.com"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MODELGATE_URL", raising=False)
    monkeypatch.delenv("MODELGATE_TOKEN", raising=False)


def _authorization(client: Client) -> str | None:
    return client.session.headers.get("Authorization")


def test_client_without_arguments_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    save_config({"url": SAVED, "token": "mg_saved"})
    monkeypatch.setenv("MODELGATE_URL", "http://127.0.0.1:8000/")
    monkeypatch.setenv("MODELGATE_TOKEN", "mg_env")
    client = Client()
    assert client.url == "http://127.0.0.1:8000"
    assert _authorization(client) == "Bearer mg_env"


def test_client_without_arguments_uses_the_saved_login() -> None:
    save_config({"url": SAVED + "/", "token": "mg_saved"})
    client = Client()
    assert (client.url, _authorization(client)) == (SAVED, "Bearer mg_saved")
    assert _authorization(Client(SAVED)) == "Bearer mg_saved"


def test_the_saved_token_is_never_sent_to_another_server(monkeypatch: pytest.MonkeyPatch) -> None:
    save_config({"url": SAVED, "token": "mg_saved"})
    assert _authorization(Client("https://elsewhere.example.com")) is None
    monkeypatch.setenv("MODELGATE_URL", "https://elsewhere.example.com")
    assert server_and_token() == ("https://elsewhere.example.com", None)
    # An explicit token always wins.
    assert server_and_token(SAVED, "mg_given") == (SAVED, "mg_given")


def test_client_without_a_server_says_how_to_name_one() -> None:
    with pytest.raises(ValueError, match="MODELGATE_URL or run `modelgate login`"):
        Client()


def test_whitespace_around_the_url_and_token_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mounted secret ends with a newline; a header with it would not be sent."""
    monkeypatch.setenv("MODELGATE_URL", " http://127.0.0.1:8000/\n")
    monkeypatch.setenv("MODELGATE_TOKEN", "mg_env\n")
    client = Client()
    assert (client.url, _authorization(client)) == ("http://127.0.0.1:8000", "Bearer mg_env")
    client = Client("\thttps://registry.example.com ", " mg_given\r\n")
    assert (client.url, _authorization(client)) == (SAVED, "Bearer mg_given")
    save_config({"url": SAVED + "\n", "token": "mg_saved\n"})
    monkeypatch.delenv("MODELGATE_URL")
    monkeypatch.delenv("MODELGATE_TOKEN")
    assert server_and_token() == (SAVED, "mg_saved")
    assert server_and_token(SAVED + " ", "  ") == (SAVED, "mg_saved")  # blank: not a token
