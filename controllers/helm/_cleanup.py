"""`upgrade.cleanupOnFail` and `rollback.cleanupOnFail` when afflux waits itself (the
poller). Pure: no I/O, table-tested.

Helm's upgrade and rollback, with cleanup on fail, delete on a failed action (its wait
included) the objects that the action created: those of the new release that did not exist
in the cluster when helm applied them, except those annotated `helm.sh/resource-policy:
keep` (read from the object in the cluster), with background propagation. Flux's
helm-controller runs Helm's wait inside the action, so a wait that fails cleans up too.

afflux runs `helm` with `--cleanup-on-fail`, which covers helm's own failures and its own
wait (`waitStrategy: legacy`). With the poller (Helm 4's default) helm has finished, and
succeeded, before afflux's poll fails, so the release phase cleans up itself, before any
remediation, deleting each object of the new release's manifest (`cleanup_candidates`: by
apiVersion, kind, namespace and name, hooks left out) that

1. was created since the action started: its `creationTimestamp` (whole seconds) is not
   before the second the action started in (the release phase starts such an action at a
   whole second, so that an object created earlier, even by an install in the same second
   the upgrade began, has an earlier timestamp). That is Helm's "created": an object that was
   not in the previous release, and one of the previous release that was missing from the
   cluster and that the action created again. An object helm took over (`takeOwnership`,
   Flux's default) or updated existed before and is left, as Helm leaves it. One whose
   creation time cannot be read is left too;
2. is not annotated `helm.sh/resource-policy: keep` in the cluster.

Both are `cleanup_blocker`'s (the runtime's delete skips what it names). The creation time
is the API server's clock, the start the controller's: an API server whose clock is behind
can only make afflux leave an object it should have deleted; one ahead by d seconds could
make it take an object created less than d seconds before the action for one it created.

`cleanup_message` says what was deleted, by `Kind/namespace/name`; never a value.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from afflux.controllers.runtime import ObjectKey

from ._engine import HOOK_ANNOTATION

__all__ = [
    "KEEP_POLICY",
    "RESOURCE_POLICY_ANNOTATION",
    "cleanup_blocker",
    "cleanup_candidates",
    "cleanup_message",
]

RESOURCE_POLICY_ANNOTATION = "helm.sh/resource-policy"
KEEP_POLICY = "keep"
#: how many objects a message names at most
MAX_NAMED = 10


def cleanup_candidates(objects: Iterable[Mapping[str, Any]]) -> list[ObjectKey]:
    """The objects of a release's manifest (in its order, each once; hooks left out).
    Namespaced objects must carry their namespace (the caller scopes them)."""
    keys: dict[ObjectKey, None] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if HOOK_ANNOTATION in (meta.get("annotations") or {}):
            continue  # hooks are not part of a release's manifest
        key = ObjectKey.of(obj)
        if key.kind and key.name:
            keys[key] = None
    return list(keys)


def _created(obj: Mapping[str, Any]) -> datetime.datetime | None:
    text = str((obj.get("metadata") or {}).get("creationTimestamp") or "")
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)


def cleanup_blocker(started: datetime.datetime
                    ) -> Callable[[Mapping[str, Any]], str | None]:
    """Why an object in the cluster must be left (None: delete it): a keep policy, or it
    existed before the action `started` (module docstring, 1 and 2)."""
    since = started.astimezone(datetime.UTC).replace(microsecond=0)

    def blocker(live: Mapping[str, Any]) -> str | None:
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        if annotations.get(RESOURCE_POLICY_ANNOTATION) == KEEP_POLICY:
            return f"{RESOURCE_POLICY_ANNOTATION}: {KEEP_POLICY}"
        created = _created(live)
        if created is None:
            return "its creation time is unknown"
        if created < since:
            return "it existed before the action"
        return None
    return blocker


def _named(subjects: Sequence[str]) -> str:
    shown = ", ".join(subjects[:MAX_NAMED])
    more = len(subjects) - MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def cleanup_message(verb: str, deleted: Sequence[str], error: str = "") -> str:
    """What the cleanup did, to follow the action's failure in its message ('' when it
    deleted nothing and nothing failed); `deleted`: `Kind/namespace/name` subjects."""
    parts = []
    if deleted:
        parts.append(f"cleanupOnFail deleted what the failed {verb} created: "
                     f"{_named(deleted)}")
    if error:
        parts.append(f"an error occurred while cleaning up resources (cleanupOnFail): {error}")
    return "; ".join(parts)
