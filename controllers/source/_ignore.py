"""Which files of a source stay out of its artifact: `.sourceignore` rules, Flux's way.

The syntax is gitignore's, matched the way Flux matches it:

- one pattern per line; blank lines and lines starting with `#` are skipped; trailing
  spaces are dropped unless escaped (`foo\\ `); a leading `\\` escapes `#` or `!`;
- `!pattern` re-includes what an earlier pattern excluded; the last pattern that matches
  a path decides;
- a trailing `/` makes a pattern match directories only (and so everything below them);
- a pattern without a `/` (other than a trailing one) matches a file or directory of that
  name at any depth below the pattern's directory; one with a `/` is anchored there (a
  leading `/` only anchors);
- `*`, `?`, `[a-z]`, `[!a]`/`[^a]` match within one path component; `**` matches any
  number of components (`a/**/b`, `**/b`, `a/**`);
- a pattern that matches a directory also matches every path below it.

Patterns have a *domain*: the directory (as path components, relative to the source
root) of the `.sourceignore` file they came from; they apply only below it.

Which rules apply (Flux's behaviour, FLUX-API §0):

- `source_matcher` (GitRepository, OCIRepository): the VCS patterns (`.git/`,
  `.gitignore`, `.gitmodules`, `.gitattributes`) always; then, if there are no user
  patterns at all, Flux's default exclusions (images and archives, CI configs,
  `.goreleaser.yml`, `.sops.yaml`, `.flux.yaml`); otherwise the user patterns *instead*
  of the defaults. User patterns are the `.sourceignore` files of every directory (root
  first, then subdirectories depth-first in name order) followed by `spec.ignore`, so
  `spec.ignore` overrides `.sourceignore`.
- `default_matcher` (Bucket): VCS and default patterns first, user patterns (the root
  `.sourceignore` only, then `spec.ignore`) after them, so they can re-include defaults.

Pure logic: reading `.sourceignore` files from disk is `_archive.load_ignore_patterns`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_PATTERNS",
    "IGNORE_FILE",
    "VCS_PATTERNS",
    "Matcher",
    "Pattern",
    "bucket_matcher",
    "default_matcher",
    "default_patterns",
    "parse_pattern",
    "parse_patterns",
    "source_matcher",
    "split_path",
    "vcs_patterns",
]

#: The name of the per-directory ignore file.
IGNORE_FILE = ".sourceignore"

#: Always excluded (a user pattern may still re-include them with `!`).
VCS_PATTERNS: tuple[str, ...] = (".git/", ".gitignore", ".gitmodules", ".gitattributes")

#: Flux's default exclusions besides the VCS ones.
DEFAULT_PATTERNS: tuple[str, ...] = (
    # images and archives
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    # CI configurations
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    # release and tooling files
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
)


def split_path(path: str | Sequence[str]) -> tuple[str, ...]:
    """`a/b/c` -> ("a", "b", "c"); a sequence is taken as components already."""
    if isinstance(path, str):
        return tuple(part for part in path.split("/") if part and part != ".")
    return tuple(path)


# --- one path component against one glob ----------------------------------------------


def _component_regex(glob: str) -> re.Pattern[str] | None:
    """A regex for a single-component glob (`*`, `?`, classes, `\\` escapes), or None
    when the glob is malformed (it then matches nothing)."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        if ch == "*":
            while i < n and glob[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            if i >= n:
                return None
            out.append(re.escape(glob[i]))
        elif ch == "[":
            j = i + 1
            negate = j < n and glob[j] in "!^"
            if negate:
                j += 1
            items: list[str] = []
            first = True
            while True:
                if j >= n:
                    return None  # unclosed class
                c = glob[j]
                if c == "]" and not first:
                    break
                first = False
                if c == "\\":
                    j += 1
                    if j >= n:
                        return None
                    c = glob[j]
                lo = c
                j += 1
                if j + 1 < n and glob[j] == "-" and glob[j + 1] != "]":
                    hi = glob[j + 1]
                    if hi == "\\":
                        if j + 2 >= n:
                            return None
                        hi = glob[j + 2]
                        j += 1
                    j += 2
                    if hi < lo:
                        return None
                    items.append(f"{re.escape(lo)}-{re.escape(hi)}")
                else:
                    items.append(re.escape(lo))
            i = j
            out.append(("[^/" if negate else "[") + "".join(items) + "]")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


# --- patterns -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    """One ignore pattern, scoped to `domain` (path components below the source root)."""

    text: str
    domain: tuple[str, ...] = ()
    negate: bool = False
    dir_only: bool = False
    anchored: bool = False  # contains a `/`: matched from the domain down, part by part
    parts: tuple[str, ...] = ()
    _regexes: tuple[re.Pattern[str] | None, ...] = field(default=(), compare=False, repr=False)

    def _part_matches(self, index: int, name: str) -> bool:
        regex = self._regexes[index]
        return regex is not None and regex.fullmatch(name) is not None

    def match(self, path: Sequence[str], is_dir: bool) -> bool | None:
        """None if the pattern says nothing about `path`; True if it excludes it; False if
        it re-includes it (a `!` pattern)."""
        depth = len(self.domain)
        if len(path) <= depth or tuple(path[:depth]) != self.domain:
            return None
        rest = path[depth:]
        hit = self._glob_match(rest, is_dir) if self.anchored else self._name_match(rest, is_dir)
        if not hit:
            return None
        return not self.negate

    def _name_match(self, path: Sequence[str], is_dir: bool) -> bool:
        for index, name in enumerate(path):
            if not self._part_matches(0, name):
                continue
            if self.dir_only and not is_dir and index == len(path) - 1:
                return False
            return True
        return False

    def _glob_match(self, path: Sequence[str], is_dir: bool) -> bool:
        remaining = list(path)
        matched = False
        traverse = False
        last = len(self.parts) - 1
        for index, part in enumerate(self.parts):
            if part == "":
                traverse = False
                continue
            if part == "**":
                if index == last:
                    break
                traverse = True
                continue
            if "**" in part:
                return False
            if not remaining:
                return False
            if traverse:
                traverse = False
                matched = False
                while remaining:
                    name = remaining.pop(0)
                    if self._part_matches(index, name):
                        matched = True
                        break
                if not matched:
                    return False
            else:
                if not self._part_matches(index, remaining[0]):
                    return False
                matched = True
                remaining.pop(0)
        if matched and self.dir_only and not is_dir and not remaining:
            return False
        return matched


def parse_pattern(line: str, domain: Sequence[str] = ()) -> Pattern:
    """One pattern line (not a comment) scoped to `domain`."""
    text = line
    negate = text.startswith("!")
    if negate:
        text = text[1:]
    if not text.endswith("\\ "):
        text = text.rstrip(" ")
    dir_only = text.endswith("/")
    if dir_only:
        text = text[:-1]
    anchored = "/" in text
    parts = tuple(text.split("/"))
    regexes = tuple(None if p in ("", "**") else _component_regex(p) for p in parts)
    return Pattern(
        text=line,
        domain=tuple(domain),
        negate=negate,
        dir_only=dir_only,
        anchored=anchored,
        parts=parts,
        _regexes=regexes,
    )


def parse_patterns(text: str, domain: Sequence[str] = ()) -> list[Pattern]:
    """The patterns of an ignore file's text (comments and blank lines skipped)."""
    patterns = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if line.startswith("#") or not line.strip():
            continue
        patterns.append(parse_pattern(line, domain))
    return patterns


def vcs_patterns(domain: Sequence[str] = ()) -> list[Pattern]:
    return [parse_pattern(p, domain) for p in VCS_PATTERNS]


def default_patterns(domain: Sequence[str] = ()) -> list[Pattern]:
    return [parse_pattern(p, domain) for p in DEFAULT_PATTERNS]


# --- matchers -------------------------------------------------------------------------


class Matcher:
    """An ordered list of patterns; the last one that matches a path decides."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        self._negations = tuple(p for p in self.patterns if p.negate)

    def excluded(self, path: str | Sequence[str], is_dir: bool = False) -> bool:
        """Whether `path` (relative to the source root) stays out of the artifact."""
        parts = split_path(path)
        for pattern in reversed(self.patterns):
            verdict = pattern.match(parts, is_dir)
            if verdict is not None:
                return verdict
        return False

    def may_reinclude_below(self, directory: str | Sequence[str]) -> bool:
        """Whether some `!` pattern could re-include a path below `directory`.

        When a directory is excluded and this is False, nothing below it can be in the
        artifact, so a walker may skip it without looking inside.
        """
        parts = split_path(directory)
        for pattern in self._negations:
            depth = min(len(parts), len(pattern.domain))
            if parts[:depth] == pattern.domain[:depth]:
                return True
        return False

    def __add__(self, other: Matcher) -> Matcher:
        return Matcher(self.patterns + other.patterns)

    def __repr__(self) -> str:
        return f"Matcher({[p.text for p in self.patterns]!r})"


def default_matcher(patterns: Iterable[Pattern] = (), domain: Sequence[str] = ()) -> Matcher:
    """VCS and default exclusions, then `patterns` (which can re-include defaults)."""
    return Matcher([*vcs_patterns(domain), *default_patterns(domain), *patterns])


def source_matcher(patterns: Iterable[Pattern] = (), domain: Sequence[str] = ()) -> Matcher:
    """Flux's archive filter for Git and OCI sources: VCS patterns plus the user patterns,
    or plus the default exclusions when there are no user patterns at all."""
    user = list(patterns)
    if not user:
        return default_matcher(domain=domain)
    return Matcher([*vcs_patterns(domain), *user])


def bucket_matcher(sourceignore: str | None = None, spec_ignore: str | None = None) -> Matcher:
    """A Bucket's matcher: defaults, then the root `.sourceignore`, then `spec.ignore`."""
    patterns = parse_patterns(sourceignore or "") + parse_patterns(spec_ignore or "")
    return default_matcher(patterns)
