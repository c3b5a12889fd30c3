"""The report of `afflux preview`, as data and as text, JSON or Markdown (pure, no I/O).

A `Preview` holds one `ObjectPreview` per Kustomization (and per HelmRelease) rendered at
the ref: the objects its apply (upgrade) would create and change (each with a unified diff, Secret values already
masked), the objects its prune (upgrade) would delete, what the mass-deletion guard would hold, and
the error that stopped its build or dry-run. `render(preview, output)` formats it;
`changes(preview)`, `held(preview)` and `failed(preview)` decide the exit status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

__all__ = ["OUTPUTS", "ObjectPreview", "Preview", "changes", "failed", "held", "render",
           "summary"]

OUTPUTS = ("text", "json", "markdown")


@dataclass
class ObjectPreview:
    """What the ref does to the objects of one Kustomization or HelmRelease."""

    namespace: str
    name: str
    path: str = ""
    #: the Kustomization is new at the ref (its parent's build adds it)
    new: bool = False
    created: list[str] = field(default_factory=list)
    #: `Kind/ns/name` -> unified diff (live -> dry-run result)
    changed: dict[str, str] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    #: the guard's message when it would hold the prune ('' otherwise)
    held: str = ""
    error: str = ""
    #: why it was not rendered (suspended) ('' when it was)
    skipped: str = ""
    kind: str = "Kustomization"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def changes(self) -> int:
        """Created + changed + pruned objects (a held prune deletes nothing)."""
        return len(self.created) + len(self.changed) + (0 if self.held else len(self.pruned))


@dataclass
class Preview:
    """The whole report: the source, the ref and what it would do."""

    source: str
    ref: str
    revision: str
    kustomizations: list[ObjectPreview] = field(default_factory=list)
    helm_releases: list[ObjectPreview] = field(default_factory=list)

    @property
    def items(self) -> list[ObjectPreview]:
        return [*self.kustomizations, *self.helm_releases]


def changes(preview: Preview) -> int:
    return sum(k.changes() for k in preview.items)


def held(preview: Preview) -> int:
    """Objects whose prune the guard would hold (the Kustomization would be PruneHeld)."""
    return sum(len(k.pruned) for k in preview.items if k.held)


def failed(preview: Preview) -> bool:
    return any(k.error for k in preview.items)


def _count(items: Iterable[ObjectPreview], what: str) -> int:
    return sum(len(getattr(k, what)) for k in items)


def summary(preview: Preview) -> str:
    """`1 created, 2 changed, 1 pruned, 0 held, 0 failed` over all Kustomizations."""
    ks = preview.items
    held = sum(len(k.pruned) for k in ks if k.held)
    pruned = _count(ks, "pruned") - held
    return (f"{_count(ks, 'created')} created, {_count(ks, 'changed')} changed, {pruned} "
            f"pruned, {held} held, {sum(1 for k in ks if k.error)} failed")


def render(preview: Preview, output: str) -> str:
    if output == "json":
        return _json(preview)
    if output == "markdown":
        return _markdown(preview)
    return _text(preview)


def _json(preview: Preview) -> str:
    data = asdict(preview)
    items = preview.items
    data["summary"] = {"created": _count(items, "created"),
                       "changed": _count(items, "changed"),
                       "pruned": sum(len(k.pruned) for k in items if not k.held),
                       "held": sum(len(k.pruned) for k in items if k.held),
                       "failed": sum(1 for k in items if k.error),
                       "changes": changes(preview)}
    return json.dumps(data, indent=2) + "\n"


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line for line in text.splitlines(keepends=True))


def _text(preview: Preview) -> str:
    out = [f"Preview of GitRepository {preview.source} at {preview.revision or preview.ref}\n"]
    for ks in preview.items:
        title = f"{ks.kind} {ks.key}" + (f" ({ks.path})" if ks.path else "") + \
            (" [new]" if ks.new else "")
        if ks.skipped:
            out.append(f"► {title}: skipped, {ks.skipped}\n")
            continue
        if ks.error:
            out.append(f"► {title}: failed\n  ✗ {ks.error}\n")
            continue
        if not (ks.created or ks.changed or ks.pruned):
            out.append(f"► {title}: no changes\n")
            continue
        out.append(f"► {title}\n")
        out += [f"  + {label} created\n" for label in ks.created]
        for label, diff in ks.changed.items():
            out.append(f"  ~ {label} changed\n")
            out.append(_indent(diff, "    "))
        suffix = " (held by the guard)" if ks.held else ""
        out += [f"  - {label} pruned{suffix}\n" for label in ks.pruned]
        if ks.held:
            out.append(f"  ⚠ {ks.held}\n")
    out.append(f"Summary: {summary(preview)}\n")
    return "".join(out)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _markdown(preview: Preview) -> str:
    out = [f"### afflux preview of `{preview.ref}`\n\n",
           f"GitRepository `{preview.source}` at `{preview.revision or preview.ref}`: "
           f"**{summary(preview)}**\n\n",
           "| object | created | changed | pruned | note |\n",
           "| --- | ---: | ---: | ---: | --- |\n"]
    for ks in preview.items:
        note = ("new" if ks.new else "") or ""
        if ks.skipped:
            note = f"skipped: {ks.skipped}"
        elif ks.error:
            note = "**failed**"
        elif ks.held:
            note = "prune **held**"
        out.append(f"| {ks.kind} `{ks.key}` | {len(ks.created)} | {len(ks.changed)} | "
                   f"{len(ks.pruned)} | {note} |\n")
    for ks in preview.items:
        if not (ks.created or ks.changed or ks.pruned or ks.error):
            continue
        out.append(f"\n#### {ks.kind} `{ks.key}`\n\n")
        if ks.error:
            out.append(f"> :x: {ks.error}\n\n")
        out += [f"- created `{label}`\n" for label in ks.created]
        out += [f"- pruned `{label}`" + (" (held)" if ks.held else "") + "\n"
                for label in ks.pruned]
        if ks.held:
            out.append(f"\n> :warning: {ks.held}\n")
        for label, diff in ks.changed.items():
            fence = _fence(diff)
            out.append(f"\n<details><summary>changed <code>{label}</code></summary>\n\n"
                       f"{fence}diff\n{diff}{fence}\n\n</details>\n")
    return "".join(out)
