"""Kubernetes objects as plain dicts: their YAML, read and written the way Flux's Go libraries
read and write it, and the metadata edits kustomize-controller makes on every object.

Why a YAML dialect of our own: after substitution Flux re-reads an object's YAML with
`sigs.k8s.io/yaml`, which resolves plain scalars by YAML 1.1 rules (`yes`, `on`, `y` are
booleans; `0x1F` and `017` are integers) but keeps dates as strings once they reach JSON.
PyYAML's SafeLoader differs in small ways (no `y`/`n` booleans, base-60 integers, dates
become `datetime` objects that JSON cannot carry), so `KubeLoader` resolves plain scalars
the Go way and never makes dates. `KubeDumper` writes objects so that they read back
identically with either reader: a string that any YAML 1.1 reader could take for another
type is quoted, multi-line strings are literal blocks, nothing is folded.

Everything here is pure: no files, no network.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from afflux.api._meta import KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL

__all__ = [
    "DISABLED",
    "KubeDumper",
    "KubeLoader",
    "ManifestError",
    "annotations",
    "describe",
    "dump_documents",
    "dump_object",
    "is_disabled",
    "is_encrypted_secret",
    "is_sops_encrypted",
    "labels",
    "load_documents",
    "set_common_metadata",
    "set_owner_labels",
]

#: The value that turns a per-object kustomize-controller feature off (compared without case).
DISABLED = "disabled"


class ManifestError(ValueError):
    """YAML that is not a list of Kubernetes objects; the message names where it came from."""


# --- YAML: plain scalars resolved as go-yaml v2 (sigs.k8s.io/yaml) resolves them ----------------

_BOOL_TRUE = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_BOOL_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_BOOL_RE = re.compile("^(?:" + "|".join(_BOOL_TRUE + _BOOL_FALSE) + ")$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
# Go's strconv.ParseInt(s, 0, 64) after underscores are dropped: 0x.., 0o.., 0b.., a leading 0
# means octal, otherwise decimal.
_INT_RE = re.compile(
    r"^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$"
)
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_DIGITS = list("-+0123456789.")


#: LibYAML's parser when PyYAML was built with it (the resolvers and constructors below are
#: Python either way, so both read alike); the pure-Python one otherwise.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KubeLoader(_BaseLoader):  # type: ignore[valid-type, misc]
    """Reads YAML as Kubernetes' Go libraries do (see the module docstring)."""

    yaml_implicit_resolvers: dict = {}


KubeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_RE, list("yYnNtTfFoO"))
KubeLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""])
KubeLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT_RE, _DIGITS)
KubeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, _DIGITS)
KubeLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


def _construct_bool(loader: KubeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node) in _BOOL_TRUE


def _construct_int(loader: KubeLoader, node: yaml.ScalarNode) -> int | float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    prefix = digits[:2].lower()
    if prefix == "0x":
        return sign * int(digits[2:], 16)
    if prefix == "0o":
        return sign * int(digits[2:], 8)
    if prefix == "0b":
        return sign * int(digits[2:], 2)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits or "0")


def _construct_float(loader: KubeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)


def _json_key(key: Any) -> str:
    """Mapping keys become strings, as sigs.k8s.io/yaml makes them on the way to JSON."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _construct_mapping(loader: KubeLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[_json_key(key)] = loader.construct_object(value_node, deep=True)
    return result


KubeLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
KubeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
KubeLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
KubeLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
# A date with an explicit tag stays the text it was written as.
KubeLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


class KubeDumper(yaml.SafeDumper):
    """Writes YAML that reads back the same with `KubeLoader`, PyYAML or go-yaml: strings that
    look like booleans, numbers, nulls or dates are quoted (double quotes, as go-yaml v3
    writes them); multi-line strings are literal blocks; long lines are never folded."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


