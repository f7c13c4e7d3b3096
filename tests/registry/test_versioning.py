"""Tests for registry.versioning: validation, sort keys, auto versions and suggestions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import combinations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from registry.versioning import (
    MAX_VERSION_LENGTH,
    Scheme,
    VersionError,
    auto_version,
    compose_hybrid,
    sort_key,
    suggest_next,
    validate,
)

# The official SemVer 2.0 regex (semver.org), with \d spelled [0-9] to stay ASCII-only.
OFFICIAL_SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)

SPEC_CHAIN = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def semver_cmp(a: str, b: str) -> int:
    """Straightforward SemVer 2.0 section 11 comparator, independent of the module."""
    ma, mb = OFFICIAL_SEMVER.match(a), OFFICIAL_SEMVER.match(b)
    assert ma is not None and mb is not None
    core_a = tuple(int(x) for x in ma.group(1, 2, 3))
    core_b = tuple(int(x) for x in mb.group(1, 2, 3))
    if core_a != core_b:
        return -1 if core_a < core_b else 1
    pre_a, pre_b = ma.group(4), mb.group(4)
    if pre_a is None or pre_b is None:
        return (pre_a is None) - (pre_b is None)
    ids_a, ids_b = pre_a.split("."), pre_b.split(".")
    for x, y in zip(ids_a, ids_b, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit():
            return -1
        if y.isdigit():
            return 1
        return -1 if x < y else 1
    return _sign(len(ids_a) - len(ids_b))


def assert_strictly_ascending(scheme: Scheme, versions: list[str]) -> None:
    """Keys increase along ``versions`` even when sequences run the other way."""
    keys = [sort_key(scheme, v, len(versions) - i) for i, v in enumerate(versions)]
    for (va, ka), (vb, kb) in zip(
        zip(versions, keys, strict=True), zip(versions[1:], keys[1:], strict=True), strict=False
    ):
        assert ka < kb, (va, vb)


# --- common rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(Scheme))
@pytest.mark.parametrize(
    ("version", "pattern"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("1" * (MAX_VERSION_LENGTH + 1), "too long: at most 128 characters"),
        ("1.0.0 beta", "invalid characters ' '"),
        ("1.0.0_beta", "invalid characters '_'"),
        ("1.0.0-bêta", "invalid characters 'ê'"),
        ("1.0.0/x", r"only ASCII letters, digits, '\.', '\+' and '-'"),
    ],
)
def test_it_rejects_generally_invalid_versions_for_every_scheme(
    scheme: Scheme, version: str, pattern: str
) -> None:
    with pytest.raises(VersionError, match=pattern):
        validate(scheme, version)


@pytest.mark.parametrize("scheme", ["semver", "", "SEMANTIC", None])
def test_it_rejects_unknown_schemes(scheme: str) -> None:
    with pytest.raises(VersionError, match="unknown versioning scheme"):
        validate(scheme, "1.0.0")
    with pytest.raises(VersionError, match="unknown versioning scheme"):
        sort_key(scheme, "1.0.0", 1)
    with pytest.raises(VersionError, match="unknown versioning scheme"):
        auto_version(scheme, datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(VersionError, match="unknown versioning scheme"):
        suggest_next(scheme, None)


def test_it_accepts_scheme_values_as_plain_strings() -> None:
    assert validate("semantic", "1.2.3") == validate(Scheme.SEMANTIC, "1.2.3") == "1.2.3"
    assert sort_key("git", "abc123d", 5) == sort_key(Scheme.GIT, "abc123d", 5)


def test_it_strips_surrounding_whitespace() -> None:
    assert validate(Scheme.SEMANTIC, "  1.2.3\n") == "1.2.3"
    assert validate(Scheme.TIMESTAMP, "\t20241219-143022 ") == "20241219-143022"


def test_it_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate(Scheme.SEMANTIC, "nope")


# --- semantic: validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "0.0.0",
        "1.2.3",
        "10.20.30",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0-x-y-z.--",
        "1.0.0-0A.is.legal",
        "1.0.0-alpha+001",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD",
        "1.0.0-rc.1+build.1",
        "2.0.0-rc.1",
        "999999999999999999.999999999999999999.999999999999999999",
        "1.0.0-999999999999999999",
        "1.0.0-0123456789012345678901234567890a",
    ],
)
def test_it_accepts_valid_semantic_versions(version: str) -> None:
    assert validate(Scheme.SEMANTIC, version) == version


@pytest.mark.parametrize(
    ("version", "pattern"),
    [
        ("1", "not a semantic version: expected MAJOR.MINOR.PATCH"),
        ("1.2", "not a semantic version"),
        ("1.2.3.4", "not a semantic version"),
        ("1..3", "not a semantic version"),
        ("a.b.c", "not a semantic version"),
        ("latest", r"e\.g\. 1\.4\.2 or 2\.0\.0-rc\.1"),
        ("v1.2.3", 'remove the leading "v": semantic versions are like 1.2.3'),
        ("V1.2.3", 'remove the leading "v"'),
        ("01.2.3", r'must not have leading zeros \(SemVer 2.0 rule 2\): "01"'),
        ("1.02.3", 'leading zeros .*"02"'),
        ("1.2.00", 'leading zeros .*"00"'),
        ("1.0.0-01", r'leading zeros \(SemVer 2.0 rule 9\): "01"'),
        ("1.0.0-alpha.00", 'leading zeros .*"00"'),
        ("1234567890123456789.0.0", "at most 18 digits"),
        ("1.0.0-1234567890123456789", "at most 18 digits"),
        ("1.0.0-", "pre-release after '-' must not be empty"),
        ("1.0.0-alpha..1", "pre-release identifiers must not be empty"),
        ("1.0.0-alpha.", "pre-release identifiers must not be empty"),
        ("1.0.0+", "build metadata after '\\+' must not be empty"),
        ("1.0.0+a..b", "build metadata identifiers must not be empty"),
        ("1.0.0+a+b", r"build metadata identifiers may contain only \[0-9A-Za-z-\]"),
        ("-1.0.0", "not a semantic version"),
        ("+1.0.0", "not a semantic version"),
    ],
)
def test_it_rejects_invalid_semantic_versions_naming_the_rule(version: str, pattern: str) -> None:
    with pytest.raises(VersionError, match=pattern):
        validate(Scheme.SEMANTIC, version)


@given(st.text(alphabet="0123456789.+-abAvV", max_size=24))
def test_it_validates_semantic_versions_exactly_like_the_official_regex(version: str) -> None:
    assume(version == version.strip() and version)
    digit_runs = re.findall(r"[0-9]+", version.partition("+")[0])
    assume(all(len(run) <= 18 for run in digit_runs))
    expected = OFFICIAL_SEMVER.fullmatch(version) is not None
    try:
        validate(Scheme.SEMANTIC, version)
    except VersionError:
        assert not expected
    else:
        assert expected


# --- semantic: ordering -----------------------------------------------------------------------


def test_it_orders_the_semver_spec_example_chain() -> None:
    assert_strictly_ascending(Scheme.SEMANTIC, SPEC_CHAIN)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.9.0", "1.10.0"),
        ("1.0.9", "1.0.10"),
        ("9.0.0", "10.0.0"),
        ("1.0.0-rc.2", "1.0.0-rc.10"),
        ("1.0.0-9", "1.0.0-10"),
        ("1.0.0-999999999999999999", "1.0.0-0a"),
        ("0.0.0", "999999999999999999.0.0"),
        ("20000000000000000.0.0", "100000000000000000.0.0"),
        ("1.0.0-20000000000000000", "1.0.0-100000000000000000"),
    ],
)
def test_it_orders_numerically_not_as_strings(lower: str, higher: str) -> None:
    assert sort_key(Scheme.SEMANTIC, lower, 2) < sort_key(Scheme.SEMANTIC, higher, 1)


def test_it_orders_prerelease_identifier_lists_by_prefix_and_ascii() -> None:
    assert_strictly_ascending(
        Scheme.SEMANTIC,
        [
            "1.0.0-0",
            "1.0.0-0.0",
            "1.0.0-1",
            "1.0.0--",
            "1.0.0-A",
            "1.0.0-Z",
            "1.0.0-a",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.1.1",
            "1.0.0-alpha.1.a",
            "1.0.0-alpha.2",
            "1.0.0-alpha.beta",
            "1.0.0-alpha-",
            "1.0.0-alpha0",
            "1.0.0-alphaa",
            "1.0.0-rc.1",
            "1.0.0-rc.1.1",
            "1.0.0",
            "1.0.1-0",
        ],
    )


def test_it_breaks_build_metadata_ties_by_sequence() -> None:
    first = sort_key(Scheme.SEMANTIC, "1.0.0+build.9", 1)
    second = sort_key(Scheme.SEMANTIC, "1.0.0+build.1", 2)
    third = sort_key(Scheme.SEMANTIC, "1.0.0", 3)
    assert first < second < third
    assert first[:-10] == second[:-10] == third[:-10]
    assert sort_key(Scheme.SEMANTIC, "1.0.0-rc.1+a", 7) < sort_key(Scheme.SEMANTIC, "1.0.0-rc.1", 8)
    assert sort_key(Scheme.SEMANTIC, "1.0.0", 9) < sort_key(Scheme.SEMANTIC, "1.0.0", 10)


def test_it_lets_precedence_dominate_sequence() -> None:
    assert sort_key(Scheme.SEMANTIC, "1.0.0", 9_999_999_999) < sort_key(Scheme.SEMANTIC, "1.0.1", 1)


def test_it_builds_ascii_keys() -> None:
    key = sort_key(Scheme.SEMANTIC, "1.0.0-alpha.1+b", 3)
    assert key.isascii() and key.isprintable()
    assert key == "0" * 17 + "1" + "0" * 36 + "$alpha!#11!" + "0000000003"


@pytest.mark.parametrize(
    "version",
    [
        "0.0.0-" + ".".join(["0"] * 60 + ["10"]),
        "0.0.0-" + ".".join(["a"] * 60 + ["aa"]),
        "1.0.0-" + "a" * 122,
        "0.0.0-" + ".".join(["1"] * 60) + ".99",
        "999999999999999999.999999999999999999.999999999999999999-" + ".".join(["0"] * 36),
        "0.0.0+" + "a" * 122,
    ],
)
def test_it_keeps_keys_within_255_chars_for_128_char_versions(version: str) -> None:
    assert len(version) == MAX_VERSION_LENGTH
    assert len(sort_key(Scheme.SEMANTIC, version, 9_999_999_999)) <= 255


def test_it_reaches_at_most_249_key_chars_in_the_worst_case() -> None:
    # Most identifiers per character: 61 single-character identifiers after "0.0.0-".
    worst = "0.0.0-" + ".".join(["0"] * 60 + ["10"])
    assert len(sort_key(Scheme.SEMANTIC, worst, 1)) == 249


def test_it_rejects_out_of_range_sequences() -> None:
    for bad in (0, -1, 10**10):
        with pytest.raises(ValueError, match="sequence must be in"):
            sort_key(Scheme.SEMANTIC, "1.0.0", bad)
    with pytest.raises(ValueError, match="sequence must be an int"):
        sort_key(Scheme.SEMANTIC, "1.0.0", True)


def test_it_validates_before_building_a_key() -> None:
    with pytest.raises(VersionError, match="leading zeros"):
        sort_key(Scheme.SEMANTIC, "1.0.01", 1)


# Numbers of every magnitude (1..18 digits), plus plenty of small ones so cores often tie.
_numbers = st.one_of(
    st.integers(0, 2),
    st.integers(1, 18).flatmap(lambda d: st.integers(10 ** (d - 1), 10**d - 1)),
)
_identifiers = st.one_of(
    _numbers.map(str),
    # Tiny alphabet: many neighbours such as "a" / "a-" / "a0" / "-" / "--".
    st.text(alphabet="a-0", min_size=1, max_size=2).filter(lambda s: not s.isdigit()),
    st.text(alphabet="019-AZaz", min_size=1, max_size=5).filter(lambda s: not s.isdigit()),
)
_builds = st.lists(st.text(alphabet="0a-", min_size=1, max_size=3), min_size=1, max_size=2)


def _extend(ident: str, suffix: str) -> str:
    """Append ``suffix`` to an identifier, keeping it a valid SemVer identifier."""
    new = ident + suffix
    if new.isdigit() and (len(new) > 18 or (len(new) > 1 and new[0] == "0")):
        new += "a"
    return new


@st.composite
def semver_families(draw: st.DrawFn) -> list[str]:
    """Random valid SemVer strings, many of them near neighbours of one another.

    Versions share a small pool of cores and identifiers, and half of them are edits of an
    earlier one (identifier appended, list truncated, last identifier bumped or extended), so that
    prefix and ASCII-neighbour comparisons such as "a" / "a-" / "a.0" are exercised.
    """
    cores = draw(st.lists(st.tuples(_numbers, _numbers, _numbers), min_size=1, max_size=2))
    pool = st.sampled_from(draw(st.lists(_identifiers, min_size=1, max_size=5)))
    parts: list[tuple[tuple[int, int, int], list[str]]] = []
    for _ in range(draw(st.integers(2, 8))):
        if parts and draw(st.booleans()):
            core, pre = draw(st.sampled_from(parts))
            edit = draw(st.sampled_from(["append", "truncate", "bump", "extend"]))
            if edit == "append":
                pre = [*pre, draw(pool | _identifiers)]
            elif edit == "truncate":
                pre = pre[: draw(st.integers(0, len(pre)))]
            elif edit == "bump" and pre and pre[-1].isdigit():
                bumped = str(int(pre[-1]) + draw(st.integers(1, 200)))
                pre = [*pre[:-1], bumped if len(bumped) <= 18 else pre[-1]]
            elif pre:
                pre = [*pre[:-1], _extend(pre[-1], draw(st.sampled_from(["-", "0", "9", "a"])))]
        else:
            core, pre = draw(st.sampled_from(cores)), draw(st.lists(pool, max_size=4))
        parts.append((core, pre))
    versions = []
    for core, pre in parts:
        version = ".".join(map(str, core)) + ("-" + ".".join(pre) if pre else "")
        if draw(st.booleans()):
            version += "+" + ".".join(draw(_builds))
        assume(len(version) <= MAX_VERSION_LENGTH)
        versions.append(version)
    return versions


_sequences = st.lists(st.integers(1, 10**10 - 1), min_size=8, max_size=8, unique=True)


@settings(max_examples=300)
@given(semver_families(), _sequences)
def test_it_sort_key_order_equals_semver_precedence(versions: list[str], seqs: list[int]) -> None:
    keyed = [(v, s, sort_key(Scheme.SEMANTIC, v, s)) for v, s in zip(versions, seqs, strict=False)]
    for (a, seq_a, key_a), (b, seq_b, key_b) in combinations(keyed, 2):
        expected = semver_cmp(a, b) or _sign(seq_a - seq_b)
        assert _sign((key_a > key_b) - (key_a < key_b)) == expected, (a, b)
        assert len(key_a) <= 255 and key_a.isascii()


# --- git --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "abc123d",
        "ABC123D",
        "0123456789abcdef0123456789abcdef01234567",
        "v1.0.0-abc123d",
        "release-2024.1-deadbeef",
        "1.0.0+meta-ABCDEF0",
        "main-0123456789abcdef0123456789abcdef01234567",
    ],
)
def test_it_accepts_valid_git_versions(version: str) -> None:
    assert validate(Scheme.GIT, version) == version


@pytest.mark.parametrize(
    "version",
    [
        "abc123",
        "abc123g",
        "0123456789abcdef0123456789abcdef012345678",
        "v1.0.0",
        "v1.0.0-abc12",
        "-abc123d",
        ".v1-abc123d",
        "v1.0.0-abc123d-",
        "main",
    ],
)
def test_it_rejects_invalid_git_versions_naming_the_rule(version: str) -> None:
    with pytest.raises(
        VersionError,
        match=r"not a git version: expected a commit SHA of 7–40 hex characters \(e\.g\. abc123d\)"
        r" or TAG-SHA \(e\.g\. v1\.0\.0-abc123d\)",
    ):
        validate(Scheme.GIT, version)


def test_it_orders_git_versions_by_sequence_only() -> None:
    assert sort_key(Scheme.GIT, "fff0000", 1) == "0000000001"
    assert sort_key(Scheme.GIT, "fff0000", 2) < sort_key(Scheme.GIT, "aaa0000", 10)


# --- timestamp --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version", ["20241219-143022", "20240229-000000", "00010101-000000", "99991231-235959"]
)
def test_it_accepts_valid_timestamp_versions(version: str) -> None:
    assert validate(Scheme.TIMESTAMP, version) == version


@pytest.mark.parametrize(
    ("version", "pattern"),
    [
        ("2024121-143022", r"not a timestamp version: expected YYYYMMDD-HHMMSS"),
        ("20241219143022", "expected YYYYMMDD-HHMMSS"),
        ("20241219-1430", "expected YYYYMMDD-HHMMSS"),
        ("2024-12-19", "expected YYYYMMDD-HHMMSS"),
        ("20241219-143022-1", "expected YYYYMMDD-HHMMSS"),
        ("20241332-000000", "not a valid date/time"),
        ("20241301-000000", "not a valid date/time"),
        ("20230229-000000", "not a valid date/time"),
        ("20241219-240000", "not a valid date/time"),
        ("20241219-126000", "not a valid date/time"),
        ("20241219-120060", "not a valid date/time"),
        ("00000101-000000", "not a valid date/time"),
    ],
)
def test_it_rejects_invalid_timestamp_versions_naming_the_rule(version: str, pattern: str) -> None:
    with pytest.raises(VersionError, match=pattern):
        validate(Scheme.TIMESTAMP, version)


def test_it_orders_timestamps_chronologically_then_by_sequence() -> None:
    assert_strictly_ascending(
        Scheme.TIMESTAMP,
        ["20231231-235959", "20240101-000000", "20240101-000001", "20240102-000000"],
    )
    assert sort_key(Scheme.TIMESTAMP, "20240101-000000", 3) < sort_key(
        Scheme.TIMESTAMP, "20240101-000000", 4
    )


# --- hybrid -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "v1.2.3-20241219-abc123d",
        "1.2.3-20241219",
        "v1.2.3-20241219",
        "v1.2.3-20241219-143022",
        "v1.2.3-20241219-143022-abc123d",
        "v1.2.3-20241219-1430221",
        "0.0.0-20240229-ABCDEF0123",
        "v10.0.0-20241219-0123456789abcdef0123456789abcdef01234567",
    ],
)
def test_it_accepts_valid_hybrid_versions(version: str) -> None:
    assert validate(Scheme.HYBRID, version) == version


@pytest.mark.parametrize(
    ("version", "pattern"),
    [
        ("v1.2.3", r"not a hybrid version: expected \[v\]MAJOR\.MINOR\.PATCH-YYYYMMDD"),
        ("1.2-20241219", "not a hybrid version"),
        ("V1.2.3-20241219", "not a hybrid version"),
        ("v1.2.3-rc.1-20241219", "not a hybrid version"),
        ("v1.2.3-2024121", "not a hybrid version"),
        ("v1.2.3-20241219-abc123", "not a hybrid version"),
        ("v1.2.3-20241219-14302", "not a hybrid version"),
        ("v1.2.3-20241219-xyz1234", "not a hybrid version"),
        ("v1.2.3-20241219-abc123d-143022", "not a hybrid version"),
        ("v1.2.3-20241219+abc123d", "not a hybrid version"),
        ("v1.02.3-20241219", 'leading zeros .*"02"'),
        ("v1234567890123456789.2.3-20241219", "at most 18 digits"),
        ("v1.2.3-20241332", "not a valid date/time"),
        ("v1.2.3-20241219-250000", "not a valid date/time"),
        ("v1.2.3-20230229-abc123d", "not a valid date/time"),
    ],
)
def test_it_rejects_invalid_hybrid_versions_naming_the_rule(version: str, pattern: str) -> None:
    with pytest.raises(VersionError, match=pattern):
        validate(Scheme.HYBRID, version)


def test_it_orders_hybrid_by_core_then_date_time_then_sequence() -> None:
    assert_strictly_ascending(
        Scheme.HYBRID,
        [
            "v1.2.3-20250101-fffffff",
            "1.2.3-20250102",
            "v1.2.3-20250102-000001-0000000",
            "v1.2.3-20250102-120000",
            "v1.9.0-20200101",
            "v1.10.0-20190101",
            "2.0.0-20180101-abc123d",
        ],
    )
    # Missing time counts as 000000; the 'v' and the commit do not affect precedence.
    a = sort_key(Scheme.HYBRID, "v1.2.3-20241219-abc123d", 5)
    b = sort_key(Scheme.HYBRID, "1.2.3-20241219-000000-0000000", 6)
    assert a < b and a[:-10] == b[:-10]


# --- auto_version -----------------------------------------------------------------------------


def test_it_auto_assigns_utc_timestamps() -> None:
    now = datetime(2024, 12, 19, 14, 30, 22, 999_999, tzinfo=UTC)
    assert auto_version(Scheme.TIMESTAMP, now) == "20241219-143022"
    assert auto_version("timestamp", now) == "20241219-143022"


def test_it_converts_aware_datetimes_to_utc_for_auto_versions() -> None:
    tokyo = datetime(2024, 1, 1, 8, 0, 0, tzinfo=timezone(timedelta(hours=9)))
    assert auto_version(Scheme.TIMESTAMP, tokyo) == "20231231-230000"
    version = auto_version(Scheme.TIMESTAMP, datetime(2024, 2, 29, 23, 59, 59))
    assert version == "20240229-235959"
    assert validate(Scheme.TIMESTAMP, version) == version


@pytest.mark.parametrize("scheme", [Scheme.SEMANTIC, Scheme.GIT, Scheme.HYBRID])
def test_it_auto_assigns_nothing_for_other_schemes(scheme: Scheme) -> None:
    assert auto_version(scheme, datetime(2024, 12, 19, tzinfo=UTC)) is None


# --- suggest_next -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        (None, ("0.0.1", "0.1.0", "1.0.0")),
        ("0.0.0", ("0.0.1", "0.1.0", "1.0.0")),
        ("1.2.3", ("1.2.4", "1.3.0", "2.0.0")),
        ("1.9.9", ("1.9.10", "1.10.0", "2.0.0")),
        ("1.2.3+build.7", ("1.2.4", "1.3.0", "2.0.0")),
        ("1.2.3-rc.1", ("1.2.3", "1.3.0", "2.0.0")),
        ("1.3.0-rc.1", ("1.3.0", "1.3.0", "2.0.0")),
        ("2.0.0-rc.1+b", ("2.0.0", "2.0.0", "2.0.0")),
        ("0.0.1-alpha", ("0.0.1", "0.1.0", "1.0.0")),
    ],
)
def test_it_suggests_next_semantic_versions(
    latest: str | None, expected: tuple[str, str, str]
) -> None:
    patch, minor, major = expected
    assert suggest_next(Scheme.SEMANTIC, latest) == {"patch": patch, "minor": minor, "major": major}


def test_it_suggests_valid_versions_that_follow_latest() -> None:
    for latest in SPEC_CHAIN:
        for suggestion in suggest_next(Scheme.SEMANTIC, latest).values():
            assert validate(Scheme.SEMANTIC, suggestion) == suggestion
            assert sort_key(Scheme.SEMANTIC, latest, 2) < sort_key(Scheme.SEMANTIC, suggestion, 1)


def test_it_leaves_out_suggestions_beyond_18_digits() -> None:
    top = "999999999999999999"
    assert suggest_next(Scheme.SEMANTIC, f"{top}.{top}.1") == {"patch": f"{top}.{top}.2"}


def test_it_rejects_an_invalid_latest_version() -> None:
    with pytest.raises(VersionError, match='remove the leading "v"'):
        suggest_next(Scheme.SEMANTIC, "v1.2.3")


@pytest.mark.parametrize("scheme", [Scheme.GIT, Scheme.TIMESTAMP, Scheme.HYBRID, "hybrid"])
def test_it_suggests_nothing_for_other_schemes(scheme: str | Scheme) -> None:
    assert suggest_next(scheme, None) == {}
    assert suggest_next(scheme, "v1.2.3-20241219") == {}


# --- compose_hybrid ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("semver", "commit", "expected"),
    [
        ("1.2.3", "abc123d", "v1.2.3-20241219-abc123d"),
        ("v1.2.3", "ABC123D", "v1.2.3-20241219-abc123d"),
        ("1.2.3", None, "v1.2.3-20241219"),
        ("1.2.3", "0123456789ABCDEF0123456789abcdef01234567", "v1.2.3-20241219-0123456789ab"),
        (" 10.0.0 ", " 1234567 ", "v10.0.0-20241219-1234567"),
    ],
)
def test_it_composes_hybrid_versions(semver: str, commit: str | None, expected: str) -> None:
    when = datetime(2024, 12, 19, 23, 0, tzinfo=UTC)
    assert compose_hybrid(semver, when, commit) == expected
    assert validate(Scheme.HYBRID, expected) == expected


def test_it_composes_hybrid_versions_with_the_utc_date() -> None:
    when = datetime(2024, 12, 20, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert compose_hybrid("1.0.0", when, None) == "v1.0.0-20241219"


@pytest.mark.parametrize(
    ("semver", "commit", "pattern"),
    [
        ("1.2", None, "expected MAJOR.MINOR.PATCH"),
        ("1.2.3-rc.1", None, "expected MAJOR.MINOR.PATCH"),
        ("1.2.3+b", None, "expected MAJOR.MINOR.PATCH"),
        ("01.2.3", None, "leading zeros"),
        ("1.2.3", "abc123", "commit must be at least 7 hex characters"),
        ("1.2.3", "xyz1234", "commit must be at least 7 hex characters"),
        ("1.2.3", "", "commit must be at least 7 hex characters"),
    ],
)
def test_it_rejects_bad_hybrid_parts(semver: str, commit: str | None, pattern: str) -> None:
    with pytest.raises(VersionError, match=pattern):
        compose_hybrid(semver, datetime(2024, 12, 19, tzinfo=UTC), commit)
