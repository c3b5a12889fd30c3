"""Pure readings of an object's status, the way the CLI reports and waits on them: the Ready
summary of a `get` row, the revision per kind, `--status-selector`, whether a requested
reconciliation was handled (and how it ended), and the success line per kind. Objects are the
plain dicts the API server returns. No I/O here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from afflux.api import meta

__all__ = [
    "Outcome",
    "condition",
    "get_path",
    "has_status",
    "is_suspended",
    "parse_status_selector",
    "readiness",
    "ready_summary",
    "reconcile_outcome",
    "revision_of",
    "status_selector_matches",
    "success_message",
    "unresolvable",
]

#: Kinds that have no status (notification v1beta3): flux shows them as always ready.
STATUSLESS_KINDS = frozenset({"Alert", "Provider"})


_GENERATOR_RECONCILE = "source.extensions.fluxcd.io/reconcile"


def get_path(obj: Mapping[str, Any] | None, *path: str | int) -> Any:
    """`obj[a][b][c]` with None for anything missing along the way."""
    cur: Any = obj
    for key in path:
        if isinstance(key, int):
            if not isinstance(cur, list) or len(cur) <= key:
                return None
            cur = cur[key]
        else:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(key)
    return cur


def has_status(obj: Mapping[str, Any]) -> bool:
    """Whether the object's kind has a status a controller writes."""
    return obj.get("kind") not in STATUSLESS_KINDS


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """The status condition of the given type (matched exactly), if any."""
    for c in get_path(obj, "status", "conditions") or ():
        if isinstance(c, Mapping) and c.get("type") == type_:
            return c
    return None


def is_suspended(obj: Mapping[str, Any]) -> bool:
    """Whether `spec.suspend` is true (an ArtifactGenerator: its annotation
    `source.extensions.fluxcd.io/reconcile: Disabled`)."""
    if obj.get("kind") == "ArtifactGenerator":
        notes = get_path(obj, "metadata", "annotations") or {}
        return str(notes.get(_GENERATOR_RECONCILE, "")).lower() in ("disabled", "disable")
    return get_path(obj, "spec", "suspend") is True


def ready_summary(obj: Mapping[str, Any]) -> tuple[str, str]:
    """The READY and MESSAGE cells: the Ready condition's status and message; `False`,
    `waiting to be reconciled` without one; `True`, `<Kind> is Ready` for status-less kinds."""
    kind = str(obj.get("kind", ""))
    if kind in STATUSLESS_KINDS:
        return "True", f"{kind} is Ready"
    ready = condition(obj, meta.READY)
    if ready is None:
        return "False", "waiting to be reconciled"
    return str(ready.get("status", "Unknown")), str(ready.get("message", ""))


def revision_of(obj: Mapping[str, Any]) -> str:
    """The REVISION cell: the artifact revision of a source, the last applied revision of a
    Kustomization, the chart version of a HelmRelease's current release."""
    kind = obj.get("kind")
    if kind == "Kustomization":
        return str(get_path(obj, "status", "lastAppliedRevision") or "")
    if kind == "HelmRelease":
        version = get_path(obj, "status", "history", 0, "chartVersion")
        return str(version or get_path(obj, "status", "lastAttemptedRevision") or "")
    if kind == "ImagePolicy":
        return latest_image(obj)
    return str(get_path(obj, "status", "artifact", "revision") or "")


def latest_image(obj: Mapping[str, Any]) -> str:
    """An ImagePolicy's chosen image as `<name>:<tag>` (v1 latestRef, or v1beta2 latestImage)."""
    ref = get_path(obj, "status", "latestRef")
    if isinstance(ref, Mapping) and ref.get("name"):
        text = f"{ref['name']}:{ref.get('tag', '')}"
        return f"{text}@{ref['digest']}" if ref.get("digest") else text
    return str(get_path(obj, "status", "latestImage") or "")


# --- --status-selector -------------------------------------------------------------------------


def parse_status_selector(text: str) -> tuple[str, str]:
    """`ready=false` -> (`ready`, `false`); ValueError unless it is `<type>=<status>`."""
    type_, sep, status = text.partition("=")
    if not sep or not type_.strip() or not status.strip():
        raise ValueError(
            f"expected the status selector as <condition type>=<status>, e.g. ready=false; "
            f"got {text!r}"
        )
    return type_.strip(), status.strip()


def status_selector_matches(obj: Mapping[str, Any], type_: str, status: str) -> bool:
    """Whether the object has a condition of that type (any case) with that status (any
    case); status-less kinds never match."""
    found = None
    for c in get_path(obj, "status", "conditions") or ():
        if isinstance(c, Mapping) and str(c.get("type", "")).lower() == type_.lower():
            found = c
    return found is not None and str(found.get("status", "")).lower() == status.lower()


