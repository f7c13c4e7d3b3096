"""Version schemes for registered models: validation, sort keys, auto-assignment, suggestions.

Each model picks a :class:`Scheme`. :func:`sort_key` turns a version into an ASCII string whose
plain byte-wise order (C collation) equals the scheme's precedence, with ties broken by the
per-model registration sequence, so the database can order and keyset-paginate on it.

Semantic sort key layout (all parts fixed-width or self-delimiting, so keys never collide)::

    MAJOR MINOR PATCH        three 18-digit zero-padded fields (54 chars)
    pre-release identifiers  numeric: "#" + length char + digits ("#11" for 1, "#211" for 11)
                             alphanumeric: "$" + text + "!"
    end marker               "!" after a pre-release, "~" for a release (sorts after any "#"/"$")
    SEQUENCE                 10-digit zero-padded registration number

"!" sorts below every identifier character and "#" < "$", which yields SemVer 2.0 section 11:
a shorter identifier list precedes a longer one with the same prefix, numeric identifiers precede
alphanumeric ones and compare numerically, alphanumeric ones compare in ASCII order. A 128-char
version yields at most 54 + 184 (61 one-character identifiers) + 1 + 10 = 249 key characters.

Other schemes: git is SEQUENCE alone; timestamp is YYYYMMDDHHMMSS + SEQUENCE; hybrid is the three
18-digit core fields + YYYYMMDD + HHMMSS (000000 when absent) + SEQUENCE.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

__all__ = [
    "MAX_VERSION_LENGTH",
    "Scheme",
    "VersionError",
    "auto_version",
    "compose_hybrid",
    "sort_key",
    "suggest_next",
    "validate",
]

MAX_VERSION_LENGTH = 128
TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"  # timestamp-scheme versions, in UTC
MAX_NUMERIC_DIGITS = 18
MAX_SEQUENCE = 10**10 - 1


class Scheme(StrEnum):
    """Versioning scheme of a model; values are the stored strings."""

    SEMANTIC = "semantic"
    GIT = "git"
    TIMESTAMP = "timestamp"
    HYBRID = "hybrid"


class VersionError(ValueError):
    """Invalid version string; ``str(e)`` is a user-facing message naming the rule broken."""


_ALLOWED_CHARS = re.compile(r"[0-9A-Za-z.+-]+")
_DISALLOWED_CHAR = re.compile(r"[^0-9A-Za-z.+-]")
_DIGITS = re.compile(r"[0-9]+")
_IDENTIFIER = re.compile(r"[0-9A-Za-z-]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_CORE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")
_TIMESTAMP = re.compile(r"([0-9]{8})-([0-9]{6})")
_HYBRID = re.compile(
    r"(v?)([0-9]+\.[0-9]+\.[0-9]+)-([0-9]{8})(?:-([0-9]{6}))?(?:-([0-9A-Fa-f]{7,40}))?"
)

_SEMANTIC_HELP = (
    "not a semantic version: expected MAJOR.MINOR.PATCH with optional -PRERELEASE and +BUILD "
    "(SemVer 2.0), e.g. 1.4.2 or 2.0.0-rc.1"
)
_GIT_HELP = (
    "not a git version: expected a commit SHA of 7–40 hex characters (e.g. abc123d) "
    "or TAG-SHA (e.g. v1.0.0-abc123d)"
)
_TIMESTAMP_HELP = "not a timestamp version: expected YYYYMMDD-HHMMSS (UTC), e.g. 20241219-143022"
_HYBRID_HELP = (
    "not a hybrid version: expected [v]MAJOR.MINOR.PATCH-YYYYMMDD[-HHMMSS][-COMMIT] with a "
    "7–40 hex character commit, e.g. v1.2.3-20241219-abc123d or 1.2.3-20241219"
)

# Sort-key markers (byte order matters): END/TERM < NUM < ALNUM < RELEASE, and END/TERM sorts
# below every identifier character [0-9A-Za-z-].
_END = "!"
_TERM = "!"
_NUM = "#"
_ALNUM = "$"
_RELEASE = "~"
# One ordered character per digit count 1..18 (ASCII "1" < ... < "9" < "A" < ... < "I").
_LENGTH_CHARS = "123456789ABCDEFGHI"


def _scheme(scheme: str | Scheme) -> Scheme:
    """Coerce a stored scheme string to :class:`Scheme` or raise VersionError."""
    try:
        return Scheme(scheme)
    except ValueError:
        choices = ", ".join(s.value for s in Scheme)
        raise VersionError(
            f"unknown versioning scheme {scheme!r}: expected one of {choices}"
        ) from None


def _check_numeric(text: str, rule: str) -> int:
    """Return a numeric identifier's value; reject leading zeros and more than 18 digits."""
    if len(text) > 1 and text[0] == "0":
        raise VersionError(
            f'numeric identifiers must not have leading zeros (SemVer 2.0 {rule}): "{text}"'
        )
    if len(text) > MAX_NUMERIC_DIGITS:
        raise VersionError(
            f'numeric identifiers must have at most {MAX_NUMERIC_DIGITS} digits: "{text}"'
        )
    return int(text)


