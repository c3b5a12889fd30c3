"""Semantic versions and version constraints, read the way Flux reads them.

Flux parses versions and ranges with Masterminds/semver v3, so `GitRepository`
`spec.ref.semver`, `HelmChart` `spec.version` and `ImagePolicy` `spec.policy.semver.range`
accept its syntax. This module implements that syntax and its matching rules (our own
code, written from the documented behaviour):

Versions (`parse_version`): `1.2.3`, `v1.2.3`, `1.2` and `1` (missing parts are 0),
`1.2.3-rc.1` (pre-release), `1.2.3+build.5` (build metadata, ignored when comparing).
Leading zeros are accepted in the numbers (`01.2.3` is 1.2.3) but not in numeric
pre-release identifiers (`1.0.0-01` is invalid), as in Masterminds' lenient parser.
Ordering follows semver.org §11: a pre-release sorts before its release, numeric
identifiers numerically and below alphanumeric ones, which sort in ASCII order.

Constraints (`parse_constraint`): comparators `=`, `!=`, `>`, `<`, `>=` (`=>`), `<=`
(`=<`), `~` (`~>`), `^`, or none (same as `=`); wildcards `x`, `X`, `*` in any position
and missing parts (`1.2` is `1.2.x`); hyphen ranges `1.2 - 1.4.5` (`>=1.2 <=1.4.5`);
comparators joined by a comma or by spaces are ANDed; groups separated by `||` are
ORed.

- `1.2.x`, `=1.2`, `~1.2`, `~1.2.3`: same major and minor, at least the given version.
- `1`, `1.x`, `~1`: same major. `*`: any release.
- `^1.2.3`: same major (>=1.2.3 <2.0.0); `^0.2.3`: >=0.2.3 <0.3.0; `^0.0.3`: exactly 0.0.3.
- `>1.2` means a higher minor (>=1.3.0); `>1` a higher major; `<=1.2` includes all 1.2.x.

Pre-releases: an AND group matches a pre-release version only when some comparator of
that group names a pre-release itself (`>=1.2.3-0 <2.0.0` accepts `1.5.0-rc.1`; `>=1.2.3`
never does). As in Masterminds v3, the pre-release does not have to share the
comparator's major.minor.patch (unlike npm), ordinary ordering then decides.

`latest_matching(constraint, candidates)` picks the newest version from a list of
strings (Git tags, chart versions, image tags), skipping the ones that are not versions;
`strict=True` counts only full `MAJOR.MINOR.PATCH` versions (a leading `v` allowed).

Pure logic: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "Constraint",
    "SemverError",
    "Version",
    "latest_matching",
    "matching_versions",
    "parse_constraint",
    "parse_version",
    "sort_versions",
    "try_parse_version",
]

#: Longest constraint string accepted (a guard against pathological input).
MAX_CONSTRAINT_LENGTH = 512
#: Longest version string accepted.
MAX_VERSION_LENGTH = 256
_UINT64_MAX = 2**64 - 1

_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(
    rf"^v?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    rf"(?:-(?P<pre>{_IDENT}))?(?:\+(?P<build>{_IDENT}))?$"
)
_WILDCARDS = frozenset({"x", "X", "*"})
_OPERATORS = {
    "": "=",
    "=": "=",
    "!=": "!=",
    ">": ">",
    "<": "<",
    ">=": ">=",
    "=>": ">=",
    "<=": "<=",
    "=<": "<=",
    "~": "~",
    "~>": "~",
    "^": "^",
}
_SYNTAX_HELP = "e.g. '>=1.0.0 <2.0.0', '~1.2', '^1.2.3', '1.2.x', '*' or '1.0 || >=2.1'"


class SemverError(ValueError):
    """A version or constraint that cannot be parsed; the message says what is wrong."""


# --- versions -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Version:
    """A semantic version. Equality and ordering ignore build metadata and `original`."""

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[str, ...] = ()
    build: str = ""
    original: str = field(default="", compare=False)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 as `self` sorts before, with or after `other` (semver.org §11)."""
        mine = (self.major, self.minor, self.patch)
        theirs = (other.major, other.minor, other.patch)
        if mine != theirs:
            return -1 if mine < theirs else 1
        return _compare_prerelease(self.prerelease, other.prerelease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) == 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.prerelease))

    def __lt__(self, other: Version) -> bool:
        return self.compare(other) < 0

    def __le__(self, other: Version) -> bool:
        return self.compare(other) <= 0

    def __gt__(self, other: Version) -> bool:
        return self.compare(other) > 0

    def __ge__(self, other: Version) -> bool:
        return self.compare(other) >= 0

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text


