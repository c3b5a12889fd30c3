"""ArtifactGenerator `spec.pathPattern`: one set of artifacts per matching directory (pure).

`pathPattern: "@monorepo/apps/{app}/envs/{env}"` names a source alias and a directory
pattern below its root. The text outside braces is literal (no globs); each `{name}`
captures one or more characters of a single path segment. Every directory of the source
whose whole path (relative to the source root) matches the pattern yields one copy of
`spec.artifacts`, the artifacts acting as templates:

- in `name`, each `{name}` is replaced by the captured value, lowercased (a directory `Auth`
  makes the artifact `auth-...`); the rendered name must be a DNS subdomain name;
- in `copy[].from` and `copy[].to`, by the value as captured (the source's paths keep their
  case); `exclude`, `strategy`, `revision` and `originRevision` are not templates;
- the generated ExternalArtifact gets one label per capture (`app: auth`).

Matches are taken in directory-walk order (a depth-first walk with names sorted) and, per
match, in the order of `spec.artifacts`. What Flux treats as a terminal error is one here
too (`ArtifactGeneratorError(BuildFailed)`): a capture name that is not `[A-Za-z_]\\w*` or
not a valid label key, a duplicate or unbalanced capture, a captured value that is not a
valid label value once lowercased (e.g. `.hidden`, more than 63 characters), a template
naming a capture the pattern does not define, a rendered name that is not a DNS name, two
directories rendering the same artifact name (`apps/Auth` and `apps/auth`).

afflux's own bound: one generator creates at most `MAX_GENERATED_ARTIFACTS` (1,000, the
maximum `spec.artifacts` allows without a pattern) ExternalArtifacts; a pattern that would
generate more fails the same way, saying to narrow the pattern or split the generator.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from afflux.api._source_extensions_v1beta1 import (
    BUILD_FAILED,
    DNS_SUBDOMAIN,
    ArtifactGeneratorError,
    OutputArtifact,
)

__all__ = [
    "MAX_GENERATED_ARTIFACTS",
    "ArtifactRequest",
    "PathPattern",
    "expand_artifacts",
    "parse_path_pattern",
    "render_template",
]

#: At most this many ExternalArtifacts from one generator's pathPattern.
MAX_GENERATED_ARTIFACTS = 1000
_CAPTURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a label key without a prefix, and a label value (Kubernetes' syntax)
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_MAX = 63
_NAME_MAX = 253


class _TemplateError(ValueError):
    """A template or pattern that does not parse; the message says where."""


@dataclass(frozen=True)
class PathPattern:
    """A parsed `@alias/<pattern>`."""

    text: str
    alias: str
    pattern: str
    regex: re.Pattern[str]
    captures: tuple[str, ...]

    @property
    def depth(self) -> int:
        """How many path segments a matching directory has (a walk need not go deeper:
        a capture never spans a '/')."""
        return self.pattern.count("/") + 1


@dataclass(frozen=True)
class ArtifactRequest:
    """One artifact to build: the template rendered for one matched directory (or a
    `spec.artifacts` entry as it is, without a pattern), with the labels its
    ExternalArtifact gets."""

    artifact: OutputArtifact
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    directory: str | None = None


def _fail(pattern: str, message: str) -> ArtifactGeneratorError:
    return ArtifactGeneratorError(BUILD_FAILED, f"pathPattern '{pattern}': {message}")


def _pieces(template: str) -> list[tuple[bool, str]]:
    """Split a template into (is_capture, text) pieces; `_TemplateError` when a brace is
    unbalanced or a capture name is empty or malformed."""
    out: list[tuple[bool, str]] = []
    i = 0
    while i < len(template):
        opening, closing = template.find("{", i), template.find("}", i)
        if closing != -1 and (opening == -1 or closing < opening):
            raise _TemplateError(f"'}}' at offset {closing} has no opening brace")
        if opening == -1:
            out.append((False, template[i:]))
            break
        if opening > i:
            out.append((False, template[i:opening]))
        end = template.find("}", opening + 1)
        if end == -1:
            raise _TemplateError(f"'{{' at offset {opening} has no closing brace")
        name = template[opening + 1:end]
        if not name:
            raise _TemplateError("empty capture name '{}'")
        if not _CAPTURE_NAME.fullmatch(name):
            raise _TemplateError(f"capture name '{name}' must match [A-Za-z_][A-Za-z0-9_]*")
        out.append((True, name))
        i = end + 1
    return out


def parse_path_pattern(text: str) -> PathPattern:
    """Parse `@alias/<pattern>` (the regex each matched directory's relative path must
    match in whole); `ArtifactGeneratorError(BuildFailed)` saying what to change."""
    match = re.fullmatch(r"@([a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)/(.*)", text or "", re.DOTALL)
    if match is None:
        raise _fail(text, "want @<alias>/<directory pattern>, e.g. @repo/apps/{app}")
    alias, pattern = match.group(1), match.group(2)
    try:
        pieces = _pieces(pattern)
    except _TemplateError as err:
        raise _fail(text, str(err)) from None
    names = [t for capture, t in pieces if capture]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(text, f"duplicate capture name(s) {', '.join(dupes)}")
    for name in names:
        if len(name) > _LABEL_MAX or not _LABEL_NAME.fullmatch(name):
            raise _fail(text, f"capture name '{name}' is not a valid label key (at most 63 "
                        "characters, beginning and ending with a letter or digit)")
    regex = "".join(f"(?P<{t}>[^/]+)" if capture else re.escape(t) for capture, t in pieces)
    return PathPattern(text, alias, pattern, re.compile(regex, re.DOTALL), tuple(names))


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Replace each `{name}` of `template` by `values[name]`; `ValueError` naming what is
    wrong (an unbalanced brace, a name the pattern does not capture)."""
    out = []
    for capture, text in _pieces(template):
        if capture and text not in values:
            raise _TemplateError(f"'{{{text}}}' is not a capture of the pathPattern")
        out.append(values[text] if capture else text)
    return "".join(out)


