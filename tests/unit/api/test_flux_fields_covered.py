"""Every Flux 2.9 CRD field is either exercised by an integration test (a `flux_fields`
marker) or listed, with why, in tests/unit/api/fields_uncovered/<Kind>.txt; and
docs/flux-fields.md is what `hack/flux_fields_table.py` generates from them.

The repository check reads the files (no cluster); the rules themselves are table-tested on
small inputs first, so a failure of the repository check is about the repository.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("flux_fields_table",
                                               ROOT / "hack" / "flux_fields_table.py")
assert _spec and _spec.loader
table = importlib.util.module_from_spec(_spec)
sys.modules["flux_fields_table"] = table
_spec.loader.exec_module(table)

REGENERATE = "run `.venv/bin/python hack/flux_fields_table.py` and commit docs/flux-fields.md"

FIELDS = {"Demo": ["spec", "spec.a", "spec.obj", "spec.obj.x", "spec.obj.y", "spec.list",
                   "spec.list[]", "spec.list[].z", "status", "status.ready"]}


def _marks(*paths: str, kind: str = "Demo") -> list:
    return [table.Mark("tests/integration/t.py::test_it", kind, paths)]


# --- the rules, on small inputs -------------------------------------------------------------


@pytest.mark.parametrize(("marked", "gaps", "expected"), [
    pytest.param(("spec.a", "spec.obj", "spec.list", "status.ready"), {}, [],
                 id="all-covered-container-marker-covers-its-fields"),
    pytest.param(("spec.a", "spec.obj.x", "spec.obj.y", "spec.list[].z", "status.ready"), {}, [],
                 id="all-covered-by-leaves"),
    pytest.param(("spec.a", "spec.obj.x", "spec.list", "status.ready"),
                 {"spec.obj.y": "not tested yet"}, [], id="a-listed-gap"),
    pytest.param(("spec.a", "spec.obj.x", "status.ready"),
                 {"spec.obj": "not tested yet", "spec.list": "no behaviour"}, [],
                 id="a-partly-covered-container-as-gap"),
    pytest.param(("spec.a", "spec.obj", "status.ready"), {},
                 ["Demo spec.list[].z: no integration test marks it"], id="missing-gap"),
    pytest.param(("spec.a", "spec.obj", "spec.list", "status.ready"),
                 {"spec.obj.x": "not tested yet"},
                 ["fields_uncovered/Demo.txt: 'spec.obj.x' is covered by a test now"],
                 id="stale-gap"),
    pytest.param(("spec.a", "spec.obj", "spec.list", "status.ready", "spec.nope"), {},
                 ["flux_fields names Demo 'spec.nope', not a field"], id="typo-in-marker"),
    pytest.param(("spec.a", "spec.obj", "spec.list", "status.ready"), {"spec.b": "x"},
                 ["'spec.b' is not a Demo field"], id="typo-in-gap"),
    pytest.param(("spec.a", "spec.obj", "spec.list", "status.ready"), {"spec.a": ""},
                 ["'spec.a' is covered", ], id="gap-of-a-covered-field"),
    pytest.param(("spec", "status"), {},
                 ["names the whole spec", "names the whole status"], id="whole-spec-refused"),
])
def test_rules(marked, gaps, expected):
    found = table.problems(FIELDS, _marks(*marked), {"Demo": gaps})
    for want in expected:
        assert any(want in line for line in found), (want, found)
    if not expected:
        assert found == []
    # the whole-spec refusal alone: the fields still count as covered
    if "whole" not in " ".join(expected):
        assert len(found) == len(expected), found


def test_unknown_kind_in_marker():
    found = table.problems(FIELDS, _marks("spec.a", kind="Nope"), {"Demo": {"spec": "x"}})
    assert any("kind 'Nope'" in line for line in found), found


SOURCE = '''
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.flux_fields("Demo", "status.ready")]


@pytest.mark.flux_fields("Demo", "spec.a", "spec.obj.x")
def test_one():
    pass


@pytest.mark.flux_fields("Demo", "spec.list")
class TestGroup:
    @pytest.mark.parametrize("v", [pytest.param(1, marks=pytest.mark.flux_fields("Demo", "spec.obj.y"))])
    async def test_two(self, v):
        pass

    def helper(self):
        pass


def not_a_test():
    pass
'''


def test_scan_finds_decorators_class_module_and_param_marks():
    marks = table.scan_source(SOURCE, "tests/integration/t.py")
    got = {(m.node, m.paths) for m in marks}
    assert got == {
        ("tests/integration/t.py::test_one", ("status.ready",)),
        ("tests/integration/t.py::test_one", ("spec.a", "spec.obj.x")),
        ("tests/integration/t.py::TestGroup::test_two", ("status.ready",)),
        ("tests/integration/t.py::TestGroup::test_two", ("spec.list",)),
        ("tests/integration/t.py::TestGroup::test_two", ("spec.obj.y",)),
    }


@pytest.mark.parametrize("source", [
    pytest.param('@pytest.mark.flux_fields("Demo", PATH)\ndef test_x(): pass\n', id="a-name"),
    pytest.param('@pytest.mark.flux_fields("Demo")\ndef test_x(): pass\n', id="no-path"),
])
def test_scan_refuses_unreadable_markers(source):
    with pytest.raises(table.MarkerError):
        table.scan_source("import pytest\n" + source, "tests/integration/t.py")


@pytest.mark.parametrize(("path", "ancestor", "under"), [
    ("spec.a.b", "spec.a", True),
    ("spec.a[]", "spec.a", True),
    ("spec.a{*}", "spec.a", True),
    ("spec.a", "spec.a", True),
    ("spec.ab", "spec.a", False),
    ("spec.a", "spec.a.b", False),
], ids=lambda v: str(v))
def test_is_under(path, ancestor, under):
    assert table._is_under(path, ancestor) is under


def test_leaves_of_a_sibling_with_a_longer_name():
    # "spec.ignoreMissing" sorts between "spec.ignore" and "spec.ignore[]"
    assert table.leaves(["spec", "spec.ignore", "spec.ignoreMissing", "spec.ignore[]",
                         "spec.ignore[].paths"]) == ["spec.ignoreMissing", "spec.ignore[].paths"]


def test_minimal_gaps_keeps_reasons_and_takes_largest_subtrees():
    cov = table.coverage(FIELDS, _marks("spec.obj.x"), {})["Demo"]
    gaps = table.minimal_gaps(cov, {"spec.list[].z": "no behaviour", "spec.a": "why a"})
    assert gaps == {"spec.a": "why a", "spec.obj.y": "not tested yet",
                    "spec.list": "not tested yet", "status.ready": "not tested yet"}


# --- the repository -------------------------------------------------------------------------


def test_every_field_is_tested_or_listed_with_why():
    fields, marks, uncovered = table.load(ROOT)
    found = table.problems(fields, marks, uncovered)
    assert not found, "\n".join(found)


def test_every_kind_has_its_gap_list():
    fields, _, uncovered = table.load(ROOT)
    assert sorted(uncovered) == sorted(fields)


def test_document_is_up_to_date():
    fields, marks, uncovered = table.load(ROOT)
    doc = table.render_doc(table.coverage(fields, marks, uncovered))
    assert table.DOC.read_text() == doc, REGENERATE
