"""The flag tables of docs/flux-compatibility.md ("Flags of the operators") against the flag
list the operators parse (`_fluxflags.FLUX_FLAGS`): every Flux flag of each controller has its
row, no row names a flag the operator does not take, a flag afflux does not act on says so
with the reason the operator logs, and an implemented one says "implemented". So the table
cannot claim a flag works when the operator only accepts it, or fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from afflux.controllers.runtime._fluxflags import FLUX_FLAGS, FluxFlag

DOC = Path(__file__).resolve().parents[3] / "docs" / "flux-compatibility.md"
ROW = re.compile(r"^\| `--([\w-]+)` \|\s*(.*?)\s*\|\s*(.*?)\s*\|$")

#: (controller, flag) -> the default the table shows when it is not `FluxFlag.default`, and why
DEFAULT_SHOWN: dict[tuple[str, str], str] = {}


def _tables() -> dict[str, dict[str, tuple[str, str]]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Flags of the operators", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    for part in section.split("\n### ")[1:]:
        name, _, body = part.partition("\n")
        rows = {}
        for line in body.splitlines():
            if m := ROW.match(line):
                rows[m.group(1)] = (m.group(2), m.group(3))
        tables[name.strip()] = rows
    return tables


def _expected_cell_start(flag: FluxFlag) -> str:
    if not flag.ignored:
        return "implemented"
    head = "accepted, no effect (logged at start): " if flag.level == "warn" \
        else "accepted, not needed: "
    return head + flag.ignored.removeprefix("not needed: ")


def test_every_controller_has_a_table() -> None:
    assert sorted(_tables()) == sorted(FLUX_FLAGS)


@pytest.mark.parametrize("controller", sorted(FLUX_FLAGS))
def test_the_table_lists_exactly_the_flags_the_operator_takes(controller: str) -> None:
    rows = _tables()[controller]
    flags = [f.name for f in FLUX_FLAGS[controller]]
    assert sorted(rows) == sorted(flags)


@pytest.mark.parametrize(
    ("controller", "flag"),
    [pytest.param(c, f, id=f"{c}--{f.name}") for c in sorted(FLUX_FLAGS) for f in FLUX_FLAGS[c]],
)
def test_each_row_says_what_the_operator_does(controller: str, flag: FluxFlag) -> None:
    default, cell = _tables()[controller][flag.name]
    shown = DEFAULT_SHOWN.get((controller, flag.name),
                              f"`{flag.default}`" if flag.default else "")
    assert default == shown
    want = _expected_cell_start(flag)
    if flag.ignored:
        assert cell == want
    else:
        assert cell.startswith(want), f"--{flag.name} is implemented; the table says {cell!r}"
