"""`afflux migrate -f <dir|file>`: rewrite Flux manifests in files to the current API versions.

As `flux migrate -f`: every YAML file under the path (extensions `-e`, default .yaml,.yml)
is read document by document; Flux objects at an old apiVersion are moved to the current
one, with the field renames and moves of `afflux.api.conversion` (Kustomization and
GitRepository v1beta2, HelmRelease v2beta1/v2beta2); the other kinds whose old versions
had the current shape (HelmRepository, HelmChart, Bucket, OCIRepository v1beta2, image
v1beta2, Alert/Provider v1beta2, Receiver v1beta2/v1beta3) get their apiVersion only.
`--dry-run` prints a unified diff and writes nothing.

What is kept: everything outside the documents that change, and in a document whose only
change is its apiVersion (the usual case), every byte but that value: comments, order,
quoting, indentation. A document whose fields change (say `validation` dropped,
`patchesStrategicMerge` moved to `patches`) is written again from its parsed form: its
leading comment lines are kept, comments inside it are not, keys keep their order. A
document that does not parse (a Helm template) gets its apiVersion line rewritten when its
`kind:` line names a Flux kind, and is otherwise left alone.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from afflux.api.conversion import ConversionError, convert, current_api_version

from ._errors import CLIError

__all__ = ["Change", "migrate_text", "register", "run_migrate"]

#: (group, kind) -> (old versions, current version): the apiVersion is all that changes
_RENAME_ONLY: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("source.toolkit.fluxcd.io", k): (("v1beta1", "v1beta2"), "v1")
    for k in ("HelmRepository", "HelmChart", "Bucket", "OCIRepository")
} | {
    ("image.toolkit.fluxcd.io", k): (("v1beta1", "v1beta2"), "v1")
    for k in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")
} | {
    ("notification.toolkit.fluxcd.io", "Alert"): (("v1beta1", "v1beta2"), "v1beta3"),
    ("notification.toolkit.fluxcd.io", "Provider"): (("v1beta1", "v1beta2"), "v1beta3"),
    ("notification.toolkit.fluxcd.io", "Receiver"): (("v1beta1", "v1beta2", "v1beta3"), "v1"),
}

_SEPARATOR = re.compile(r"^---[ \t]*(#.*)?$", re.MULTILINE)
_API_LINE = re.compile(r"^(apiVersion:[ \t]*)([\"']?)([^\s\"'#]+)([\"']?)", re.MULTILINE)
_KIND_LINE = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z]+)", re.MULTILINE)


@dataclass
class Change:
    """One migrated document: where, what, and whether it was written again from YAML."""

    kind: str
    name: str
    old: str
    new: str
    rewritten: bool = False


@dataclass
class _Doc:
    text: str
    changes: list[Change] = field(default_factory=list)


def _target(api_version: str, kind: str) -> str | None:
    """The current apiVersion for an old one; None when there is nothing to do."""
    group, _, version = api_version.rpartition("/")
    current = current_api_version(group, kind)
    if current is not None:
        return current if current != api_version else None
    rename = _RENAME_ONLY.get((group, kind))
    if rename is not None and version in rename[0]:
        return f"{group}/{rename[1]}"
    return None


def _set_api_version(text: str, new: str) -> str:
    return _API_LINE.sub(lambda m: f"{m[1]}{m[2]}{new}{m[4]}", text, count=1)


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip() == "" or line.lstrip().startswith("#"):
            lines.append(line)
        else:
            break
    return "".join(lines)


def _migrate_doc(text: str) -> _Doc:
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError:
        body = None
        api, kind = _API_LINE.search(text), _KIND_LINE.search(text)
        if api and kind:
            new = _target(api[3], kind[1])
            if new:
                return _Doc(_set_api_version(text, new),
                            [Change(kind[1], "", api[3], new)])
        return _Doc(text)
    if not isinstance(body, dict):
        return _Doc(text)
    api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
    new = _target(api_version, kind)
    if new is None:
        return _Doc(text)
    name = str((body.get("metadata") or {}).get("name", ""))
    try:
        converted = convert(body, new) if current_api_version(
            api_version.rpartition("/")[0], kind) else {**body, "apiVersion": new}
    except ConversionError:
        return _Doc(text)
    if {**converted, "apiVersion": api_version} == body and _API_LINE.search(text):
        return _Doc(_set_api_version(text, new), [Change(kind, name, api_version, new)])
    dumped = yaml.safe_dump(converted, sort_keys=False, default_flow_style=False, width=100)
    trailing = "" if text.endswith("\n") or not text else "\n"
    return _Doc(_leading_comments(text) + dumped + trailing,
                [Change(kind, name, api_version, new, rewritten=True)])


def migrate_text(text: str) -> tuple[str, list[Change]]:
    """The text of a YAML file with its Flux objects at the current versions, and what moved."""
    out: list[str] = []
    changes: list[Change] = []
    pos = 0
    for match in _SEPARATOR.finditer(text):
        doc = _migrate_doc(text[pos:match.start()]) if match.start() > pos else _Doc("")
        out.append(doc.text)
        changes += doc.changes
        end = match.end() + (1 if text[match.end():match.end() + 1] == "\n" else 0)
        out.append(text[match.start():end])
        pos = end
    doc = _migrate_doc(text[pos:]) if pos < len(text) else _Doc("")
    out.append(doc.text)
    changes += doc.changes
    return "".join(out), changes


def _files(path: Path, extensions: Sequence[str]) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CLIError(f"{path}: no such file or directory")
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in extensions
                  and ".git" not in p.relative_to(path).parts)


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", parents=list(parents),
                       help="rewrite Flux manifests in files to the current API versions",
                       description="Rewrite the Flux objects in YAML files to the current API "
                                   "versions (as `flux migrate -f`).")
    p.add_argument("-f", "--path", required=True, type=Path,
                   help="a file, or a directory searched recursively")
    p.add_argument("-e", "--extensions", default=".yaml,.yml",
                   help="file extensions to read, comma-separated (default .yaml,.yml)")
    p.add_argument("--dry-run", action="store_true",
                   help="print a diff of what would change, write nothing")
    p.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    extensions = [e if e.startswith(".") else f".{e}"
                  for e in (x.strip() for x in args.extensions.split(",")) if e]
    total = 0
    for path in _files(args.path, extensions):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            print(f"✗ {path}: {err}")
            continue
        new, changes = migrate_text(text)
        if not changes:
            continue
        total += len(changes)
        if args.dry_run:
            print("".join(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile=f"{path}", tofile=f"{path} (migrated)")), end="")
            continue
        path.write_text(new, encoding="utf-8")
        for c in changes:
            what = f"{c.kind}/{c.name}" if c.name else c.kind
            note = " (written again: comments inside it are not kept)" if c.rewritten else ""
            print(f"✔ {path}: {what} {c.old} -> {c.new}{note}")
    if total == 0:
        print(f"✔ no Flux objects at old API versions in {args.path}")
    elif args.dry_run:
        print(f"► {total} object(s) would be migrated (dry run: nothing written)")
    return 0