# --- waiting ---------------------------------------------------------------------------------


class Outcome(enum.Enum):
    """Where an object stands while the CLI waits on it."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def reconcile_outcome(obj: Mapping[str, Any], requested_at: str) -> Outcome:
    """After `reconcile` set requestedAt: pending until the controller copied it to
    `status.lastHandledReconcileAt` and Ready is True or False; then Ready decides."""
    if get_path(obj, "status", "lastHandledReconcileAt") != requested_at:
        return Outcome.PENDING
    ready = condition(obj, meta.READY)
    status = (ready or {}).get("status")
    if status == "True":
        return Outcome.SUCCEEDED
    if status == "False":
        return Outcome.FAILED
    return Outcome.PENDING


def readiness(obj: Mapping[str, Any]) -> Outcome:
    """After `create` applied a spec: pending until the controller observed this generation;
    then Ready True succeeds; Ready False fails once the controller stopped trying (Stalled, or
    not Reconciling any more); a failure waiting cannot fix (`unresolvable`) fails at once."""
    if not has_status(obj):
        return Outcome.SUCCEEDED
    if unresolvable(obj):  # e.g. a failed build: it keeps the old observedGeneration
        return Outcome.FAILED
    generation = get_path(obj, "metadata", "generation")
    observed = get_path(obj, "status", "observedGeneration")
    ready = condition(obj, meta.READY)
    ready_gen = (ready or {}).get("observedGeneration")
    seen = observed if observed is not None else ready_gen
    if generation is not None and (seen is None or seen < generation):
        return Outcome.PENDING
    status = (ready or {}).get("status")
    if status == "True":
        return Outcome.SUCCEEDED
    if status == "False":
        stalled = condition(obj, meta.STALLED)
        reconciling = condition(obj, meta.RECONCILING)
        if (stalled or {}).get("status") == "True":
            return Outcome.FAILED
        if (reconciling or {}).get("status") != "True":
            return Outcome.FAILED
    return Outcome.PENDING


def ready_message(obj: Mapping[str, Any]) -> str:
    """The Ready condition's message (the Stalled one if Ready has none)."""
    for type_ in (meta.READY, meta.STALLED):
        c = condition(obj, type_)
        if c and c.get("message"):
            return str(c["message"])
    return ""


def success_message(obj: Mapping[str, Any]) -> str:
    """The last line after a successful reconciliation, per kind (as flux words it)."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind in ("GitRepository", "OCIRepository", "Bucket", "HelmRepository"):
        revision = get_path(status, "artifact", "revision")
        if revision:
            return f"fetched revision {revision}"
        return f"{kind} is ready"
    if kind == "HelmChart":
        chart = get_path(obj, "spec", "chart")
        version = get_path(status, "artifact", "revision")
        return f"pulled '{chart}' chart with version '{version}'"
    if kind in ("Kustomization", "HelmRelease"):
        revision = revision_of(obj)
        return f"applied revision {revision}" if revision else f"{kind} is ready"
    if kind == "ImageRepository":
        count = get_path(status, "lastScanResult", "tagCount")
        return f"scan fetched {count or 0} tags"
    if kind == "ImagePolicy":
        image = latest_image(obj)
        return f"selected image {image}" if image else "ImagePolicy is ready"
    if kind == "ImageUpdateAutomation":
        commit = status.get("lastPushCommit")
        if commit:
            return f"last push: commit {str(commit)[:7]} at {status.get('lastPushTime', '')}"
        return "repository up-to-date"
    if kind == "Receiver":
        path = status.get("webhookPath")
        return f"webhook path {path}" if path else "Receiver is ready"
    return f"{kind} is ready"


#: Ready reasons of failures that retrying the same spec at the same revision cannot fix.
TERMINAL_REASONS = frozenset({meta.BUILD_FAILED})


def unresolvable(obj: Mapping[str, Any], revision: str | None = None) -> str | None:
    """The message of a failure that will not resolve itself, so that waiting for the object
    is pointless: Stalled=True, or Ready=False with a terminal reason (a failed build) for
    the object's current generation and, given `revision`, for an attempt at that revision.
    None while the object may still get there (in progress, retrying, or not yet tried)."""
    generation = get_path(obj, "metadata", "generation")
    stalled = condition(obj, meta.STALLED) or {}
    current = stalled.get("observedGeneration") in (None, generation)
    if stalled.get("status") == "True" and current:
        return str(stalled.get("message") or stalled.get("reason") or "stalled")
    ready = condition(obj, meta.READY) or {}
    if ready.get("status") != "False" or ready.get("reason") not in TERMINAL_REASONS:
        return None
    if ready.get("observedGeneration") not in (None, generation):
        return None
    if revision is not None and get_path(obj, "status", "lastAttemptedRevision") != revision:
        return None
    return str(ready.get("message") or ready.get("reason"))
