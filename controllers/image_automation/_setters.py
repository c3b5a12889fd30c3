"""Setters: rewrite the image references marked with `# {"$imagepolicy": ...}` comments.

A setter is a YAML line comment after a scalar value naming an ImagePolicy, and
optionally which part of its latest image to write there::

    image: ghcr.io/org/app:1.0.0  # {"$imagepolicy": "flux-system:app"}
    repository: ghcr.io/org/app   # {"$imagepolicy": "flux-system:app:name"}
    tag: 1.0.0                    # {"$imagepolicy": "flux-system:app:tag"}
    digest: sha256:...            # {"$imagepolicy": "flux-system:app:digest"}

- `<ns>:<policy>` writes the whole reference, `<name>:<tag>`, or `<name>:<tag>@<digest>`
  when the policy reflects a digest (`status.latestRef`);
- `:name` the image name, `:tag` the tag, `:digest` the digest (a policy without a
  digest leaves `:digest` values alone rather than blanking them).

Only that scalar's characters change: every other byte of the file (comments, key order,
indentation, quoting of other values, CRLF line ends, the final newline or its absence)
stays as it was. The value keeps its quoting style: a plain value that would stop
reading as a string (`1.10`, `yes`) or cannot be written plain is double-quoted, as
kustomize's setters do. Values are found with a YAML parse (so markers inside block
scalars or in other strings are not touched); a file that does not parse is skipped.

`set_images(text, policies)` is the pure core: new text and the changes per object.
`update_with_setters(root, path, policies)` walks `path` (`*.yaml`, `*.yml` and
`Kustomization` files, skipping `.git` and symbolic links), rewrites the files that
changed and returns a `Result`: file -> object (apiVersion/kind/name/namespace of the
YAML document) -> [Change(OldValue, NewValue, Setter)], the data of the commit message
template.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import yaml

__all__ = [
    "MARKER_KEY",
    "Change",
    "ObjectIdentifier",
    "PolicyImage",
    "Result",
    "SetterError",
    "parse_marker",
    "policy_images",
    "set_images",
    "update_with_setters",
]

MARKER_KEY = "$imagepolicy"
_FIELDS = ("name", "tag", "digest")
_COMMENT_AFTER = re.compile(r"[ \t]+#(?P<comment>[^\r\n]*)")
_YAML_FILE = re.compile(r".*\.ya?ml$")
_PROPERTIES = re.compile(r"(?:[&!][^ \t\r\n]*[ \t]+)*")


class SetterError(ValueError):
    """The update path is unusable (outside the repository, not a directory)."""


class _ImageLike(Protocol):
    name: str
    tag: str
    digest: str | None


@dataclass(frozen=True)
class PolicyImage:
    """The latest image of one ImagePolicy (its `status.latestRef`)."""

    name: str
    tag: str
    digest: str | None = None

    @property
    def reference(self) -> str:
        ref = f"{self.name}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref

    def value(self, part: str | None) -> str | None:
        """What a setter for `part` (None: the whole reference) writes; None: leave it."""
        if part is None:
            return self.reference
        if part == "name":
            return self.name
        if part == "tag":
            return self.tag
        return self.digest or None


def policy_images(policies: Mapping[str, Any]) -> dict[str, PolicyImage]:
    """Normalise {"<ns>:<name>": latestRef} where latestRef is a PolicyImage, an api ImageRef,
    or a dict with name/tag/digest (entries without a name or tag are dropped)."""
    out: dict[str, PolicyImage] = {}
    for key, ref in policies.items():
        if ref is None:
            continue
        if isinstance(ref, PolicyImage):
            image = ref
        elif isinstance(ref, Mapping):
            image = PolicyImage(
                str(ref.get("name") or ""), str(ref.get("tag") or ""), ref.get("digest") or None
            )
        else:
            image = PolicyImage(ref.name, ref.tag, getattr(ref, "digest", None) or None)
        if image.name and image.tag:
            out[key] = image
    return out


@dataclass(frozen=True, order=True)
class ObjectIdentifier:
    """The YAML document a change is in (a kustomization.yaml may have no name)."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""

    __go_type__: ClassVar[str] = "update.ObjectIdentifier"

    def __go_format__(self) -> str:
        # How Go prints Flux's type: ObjectIdentifier{ResourceIdentifier{TypeMeta, NameMeta}}.
        return (
            "{{{"
            + f"{self.api_version} {self.kind}"
            + "} {"
            + f"{self.name} {self.namespace}"
            + "}}}"
        )


