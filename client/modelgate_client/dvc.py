"""DVC-tracked datasets of a training repository, as Modelgate dataset references.

`datasets(root)` reads `dvc.lock` (the dependencies of every stage) and every `*.dvc`
file (data added with `dvc add` / `dvc import`), and answers one reference per data path:
its repository path as the dataset name, its content hash (md5, or the etag of an
imported cloud object) as the version and digest, its size, and where the default DVC
remote keeps those bytes. Source files a stage depends on (code, notebooks, configs) are
code, not data, and are left out. Nothing is downloaded and DVC need not be installed;
the files are YAML, read with PyYAML (the `dvc` extra) or else DVC's own ruamel.yaml.
"""

from __future__ import annotations

import configparser
import functools
import os
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from modelgate_client.capture import strip_credentials

# Dependencies that are code or configuration rather than data.
CODE_SUFFIXES = frozenset(
    {".py", ".ipynb", ".sh", ".r", ".jl", ".scala", ".java", ".js", ".ts", ".toml", ".cfg",
     ".ini", ".yaml", ".yml", ".json", ".md", ".txt", ".lock", ".dvc"}
)  # fmt: skip
SKIP_DIRS = frozenset({".git", ".dvc", ".venv", "venv", "node_modules", "__pycache__"})
MAX_DVC_FILES = 1000


def find_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest directory at or above `start` (default: the working directory) holding
    `dvc.lock`, a `.dvc/` directory or, failing those, `.git`."""
    here = Path(start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for candidate in (here, *here.parents):
        if (candidate / "dvc.lock").is_file() or (candidate / ".dvc").is_dir():
            return candidate
        if (candidate / ".git").exists():
            return candidate
    return None


def default_remote(root: Path) -> str:
    """The URL of the default remote in .dvc/config (and config.local), credentials
    stripped; "" when there is none."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    except configparser.Error:
        return ""
    name = parser.get("core", "remote", fallback="").strip()
    for section in parser.sections():
        label = section.replace("'", "").replace('"', "")
        if name and label == f"remote {name}":
            return strip_credentials(parser.get(section, "url", fallback="").strip())
    return ""


class YAMLUnavailable(RuntimeError):
    """A DVC repository, and nothing installed that reads its YAML files."""


@functools.cache
def _yaml() -> tuple[Callable[[IO[str]], Any], tuple[type[Exception], ...]]:
    """A safe YAML loader and the errors it raises on a malformed file."""
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load, (yaml.YAMLError,)
    try:
        from ruamel.yaml import YAML, YAMLError
    except ImportError:
        raise YAMLUnavailable(
            "the DVC datasets were not recorded: reading dvc.lock and *.dvc files needs "
            "PyYAML (pip install 'modelgate-client[dvc]')"
        ) from None
    return YAML(typ="safe", pure=True).load, (YAMLError,)


def _load(path: Path) -> Any:
    load, errors = _yaml()
    try:
        with open(path, encoding="utf-8") as handle:
            return load(handle)
    except (OSError, UnicodeDecodeError, *errors):
        return None


def _entries(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path relative to root, DVC entry) for data in dvc.lock and *.dvc files."""
    lock = _load(root / "dvc.lock") if (root / "dvc.lock").is_file() else None
    if isinstance(lock, dict):
        for stage in (lock.get("stages") or {}).values():
            if not isinstance(stage, dict):
                continue
            for dep in stage.get("deps") or []:
                is_data = (
                    isinstance(dep, dict)
                    and isinstance(dep.get("path"), str)
                    and Path(dep["path"]).suffix.lower() not in CODE_SUFFIXES
                )
                if is_data:
                    yield posixpath.normpath(dep["path"]), dep
    seen = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for filename in files:
            if not filename.endswith(".dvc") or seen >= MAX_DVC_FILES:
                continue
            seen += 1
            data = _load(Path(directory) / filename)
            if not isinstance(data, dict):
                continue
            base = Path(directory).relative_to(root).as_posix()
            for out in data.get("outs") or []:
                if isinstance(out, dict) and isinstance(out.get("path"), str):
                    yield posixpath.normpath(posixpath.join(base, out["path"])), out


def _reference(path: str, entry: dict[str, Any], remote: str) -> dict[str, Any] | None:
    md5 = str(entry.get("md5") or "")
    etag = str(entry.get("etag") or "")
    ref: dict[str, Any] = {"name": path}
    if md5:
        plain = md5.removesuffix(".dir")
        ref["version"] = plain
        ref["digest"] = f"md5:{md5}"
        if remote:
            # DVC 3 ("hash: md5") keeps files under files/md5/; DVC 2 at the remote's root.
            prefix = "files/md5/" if entry.get("hash") == "md5" else ""
            suffix = ".dir" if md5.endswith(".dir") else ""
            ref["uri"] = f"{remote.rstrip('/')}/{prefix}{plain[:2]}/{plain[2:]}{suffix}"
    elif etag:
        ref["version"] = etag.strip('"')
        ref["digest"] = f"etag:{etag.strip(chr(34))}"
    else:
        return None  # not pushed or computed yet: no version to record
    size = entry.get("size")
    if isinstance(size, int) and size >= 0:
        ref["size_bytes"] = size
    return ref


def datasets(start: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The DVC datasets of the repository holding `start`, one per path (the lock's
    entry wins over a .dvc file's for the same path); [] without DVC files. Raises
    YAMLUnavailable in a DVC repository when no YAML library is installed."""
    root = find_root(start)
    if root is None or not ((root / ".dvc").is_dir() or (root / "dvc.lock").is_file()):
        return []  # not a DVC repository: nothing to walk
    _yaml()
    remote = default_remote(root)
    found: dict[str, dict[str, Any]] = {}
    for path, entry in _entries(root):
        ref = _reference(path, entry, remote)
        if ref is not None and path not in found:
            found[path] = ref
    return [found[path] for path in sorted(found)]