def _render(art: OutputArtifact, raw: Mapping[str, str], lowered: Mapping[str, str]
            ) -> OutputArtifact:
    copy = [dataclasses.replace(op, from_=render_template(op.from_, raw),
                                to=render_template(op.to, raw)) for op in art.copy]
    return dataclasses.replace(art, name=render_template(art.name, lowered), copy=copy)


def expand_artifacts(pattern: PathPattern, artifacts: Sequence[OutputArtifact],
                     directories: Iterable[str],
                     limit: int = MAX_GENERATED_ARTIFACTS) -> list[ArtifactRequest]:
    """The artifacts to build for each directory (relative, '/'-separated, in walk order)
    that `pattern` matches; `ArtifactGeneratorError(BuildFailed)` on a terminal error or
    above `limit` artifacts. `directories` is consumed lazily: the expansion stops at the
    first error."""
    out: list[ArtifactRequest] = []
    seen: dict[str, str] = {}  # rendered name -> the directory that rendered it first
    for directory in directories:
        match = pattern.regex.fullmatch(directory)
        if match is None:
            continue
        raw = {name: match.group(name) for name in pattern.captures}
        lowered = {name: value.lower() for name, value in raw.items()}
        for name, value in lowered.items():
            if len(value) > _LABEL_MAX or not _LABEL_VALUE.fullmatch(value):
                raise _fail(pattern.text, f"directory '{directory}': the value '{value}' of "
                            f"{{{name}}} is not a valid label value (at most 63 characters: "
                            "letters, digits, '-', '_' and '.', beginning and ending with a "
                            "letter or digit); rename the directory or narrow the pattern")
        for art in artifacts:
            try:
                rendered = _render(art, raw, lowered)
            except _TemplateError as err:
                raise _fail(pattern.text, f"artifact '{art.name}' for directory "
                            f"'{directory}': {err}") from None
            name = rendered.name
            if len(name) > _NAME_MAX or not re.fullmatch(DNS_SUBDOMAIN, name):
                raise _fail(pattern.text, f"directory '{directory}' renders the artifact "
                            f"name '{name}', which is not a DNS subdomain name (lowercase "
                            "letters, digits, '-' and '.', at most 253 characters)")
            if name in seen:
                raise _fail(pattern.text, f"directories '{seen[name]}' and '{directory}' "
                            f"both render the artifact name '{name}'")
            seen[name] = directory
            if len(out) >= limit:
                raise _fail(pattern.text, f"generates more than {limit} artifacts, the most "
                            "one ArtifactGenerator may generate; narrow the pattern or split "
                            "the generator")
            out.append(ArtifactRequest(rendered, lowered, directory))
    return out
