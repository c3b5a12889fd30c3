"""HelmRelease objects for the unit tests."""

from __future__ import annotations

from typing import Any

from afflux.api import HelmRelease


def helm_release(spec: dict[str, Any], name: str = "web") -> HelmRelease:
    """A HelmRelease `name` in namespace `apps` with a chartRef and `spec` on top."""
    return HelmRelease.from_dict({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"interval": "1m", "chartRef": {"kind": "HelmChart", "name": "c"}, **spec}})
