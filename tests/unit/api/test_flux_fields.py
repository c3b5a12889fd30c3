"""The generated CRDs against the field list of Flux 2.9 (`flux-2.9-fields.txt`, a copy of
the shared FLUX-2.9-FIELDS.txt: every field of every CRD Flux 2.9's controllers serve).

For every kind in that list that afflux serves, every field path listed there must exist in
our CRD with the same type and the same enum. Kinds and fields another piece of work owns
(helm-controller, notification-controller) and has not reached yet are the expected gaps
of `EXPECTED_GAPS`: an explicit allow-list, printed by `test_print_expected_gaps`, that the
owners shrink as they land fields. An entry that is no longer a gap fails the test too, so
the list never claims more than is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from afflux.api import KINDS
from afflux.api.crdgen import build_crd

FIELDS_FILE = Path(__file__).with_name("flux-2.9-fields.txt")

# --- the allow-list -------------------------------------------------------------------------
#
# kind -> {path: why}. Each entry is one field path of flux-2.9-fields.txt that our CRD
# lacks or types differently today. Only the work named in the comment may add entries;
# everyone removes the ones their change closes (the test fails on a stale entry).

EXPECTED_GAPS: dict[str, dict[str, str]] = {}  # empty: every field of the list is served


# --- the parser -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FluxField:
    """One line of the list: a field path, its type and attributes."""

    path: str
    type: str
    enum: tuple[Any, ...] | None = None
    required: bool = False


@dataclass
class FluxKind:
    """One `## Kind group/version, ...` section."""

    kind: str
    group: str
    version: str
    short_names: tuple[str, ...]
    fields: dict[str, FluxField]


def _attributes(text: str) -> dict[str, Any]:
    """`required enum=["a", "b"] default="x" maxLength=3` -> {"required": True, ...}.
    Values are JSON (strings, lists, objects, numbers) or bare words."""
    decoder = json.JSONDecoder()
    out: dict[str, Any] = {}
    i = 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        j = i
        while j < len(text) and text[j] not in " =":
            j += 1
        key = text[i:j]
        if j >= len(text) or text[j] == " ":
            out[key] = True
            i = j
            continue
        j += 1
        try:
            value, end = decoder.raw_decode(text, j)
        except json.JSONDecodeError:
            end = text.find(" ", j)
            end = len(text) if end < 0 else end
            value = text[j:end]
        if key == "rule":
            out.setdefault("rules", []).append(value)
        else:
            out[key] = value
        i = end
    return out


def parse_fields(text: str) -> dict[str, FluxKind]:
    """The kinds of the list, by kind name."""
    kinds: dict[str, FluxKind] = {}
    current: FluxKind | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("## "):
            kind, _, rest = line[3:].partition(" ")
            group, _, version = rest.split(",", 1)[0].partition("/")
            _, _, names = rest.partition("shortNames ")
            short = tuple(json.loads(names.replace("'", '"'))) if names.startswith("[") else ()
            current = kinds[kind] = FluxKind(kind, group, version, short, {})
            continue
        if not line or line.startswith("#") or current is None:
            continue
        path, _, rest = line.partition("  ")
        type_, _, attrs = rest.strip().partition(" ")
        parsed = _attributes(attrs)
        enum = parsed.get("enum")
        current.fields[path] = FluxField(path, type_, tuple(enum) if enum else None,
                                         bool(parsed.get("required")))
    return kinds


def _segments(path: str) -> list[str]:
    """`spec.a[].b{*}.c` -> ["spec", "a", "[]", "b", "{*}", "c"]."""
    out: list[str] = []
    for part in path.split("."):
        name = part
        tail: list[str] = []
        while name.endswith(("[]", "{*}")):
            suffix = "[]" if name.endswith("[]") else "{*}"
            tail.insert(0, suffix)
            name = name[: -len(suffix)]
        if name:
            out.append(name)
        out.extend(tail)
    return out


def schema_node(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema node at a list path (None when our schema has no such field)."""
    node: dict[str, Any] | None = schema
    for seg in _segments(path):
        if node is None:
            return None
        if seg == "[]":
            node = node.get("items")
        elif seg == "{*}":
            node = node.get("additionalProperties")
        else:
            node = (node.get("properties") or {}).get(seg)
    return node


def node_type(node: dict[str, Any]) -> str:
    """Our node's type in the list's words (`any` for a free-form node)."""
    if "type" in node:
        return str(node["type"])
    if node.get("x-kubernetes-preserve-unknown-fields") or node.get(
            "x-kubernetes-int-or-string"):
        return "any"
    return "?"