def _compare_prerelease(left: tuple[str, ...], right: tuple[str, ...]) -> int:
    if left == right:
        return 0
    if not left:  # a release sorts after any of its pre-releases
        return 1
    if not right:
        return -1
    for a, b in zip(left, right, strict=False):
        if a == b:
            continue
        a_num, b_num = a.isdigit(), b.isdigit()
        if a_num and b_num:
            return -1 if int(a) < int(b) else 1
        if a_num != b_num:  # numeric identifiers sort below alphanumeric ones
            return -1 if a_num else 1
        return -1 if a < b else 1
    return -1 if len(left) < len(right) else 1


def _number(text: str, what: str, source: str) -> int:
    value = int(text)
    if value > _UINT64_MAX:
        raise SemverError(f"invalid version {source!r}: the {what} number is too large")
    return value


def _check_prerelease(identifiers: tuple[str, ...], source: str) -> None:
    for ident in identifiers:
        if ident.isdigit() and len(ident) > 1 and ident.startswith("0"):
            raise SemverError(
                f"invalid version {source!r}: numeric pre-release identifier {ident!r} "
                "must not start with 0"
            )


def parse_version(text: str, *, strict: bool = False) -> Version:
    """Parse a version (`1.2.3`, `v1.2`, `1.0.0-rc.1+build`); raise SemverError if it is not one.

    `strict` demands all three numbers without leading zeros (`1.2.3` or `v1.2.3`, not
    `1.2` or `01.2.3`), as tag policies that only count full versions want.
    """
    if not isinstance(text, str):
        raise SemverError(f"invalid version {text!r}: not a string")
    if len(text) > MAX_VERSION_LENGTH:
        raise SemverError(f"invalid version: longer than {MAX_VERSION_LENGTH} characters")
    match = _VERSION.match(text)
    if match is None:
        raise SemverError(
            f"invalid version {text!r}: expected MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], "
            "optionally with a leading 'v' (e.g. 'v1.2.3' or '1.0.0-rc.1')"
        )
    if strict:
        numbers = (match["major"], match["minor"], match["patch"])
        if any(n is None for n in numbers):
            raise SemverError(f"invalid version {text!r}: expected MAJOR.MINOR.PATCH (strict)")
        if any(len(n) > 1 and n.startswith("0") for n in numbers):
            raise SemverError(f"invalid version {text!r}: a number starts with 0 (strict)")
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    _check_prerelease(pre, text)
    return Version(
        major=_number(match["major"], "major", text),
        minor=_number(match["minor"] or "0", "minor", text),
        patch=_number(match["patch"] or "0", "patch", text),
        prerelease=pre,
        build=match["build"] or "",
        original=text,
    )


@functools.lru_cache(maxsize=1 << 16)
def try_parse_version(text: str, *, strict: bool = False) -> Version | None:
    """`parse_version`, or None for anything that is not a version (remembered: every
    ImagePolicy of a repository reads the same tags, and a `Version` is immutable)."""
    try:
        return parse_version(text, strict=strict)
    except SemverError:
        return None


# --- constraints ----------------------------------------------------------------------

#: How much of a comparator's version is a wildcard (or missing).
_EXACT, _PATCH_WILD, _MINOR_WILD, _ALL_WILD = 0, 1, 2, 3


