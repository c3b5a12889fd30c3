"""`spec.postRenderers`: kustomize patches and images applied to what the chart rendered.

helm's `--post-renderer` runs a program with the rendered manifests on stdin and installs
what it prints. `post_renderer_args` writes, into the action's private workspace, the
post-renderers as JSON and a small executable that runs this module's `main`
(`python -c <import and call main> <config.json> <kustomize>`, the `kustomize` program
found by the controller; not `python -m`, which would import the module twice, through
its package first, and warn). `main` then, for each
post-renderer in order, writes the manifests and a kustomization.yaml (`resources`,
`patches` with their targets, `images`) into a temporary directory and runs the real
`kustomize build` on it. The deprecated `patchesStrategicMerge` and `patchesJson6902` are
turned into `patches`.

`spec.commonMetadata` is a step of its own (no kustomize needed): its labels and
annotations are set on the metadata of every rendered object, overriding equal keys, as
Flux's common-metadata post-renderer does. Last come helm-controller's origin labels,
`helm.toolkit.fluxcd.io/name` and `helm.toolkit.fluxcd.io/namespace` (the HelmRelease's
name and namespace), on every object of every release, over equal keys of the chart or of
commonMetadata, as Flux's helm-controller sets them: `afflux tree`, `trace` and the flux CLI
find a release's objects by them. So every release has a post-renderer. Hooks never reach
a post-renderer (Helm 3, `postRenderStrategy: nohooks`), and CRDs of a chart's `crds/`
directory are installed before rendering, so they get none of this.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from afflux.api import HelmRelease, meta

from ._engine import HOOK_ANNOTATION
from ._helm import Workspace, find_tool

__all__ = [
    "kustomization_for",
    "main",
    "origin_labels",
    "post_renderer_args",
    "with_common_metadata",
    "with_release_metadata",
]


#: What the post-render program runs (`main` with the program's arguments).
_ENTRY = "from afflux.controllers.helm._postrender import main; main()"


def kustomization_for(renderer: dict[str, Any]) -> dict[str, Any]:
    """The kustomization.yaml of one post-renderer's `kustomize` (pure)."""
    spec = renderer.get("kustomize") or {}
    patches: list[dict[str, Any]] = [dict(p) for p in spec.get("patches") or ()]
    for doc in spec.get("patchesStrategicMerge") or ():
        patches.append({"patch": yaml.safe_dump(doc, sort_keys=False)})
    for item in spec.get("patchesJson6902") or ():
        patches.append({"target": item.get("target") or {},
                        "patch": json.dumps(item.get("patch") or [])})
    kustomization: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                     "kind": "Kustomization", "resources": ["all.yaml"]}
    if patches:
        kustomization["patches"] = patches
    if spec.get("images"):
        kustomization["images"] = spec["images"]
    return kustomization


def post_renderer_args(hr: HelmRelease, ws: Workspace) -> list[str]:
    """`--post-renderer <program>` for the HelmRelease's post-renderers, commonMetadata and
    origin labels. Raises HelmError when kustomize is needed and not installed."""
    renderers = [r.to_dict() for r in hr.spec.post_renderers or [] if r.kustomize is not None]
    common = hr.spec.common_metadata.to_dict() if hr.spec.common_metadata else None
    config = ws.write("postrender.json", json.dumps({
        "renderers": renderers, "commonMetadata": common,
        "origin": {"name": hr.name, "namespace": hr.namespace}}))
    kustomize = find_tool("kustomize") if renderers else ""
    program = ws.write("post-render", "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in (
        sys.executable, "-c", _ENTRY, str(config), kustomize)) + "\n")
    os.chmod(program, 0o700)
    return ["--post-renderer", str(program)]


def render(manifests: str, renderers: list[dict[str, Any]], kustomize: str) -> str:
    for renderer in renderers:
        with tempfile.TemporaryDirectory(prefix="post-render-") as d:
            root = Path(d)
            (root / "all.yaml").write_text(manifests)
            (root / "kustomization.yaml").write_text(
                yaml.safe_dump(kustomization_for(renderer), sort_keys=False))
            done = subprocess.run([kustomize, "build", str(root)], capture_output=True,
                                  text=True, timeout=120)
            if done.returncode != 0:
                raise SystemExit(f"kustomize build failed: {done.stderr.strip()}")
            manifests = done.stdout
    return manifests


def origin_labels(name: str, namespace: str) -> dict[str, str]:
    """helm-controller's labels naming the HelmRelease an object was rendered for."""
    return {meta.HELM_NAME_LABEL: name, meta.HELM_NAMESPACE_LABEL: namespace}


def _with_metadata(manifests: str, labels: dict[str, str] | None,
                   annotations: dict[str, str] | None) -> str:
    """`manifests` (YAML documents) with `labels` and `annotations` set on every object but
    hooks, over equal keys (pure)."""
    if not labels and not annotations:
        return manifests
    docs = []
    for doc in yaml.safe_load_all(manifests):
        if not isinstance(doc, dict):
            continue
        md = doc["metadata"] = doc.get("metadata") or {}
        if HOOK_ANNOTATION in (md.get("annotations") or {}):  # `helm template` has them
            docs.append(doc)
            continue
        for key, extra in (("labels", labels), ("annotations", annotations)):
            if extra:
                md[key] = {**(md.get(key) or {}), **extra}
        docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False)


def with_common_metadata(manifests: str, common: dict[str, Any] | None) -> str:
    """`manifests` (YAML documents) with `commonMetadata`'s labels and annotations set on
    every object but hooks (pure)."""
    common = common or {}
    return _with_metadata(manifests, common.get("labels"), common.get("annotations"))


def with_release_metadata(manifests: str, common: dict[str, Any] | None, name: str,
                          namespace: str) -> str:
    """What follows the kustomize post-renderers (pure): `commonMetadata`, then the origin
    labels of the HelmRelease `namespace/name` over it."""
    common = common or {}
    labels = {**(common.get("labels") or {}), **origin_labels(name, namespace)}
    return _with_metadata(manifests, labels, common.get("annotations"))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    manifests = sys.stdin.read()
    if config["renderers"]:
        manifests = render(manifests, config["renderers"], args[1])
    origin = config.get("origin") or {}
    sys.stdout.write(with_release_metadata(manifests, config.get("commonMetadata"),
                                           str(origin.get("name", "")),
                                           str(origin.get("namespace", ""))))


if __name__ == "__main__":
    main()
