"""`afflux migrate -f` as a user runs it, in a subprocess (no cluster needed): --dry-run prints
a diff and writes nothing; without it the files are rewritten, and a second run finds
nothing to do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parents[2] / "unit" / "cli" / "migrate_samples"


def _afflux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "afflux.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_migrate_dry_run_then_for_real(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SAMPLES, repo / "clusters")
    (repo / "clusters" / "notes.txt").write_text("apiVersion: helm.toolkit.fluxcd.io/v2beta1\n")
    before = {p: p.read_text() for p in repo.rglob("*") if p.is_file()}

    dry = _afflux("migrate", "-f", str(repo), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "-apiVersion: kustomize.toolkit.fluxcd.io/v1beta2" in dry.stdout
    assert "+apiVersion: kustomize.toolkit.fluxcd.io/v1" in dry.stdout
    assert "4 object(s) would be migrated" in dry.stdout
    assert {p: p.read_text() for p in before} == before

    done = _afflux("migrate", "-f", str(repo))
    assert done.returncode == 0, done.stderr
    assert "HelmRelease/podinfo helm.toolkit.fluxcd.io/v2beta1 -> helm.toolkit.fluxcd.io/v2 " \
           "(written again" in done.stdout
    sync = (repo / "clusters" / "sync.yaml").read_text()
    assert "apiVersion: source.toolkit.fluxcd.io/v1  # the source" in sync
    assert (repo / "clusters" / "notes.txt").read_text() == before[repo / "clusters" / "notes.txt"]

    again = _afflux("migrate", "-f", str(repo / "clusters" / "release.yaml"))
    assert again.returncode == 0, again.stderr
    assert "no Flux objects at old API versions" in again.stdout