@dataclass(frozen=True, order=True)
class Change:
    """One rewritten value."""

    __go_type__: ClassVar[str] = "update.Change"

    old_value: str
    new_value: str
    setter: str

    def __go_format__(self) -> str:
        return f"{{{self.old_value} {self.new_value} {self.setter}}}"


@dataclass
class Result:
    """All changes of one update: file -> object -> changes (in file order)."""

    __go_type__: ClassVar[str] = "update.Result"

    file_changes: dict[str, dict[ObjectIdentifier, list[Change]]] = field(default_factory=dict)

    def add_change(self, file: str, obj: ObjectIdentifier, change: Change) -> None:
        self.file_changes.setdefault(file, {}).setdefault(obj, []).append(change)

    def changes(self) -> list[Change]:
        """Every distinct change, in file order then object order."""
        seen: set[Change] = set()
        out: list[Change] = []
        for file in sorted(self.file_changes):
            for changes in self.file_changes[file].values():
                for change in changes:
                    if change not in seen:
                        seen.add(change)
                        out.append(change)
        return out

    def objects(self) -> dict[ObjectIdentifier, list[Change]]:
        """Changes per object, whichever file the object is in."""
        out: dict[ObjectIdentifier, list[Change]] = {}
        for file in sorted(self.file_changes):
            out.update(self.file_changes[file])
        return out

    def __bool__(self) -> bool:
        return bool(self.file_changes)


def parse_marker(comment: str) -> tuple[str, str | None] | None:
    """`{"$imagepolicy": "ns:name[:part]"}` (the text after '#') -> ("ns:name", part or
    None); None when the comment is not a setter marker."""
    text = comment.strip()
    if not text.startswith("{") or MARKER_KEY not in text:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get(MARKER_KEY), str):
        return None
    parts = doc[MARKER_KEY].strip().split(":")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}:{parts[1]}", None
    if len(parts) == 3 and parts[0] and parts[1] and parts[2] in _FIELDS:
        return f"{parts[0]}:{parts[1]}", parts[2]
    return None


# --- rendering a scalar in its original style ---------------------------------------------------


def _resolves_to_string(value: str) -> bool:
    """Whether a plain scalar `value` reads back as a string (YAML 1.1, as kyaml checks)."""
    resolver = yaml.resolver.Resolver()
    return resolver.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"


def _plain_safe(value: str) -> bool:
    if not value or value != value.strip() or any(c in value for c in "\r\n\t"):
        return False
    if value[0] in "-?:,[]{}#&*!|>'\"%@`" and not (
        value[0] in "-?:" and len(value) > 1 and value[1] not in " \t"
    ):
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    return True


def _double_quoted(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_scalar(value: str, style: str | None) -> str:
    """`value` written in `style` (None plain, `'` single-quoted, `"` double-quoted)."""
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style is None and _plain_safe(value) and _resolves_to_string(value):
        return value
    return _double_quoted(value)


# --- finding the marked scalars ------------------------------------------------------------------


def _scalar_value(node: yaml.Node | None) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) else ""


def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _identify(root: yaml.Node | None) -> ObjectIdentifier:
    if root is None:
        return ObjectIdentifier()
    meta = _mapping_get(root, "metadata")
    return ObjectIdentifier(
        api_version=_scalar_value(_mapping_get(root, "apiVersion")),
        kind=_scalar_value(_mapping_get(root, "kind")),
        name=_scalar_value(_mapping_get(meta, "name")) if meta is not None else "",
        namespace=_scalar_value(_mapping_get(meta, "namespace")) if meta is not None else "",
    )