def field_problem(schema: dict[str, Any], field: FluxField) -> str | None:
    """Why our schema does not serve `field` as Flux does (None when it does)."""
    node = schema_node(schema, field.path)
    if node is None:
        return "missing"
    ours = node_type(node)
    if ours != field.type:
        return f"type {ours}, Flux {field.type}"
    theirs = set(field.enum or ())
    mine = set(node.get("enum") or ())
    if theirs != mine:
        return f"enum {sorted(mine)}, Flux {sorted(theirs)}"
    return None


# --- the comparison -------------------------------------------------------------------------

FLUX = parse_fields(FIELDS_FILE.read_text(encoding="utf-8"))
OURS = {cls.KIND: cls for cls in KINDS}


def _our_schema(kind: str) -> dict[str, Any]:
    crd = build_crd(OURS[kind])
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def gaps() -> dict[str, dict[str, str]]:
    """Every field of the list that our CRDs lack or type differently: kind -> path -> why."""
    out: dict[str, dict[str, str]] = {}
    for kind, flux in FLUX.items():
        if kind not in OURS:
            out[kind] = {"*": "kind not served"}
            continue
        schema = _our_schema(kind)
        for field in flux.fields.values():
            problem = field_problem(schema, field)
            if problem:
                out.setdefault(kind, {})[field.path] = problem
    return out


GAPS = gaps()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param('spec.x  string required enum=["A", "B"] default="A"',
                     FluxField("spec.x", "string", ("A", "B"), True), id="enum-and-required"),
        pytest.param('spec.y  string pattern="^a b$" maxLength=3',
                     FluxField("spec.y", "string"), id="pattern-with-space"),
        pytest.param('spec  object rule="has(self.a) || x == \\"y\\"" rule="true"',
                     FluxField("spec", "object"), id="two-rules-with-quotes"),
        pytest.param("spec.v  any", FluxField("spec.v", "any"), id="free-form"),
        pytest.param('status  object default={"observedGeneration": -1}',
                     FluxField("status", "object"), id="object-default"),
    ],
)
def test_parser_reads_a_field_line(line: str, expected: FluxField) -> None:
    kinds = parse_fields(f"## K g.io/v1, scope Namespaced, shortNames ['k']\n{line}\n")
    assert (kinds["K"].group, kinds["K"].version, kinds["K"].short_names) == ("g.io", "v1",
                                                                            ("k",))
    assert list(kinds["K"].fields.values()) == [expected]


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        pytest.param("spec", ["spec"], id="top"),
        pytest.param("spec.a[].b", ["spec", "a", "[]", "b"], id="list-items"),
        pytest.param("spec.m{*}.c", ["spec", "m", "{*}", "c"], id="map-values"),
        pytest.param("spec.m{*}", ["spec", "m", "{*}"], id="map-tail"),
    ],
)
def test_path_segments(path: str, segments: list[str]) -> None:
    assert _segments(path) == segments


def test_the_list_is_the_whole_shared_file() -> None:
    assert len(FLUX) == 15
    assert sum(len(k.fields) for k in FLUX.values()) > 800
    assert FLUX["Kustomization"].fields["spec.prune"] == FluxField("spec.prune", "boolean",
                                                                   None, True)


@pytest.mark.parametrize("kind", sorted(FLUX), ids=str)
def test_kind_is_served_in_flux_group_and_version(kind: str) -> None:
    assert kind in OURS, f"afflux serves no {kind}"
    cls = OURS[kind]
    assert cls.GROUP == FLUX[kind].group
    assert FLUX[kind].version in cls.SERVED_VERSIONS
    assert set(FLUX[kind].short_names) <= set(cls.SHORT_NAMES)


@pytest.mark.parametrize("kind", sorted(FLUX), ids=str)
def test_every_flux_field_is_in_our_crd(kind: str) -> None:
    found = GAPS.get(kind, {})
    allowed = EXPECTED_GAPS.get(kind, {})
    unexpected = {p: why for p, why in found.items() if p not in allowed}
    stale = sorted(p for p in allowed if p not in found)
    assert not unexpected, (
        f"{kind}: fields Flux 2.9 serves that our CRD lacks or types differently:\n"
        + "\n".join(f"  {p}: {why}" for p, why in sorted(unexpected.items())))
    assert not stale, (f"{kind}: no longer gaps, remove them from EXPECTED_GAPS: {stale}")


def test_print_expected_gaps(capsys: pytest.CaptureFixture[str]) -> None:
    """The allow-list, as a report (`pytest -s` shows it)."""
    lines = ["expected gaps against Flux 2.9 (tests/unit/api/test_flux_fields.py):"]
    for kind in sorted(EXPECTED_GAPS):
        for path, owner in sorted(EXPECTED_GAPS[kind].items()):
            why = GAPS.get(kind, {}).get(path, "closed")
            lines.append(f"  {kind} {path}: {why} [{owner}]")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(EXPECTED_GAPS.values())
