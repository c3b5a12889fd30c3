"""Where the Go-built tools are: the cache `hack/tools.sh` fills, at the pinned versions.

`AFFLUX_CACHE` (default `~/.cache/afflux`) holds `bin/<name>-<version>` and a stable
`bin/<name>` link. A tool that is missing raises an error that says how to build it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Tool name -> the hack/versions.env key that pins it.
VERSION_KEYS = {
    "etcd": "ETCD_VERSION",
    "kube-apiserver": "KUBERNETES_VERSION",
    "kube-controller-manager": "KUBERNETES_VERSION",
    "kube-scheduler": "KUBERNETES_VERSION",
    "kubectl": "KUBERNETES_VERSION",
    "kwok": "KWOK_VERSION",
    "kustomize": "KUSTOMIZE_VERSION",
    "helm": "HELM_VERSION",
    "helm4": "HELM4_VERSION",  # the helm operator's Helm 4 engine
    "sops": "SOPS_VERSION",
    "cosign": "COSIGN_VERSION",
    "cosign3": "COSIGN3_VERSION",  # cosign v3: a test tool (its Sigstore bundle format)
    "notation": "NOTATION_VERSION",
    "flux": "FLUX_VERSION",  # the real flux CLI: a test tool (tests/integration/cli/test_flux_cli.py)
    # the real node (hack/tools.sh node coredns podinfo)
    "kubelet": "KUBERNETES_VERSION",
    "kube-proxy": "KUBERNETES_VERSION",
    "pause": "PAUSE_VERSION",
    "coredns": "COREDNS_VERSION",
    "podinfo": "PODINFO_VERSION",
    "podcli": "PODINFO_VERSION",
}


class ToolMissing(FileNotFoundError):
    """A pinned tool is not in the cache."""


def cache_dir() -> Path:
    return Path(os.environ.get("AFFLUX_CACHE", Path.home() / ".cache" / "afflux"))


def bin_dir() -> Path:
    return cache_dir() / "bin"


def _versions_file() -> Path | None:
    # In a checkout, hack/versions.env sits two levels above the package folder.
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "hack" / "versions.env"
        if candidate.is_file():
            return candidate
    return None


def pinned_versions() -> dict[str, str]:
    """The KEY=VALUE pairs of hack/versions.env (empty outside a checkout)."""
    path = _versions_file()
    if path is None:
        return {}
    pairs: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def tool_path(name: str) -> Path:
    """The cached binary for `name` at its pinned version (else the stable link, else PATH)."""
    version = pinned_versions().get(VERSION_KEYS.get(name, ""), "")
    candidates = []
    if version:
        candidates.append(bin_dir() / f"{name}-{version}")
    candidates.append(bin_dir() / name)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found and name not in VERSION_KEYS:
        return Path(found)
    want = f"{name} {version}".strip()
    raise ToolMissing(
        f"{want} is not in the tool cache {bin_dir()}: run `make tools` "
        f"(or `hack/tools.sh`) to build it"
    )