def _check_core(core: str, help_text: str) -> tuple[int, int, int]:
    """Parse MAJOR.MINOR.PATCH into integers, enforcing the numeric identifier rules."""
    match = _CORE.fullmatch(core)
    if match is None:
        raise VersionError(help_text)
    major, minor, patch = (_check_numeric(part, "rule 2") for part in match.groups())
    return major, minor, patch


def _check_datetime(date: str, time: str, version: str) -> None:
    """Reject a YYYYMMDD / HHMMSS pair that is not a real calendar date and time."""
    try:
        datetime(
            int(date[:4]),
            int(date[4:6]),
            int(date[6:]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:]),
        )
    except ValueError as exc:
        raise VersionError(f'not a valid date/time: "{version}" ({exc})') from None


def _parse_semantic(version: str) -> tuple[tuple[int, int, int], list[str]]:
    """Parse a strict SemVer 2.0 string into (core, pre-release identifiers)."""
    if version[0] in "vV" and version[1:2].isdigit():
        raise VersionError('remove the leading "v": semantic versions are like 1.2.3')
    rest, plus, build = version.partition("+")
    if plus:
        if not build:
            raise VersionError("build metadata after '+' must not be empty (SemVer 2.0 rule 10)")
        for ident in build.split("."):
            if not ident:
                raise VersionError(
                    "build metadata identifiers must not be empty (SemVer 2.0 rule 10)"
                )
            if not _IDENTIFIER.fullmatch(ident):
                raise VersionError(
                    "build metadata identifiers may contain only [0-9A-Za-z-] "
                    f'(SemVer 2.0 rule 10): "{ident}"'
                )
    core, dash, pre = rest.partition("-")
    numbers = _check_core(core, _SEMANTIC_HELP)
    identifiers: list[str] = []
    if dash:
        if not pre:
            raise VersionError("pre-release after '-' must not be empty (SemVer 2.0 rule 9)")
        identifiers = pre.split(".")
        for ident in identifiers:
            if not ident:
                raise VersionError("pre-release identifiers must not be empty (SemVer 2.0 rule 9)")
            if _DIGITS.fullmatch(ident):
                _check_numeric(ident, "rule 9")
    return numbers, identifiers


def _check_git(version: str) -> None:
    """Accept a 7–40 hex commit SHA, or TAG-SHA with an alphanumeric-led tag."""
    tag, dash, sha = version.rpartition("-")
    if not 7 <= len(sha) <= 40 or not _HEX.fullmatch(sha):
        raise VersionError(_GIT_HELP)
    if dash and (not tag or not tag[0].isalnum()):
        raise VersionError(_GIT_HELP)


def _parse_hybrid(version: str) -> tuple[tuple[int, int, int], str, str]:
    """Parse a hybrid version into (core, YYYYMMDD, HHMMSS); a missing time is 000000."""
    match = _HYBRID.fullmatch(version)
    if match is None:
        raise VersionError(_HYBRID_HELP)
    _, core, date, time, _ = match.groups()
    numbers = _check_core(core, _HYBRID_HELP)
    time = time or "000000"
    _check_datetime(date, time, version)
    return numbers, date, time


def validate(scheme: str | Scheme, version: str) -> str:
    """Return ``version`` stripped of surrounding whitespace if valid for ``scheme``.

    Raises VersionError (with a message naming the broken rule) for an unknown scheme or an
    invalid version.
    """
    kind = _scheme(scheme)
    if not isinstance(version, str):
        raise VersionError("version must be a string")
    version = version.strip()
    if not version:
        raise VersionError("version must not be empty")
    if len(version) > MAX_VERSION_LENGTH:
        raise VersionError(
            f"version is too long: at most {MAX_VERSION_LENGTH} characters (got {len(version)})"
        )
    if not _ALLOWED_CHARS.fullmatch(version):
        bad = "".join(dict.fromkeys(_DISALLOWED_CHAR.findall(version)))
        raise VersionError(
            f"version contains invalid characters {bad!r}: only ASCII letters, digits, "
            "'.', '+' and '-' are allowed"
        )
    if kind is Scheme.SEMANTIC:
        _parse_semantic(version)
    elif kind is Scheme.GIT:
        _check_git(version)
    elif kind is Scheme.TIMESTAMP:
        match = _TIMESTAMP.fullmatch(version)
        if match is None:
            raise VersionError(_TIMESTAMP_HELP)
        _check_datetime(match[1], match[2], version)
    else:
        _parse_hybrid(version)
    return version


def _core_key(numbers: tuple[int, int, int]) -> str:
    """Encode MAJOR.MINOR.PATCH as three 18-digit zero-padded fields."""
    return "".join(f"{n:018d}" for n in numbers)


