"""Which integration test exercises each Flux 2.9 CRD field: docs/flux-fields.md.

    .venv/bin/python hack/flux_fields_table.py                 # rewrite docs/flux-fields.md
    .venv/bin/python hack/flux_fields_table.py --check         # exit 1 and say why when the
                                                               # markers, the gap lists and
                                                               # the document disagree
    .venv/bin/python hack/flux_fields_table.py --write-uncovered Kind [Kind ...]
                                                               # (re)write fields_uncovered/
                                                               # <Kind>.txt: kept reasons,
                                                               # "not tested yet" for new gaps

Sources, all read without a cluster:
- tests/unit/api/flux-2.9-fields.txt: every field of every kind (`spec.*` and `status.*` count);
- the `@pytest.mark.flux_fields("Kind", "spec.path", ...)` markers of tests/integration, found
  by an AST scan (a decorator on a test function or class, a module's `pytestmark`, or the
  `marks=` of a `pytest.param`), with string literals only;
- tests/unit/api/fields_uncovered/<Kind>.txt: `<path>  # why` for each field no test covers.

Rules (the unit test tests/unit/api/test_flux_fields_covered.py enforces them):
- a marker on a path covers that path and every field under it;
- a container (`object`/`array`) is also covered when every leaf under it is;
- every leaf field must be covered or sit under (or be) an entry of the kind's gap list;
- a gap entry whose every leaf is covered is stale; a marker or gap path that is not in the
  list is a typo; a marker on `spec` or `status` as a whole is refused (say which fields).

The pure part (parsing, scanning, coverage, rendering) has no I/O; `main` reads and writes.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS_FILE = ROOT / "tests" / "unit" / "api" / "flux-2.9-fields.txt"
UNCOVERED_DIR = ROOT / "tests" / "unit" / "api" / "fields_uncovered"
INTEGRATION = ROOT / "tests" / "integration"
DOC = ROOT / "docs" / "flux-fields.md"
MARKER = "flux_fields"
NOT_TESTED = "not tested yet"
ROOTS = ("spec", "status")


# --- the field list --------------------------------------------------------------------------


def parse_field_list(text: str) -> dict[str, list[str]]:
    """kind -> its `spec.*` and `status.*` paths, in the list's order."""
    kinds: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("## "):
            current = kinds.setdefault(line[3:].split()[0], [])
        elif line and not line.startswith("#") and current is not None:
            path = line.split()[0]
            if path.split(".")[0].split("[")[0] in ROOTS:
                current.append(path)
    return kinds


def _is_under(path: str, ancestor: str) -> bool:
    """`spec.a.b`, `spec.a[]`, `spec.a{*}` are under `spec.a`; `spec.ab` is not."""
    return path == ancestor or (path.startswith(ancestor) and path[len(ancestor)] in ".[{")


def leaves(paths: list[str]) -> list[str]:
    """The paths with no other path under them."""
    return [p for p in paths if not any(q != p and _is_under(q, p) for q in paths)]


# --- the markers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """One marker: a test (pytest node id) names fields of a kind."""

    node: str
    kind: str
    paths: tuple[str, ...]


class MarkerError(ValueError):
    """A marker the scan cannot read (not string literals, no paths)."""


def _marker_call(node: ast.AST) -> ast.Call | None:
    """`pytest.mark.flux_fields(...)` (or `mark.flux_fields(...)`) -> the call."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == MARKER):
        return node
    return None


def _marks_in(expr: ast.AST | None) -> list[ast.Call]:
    """Marker calls in a decorator, a `pytestmark` value or a `marks=` value (a list too)."""
    if expr is None:
        return []
    if isinstance(expr, (ast.List, ast.Tuple)):
        return [c for e in expr.elts for c in _marks_in(e)]
    call = _marker_call(expr)
    return [call] if call else []


def _read(call: ast.Call, where: str) -> tuple[str, tuple[str, ...]]:
    args = []
    for arg in call.args:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            raise MarkerError(f"{where}: flux_fields takes string literals (line {call.lineno})")
        args.append(arg.value)
    if len(args) < 2:
        raise MarkerError(f"{where}: flux_fields needs a kind and at least one path "
                          f"(line {call.lineno})")
    return args[0], tuple(args[1:])


def _param_marks(func: ast.AST) -> list[ast.Call]:
    """Marker calls in `pytest.param(..., marks=...)` inside a function's decorators."""
    found: list[ast.Call] = []
    for deco in getattr(func, "decorator_list", []):
        for sub in ast.walk(deco):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                    and sub.func.attr == "param":
                for kw in sub.keywords:
                    if kw.arg == "marks":
                        found += _marks_in(kw.value)
    return found