def _value_scalars(node: yaml.Node, seen: set[int]) -> Iterator[yaml.ScalarNode]:
    """Scalar nodes in value position (mapping values, sequence items), once each."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _value_scalars(item, seen)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                yield from _value_scalars(key, seen)
            yield from _value_scalars(value, seen)


def _documents(text: str) -> list[yaml.Node | None] | None:
    loader = yaml.SafeLoader(text)
    try:
        docs: list[yaml.Node | None] = []
        while loader.check_node():
            docs.append(loader.get_node())
        return docs
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def set_images(
    text: str, policies: Mapping[str, Any]
) -> tuple[str, list[tuple[ObjectIdentifier, Change]]]:
    """Rewrite the marked values in the YAML `text` with the images of `policies`
    ({"<ns>:<name>": latestRef}). Return the new text and the (object, change) pairs in
    file order; the text is returned unchanged when nothing changed or it is not YAML."""
    if MARKER_KEY not in text:
        return text, []
    images = policy_images(policies)
    docs = _documents(text)
    if docs is None:
        return text, []
    edits: list[tuple[int, int, str, ObjectIdentifier, Change]] = []
    for root in docs:
        if root is None:
            continue
        obj = _identify(root)
        for node in _value_scalars(root, set()):
            if node.style not in (None, "'", '"') or node.start_mark.line != node.end_mark.line:
                continue
            start, end = node.start_mark.index, node.end_mark.index
            start = _PROPERTIES.match(text, start, end).end()  # skip an anchor or tag
            if start >= end:
                continue  # an empty plain value: nothing to rewrite in place
            line_end = text.find("\n", end)
            rest = text[end : len(text) if line_end < 0 else line_end]
            found = _COMMENT_AFTER.match(rest)
            if not found:
                continue
            marker = parse_marker(found.group("comment"))
            if marker is None or marker[0] not in images:
                continue
            policy, part = marker
            new_value = images[policy].value(part)
            if new_value is None or new_value == node.value:
                continue
            setter = policy if part is None else f"{policy}:{part}"
            rendered = render_scalar(new_value, node.style)
            change = Change(node.value, new_value, setter)
            edits.append((start, end, rendered, obj, change))
    if not edits:
        return text, []
    edits.sort(key=lambda e: e[0])
    pieces: list[str] = []
    last = 0
    for start, end, rendered, _, _ in edits:
        pieces.append(text[last:start])
        pieces.append(rendered)
        last = end
    pieces.append(text[last:])
    return "".join(pieces), [(obj, change) for _, _, _, obj, change in edits]


# --- walking a work tree ---------------------------------------------------------------------------


def _is_candidate(name: str) -> bool:
    return bool(_YAML_FILE.match(name)) or name == "Kustomization"


def resolve_update_path(root: Path | str, update_path: str | None) -> Path:
    """`spec.update.path` inside the work tree `root`; raise `SetterError` when it leaves
    the tree or is not a directory."""
    base = Path(root).resolve()
    rel = (update_path or "").strip() or "."
    if Path(rel).is_absolute():
        rel = rel.lstrip("/") or "."
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise SetterError(f"spec.update.path '{update_path}' points outside the repository")
    if not target.is_dir():
        raise SetterError(f"spec.update.path '{update_path}' is not a directory in the repository")
    return target


def update_with_setters(
    root: Path | str, update_path: str | None, policies: Mapping[str, Any]
) -> Result:
    """Apply the setters to every YAML file under `update_path` of the work tree `root`
    and write the files that changed. File keys in the result are relative to the update
    path, with '/' separators."""
    base = resolve_update_path(root, update_path)
    result = Result()
    for directory, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(
            d for d in dirnames if d != ".git" and not os.path.islink(os.path.join(directory, d))
        )
        for filename in sorted(filenames):
            if not _is_candidate(filename):
                continue
            path = Path(directory, filename)
            if path.is_symlink() or not path.is_file():
                continue
            raw = path.read_bytes()
            if MARKER_KEY.encode() not in raw:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            new_text, changes = set_images(text, policies)
            if not changes:
                continue
            path.write_bytes(new_text.encode("utf-8"))
            rel = path.relative_to(base).as_posix()
            for obj, change in changes:
                result.add_change(rel, obj, change)
    return result
