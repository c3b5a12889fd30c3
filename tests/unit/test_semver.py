"""Semver versions and Masterminds-style constraints (afflux.api._semver)."""

from __future__ import annotations

import pytest

from afflux.api._semver import (
    SemverError,
    Version,
    latest_matching,
    matching_versions,
    parse_constraint,
    parse_version,
    sort_versions,
    try_parse_version,
)

# --- versions -------------------------------------------------------------------------

PARSE = [
    ("1.2.3", (1, 2, 3, (), "")),
    ("v1.2.3", (1, 2, 3, (), "")),
    ("1.2", (1, 2, 0, (), "")),
    ("1", (1, 0, 0, (), "")),
    ("01.02.03", (1, 2, 3, (), "")),
    ("1.0.0-rc.1", (1, 0, 0, ("rc", "1"), "")),
    ("1.0.0-alpha-beta.0", (1, 0, 0, ("alpha-beta", "0"), "")),
    ("1.0.0+build.5", (1, 0, 0, (), "build.5")),
    ("1.0.0-rc.1+build.5", (1, 0, 0, ("rc", "1"), "build.5")),
    ("v2-x", (2, 0, 0, ("x",), "")),
]


@pytest.mark.parametrize(("text", "want"), PARSE, ids=[t for t, _ in PARSE])
def test_parse_version(text: str, want: tuple) -> None:
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == want
    assert v.original == text


INVALID_VERSIONS = [
    ("empty", ""),
    ("word", "latest"),
    ("capital-v", "V1.2.3"),
    ("four-parts", "1.2.3.4"),
    ("leading-zero-prerelease", "1.0.0-01"),
    ("empty-prerelease", "1.0.0-"),
    ("empty-identifier", "1.0.0-rc..1"),
    ("bad-char", "1.0.0-rc_1"),
    ("space", "1.0.0 "),
    ("sha", "a1b2c3d"),
    ("date-with-slashes", "2024/01/01"),
]


@pytest.mark.parametrize("text", [t for _, t in INVALID_VERSIONS], ids=[i for i, _ in INVALID_VERSIONS])
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(SemverError, match="invalid version"):
        parse_version(text)
    assert try_parse_version(text) is None


STRICT = [
    ("full", "1.2.3", True),
    ("v-prefix", "v1.2.3", True),
    ("prerelease", "1.2.3-rc.1", True),
    ("two-parts", "1.2", False),
    ("one-part", "1", False),
    ("leading-zero", "01.2.3", False),
]


@pytest.mark.parametrize(("text", "ok"), [(t, o) for _, t, o in STRICT], ids=[i for i, _, _ in STRICT])
def test_strict_parse(text: str, ok: bool) -> None:
    assert (try_parse_version(text, strict=True) is not None) is ok
    assert try_parse_version(text) is not None  # lenient mode takes them all


# Each pair is (lower, higher) in semver.org §11 precedence.
ORDER = [
    ("1.0.0", "2.0.0"),
    ("2.0.0", "2.1.0"),
    ("2.1.0", "2.1.1"),
    ("1.0.0-alpha", "1.0.0"),
    ("1.0.0-alpha", "1.0.0-alpha.1"),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
    ("1.0.0-alpha.beta", "1.0.0-beta"),
    ("1.0.0-beta", "1.0.0-beta.2"),
    ("1.0.0-beta.2", "1.0.0-beta.11"),
    ("1.0.0-beta.11", "1.0.0-rc.1"),
    ("1.0.0-rc.1", "1.0.0"),
    ("1.0.0-BETA", "1.0.0-alpha"),  # ASCII: upper case sorts first
    ("1.9.9", "1.10.0"),
]


@pytest.mark.parametrize(("low", "high"), ORDER, ids=[f"{a}<{b}" for a, b in ORDER])
def test_ordering(low: str, high: str) -> None:
    a, b = parse_version(low), parse_version(high)
    assert a < b and b > a and a != b
    assert a.compare(b) == -1 and b.compare(a) == 1


def test_build_metadata_is_ignored_for_equality() -> None:
    assert parse_version("1.0.0+a") == parse_version("v1.0.0+b")
    assert hash(parse_version("1.0.0+a")) == hash(parse_version("1.0.0"))
    assert str(parse_version("v1.2-rc.1+b")) == "1.2.0-rc.1+b"


# --- constraints ----------------------------------------------------------------------

