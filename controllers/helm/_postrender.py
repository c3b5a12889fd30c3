"""`spec.postRenderers`, `spec.commonMetadata` and helm-controller's origin labels: what helm's
`--post-renderer` does to the manifests of every release.

helm's `--post-renderer` runs a program with the rendered manifests on stdin and installs
what it prints. `post_renderer_args` writes, into the action's private workspace, the
config as JSON and a small executable that runs `_postrender_prog` (loaded by its file
path, so that the process imports no more than it needs; what it does is in its
docstring): the kustomize post-renderers in order (the `kustomize` program found by the
controller), then commonMetadata's labels and annotations, then the origin labels.

The origin labels, `helm.toolkit.fluxcd.io/name` and `helm.toolkit.fluxcd.io/namespace`
(the HelmRelease's name and namespace), go on every object of every release, over equal
keys of the chart or of commonMetadata, as Flux's helm-controller sets them: `afflux tree`,
`trace` and the flux CLI find a release's objects by them. So every release has a
post-renderer. Hooks never reach a post-renderer (Helm 3, `postRenderStrategy: nohooks`),
and CRDs of a chart's `crds/` directory are installed before rendering, so they get none of
this. With Helm 4 (`_plugin`) hooks do reach it as `postRenderStrategy` says, and then get
all of it, as in Flux: the program itself applies everything to every object it is given.
The CLI's `diff helmrelease` applies the same functions to `helm template`'s output, to
the objects the post-render strategy of the engine helm-controller runs hands over.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from afflux.api import HelmRelease, meta

from ._helm import Workspace, find_tool
from ._postrender_prog import finish, kustomization_for, render, with_metadata

__all__ = [
    "kustomization_for",
    "origin_labels",
    "post_renderer_args",
    "render",
    "with_common_metadata",
    "with_release_metadata",
]


#: The post-render program (`python -c _LOADER <program file> <config> <kustomize>`).
_PROGRAM = Path(__file__).with_name("_postrender_prog.py")
_LOADER = ("import importlib.util as u, sys; s = u.spec_from_file_location("
           "'afflux_postrender', sys.argv[1]); m = u.module_from_spec(s); "
           "s.loader.exec_module(m); m.main(sys.argv[2:])")


def post_renderer_args(hr: HelmRelease, ws: Workspace) -> list[str]:
    """`--post-renderer <program>` for the HelmRelease's post-renderers, commonMetadata and
    origin labels. Raises HelmError when kustomize is needed and not installed."""
    renderers = [r.to_dict() for r in hr.spec.post_renderers or [] if r.kustomize is not None]
    common = hr.spec.common_metadata.to_dict() if hr.spec.common_metadata else None
    config = ws.write("postrender.json", json.dumps({
        "renderers": renderers, "commonMetadata": common,
        "originLabels": origin_labels(hr.name, hr.namespace)}))
    kustomize = find_tool("kustomize") if renderers else ""
    program = ws.write("post-render", "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in (
        sys.executable, "-c", _LOADER, str(_PROGRAM), str(config), kustomize)) + "\n")
    os.chmod(program, 0o700)
    return ["--post-renderer", str(program)]


def origin_labels(name: str, namespace: str) -> dict[str, str]:
    """helm-controller's labels naming the HelmRelease an object was rendered for."""
    return {meta.HELM_NAME_LABEL: name, meta.HELM_NAMESPACE_LABEL: namespace}


def with_common_metadata(manifests: str, common: dict[str, Any] | None) -> str:
    """`manifests` (YAML documents) with `commonMetadata`'s labels and annotations set on
    every object but hooks (pure)."""
    common = common or {}
    return with_metadata(manifests, common.get("labels"), common.get("annotations"))


def with_release_metadata(manifests: str, common: dict[str, Any] | None, name: str,
                          namespace: str, *, hooks: bool = False) -> str:
    """What follows the kustomize post-renderers (pure): `commonMetadata`, then the origin
    labels of the HelmRelease `namespace/name` over it; on hooks too when `hooks` (the
    post-render strategy handed them over)."""
    return finish(manifests, common, origin_labels(name, namespace), hooks=hooks)
