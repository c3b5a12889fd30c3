"""`spec.postRenderers`: kustomize patches and images applied to what the chart rendered.

helm's `--post-renderer` runs a program with the rendered manifests on stdin and installs
what it prints. `post_renderer_args` writes, into the action's private workspace, the
post-renderers as JSON and a small executable that runs this module
(`python -m afflux.controllers.helm._postrender <config.json> <kustomize>`, the
`kustomize` program found by the controller). `main` then, for each
post-renderer in order, writes the manifests and a kustomization.yaml (`resources`,
`patches` with their targets, `images`) into a temporary directory and runs the real
`kustomize build` on it. The deprecated `patchesStrategicMerge` and `patchesJson6902` are
turned into `patches`.

`spec.commonMetadata` is a last step of its own (no kustomize needed): its labels and
annotations are set on the metadata of every rendered object, overriding equal keys, as
Flux's common-metadata post-renderer does. With Helm 3 (`postRenderStrategy: nohooks`)
hooks never reach the post-renderer, so they get neither; with Helm 4 they do as the
strategy says (`_plugin`), and then get both, as in Flux.
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

from afflux.api import HelmRelease

from ._engine import HOOK_ANNOTATION
from ._helm import Workspace, find_tool

__all__ = ["kustomization_for", "main", "post_renderer_args", "with_common_metadata"]


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
    """`--post-renderer <program>` for the HelmRelease's post-renderers (none: []).
    Raises HelmError when kustomize is not installed."""
    renderers = [r.to_dict() for r in hr.spec.post_renderers or [] if r.kustomize is not None]
    common = hr.spec.common_metadata.to_dict() if hr.spec.common_metadata else None
    if not renderers and not common:
        return []
    config = ws.write("postrender.json", json.dumps({"renderers": renderers,
                                                     "commonMetadata": common}))
    kustomize = find_tool("kustomize") if renderers else ""
    program = ws.write("post-render", "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in (
        sys.executable, "-m", "afflux.controllers.helm._postrender", str(config),
        kustomize)) + "\n")
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


def with_common_metadata(manifests: str, common: dict[str, Any] | None, *,
                         hooks: bool = False) -> str:
    """`manifests` (YAML documents) with `commonMetadata`'s labels and annotations set on
    every object but hooks, unless `hooks` (pure)."""
    if not common or not (common.get("labels") or common.get("annotations")):
        return manifests
    docs = []
    for doc in yaml.safe_load_all(manifests):
        if not isinstance(doc, dict):
            continue
        meta = doc["metadata"] = doc.get("metadata") or {}
        if not hooks and HOOK_ANNOTATION in (meta.get("annotations") or {}):  # `helm template`
            docs.append(doc)
            continue
        for key in ("labels", "annotations"):
            if common.get(key):
                meta[key] = {**(meta.get(key) or {}), **common[key]}
        docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    manifests = sys.stdin.read()
    if config["renderers"]:
        manifests = render(manifests, config["renderers"], args[1])
    sys.stdout.write(with_common_metadata(manifests, config.get("commonMetadata"), hooks=True))


if __name__ == "__main__":
    main()