def _prerelease_key(identifiers: list[str]) -> str:
    """Encode pre-release identifiers so byte order equals SemVer 2.0 precedence."""
    if not identifiers:
        return _RELEASE
    parts = []
    for ident in identifiers:
        if _DIGITS.fullmatch(ident):
            parts.append(f"{_NUM}{_LENGTH_CHARS[len(ident) - 1]}{ident}")
        else:
            parts.append(f"{_ALNUM}{ident}{_TERM}")
    return "".join(parts) + _END


def sort_key(scheme: str | Scheme, version: str, sequence: int) -> str:
    """Return an ASCII key whose byte-wise order equals the scheme's precedence.

    Equal precedence (e.g. semver builds differing only in +BUILD) is broken by ``sequence``,
    the per-model registration number (1..9999999999). Validates first (raises VersionError).
    Keys are at most 249 characters for any valid input.
    """
    kind = _scheme(scheme)
    version = validate(kind, version)
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise ValueError(f"sequence must be an int, got {type(sequence).__name__}")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence must be in 1..{MAX_SEQUENCE}, got {sequence}")
    seq = f"{sequence:010d}"
    if kind is Scheme.SEMANTIC:
        numbers, identifiers = _parse_semantic(version)
        return _core_key(numbers) + _prerelease_key(identifiers) + seq
    if kind is Scheme.GIT:
        return seq
    if kind is Scheme.TIMESTAMP:
        return version.replace("-", "") + seq
    numbers, date, time = _parse_hybrid(version)
    return _core_key(numbers) + date + time + seq


def _as_utc(when: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is taken to be UTC already."""
    return when if when.tzinfo is None else when.astimezone(UTC)


def auto_version(scheme: str | Scheme, now: datetime) -> str | None:
    """Version to assign when the user omits it: 'YYYYMMDD-HHMMSS' (UTC) for timestamp, else None.

    A naive ``now`` is taken to be UTC.
    """
    if _scheme(scheme) is not Scheme.TIMESTAMP:
        return None
    return _as_utc(now).strftime(TIMESTAMP_FORMAT)


def suggest_next(scheme: str | Scheme, latest: str | None) -> dict[str, str]:
    """Suggest the next 'patch', 'minor' and 'major' versions for the semantic scheme.

    ``latest=None`` gives 0.0.1 / 0.1.0 / 1.0.0. A release X.Y.Z bumps normally. For a
    pre-release X.Y.Z-PRE (SemVer/npm convention): patch is X.Y.Z; minor is X.Y.0 when Z == 0,
    else X.(Y+1).0; major is X.0.0 when Y == Z == 0, else (X+1).0.0. Build metadata is dropped.
    A suggestion that would exceed 18 digits is left out. Other schemes return {}.
    Raises VersionError for an unknown scheme or an invalid ``latest``.
    """
    if _scheme(scheme) is not Scheme.SEMANTIC:
        return {}
    if latest is None:
        return {"patch": "0.0.1", "minor": "0.1.0", "major": "1.0.0"}
    (major, minor, patch), identifiers = _parse_semantic(validate(Scheme.SEMANTIC, latest))
    if identifiers:
        candidates = {
            "patch": (major, minor, patch),
            "minor": (major, minor, 0) if patch == 0 else (major, minor + 1, 0),
            "major": (major, 0, 0) if minor == patch == 0 else (major + 1, 0, 0),
        }
    else:
        candidates = {
            "patch": (major, minor, patch + 1),
            "minor": (major, minor + 1, 0),
            "major": (major + 1, 0, 0),
        }
    limit = 10**MAX_NUMERIC_DIGITS
    return {
        name: ".".join(map(str, parts))
        for name, parts in candidates.items()
        if all(n < limit for n in parts)
    }


def compose_hybrid(semver: str, when: datetime, commit: str | None) -> str:
    """Build and validate a hybrid version such as 'v1.2.3-20241219-abc123d'.

    ``semver`` is a plain core X.Y.Z (a leading 'v' is accepted); ``when`` gives the date (UTC;
    naive means UTC). ``commit`` must be at least 7 hex characters; it is lower-cased and cut to
    12. Without a commit the result is 'v1.2.3-20241219'. Raises VersionError on bad input.
    """
    core = semver.strip()
    if core.startswith("v"):
        core = core[1:]
    _check_core(
        core, f'not a semantic version core: expected MAJOR.MINOR.PATCH, e.g. 1.2.3: "{semver}"'
    )
    version = f"v{core}-{_as_utc(when):%Y%m%d}"
    if commit is not None:
        sha = commit.strip().lower()
        if len(sha) < 7 or not _HEX.fullmatch(sha):
            raise VersionError(
                f'commit must be at least 7 hex characters, e.g. abc123d: "{commit}"'
            )
        version += f"-{sha[:12]}"
    return validate(Scheme.HYBRID, version)