def scan_source(source: str, relpath: str) -> list[Mark]:
    """The markers of one test module; node ids are `relpath::[Class::]test_name`."""
    tree = ast.parse(source, filename=relpath)
    module_marks: list[ast.Call] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            module_marks += _marks_in(stmt.value)
    out: list[Mark] = []

    def tests_of(body: list[ast.stmt], prefix: str, inherited: list[ast.Call]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef) and stmt.name.startswith("Test"):
                own = [c for d in stmt.decorator_list for c in _marks_in(d)]
                tests_of(stmt.body, f"{prefix}{stmt.name}::", inherited + own)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and stmt.name.startswith("test"):
                own = [c for d in stmt.decorator_list for c in _marks_in(d)]
                node = f"{relpath}::{prefix}{stmt.name}"
                for call in inherited + own + _param_marks(stmt):
                    kind, paths = _read(call, node)
                    out.append(Mark(node, kind, paths))

    tests_of(tree.body, "", module_marks)
    return out


# --- coverage --------------------------------------------------------------------------------


def parse_uncovered(text: str) -> dict[str, str]:
    """`<path>  # why` lines -> {path: why}; blank lines and `#` comment lines are skipped."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        path, _, why = line.partition("#")
        out[path.strip()] = why.strip()
    return out


@dataclass
class Coverage:
    """One kind's fields against its markers and its gap list."""

    kind: str
    paths: list[str]
    tests: dict[str, list[str]] = field(default_factory=dict)  # path -> nodes naming it
    uncovered: dict[str, str] = field(default_factory=dict)   # gap entry -> why

    def _named(self, path: str) -> bool:
        return any(_is_under(path, named) for named in self.tests)

    def covered(self, path: str) -> bool:
        """Named (or under a named path), or a container whose every leaf is."""
        under = [p for p in self.paths if _is_under(p, path)]
        return self._named(path) or all(self._named(leaf) for leaf in leaves(under))

    def tests_for(self, path: str) -> list[str]:
        """The tests whose markers name this path or a path above it."""
        nodes = {n for named, ns in self.tests.items() if _is_under(path, named) for n in ns}
        return sorted(nodes)

    def gap_for(self, path: str) -> str | None:
        """The reason of the gap entry this path is (or sits under), if any."""
        hits = [p for p in self.uncovered if _is_under(path, p)]
        return self.uncovered[max(hits, key=len)] if hits else None


def coverage(fields: Mapping[str, list[str]], marks: Iterable[Mark],
             uncovered: Mapping[str, Mapping[str, str]]) -> dict[str, Coverage]:
    out = {kind: Coverage(kind, paths, uncovered=dict(uncovered.get(kind, {})))
           for kind, paths in fields.items()}
    for mark in marks:
        cov = out.get(mark.kind)
        if cov is None:
            continue
        for path in mark.paths:
            cov.tests.setdefault(path, [])
            if mark.node not in cov.tests[path]:
                cov.tests[path].append(mark.node)
    return out


