"""Unit tests run no program: helm-controller's setup looks its helm program up at start (a
missing helm is a start-up failure, as it must be), so the unit tests that build the operator
name a helm path that is never run rather than depend on `make tools` having run."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _helm_programs_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AFFLUX_HELM", "AFFLUX_HELM4"):
        monkeypatch.setenv(name, "/nonexistent/helm-not-run-by-unit-tests")
