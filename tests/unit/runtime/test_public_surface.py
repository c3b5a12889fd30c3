"""The runtime's public surface: what operators import, and what importing it costs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import afflux.controllers.runtime as runtime

ROOT = Path(__file__).resolve().parents[3]

#: `from afflux.controllers.runtime._x import ...` / `import afflux.controllers.runtime._x`,
#: at the start of a line (prose in docstrings that names a private module does not count).
PRIVATE_IMPORT = re.compile(
    r"^\s*(?:from\s+afflux\.controllers\.runtime\._\w+\s+import\b"
    r"|import\s+afflux\.controllers\.runtime\._\w+)",
    re.MULTILINE,
)

def _operator_sources() -> list[Path]:
    roots = [ROOT / "controllers", ROOT / "cli"]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if (ROOT / "controllers" / "runtime") not in path.parents
    )


def _run_fresh(code: str) -> None:
    """Run `code` in a new interpreter, so what other tests imported does not count."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", sorted(runtime.__all__))
def test_exported_name_resolves(name: str) -> None:
    assert getattr(runtime, name) is not None


def test_all_has_no_duplicates() -> None:
    assert len(set(runtime.__all__)) == len(runtime.__all__)


def test_lazy_names_are_exported() -> None:
    assert set(runtime._LAZY) <= set(runtime.__all__)


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        runtime.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import afflux.controllers.runtime", "pygit2"),
        ("from afflux.controllers.runtime import Reconciler, safe_extract", "pygit2"),
    ],
    ids=["import-package", "import-eager-names"],
)
def test_import_does_not_load(statement: str, absent: str) -> None:
    _run_fresh(f"import sys\n{statement}\nassert {absent!r} not in sys.modules, {absent!r}")


def test_lazy_name_loads_its_module() -> None:
    _run_fresh("import sys\nfrom afflux.controllers.runtime import GitCredentials\n"
               "assert 'pygit2' in sys.modules\n"
               "assert GitCredentials.__module__ == 'afflux.controllers.runtime._gitauth'")


def test_sources_are_scanned() -> None:
    sources = {path.relative_to(ROOT).as_posix() for path in _operator_sources()}
    assert "controllers/source/_git.py" in sources and "cli/_main.py" in sources
    assert not any(path.startswith("controllers/runtime/") for path in sources)


def test_operators_import_only_the_public_surface() -> None:
    offenders = {
        path.relative_to(ROOT).as_posix(): [m.group(0).strip() for m in matches]
        for path in _operator_sources()
        if (matches := list(PRIVATE_IMPORT.finditer(path.read_text())))
    }
    assert not offenders, f"import these from afflux.controllers.runtime instead: {offenders}"