# PyYAML's own YAML 1.1 resolvers (dates, base-60 numbers, ...) plus go-yaml's extra ones, so
# a string that any of those readers would take for something else gets quoted.
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL_RE, list("yYnNtTfFoO")),
    ("tag:yaml.org,2002:int", _INT_RE, _DIGITS),
    ("tag:yaml.org,2002:float", _FLOAT_RE, _DIGITS),
):
    KubeDumper.add_implicit_resolver(_tag, _regexp, _first)


def _represent_str(dumper: KubeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


KubeDumper.add_representer(str, _represent_str)

_WIDTH = 1 << 30


def load_documents(text: str, *, source: str = "") -> list[dict[str, Any]]:
    """The objects in a (multi-document) YAML text; empty documents are left out.

    Raises `ManifestError`, naming `source`, when the text is not YAML or a document is not a
    mapping."""
    where = f" in {source}" if source else ""
    try:
        documents = list(yaml.load_all(text, Loader=KubeLoader))
    except yaml.YAMLError as err:
        raise ManifestError(f"invalid YAML{where}: {err}") from None
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ManifestError(
                f"document {index + 1}{where} is a {type(document).__name__}, not an object"
            )
        objects.append(document)
    return objects


def dump_object(obj: Mapping[str, Any]) -> str:
    """One object as a YAML document (keys in their order, no `---`)."""
    return yaml.dump(
        obj,
        Dumper=KubeDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=_WIDTH,
    )


def dump_documents(objects: Iterable[Mapping[str, Any]]) -> str:
    """Objects as a multi-document YAML stream, `---` between documents."""
    return "---\n".join(dump_object(obj) for obj in objects)


# --- metadata -------------------------------------------------------------------------------------


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    """`metadata.labels` ({} when absent)."""
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    """`metadata.annotations` ({} when absent)."""
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def is_disabled(obj: Mapping[str, Any], key: str) -> bool:
    """True when label or annotation `key` is `disabled` (any case), the way a user turns off
    substitution, pruning, reconciliation or decryption of one object."""
    for values in (labels(obj), annotations(obj)):
        value = values.get(key)
        if isinstance(value, str) and value.lower() == DISABLED:
            return True
    return False


def is_sops_encrypted(obj: Mapping[str, Any]) -> bool:
    """The object was encrypted as a whole by SOPS: it has a top-level `sops` metadata block."""
    metadata = obj.get("sops")
    return isinstance(metadata, Mapping) and "mac" in metadata


def is_encrypted_secret(obj: Mapping[str, Any]) -> bool:
    """A v1 Secret that is still SOPS-encrypted (applying it would store ciphertext)."""
    return obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret" and is_sops_encrypted(obj)


def describe(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` (or `Kind/name`), the way Flux names an object in messages."""
    meta = obj.get("metadata") or {}
    kind = obj.get("kind") or "<no kind>"
    name = meta.get("name") or "<no name>"
    namespace = meta.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _with_metadata(
    obj: Mapping[str, Any],
    new_labels: Mapping[str, str] | None,
    new_annotations: Mapping[str, str] | None,
) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    meta = out.setdefault("metadata", {})
    if new_labels:
        meta["labels"] = {**(meta.get("labels") or {}), **new_labels}
    if new_annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **new_annotations}
    return out


def set_common_metadata(
    objects: Iterable[Mapping[str, Any]],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """`spec.commonMetadata`: copies of `objects` with these labels and annotations added,
    overriding equal keys. Flux does this after substitution and decryption, so values here
    are never substituted."""
    return [_with_metadata(obj, labels, annotations) for obj in objects]


def set_owner_labels(
    objects: Iterable[Mapping[str, Any]], name: str, namespace: str
) -> list[dict[str, Any]]:
    """Copies of `objects` labelled `kustomize.toolkit.fluxcd.io/name` and `.../namespace` with
    the Kustomization that applies them (set last, so nothing overrides them)."""
    owner = {KUSTOMIZE_NAME_LABEL: name, KUSTOMIZE_NAMESPACE_LABEL: namespace}
    return [_with_metadata(obj, owner, None) for obj in objects]