@dataclass(frozen=True)
class _Comparator:
    op: str  # normalised: = != > < >= <= ~ ^
    version: Version  # wildcard parts are 0
    wild: int  # _EXACT .. _ALL_WILD
    text: str

    def matches(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return _MATCHERS[self.op](self, v)


def _match_equal(c: _Comparator, v: Version) -> bool:
    if c.wild != _EXACT:
        return _match_tilde(c, v)
    return v == c.version


def _match_not_equal(c: _Comparator, v: Version) -> bool:
    con = c.version
    if c.wild == _ALL_WILD:
        return False
    if c.wild == _MINOR_WILD:
        return v.major != con.major
    if c.wild == _PATCH_WILD:
        return (v.major, v.minor) != (con.major, con.minor)
    return v != con


def _match_greater(c: _Comparator, v: Version) -> bool:
    con = c.version
    if c.wild == _MINOR_WILD:
        return v.major > con.major
    if c.wild == _PATCH_WILD:
        return (v.major, v.minor) > (con.major, con.minor)
    return v > con


def _match_less(c: _Comparator, v: Version) -> bool:
    return v < c.version


def _match_greater_equal(c: _Comparator, v: Version) -> bool:
    return v >= c.version


def _match_less_equal(c: _Comparator, v: Version) -> bool:
    con = c.version
    if c.wild == _ALL_WILD:
        return True
    if c.wild == _MINOR_WILD:
        return v.major <= con.major
    if c.wild == _PATCH_WILD:
        return (v.major, v.minor) <= (con.major, con.minor)
    return v <= con


def _match_tilde(c: _Comparator, v: Version) -> bool:
    con = c.version
    if v < con:
        return False
    if c.wild == _ALL_WILD or (c.wild == _EXACT and (con.major, con.minor, con.patch) == (0, 0, 0)):
        return True
    if v.major != con.major:
        return False
    return c.wild == _MINOR_WILD or v.minor == con.minor


def _match_caret(c: _Comparator, v: Version) -> bool:
    con = c.version
    if v < con:
        return False
    if c.wild == _ALL_WILD:
        return True
    if con.major > 0 or c.wild == _MINOR_WILD:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.wild == _PATCH_WILD:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_MATCHERS = {
    "=": _match_equal,
    "!=": _match_not_equal,
    ">": _match_greater,
    "<": _match_less,
    ">=": _match_greater_equal,
    "<=": _match_less_equal,
    "~": _match_tilde,
    "^": _match_caret,
}


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: OR of AND groups of comparators. Build with `parse_constraint`."""

    text: str
    groups: tuple[tuple[_Comparator, ...], ...]

    def matches(self, version: Version | str) -> bool:
        """Whether `version` (a Version or a string; an unparsable string never matches)
        satisfies the constraint."""
        if isinstance(version, str):
            parsed = try_parse_version(version)
            if parsed is None:
                return False
            version = parsed
        for group in self.groups:
            include_pre = any(c.version.prerelease for c in group)
            if all(c.matches(version, include_pre) for c in group):
                return True
        return False

    def __contains__(self, version: Version | str) -> bool:
        return self.matches(version)

    def __str__(self) -> str:
        return self.text


class _Scanner:
    """Reads one AND group, comparator by comparator."""

    _OP = re.compile(r"!=|>=|=>|<=|=<|~>|[=><~^]")
    _SEGMENT = re.compile(r"[0-9xX*]+")
    _IDENTS = re.compile(_IDENT)
    _SPACE = re.compile(r"\s*")
    _HYPHEN = re.compile(r"\s+-\s+")

    def __init__(self, text: str, whole: str) -> None:
        self.text = text
        self.whole = whole
        self.pos = 0

    def error(self, what: str) -> SemverError:
        return SemverError(f"invalid semver constraint {self.whole!r}: {what} ({_SYNTAX_HELP})")

    def skip_space(self) -> bool:
        start = self.pos
        match = self._SPACE.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()
        return self.pos > start

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def group(self) -> tuple[_Comparator, ...]:
        self.skip_space()
        if self.at_end():
            raise self.error("an empty range (nothing between '||' or an empty string)")
        comparators: list[_Comparator] = []
        while True:
            comparators.extend(self.comparator())
            spaced = self.skip_space()
            if self.at_end():
                return tuple(comparators)
            if self.text[self.pos] == ",":
                self.pos += 1
                self.skip_space()
                if self.at_end():
                    raise self.error("a ',' with no comparator after it")
            elif not spaced:
                raise self.error(f"unexpected {self.text[self.pos:]!r}")

    def comparator(self) -> list[_Comparator]:
        start = self.pos
        op_match = self._OP.match(self.text, self.pos)
        op = op_match.group() if op_match else ""
        self.pos += len(op)
        self.skip_space()
        low, wild = self.version()
        hyphen = self._HYPHEN.match(self.text, self.pos)
        if hyphen and hyphen.end() < len(self.text):
            if op:
                raise self.error(f"a hyphen range cannot have an operator ({op!r})")
            low_text = self.text[start : self.pos].strip()
            self.pos = hyphen.end()
            high_start = self.pos
            high, high_wild = self.version()
            high_text = self.text[high_start : self.pos]
            return [
                _Comparator(">=", low, wild, f">={low_text}"),
                _Comparator("<=", high, high_wild, f"<={high_text}"),
            ]
        return [_Comparator(_OPERATORS[op], low, wild, self.text[start : self.pos].strip())]

    def version(self) -> tuple[Version, int]:
        start = self.pos
        if self.text.startswith("v", self.pos):
            self.pos += 1
        segments: list[str] = []
        while len(segments) < 3:
            match = self._SEGMENT.match(self.text, self.pos)
            if match is None:
                break
            segments.append(match.group())
            self.pos = match.end()
            if (
                len(segments) < 3
                and self.text.startswith(".", self.pos)
                and self._SEGMENT.match(self.text, self.pos + 1)
            ):
                self.pos += 1
                continue
            break
        if not segments:
            found = self.text[start:] or "the end"
            raise self.error(f"expected a version at {found!r}")
        pre: tuple[str, ...] = ()
        build = ""
        if self.text.startswith("-", self.pos):
            match = self._IDENTS.match(self.text, self.pos + 1)
            if match:
                pre = tuple(match.group().split("."))
                self.pos = match.end()
        if self.text.startswith("+", self.pos):
            match = self._IDENTS.match(self.text, self.pos + 1)
            if match:
                build = match.group()
                self.pos = match.end()
        text = self.text[start : self.pos]
        numbers: list[int] = []
        wild = _EXACT
        for index, segment in enumerate(segments):
            if segment in _WILDCARDS:
                wild = (_ALL_WILD, _MINOR_WILD, _PATCH_WILD)[index]
                break
            if not segment.isdigit():
                raise self.error(f"{segment!r} in {text!r} is neither a number nor a wildcard")
            numbers.append(_number(segment, ("major", "minor", "patch")[index], text))
        if wild == _EXACT and len(numbers) < 3:
            wild = (_ALL_WILD, _MINOR_WILD, _PATCH_WILD)[len(numbers)]
        if pre:
            try:
                _check_prerelease(pre, text)
            except SemverError as err:
                raise self.error(str(err)) from None
        numbers += [0] * (3 - len(numbers))
        return (
            Version(numbers[0], numbers[1], numbers[2], pre, build if wild == _EXACT else "", text),
            wild,
        )


def parse_constraint(text: str) -> Constraint:
    """Parse a constraint (`>=1.0.0 <2.0.0`, `~1.2`, `^1.2.3 || 2.x`, `*`).

    Raise SemverError, whose message names the problem and shows valid examples.
    """
    if not isinstance(text, str):
        raise SemverError(f"invalid semver constraint {text!r}: not a string")
    if len(text) > MAX_CONSTRAINT_LENGTH:
        raise SemverError(
            f"invalid semver constraint: longer than {MAX_CONSTRAINT_LENGTH} characters"
        )
    groups = tuple(_Scanner(part, text).group() for part in text.split("||"))
    return Constraint(text=text, groups=groups)


def _as_constraint(constraint: Constraint | str) -> Constraint:
    return constraint if isinstance(constraint, Constraint) else parse_constraint(constraint)


def _versions(candidates: Iterable[str], strict: bool) -> list[tuple[Version, str]]:
    found = []
    for candidate in candidates:
        version = try_parse_version(candidate, strict=strict)
        if version is not None:
            found.append((version, candidate))
    return found


def matching_versions(
    constraint: Constraint | str, candidates: Iterable[str], *, strict: bool = False
) -> list[str]:
    """The candidates that are versions matching `constraint`, newest first.

    Equal versions (`v1.0.0` and `1.0.0`, or ones differing only in build metadata) keep
    their order in `candidates`. `strict` as in `parse_version`.
    """
    parsed_constraint = _as_constraint(constraint)
    found = [item for item in _versions(candidates, strict) if parsed_constraint.matches(item[0])]
    found.sort(key=lambda item: item[0], reverse=True)  # stable: ties keep the input order
    return [candidate for _, candidate in found]


def latest_matching(
    constraint: Constraint | str, candidates: Iterable[str], *, strict: bool = False
) -> str | None:
    """The newest of `candidates` that matches `constraint`, or None.

    Strings that are not versions are skipped (`strict` as in `parse_version`). Among
    equal versions the first in `candidates` wins.
    """
    best: tuple[Version, str] | None = None
    parsed_constraint = _as_constraint(constraint)
    for version, candidate in _versions(candidates, strict):
        if parsed_constraint.matches(version) and (best is None or version > best[0]):
            best = (version, candidate)
    return best[1] if best else None


def sort_versions(
    candidates: Iterable[str], *, descending: bool = False, strict: bool = False
) -> list[str]:
    """The candidates that are versions, in version order (equal ones keep input order)."""
    found = _versions(candidates, strict)
    found.sort(key=lambda item: item[0], reverse=descending)
    return [candidate for _, candidate in found]
