"""The labels that say which distribution of Flux runs, as the `flux` CLI reads them.

The flux CLI finds an installation by labels: `flux check` and `flux version` list the
Deployments and CRDs labelled `app.kubernetes.io/part-of=flux` in the install namespace and
read the GitRepository CRD's `app.kubernetes.io/version` (printed as the distribution,
`<part-of>-<version>`); `flux logs` lists the Pods of those Deployments. afflux labels every
object of its install that way (`part-of: flux`, `instance: <namespace>`, `version: <afflux
version>`, `component: <controller>`), and adds `afflux.toolkit.fluxcd.io/distribution:
afflux`, which Flux's own manifests never carry, so afflux's commands can tell an afflux
install from a Flux one. Pure constants and functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "COMPONENT_LABEL",
    "DISTRIBUTION",
    "DISTRIBUTION_LABEL",
    "INSTANCE_LABEL",
    "PART_OF",
    "PART_OF_LABEL",
    "VERSION",
    "VERSION_LABEL",
    "distribution_labels",
    "distribution_of",
]

PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
PART_OF: Final = "flux"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
VERSION_LABEL: Final = "app.kubernetes.io/version"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
DISTRIBUTION_LABEL: Final = "afflux.toolkit.fluxcd.io/distribution"
DISTRIBUTION: Final = "afflux"
#: afflux's version as the install manifests carry it (pyproject's, with a `v`; a unit test
#: keeps the two equal).
VERSION: Final = "v0.1.0"
DEFAULT_INSTANCE: Final = "flux-system"


def distribution_labels(component: str | None = None, *,
                        instance: str = DEFAULT_INSTANCE) -> dict[str, str]:
    """The labels of one object of the install (`component` for a controller's objects)."""
    labels = {}
    if component:
        labels[COMPONENT_LABEL] = component
    labels.update({
        INSTANCE_LABEL: instance,
        PART_OF_LABEL: PART_OF,
        VERSION_LABEL: VERSION,
        DISTRIBUTION_LABEL: DISTRIBUTION,
    })
    return labels


def distribution_of(obj: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(distribution, version) an installed object says it belongs to: ("afflux", "v0.1.0")
    for afflux, ("flux", "v2.9.5") for Flux's own manifests, None when it carries neither."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    version = str(labels.get(VERSION_LABEL) or "")
    if labels.get(DISTRIBUTION_LABEL):
        return str(labels[DISTRIBUTION_LABEL]), version
    if labels.get(PART_OF_LABEL) == PART_OF:
        return PART_OF, version
    return None
