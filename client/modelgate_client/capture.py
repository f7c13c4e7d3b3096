"""Capture the training environment and git state, to register with a version.

Everything here is best effort: a missing tool (git, nvidia-smi) or an unreadable
file never raises, it only leaves the field out.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_TIMEOUT = 5.0


def _run(args: list[str], cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The command's stripped stdout, or None when it is missing or fails."""
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def packages() -> list[str]:
    """Installed distributions as sorted, unique `name==version` lines."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and dist.version:
            found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
    return [f"{name}{_pin(version)}" for name, version in sorted(found.items())]


# A PEP 440 version in normal form; anything else (Debian's "1.1build1", say) is pinned
# with "===", PEP 508's arbitrary equality, so one odd package never fails a registration.
_PEP440 = re.compile(
    r"\A([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*"
    r"((a|b|rc)(0|[1-9][0-9]*))?(\.post(0|[1-9][0-9]*))?(\.dev(0|[1-9][0-9]*))?"
    r"(\+[a-z0-9]+(\.[a-z0-9]+)*)?\Z"
)
_PLAIN = re.compile(r"\A[A-Za-z0-9._+!-]+\Z")


def _pin(version: str) -> str:
    if _PEP440.match(version):
        return f"=={version}"
    return f"==={version}" if _PLAIN.match(version) else ""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def gpus() -> list[str]:
    """GPUs as `nvidia-smi -L` lists them; empty without NVIDIA tools."""
    out = _run(["nvidia-smi", "-L"])
    return [line.strip() for line in out.splitlines() if line.strip()] if out else []


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count()}
    cpu = _cpu_model()
    if cpu:
        info["cpu"] = cpu
    found = gpus()
    if found:
        info["gpus"] = found
    return info


def environment() -> dict[str, Any]:
    """The server's `environment` group: python, os, hardware, packages."""
    return {
        "python": platform.python_version(),
        "os": platform.platform(),
        "hardware": hardware(),
        "packages": packages(),
    }


def strip_credentials(url: str) -> str:
    """A remote URL without user:password@ (scp-style `git@host:path` is kept)."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def git(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The server's code_* fields for the git checkout holding `path` (default: the
    working directory); empty outside a repository or without git."""
    where = Path(path) if path is not None else Path.cwd()
    if where.is_file():
        where = where.parent
    if not where.is_dir() or _run(["git", "rev-parse", "--is-inside-work-tree"], where) != "true":
        return {}
    code: dict[str, Any] = {}
    commit = _run(["git", "rev-parse", "HEAD"], where)
    if commit:
        code["code_commit"] = commit
    branch = _run(["git", "rev-parse", "--abbrev-ref", "HEAD"], where)
    if branch and branch != "HEAD":
        code["code_branch"] = branch
    remote = _run(["git", "config", "--get", "remote.origin.url"], where)
    if remote:
        code["code_repository"] = strip_credentials(remote)
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], where)
    if status is not None:
        code["code_dirty"] = bool(status)
    return code


# Programs that run registrations but are not the training code.
NOT_TRAINING_CODE = frozenset({"ipykernel_launcher", "modelgate", "modelgate_client.cli"})


def entry_point() -> str:
    """The training program, as one would run it again: `python -m <module>`, else the
    script's path within its git work tree (else its file name); "" in a notebook kernel,
    the `modelgate` command or `python -c`, none of which is the training code."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        module = spec.name.removesuffix(".__main__")
        return "" if module in NOT_TRAINING_CODE else f"python -m {module}"
    script = sys.argv[0] if sys.argv else ""
    if not script or script in ("-c", "-") or Path(script).stem in NOT_TRAINING_CODE:
        return ""
    path = Path(script).resolve()
    top = _run(["git", "rev-parse", "--show-toplevel"], path.parent)
    if top and path.is_relative_to(Path(top).resolve()):
        return path.relative_to(Path(top).resolve()).as_posix()
    return path.name
