"""helm-controller's origin labels (`helm.toolkit.fluxcd.io/name|namespace`): set on every
rendered object but hooks (`helm template`'s output), after commonMetadata and over equal keys
of the chart and of commonMetadata; the post-render program helm runs applies them to every
release, and to every object it is handed (Helm 3 hands it no hooks; Helm 4's plugin hands
it those `postRenderStrategy` says)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.api import HelmRelease
from afflux.controllers.helm import origin_labels, with_release_metadata
from afflux.controllers.helm._helm import Workspace
from afflux.controllers.helm._postrender import post_renderer_args

ORIGIN = {"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "apps"}

RENDERED = """---
# Source: web/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  labels: {app: web, helm.toolkit.fluxcd.io/name: spoofed}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
---
apiVersion: v1
kind: Pod
metadata:
  name: test
  annotations: {helm.sh/hook: test}
"""


def test_origin_labels() -> None:
    assert origin_labels("web", "apps") == ORIGIN


@pytest.mark.parametrize(("common", "labels", "annotations"), [
    pytest.param(None, [{"app": "web", **ORIGIN}, ORIGIN], [None, None],
                 id="origin-only-over-the-charts-own"),
    pytest.param({"labels": {"team": "web", "helm.toolkit.fluxcd.io/namespace": "x"},
                  "annotations": {"owner": "ops"}},
                 [{"app": "web", "team": "web", **ORIGIN}, {"team": "web", **ORIGIN}],
                 [{"owner": "ops"}, {"owner": "ops"}], id="over-common-metadata"),
])
def test_with_release_metadata(common: dict[str, Any] | None, labels: list[Any],
                               annotations: list[Any]) -> None:
    docs = list(yaml.safe_load_all(with_release_metadata(RENDERED, common, "web", "apps")))
    assert [d["metadata"].get("labels") for d in docs[:2]] == labels
    assert [d["metadata"].get("annotations") for d in docs[:2]] == annotations
    assert docs[1]["spec"] == {"selector": {"app": "web"}}  # only metadata.labels
    assert docs[2]["metadata"] == {"name": "test", "annotations": {"helm.sh/hook": "test"}}


def test_the_post_render_program_labels_every_release(tmp_path: Path) -> None:
    """The program helm runs, as `post_renderer_args` writes it, on a release with neither
    postRenderers nor commonMetadata: it loads `_postrender_prog` by its path and labels."""
    hr = HelmRelease.from_dict({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "c"}}})
    args = post_renderer_args(hr, Workspace(tmp_path))
    assert args[0] == "--post-renderer"
    done = subprocess.run([args[1]], input=RENDERED, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stderr == ""
    docs = list(yaml.safe_load_all(done.stdout))
    assert [d["metadata"]["labels"] for d in docs[:2]] == [{"app": "web", **ORIGIN}, ORIGIN]
    # a hook handed over (Helm 4, postRenderStrategy combined or separate) is labelled too
    assert docs[2]["metadata"]["labels"] == ORIGIN
