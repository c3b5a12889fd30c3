"""The judgements `afflux check` makes, from what the API server returns: is the Kubernetes
version supported, is a controller Deployment ready, does a leader Lease show a local
controller alive, is a CRD established, which kinds have objects that no running operator
reconciles. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ._format import human_duration, parse_time
from ._status import get_path

__all__ = [
    "MIN_KUBERNETES",
    "crd_health",
    "distribution_text",
    "unserved_kinds",
    "deployment_health",
    "lease_health",
    "parse_kube_version",
    "version_text",
]

#: The oldest Kubernetes afflux supports (as Flux 2.4+).
MIN_KUBERNETES = (1, 28, 0)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_kube_version(text: str) -> tuple[int, int, int]:
    """`v1.35.4`, `v1.28.3-gke.100`, `v1.29.0+k3s1` -> (1, 35, 4); ValueError otherwise."""
    m = _VERSION.match(text.strip())
    if not m:
        raise ValueError(f"cannot read a Kubernetes version from {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(v) for v in version)


def deployment_health(dep: Mapping[str, Any]) -> tuple[bool, str]:
    """(ready, message): every wanted replica ready and updated, the latest spec observed."""
    wanted = get_path(dep, "spec", "replicas")
    wanted = 1 if wanted is None else int(wanted)
    status = dep.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    generation = get_path(dep, "metadata", "generation") or 0
    observed = status.get("observedGeneration") or 0
    if observed < generation:
        return False, "deployment rollout not observed yet"
    if wanted == 0:
        return False, "deployment scaled to zero"
    if ready < wanted or updated < wanted:
        return False, f"deployment not ready ({ready}/{wanted} replicas ready)"
    return True, "deployment ready"


def lease_health(lease: Mapping[str, Any], now: datetime) -> tuple[bool, str]:
    """(alive, message) of a leader-election Lease: alive while its renewTime is younger
    than leaseDurationSeconds."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    renewed = parse_time(spec.get("renewTime"))
    duration = float(spec.get("leaseDurationSeconds") or 15)
    if not holder or renewed is None:
        return False, "leader lease not held"
    age = (now - renewed).total_seconds()
    if age > duration:
        return False, f"leader lease expired (last renewed {human_duration(age)} ago by {holder})"
    return True, f"running (leader lease held by {holder}, renewed {human_duration(age)} ago)"


def crd_health(crd: Mapping[str, Any]) -> tuple[bool, str]:
    """(established, `<name>/<storage version>`)."""
    name = str(get_path(crd, "metadata", "name") or "")
    versions = get_path(crd, "spec", "versions") or []
    storage = next((v.get("name") for v in versions if v.get("storage")), None) or \
        (versions[0].get("name") if versions else "")
    established = any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in get_path(crd, "status", "conditions") or []
    )
    return established, f"{name}/{storage}"


def unserved_kinds(
    objects: Mapping[str, Sequence[str]],
    running: Mapping[str, bool],
    controller_of: Callable[[str], str],
) -> list[str]:
    """One message per kind that has objects (`objects`: kind -> `namespace/name`s) while its
    operator is not running (`running`: controller -> alive), in the order of `objects`."""
    out = []
    for kind, names in objects.items():
        controller = controller_of(kind)
        if not names or running.get(controller):
            continue
        count = len(names)
        shown = ", ".join(names[:3]) + (", ..." if count > 3 else "")
        noun = "object" if count == 1 else "objects"
        out.append(f"{kind}: {count} {noun} ({shown}) and {controller} is not running: "
                   "nothing reconciles them")
    return out


def distribution_text(distribution: tuple[str, str] | None) -> str:
    """What `check` prints of the installed distribution (from the CRDs' labels)."""
    if distribution is None:
        return "distribution: unknown (the CRDs carry no distribution labels)"
    name, version = distribution
    return f"distribution: {name}-{version}" if version else f"distribution: {name}"
