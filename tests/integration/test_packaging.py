"""The distribution: a built wheel installs on its own and every subpackage imports from it."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    wheels = list(out.glob("afflux-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def packages_in(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        inits = [n for n in zf.namelist() if n.endswith("/__init__.py")]
    return sorted(n[: -len("/__init__.py")].replace("/", ".") for n in inits)


def test_wheel_holds_every_subpackage_of_the_tree(wheel: Path) -> None:
    expected = {"afflux.api", "afflux.controllers", "afflux.cli"}
    for top in ("api", "controllers", "cli"):
        for init in (REPO / top).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / top)
            if "__pycache__" not in rel.parts:
                expected.add(".".join(["afflux", top, *rel.parts]).rstrip("."))
    assert set(packages_in(wheel)) == expected


def test_every_subpackage_imports_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # The dependencies come from this test run's environment (a plain path line: its .pth
    # files, and so its editable install of afflux, are not read); afflux from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    packages = packages_in(wheel)
    script = (
        "import importlib, sys\n"
        f"for name in {packages!r}:\n"
        "    mod = importlib.import_module(name)\n"
        f"    assert mod.__file__.startswith({str(site)!r}), (name, mod.__file__)\n"
        "print(len(sys.modules))\n"
    )
    proc = subprocess.run([str(py), "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    version = subprocess.run(
        [str(env_dir / "bin" / "afflux"), "version"], capture_output=True, text=True
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("afflux: v")


def test_wheel_holds_the_ui_page(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for name in ("index.html", "app.js", "app.css"):
        assert f"afflux/cli/ui/static/{name}" in names, name