def problems(fields: Mapping[str, list[str]], marks: Iterable[Mark],
             uncovered: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Everything that is wrong, one readable line each (empty: all is well)."""
    marks = list(marks)
    out: list[str] = []
    for mark in marks:
        if mark.kind not in fields:
            out.append(f"{mark.node}: flux_fields names kind {mark.kind!r}, not a kind of "
                       f"flux-2.9-fields.txt ({', '.join(sorted(fields))})")
            continue
        for path in mark.paths:
            if path in ROOTS:
                out.append(f"{mark.node}: flux_fields({mark.kind!r}, {path!r}) names the "
                           f"whole {path}; name the fields the test exercises")
            elif path not in fields[mark.kind]:
                out.append(f"{mark.node}: flux_fields names {mark.kind} {path!r}, not a "
                           "field of flux-2.9-fields.txt (a typo?)")
    for kind in uncovered:
        if kind not in fields:
            out.append(f"fields_uncovered/{kind}.txt: {kind} is not a kind of the list")
    covs = coverage(fields, marks, uncovered)
    for kind, cov in covs.items():
        where = f"fields_uncovered/{kind}.txt"
        for path, why in cov.uncovered.items():
            if path not in cov.paths:
                out.append(f"{where}: {path!r} is not a {kind} field of flux-2.9-fields.txt")
            elif cov.covered(path):
                out.append(f"{where}: {path!r} is covered by a test now; remove the line")
            elif not why:
                out.append(f"{where}: {path!r} says no why (`<path>  # why`)")
        for leaf in leaves(cov.paths):
            if not cov.covered(leaf) and cov.gap_for(leaf) is None:
                out.append(f"{kind} {leaf}: no integration test marks it (flux_fields) and "
                           f"{where} does not list it; test it or list it with why")
    return out


def minimal_gaps(cov: Coverage, keep: Mapping[str, str]) -> dict[str, str]:
    """The gap list a kind needs: the largest subtrees with no covered field (below
    `spec`/`status`), with the reasons of `keep` where an entry matches one (or sits under
    one), else "not tested yet"."""
    out: dict[str, str] = {}
    for path in cov.paths:
        if path in ROOTS or cov.covered(path) or any(_is_under(path, p) for p in out):
            continue
        under = [p for p in cov.paths if _is_under(p, path)]
        if any(cov.covered(leaf) for leaf in leaves(under)):
            continue  # partly covered: its uncovered parts get their own entries
        reasons = [w for p, w in keep.items() if _is_under(path, p)]
        out[path] = reasons[-1] if reasons else keep.get(path, NOT_TESTED)
    return out


def render_uncovered(kind: str, gaps: Mapping[str, str]) -> str:
    head = (f"# {kind} fields of flux-2.9-fields.txt that no integration test exercises yet\n"
            "# (`<path>  # why`; an entry covers the fields under it). Checked by\n"
            "# tests/unit/api/test_flux_fields_covered.py; see hack/flux_fields_table.py.\n")
    return head + "".join(f"{p}  # {w}\n" for p, w in gaps.items())


# --- the document ----------------------------------------------------------------------------


def _cell(cov: Coverage, path: str) -> str:
    nodes = cov.tests_for(path)
    if nodes:
        return "<br>".join(f"`{n}`" for n in nodes)
    why = cov.gap_for(path)
    if why is not None and not cov.covered(path):
        return f"uncovered: {why}"
    if cov.covered(path):
        return "covered by its fields"
    return "partly: see its fields"


def render_doc(covs: Mapping[str, Coverage]) -> str:
    lines = [
        "# Flux 2.9 fields and the tests that exercise them",
        "",
        "Generated by `hack/flux_fields_table.py` from the `flux_fields` markers of",
        "tests/integration and the gap lists of tests/unit/api/fields_uncovered/; do not edit",
        "by hand (`tests/unit/api/test_flux_fields_covered.py` fails when this file is out of",
        "date). Every `spec.*` and `status.*` field of Flux 2.9's CRDs",
        "(tests/unit/api/flux-2.9-fields.txt) is listed with the integration tests (run",
        "against the real kube-apiserver, Git server, registry and binaries) whose behaviour",
        "depends on it, or why no test does yet. A test named on a field also counts for the",
        "fields under it.",
        "",
        "| kind | fields | covered by a test | uncovered |",
        "| --- | --- | --- | --- |",
    ]
    for kind, cov in covs.items():
        ls = leaves(cov.paths)
        n = sum(cov.covered(p) for p in ls)
        lines.append(f"| [{kind}](#{kind.lower()}) | {len(ls)} | {n} | {len(ls) - n} |")
    lines.append("")
    lines.append("(fields counted as leaves: a field with no fields under it)")
    for kind, cov in covs.items():
        lines += ["", f"## {kind}", "", "| field | tests |", "| --- | --- |"]
        lines += [f"| `{p}` | {_cell(cov, p)} |" for p in cov.paths]
    return "\n".join(lines) + "\n"


# --- I/O -------------------------------------------------------------------------------------


def load(root: Path = ROOT) -> tuple[dict[str, list[str]], list[Mark], dict[str, dict[str, str]]]:
    """The field list, the markers of tests/integration and the gap lists, from disk."""
    fields = parse_field_list((root / FIELDS_FILE.relative_to(ROOT)).read_text())
    marks: list[Mark] = []
    for path in sorted((root / INTEGRATION.relative_to(ROOT)).rglob("test_*.py")):
        marks += scan_source(path.read_text(), path.relative_to(root).as_posix())
    gap_dir = root / UNCOVERED_DIR.relative_to(ROOT)
    uncovered = {p.stem: parse_uncovered(p.read_text()) for p in sorted(gap_dir.glob("*.txt"))}
    return fields, marks, uncovered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report problems, write nothing")
    parser.add_argument("--write-uncovered", nargs="+", metavar="KIND", default=[],
                        help="rewrite these kinds' fields_uncovered files from the markers")
    args = parser.parse_args(argv)
    fields, marks, uncovered = load()
    covs = coverage(fields, marks, uncovered)
    for kind in args.write_uncovered:
        if kind not in fields:
            print(f"unknown kind {kind}", file=sys.stderr)
            return 2
        UNCOVERED_DIR.mkdir(parents=True, exist_ok=True)
        gaps = minimal_gaps(covs[kind], uncovered.get(kind, {}))
        (UNCOVERED_DIR / f"{kind}.txt").write_text(render_uncovered(kind, gaps))
        uncovered[kind] = gaps
    covs = coverage(fields, marks, uncovered)
    doc = render_doc(covs)
    found = problems(fields, marks, uncovered)
    if args.check:
        current = DOC.read_text() if DOC.exists() else ""
        if current != doc:
            found.append("docs/flux-fields.md is out of date: run hack/flux_fields_table.py")
        for line in found:
            print(line)
        return 1 if found else 0
    DOC.write_text(doc)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
