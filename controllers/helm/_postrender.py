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

from ._helm import Workspace, find_tool

__all__ = ["kustomization_for", "main", "post_renderer_args"]


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
    if not renderers:
        return []
    config = ws.write("postrender.json", json.dumps(renderers))
    program = ws.write("post-render", "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in (
        sys.executable, "-m", "afflux.controllers.helm._postrender", str(config),
        find_tool("kustomize"))) + "\n")
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


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    renderers = json.loads(Path(args[0]).read_text())
    sys.stdout.write(render(sys.stdin.read(), renderers, args[1]))


if __name__ == "__main__":
    main()
