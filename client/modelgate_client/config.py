"""Where the client finds its server and token.

In order: what the caller passes, then the environment (`MODELGATE_URL`,
`MODELGATE_TOKEN`), then the file `modelgate login` saves. The saved token is used only
for the saved server, so a token is never sent to a server it was not issued by.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "modelgate" / "config.json"


def load_config() -> dict[str, Any]:
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_config(data: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(path, 0o600)  # also when the file existed with wider permissions
    return path


def _clean(value: Any) -> str | None:
    """A setting without surrounding whitespace (a mounted secret's final newline), or
    None when nothing is left."""
    return (value.strip() or None) if isinstance(value, str) else None


def _same_server(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.rstrip("/") == b.rstrip("/")


def server_and_token(
    url: str | None = None, token: str | None = None
) -> tuple[str | None, str | None]:
    """The server URL and API token to use when the caller gives none (or only a URL),
    each stripped of surrounding whitespace."""
    config = load_config()
    url = _clean(url) or _clean(os.environ.get("MODELGATE_URL")) or _clean(config.get("url"))
    token = _clean(token) or _clean(os.environ.get("MODELGATE_TOKEN"))
    if not token and _same_server(_clean(config.get("url")), url):
        token = _clean(config.get("token"))
    return url, token