# (constraint, version, matches)
MATCH = [
    # plain comparators
    (">=1.0.0", "1.0.0", True),
    (">=1.0.0", "0.9.9", False),
    (">1.0.0", "1.0.0", False),
    (">1.0.0", "1.0.1", True),
    ("<2.0.0", "1.99.99", True),
    ("<2.0.0", "2.0.0", False),
    ("<=2.0.0", "2.0.0", True),
    ("=1.2.3", "1.2.3", True),
    ("=1.2.3", "1.2.4", False),
    ("1.2.3", "1.2.3", True),
    ("1.2.3", "v1.2.3", True),
    ("1.2.3", "1.2.3+build", True),
    ("!=1.2.3", "1.2.3", False),
    ("!=1.2.3", "1.2.4", True),
    ("=>1.0", "1.0.0", True),
    ("=<1.0.0", "1.0.0", True),
    (">= 1.0.0", "1.0.0", True),
    ("v1.2.3", "1.2.3", True),
    # AND (comma or space) and OR
    (">=1.0.0 <2.0.0", "1.5.0", True),
    (">=1.0.0 <2.0.0", "2.0.0", False),
    (">=1.0.0, <2.0.0", "1.5.0", True),
    (">=1.0.0,<2.0.0", "0.5.0", False),
    (">= 1.0.0 , < 2.0.0", "1.0.0", True),
    ("<1.0.0 || >=3.0.0", "0.5.0", True),
    ("<1.0.0 || >=3.0.0", "2.0.0", False),
    ("<1.0.0 || >=3.0.0", "3.1.0", True),
    ("1.2.3 || 1.2.5", "1.2.5", True),
    # wildcards and missing parts
    ("*", "0.0.1", True),
    ("*", "99.0.0", True),
    ("x", "1.0.0", True),
    ("1.x", "1.9.9", True),
    ("1.x", "2.0.0", False),
    ("1.X", "1.0.0", True),
    ("1.*", "1.2.0", True),
    ("1", "1.5.0", True),
    ("1", "2.0.0", False),
    ("1.2.x", "1.2.9", True),
    ("1.2.x", "1.3.0", False),
    ("1.2.x", "1.1.9", False),
    ("1.2", "1.2.7", True),
    ("=1.2", "1.3.0", False),
    ("1.2.*", "1.2.0", True),
    (">=1.2.x", "1.2.0", True),
    (">=1.2.x", "1.1.9", False),
    (">1.2", "1.2.9", False),
    (">1.2", "1.3.0", True),
    (">1", "1.9.0", False),
    (">1", "2.0.0", True),
    ("<1.2", "1.1.9", True),
    ("<1.2", "1.2.0", False),
    ("<=1.2", "1.2.9", True),
    ("<=1.2", "1.3.0", False),
    ("<=2.x", "2.9.9", True),
    ("<=2.x", "3.0.0", False),
    ("!=1.x", "1.5.0", False),
    ("!=1.x", "2.0.0", True),
    ("!=1.2.x", "1.2.3", False),
    ("!=1.2.x", "1.3.0", True),
    # tilde
    ("~1.2.3", "1.2.3", True),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1.2", "1.2.0", True),
    ("~1.2", "1.3.0", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~1.x", "1.5.0", True),
    ("~>1.2.3", "1.2.5", True),
    ("~0.0.0", "5.0.0", True),
    ("~0", "0.9.0", True),
    ("~0", "1.0.0", False),
    # caret
    ("^1.2.3", "1.2.3", True),
    ("^1.2.3", "1.9.0", True),
    ("^1.2.3", "2.0.0", False),
    ("^1.2.3", "1.2.2", False),
    ("^1.2", "1.2.0", True),
    ("^1.2", "1.99.0", True),
    ("^1.x", "1.0.0", True),
    ("^2.x", "3.0.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.2", "0.2.0", True),
    ("^0.2", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^0", "0.9.9", True),
    ("^0", "1.0.0", False),
    ("^*", "3.0.0", True),
    # hyphen ranges
    ("1.2 - 1.4.5", "1.2.0", True),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2.3 - 2", "2.9.0", True),
    ("1.2.3 - 2", "3.0.0", False),
    ("1.0.0 - 1.1.0 || 3.x", "3.2.0", True),
    # pre-releases: only where the AND group names one
    (">=1.0.0", "1.5.0-rc.1", False),
    ("*", "1.0.0-rc.1", False),
    ("^1.2.3", "1.3.0-beta", False),
    ("~1.2.3", "1.2.4-beta", False),
    ("1.2.x", "1.2.4-beta", False),
    (">=1.2.3-0", "1.2.3-alpha", True),
    (">=1.2.3-0", "1.5.0-rc.1", True),
    (">=1.2.3-0 <2.0.0", "1.5.0-rc.1", True),
    # Masterminds, unlike npm: the next major's pre-release sorts below 2.0.0, so it is in
    (">=1.2.3-0 <2.0.0", "2.0.0-rc.1", True),
    (">=1.2.3-0 <2.0.0-0", "2.0.0-rc.1", False),
    (">=1.2.3-beta.2", "1.2.3-beta.1", False),
    (">=1.2.3-beta.2", "1.2.3-beta.11", True),
    ("^1.2.3-beta", "1.2.3-beta.4", True),
    ("^1.2.3-beta", "1.2.3", True),
    ("^1.2.3-beta", "2.0.0-beta", False),
    ("~1.2.3-beta", "1.2.3-rc", True),
    ("<1.0.0-rc.1", "1.0.0-beta", True),
    ("<=1.0.0-rc.1", "1.0.0-rc.1", True),
    ("=1.0.0-rc.1", "1.0.0-rc.1", True),
    ("=1.0.0-rc.1", "1.0.0-rc.2", False),
    (">=1.0.0-0 || >=5.0.0", "1.0.0-rc.1", True),
    (">=5.0.0 || <1.0.0", "0.9.0-rc.1", False),
    # versions that are not versions never match
    (">=0.0.0", "latest", False),
    ("*", "", False),
]


@pytest.mark.parametrize(
    ("constraint", "version", "want"), MATCH, ids=[f"{c} ? {v or 'empty'}" for c, v, _ in MATCH]
)
def test_constraint_matches(constraint: str, version: str, want: bool) -> None:
    assert parse_constraint(constraint).matches(version) is want
    if version:
        parsed = try_parse_version(version)
        if parsed is not None:
            assert (parsed in parse_constraint(constraint)) is want


INVALID_CONSTRAINTS = [
    ("empty", "", "empty range"),
    ("blank", "   ", "empty range"),
    ("empty-or-group", ">=1.0.0 ||", "empty range"),
    ("dangling-comma", ">=1.0.0,", "no comparator after it"),
    ("operator-only", ">=", "expected a version"),
    ("word", "latest", "expected a version"),
    ("garbage-after", ">=1.0.0 foo", "expected a version"),
    ("no-separator", ">=1.0.0<2.0.0", "unexpected"),
    ("letter-in-number", "1.2a.3", "unexpected"),
    ("bad-prerelease", ">=1.0.0-01", "must not start with 0"),
    ("triple-equals", "===1.0.0", "expected a version"),
    ("hyphen-with-operator", ">=1.0 - 2.0", "hyphen range"),
    ("too-long", ">=1.0.0 " * 100, "longer than"),
]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [(t, f) for _, t, f in INVALID_CONSTRAINTS],
    ids=[i for i, _, _ in INVALID_CONSTRAINTS],
)
def test_invalid_constraint_errors_are_clear(text: str, fragment: str) -> None:
    with pytest.raises(SemverError) as info:
        parse_constraint(text)
    message = str(info.value)
    assert fragment in message
    assert "invalid semver constraint" in message


def test_constraint_error_shows_examples() -> None:
    with pytest.raises(SemverError, match=r"e\.g\. '>=1\.0\.0 <2\.0\.0'"):
        parse_constraint(">>1")


# --- picking the newest ---------------------------------------------------------------

TAGS = ["v0.9.0", "v1.0.0", "v1.1.0-rc.1", "v1.0.1", "latest", "v2.0.0", "1.5", "release-3"]

LATEST = [
    ("star", "*", "v2.0.0"),
    ("major-1", "1.x", "1.5"),
    ("below-2", ">=1.0.0 <2.0.0", "1.5"),
    ("tilde-1.0", "~1.0", "v1.0.1"),
    ("caret-0.9", "^0.9", "v0.9.0"),
    ("prerelease-allowed", ">=1.1.0-0 <1.2.0", "v1.1.0-rc.1"),
    ("none", ">=3.0.0", None),
    ("exact", "1.0.0", "v1.0.0"),
]


@pytest.mark.parametrize(
    ("constraint", "want"), [(c, w) for _, c, w in LATEST], ids=[i for i, _, _ in LATEST]
)
def test_latest_matching(constraint: str, want: str | None) -> None:
    assert latest_matching(constraint, TAGS) == want
    assert latest_matching(constraint, list(reversed(TAGS))) == want


def test_latest_matching_strict_skips_partial_versions() -> None:
    assert latest_matching("1.x", TAGS, strict=True) == "v1.0.1"


def test_latest_matching_first_equal_wins() -> None:
    assert latest_matching("*", ["1.0.0", "v1.0.0", "1.0.0+b"]) == "1.0.0"
    assert latest_matching("*", ["v1.0.0", "1.0.0"]) == "v1.0.0"


def test_latest_matching_accepts_parsed_constraint() -> None:
    assert latest_matching(parse_constraint("<1.0.0"), TAGS) == "v0.9.0"


def test_latest_matching_propagates_bad_constraint() -> None:
    with pytest.raises(SemverError):
        latest_matching(">=x.y.z.w", TAGS)


def test_matching_versions_newest_first() -> None:
    assert matching_versions("<2.0.0", TAGS) == ["1.5", "v1.0.1", "v1.0.0", "v0.9.0"]


def test_sort_versions() -> None:
    assert sort_versions(["1.10.0", "junk", "1.2.0", "1.2.0-rc.1"]) == [
        "1.2.0-rc.1",
        "1.2.0",
        "1.10.0",
    ]
    assert sort_versions(["1.0.0", "2.0.0"], descending=True) == ["2.0.0", "1.0.0"]


def test_version_is_frozen_value() -> None:
    v = Version(1, 2, 3)
    assert str(v) == "1.2.3" and not v.is_prerelease
    assert Version(1, 2, 3, ("rc",)).is_prerelease
