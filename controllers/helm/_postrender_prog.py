"""The post-render program helm runs for every release (`_postrender.post_renderer_args`
writes the executable; this is what it runs). Pure but for `main` and the kustomize runs.

It is loaded by its file path, not imported through `afflux.controllers.helm`, so that the
process imports only the standard library and PyYAML: it runs once per install and upgrade,
and the package's imports (the API models, asyncio) cost more CPU than the work itself. So
it imports nothing of afflux.

The program reads the manifests on stdin and the JSON config (`renderers`,
`commonMetadata`, `originLabels`) named by its first argument, and prints:

1. for each `spec.postRenderers[].kustomize` in order, what the real `kustomize build`
   (the program named by the second argument) makes of the manifests with a generated
   kustomization.yaml (`resources`, `patches` with their targets, `images`; the deprecated
   `patchesStrategicMerge` and `patchesJson6902` turned into `patches`);
2. then `commonMetadata`'s labels and annotations, then the origin labels over them, set on
   the metadata of every object it is given, over equal keys (Helm 3 never gives it hooks;
   Helm 4 gives it the ones `postRenderStrategy` says). The CLI applies the same step to
   `helm template`'s output, which prints hooks, and leaves those alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["HOOK_ANNOTATION", "finish", "kustomization_for", "main", "render", "with_metadata"]

#: The annotation that makes a template a Helm hook.
HOOK_ANNOTATION = "helm.sh/hook"


def kustomization_for(renderer: Mapping[str, Any]) -> dict[str, Any]:
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


def render(manifests: str, renderers: list[dict[str, Any]], kustomize: str) -> str:
    """`manifests` through each kustomize post-renderer in turn; SystemExit on a failure."""
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


def with_metadata(manifests: str, labels: Mapping[str, str] | None,
                  annotations: Mapping[str, str] | None, *, hooks: bool = False) -> str:
    """`manifests` (YAML documents) with `labels` and `annotations` set on every object but
    hooks (unless `hooks`), over equal keys (pure); unchanged when there is nothing to set."""
    if not labels and not annotations:
        return manifests
    docs = []
    for doc in yaml.safe_load_all(manifests):
        if not isinstance(doc, dict):
            continue
        md = doc["metadata"] = doc.get("metadata") or {}
        if not hooks and HOOK_ANNOTATION in (md.get("annotations") or {}):
            docs.append(doc)
            continue
        for key, extra in (("labels", labels), ("annotations", annotations)):
            if extra:
                md[key] = {**(md.get(key) or {}), **extra}
        docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False)


def finish(manifests: str, common: Mapping[str, Any] | None,
           origin: Mapping[str, str] | None, *, hooks: bool = False) -> str:
    """Step 2 of the module docstring (pure); hooks too when `hooks`."""
    common = common or {}
    labels = {**(common.get("labels") or {}), **(origin or {})}
    return with_metadata(manifests, labels, common.get("annotations"), hooks=hooks)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    manifests = sys.stdin.read()
    if config.get("renderers"):
        manifests = render(manifests, config["renderers"], args[1])
    # Every object given is rendered: Helm 3 never hands hooks to a post-renderer, and with
    # Helm 4 `_plugin` hands over the ones `postRenderStrategy` says.
    sys.stdout.write(finish(manifests, config.get("commonMetadata"), config.get("originLabels"),
                            hooks=True))


if __name__ == "__main__":
    main()
