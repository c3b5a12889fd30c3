"""No logging call passes an `extra=` key that LogRecord already has: such a call raises
KeyError ("Attempt to overwrite 'name' in LogRecord") at the moment something goes wrong,
which once left a deleted Kustomization Terminating for ever. Read from the source (AST), so
a new offender fails here, not in production."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RESERVED = frozenset(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {
    "message", "asctime"}
SOURCES = sorted(p for d in ("controllers", "cli", "api") for p in (ROOT / d).rglob("*.py"))


def _offenders(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                for key in kw.value.keys:
                    if isinstance(key, ast.Constant) and key.value in RESERVED:
                        found.append(f"{path.relative_to(root)}:{node.lineno}: {key.value!r}")
    return found


def test_the_scan_finds_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "offender.py"
    bad.write_text('import logging\nlogging.getLogger().error("x", extra={"name": 1})\n')
    assert _offenders(bad, tmp_path) == ["offender.py:2: 'name'"]


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_extra_key_overwrites_a_log_record_attribute(path: Path) -> None:
    assert _offenders(path) == []
