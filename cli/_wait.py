"""Waiting on one object until a decision function says it is done, or `--timeout` passes.

The object is read once, then watched (field selector on its name) from that read's
resourceVersion, so a status change is seen as soon as the controller writes it; a watch that
ends (server timeout, expired resourceVersion) is restarted from a fresh read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from ._errors import NotFoundError, WaitTimeout
from ._kube import Kube, KubeNotFound, ResourceType

T = TypeVar("T")

__all__ = ["wait_for"]


def wait_for(
    kube: Kube,
    rt: ResourceType,
    name: str,
    namespace: str | None,
    decide: Callable[[dict[str, Any]], T | None],
    *,
    timeout: float,
    what: str,
    hint: str = "",
    clock: Callable[[], float] = time.monotonic,
) -> tuple[T, dict[str, Any]]:
    """Return (decision, object) once `decide(object)` is not None; raise `WaitTimeout`
    ("timed out waiting for <what>") after `timeout` seconds, `NotFoundError` if the object
    goes away."""
    deadline = clock() + timeout
    label = f"{rt.kind} '{namespace}/{name}'" if namespace else f"{rt.kind} '{name}'"
    while True:
        try:
            obj = kube.get(rt, name, namespace)
        except KubeNotFound:
            raise NotFoundError(f"{label} was deleted while waiting for {what}") from None
        decision = decide(obj)
        if decision is not None:
            return decision, obj
        version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                raise WaitTimeout(f"timed out waiting for {what}", hint)
            restart = True
            for type_, event_obj in kube.watch(
                rt, namespace, resource_version=version,
                field_selector=f"metadata.name={name}",
                timeout_seconds=max(1, min(int(remaining + 0.999), 300)),
            ):
                if type_ == "ERROR":  # e.g. 410 Gone: read again and watch from there
                    break
                if type_ == "DELETED":
                    raise NotFoundError(f"{label} was deleted while waiting for {what}")
                version = str((event_obj.get("metadata") or {}).get("resourceVersion", version))
                decision = decide(event_obj)
                if decision is not None:
                    return decision, event_obj
                if clock() >= deadline:
                    raise WaitTimeout(f"timed out waiting for {what}", hint)
            else:
                restart = False
            if restart:
                break  # re-read, then watch again
            if clock() >= deadline:
                raise WaitTimeout(f"timed out waiting for {what}", hint)
