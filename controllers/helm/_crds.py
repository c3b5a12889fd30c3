"""The CRD policy of `install.crds` and `upgrade.crds`: what happens to the CustomResource-
Definitions of a chart's `crds/` directory.

| policy          | install (default Create)               | upgrade (default Skip)               |
| --------------- | -------------------------------------- | ------------------------------------ |
| `Skip`          | `helm install --skip-crds`             | nothing                              |
| `Create`        | Helm creates the missing ones           | the missing ones are created         |
| `CreateReplace` | created, and existing ones replaced     | created, and existing ones replaced  |

Helm itself only ever creates CRDs (on install; an upgrade leaves `crds/` alone), so
helm-controller does the rest before running helm: it applies the chart's CRDs with the
runtime's server-side apply engine (field manager `helm-controller`, as the release's
identity), all of them for `CreateReplace` and the ones the cluster lacks for `Create` on
upgrade, and waits until they are Established and served. `crds_to_apply` (pure) says
which; `chart_crds` reads them from the unpacked chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from afflux.api import HelmRelease
from afflux.api._helm_v2 import ACTION_INSTALL

__all__ = ["CREATE", "CREATE_REPLACE", "SKIP", "chart_crds", "crd_policy", "crds_to_apply"]

SKIP, CREATE, CREATE_REPLACE = "Skip", "Create", "CreateReplace"
_SUFFIXES = (".yaml", ".yml", ".json")


def crd_policy(hr: HelmRelease, verb: str) -> str:
    """The policy of an install or an upgrade, defaults resolved (`skipCRDs` is Skip)."""
    if verb == ACTION_INSTALL:
        inst = hr.spec.install
        if inst and inst.skip_crds:
            return SKIP
        return (inst.crds if inst and inst.crds else CREATE)
    upg = hr.spec.upgrade
    return upg.crds if upg and upg.crds else SKIP


def crds_to_apply(policy: str, verb: str, crds: Sequence[Mapping[str, Any]],
                  existing: set[str]) -> list[Mapping[str, Any]]:
    """The CRDs helm-controller applies before helm runs (module docstring); `existing`
    names those in the cluster."""
    if policy == CREATE_REPLACE:
        return list(crds)
    if policy == CREATE and verb != ACTION_INSTALL:
        return [c for c in crds if (c.get("metadata") or {}).get("name") not in existing]
    return []


def chart_crds(chart_dir: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in the chart's `crds/` directory (any depth, sorted by
    path, as Helm reads them)."""
    root = chart_dir / "crds"
    if not root.is_dir():
        return []
    found: list[dict[str, Any]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _SUFFIXES):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.append(doc)
    return found
