"""helm-controller's dependency watches: a HelmRelease (spec.dependsOn, or the depends-on
annotation) or a Kustomization (the annotation) whose readiness changed triggers exactly
the HelmReleases that depend on it, found in the scheduler's index of dependents."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.helm.handlers import trigger_dependents
from harness.scheduler_fakes import RecordingScheduler

DEP = "afflux.toolkit.fluxcd.io/depends-on"


def _hr(name: str, *, deps: list[dict[str, str]] | None = None,
        annotation: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "apps"}
    if annotation:
        meta["annotations"] = {DEP: annotation}
    return {"kind": "HelmRelease", "metadata": meta, "spec": {"dependsOn": deps or []}}


RELEASES = [
    _hr("web", deps=[{"name": "db"}]),
    _hr("api", deps=[{"name": "db"}, {"name": "cache", "namespace": "infra"}]),
    _hr("ui", annotation="Kustomization/infra/base, HelmRelease/web"),
    _hr("alone"),
]


@pytest.mark.parametrize(("kind", "namespace", "name", "triggered"), [
    pytest.param("HelmRelease", "apps", "db", [("apps", "api"), ("apps", "web")],
                 id="dependsOn-same-namespace"),
    pytest.param("HelmRelease", "infra", "cache", [("apps", "api")],
                 id="dependsOn-other-namespace"),
    pytest.param("HelmRelease", "apps", "web", [("apps", "ui")], id="annotation-own-kind"),
    pytest.param("Kustomization", "infra", "base", [("apps", "ui")],
                 id="annotation-kustomization"),
    pytest.param("Kustomization", "apps", "db", [], id="dependsOn-is-not-cross-kind"),
    pytest.param("HelmRelease", "apps", "alone", [], id="nobody-depends"),
])
def test_trigger_dependents(kind: str, namespace: str, name: str,
                            triggered: list[tuple[str, str]]) -> None:
    scheduler = RecordingScheduler(*RELEASES, kind="HelmRelease")
    callback = trigger_dependents(scheduler, kind)  # type: ignore[arg-type]
    callback("MODIFIED", {"kind": kind, "metadata": {"namespace": namespace, "name": name}})
    assert scheduler.triggered == triggered
