"""`afflux migrate -f <dir|file>`: rewrite Flux manifests in files to the current API versions.

As `flux migrate -f`: every YAML file under the path (extensions `-e`, default .yaml,.yml)
is read document by document; Flux objects at an old apiVersion are moved to the current
one, with the field renames and moves of `afflux.api.conversion` (Kustomization and
GitRepository v1beta2, HelmRelease v2beta1/v2beta2); the other kinds whose old versions
had the current shape (HelmRepository, HelmChart, Bucket, OCIRepository v1beta2, image
v1beta2, Alert/Provider v1beta2, Receiver v1beta2/v1beta3) get their apiVersion only.
`--dry-run` prints a unified diff and writes nothing. `--version 2.6` (flux's supported
minors: 2.9, 2.8, 2.7, 2.6; default the newest) migrates to that Flux minor's API versions:
they are the current ones but for the image kinds, v1beta2 in Flux 2.6 (as flux, v1 is moved
back to v1beta2 then). On a terminal the planned changes are listed and confirmed before
anything is written (`--yes` skips the question); a script is never asked.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from afflux.api.conversion import ConversionError, convert, current_api_version

from . import _prompt
from ._errors import CLIError

__all__ = ["FLUX_MINORS", "Change", "migrate_text", "register", "run_migrate"]

_IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")

#: `--version` (a Flux minor) -> the (group, kind) whose latest API version differs there
#: from the current one, newest first
FLUX_MINORS: dict[str, dict[tuple[str, str], str]] = {
    "2.9": {},
    "2.8": {},
    "2.7": {},
    "2.6": {("image.toolkit.fluxcd.io", k): "v1beta2" for k in _IMAGE_KINDS},
}

#: (group, kind) -> (old versions, current version): the apiVersion is all that changes
_RENAME_ONLY: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("source.toolkit.fluxcd.io", k): (("v1beta1", "v1beta2"), "v1")
    for k in ("HelmRepository", "HelmChart", "Bucket", "OCIRepository")
} | {
    ("image.toolkit.fluxcd.io", k): (("v1beta1", "v1beta2"), "v1") for k in _IMAGE_KINDS
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


def _target(api_version: str, kind: str,
            pinned: Mapping[tuple[str, str], str] | None = None) -> str | None:
    """The current apiVersion for an old one (or the one `pinned` names for its group and
    kind, see FLUX_MINORS); None when there is nothing to do."""
    group, _, version = api_version.rpartition("/")
    if pinned and (group, kind) in pinned:
        return None if version == pinned[group, kind] else f"{group}/{pinned[group, kind]}"
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


def _migrate_doc(text: str, pinned: Mapping[tuple[str, str], str] | None = None) -> _Doc:
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError:
        body = None
        api, kind = _API_LINE.search(text), _KIND_LINE.search(text)
        if api and kind:
            new = _target(api[3], kind[1], pinned)
            if new:
                return _Doc(_set_api_version(text, new),
                            [Change(kind[1], "", api[3], new)])
        return _Doc(text)
    if not isinstance(body, dict):
        return _Doc(text)
    api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
    new = _target(api_version, kind, pinned)
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


def migrate_text(text: str, version: str | None = None) -> tuple[str, list[Change]]:
    """The text of a YAML file with its Flux objects at the current versions (or those of
    Flux minor `version`, a key of FLUX_MINORS), and what moved."""
    pinned = FLUX_MINORS[version] if version else None
    out: list[str] = []
    changes: list[Change] = []
    pos = 0
    for match in _SEPARATOR.finditer(text):
        doc = _migrate_doc(text[pos:match.start()], pinned) if match.start() > pos \
            else _Doc("")
        out.append(doc.text)
        changes += doc.changes
        end = match.end() + (1 if text[match.end():match.end() + 1] == "\n" else 0)
        out.append(text[match.start():end])
        pos = end
    doc = _migrate_doc(text[pos:], pinned) if pos < len(text) else _Doc("")
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
    p.add_argument("--version", dest="flux_version", metavar="MINOR",
                   help="the Flux minor version whose API versions to migrate to: "
                        f"{', '.join(FLUX_MINORS)} (default {next(iter(FLUX_MINORS))})")
    p.add_argument("-y", "--yes", action="store_true",
                   help="do not ask for confirmation before writing (asked on a terminal "
                        "only)")
    p.set_defaults(func=run_migrate)


def _what(c: Change) -> str:
    return f"{c.kind}/{c.name}" if c.name else c.kind


def run_migrate(args: argparse.Namespace) -> int:
    version = getattr(args, "flux_version", None) or None
    if version is not None and version not in FLUX_MINORS:
        raise CLIError(f"version {version} is not supported, supported versions are: "
                       f"{', '.join(FLUX_MINORS)}", "pass a Flux minor version, e.g. "
                       f"--version {next(iter(FLUX_MINORS))}")
    extensions = [e if e.startswith(".") else f".{e}"
                  for e in (x.strip() for x in args.extensions.split(",")) if e]
    total = 0
    planned: list[tuple[Path, str, list[Change]]] = []
    for path in _files(args.path, extensions):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            print(f"✗ {path}: {err}")
            continue
        new, changes = migrate_text(text, version)
        if not changes:
            continue
        total += len(changes)
        if args.dry_run:
            print("".join(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile=f"{path}", tofile=f"{path} (migrated)")), end="")
            continue
        planned.append((path, new, changes))
    if planned and not getattr(args, "yes", False) and _prompt.is_interactive():
        for path, _, changes in planned:
            for c in changes:
                print(f"✚ {path}: {_what(c)} {c.old} -> {c.new}")
        if not _prompt.confirm("Are you sure you want to proceed with the above upgrades"):
            raise CLIError("aborting: nothing was written", "--yes skips the question")
    for path, new, changes in planned:
        path.write_text(new, encoding="utf-8")
        for c in changes:
            note = " (written again: comments inside it are not kept)" if c.rewritten else ""
            print(f"✔ {path}: {_what(c)} {c.old} -> {c.new}{note}")
    if total == 0:
        print(f"✔ no Flux objects at old API versions in {args.path}")
    elif args.dry_run:
        print(f"► {total} object(s) would be migrated (dry run: nothing written)")
    return 0
