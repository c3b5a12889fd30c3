"""Kubernetes Events (core/v1) the way Flux's controllers record them.

An Event names the object (`involvedObject`), carries a Flux reason and a type
(`Normal`/`Warning`), and says who reported it (`source.component` and
`reportingComponent` = the controller name, e.g. `kustomize-controller`). Flux's event
metadata (revision, token, ...) travels as annotations on the Event whose keys are
prefixed with the involved object's API group (`kustomize.toolkit.fluxcd.io/revision`),
which is where notification-controller reads it.

Repeats of the same event (same object, type, reason and message) within
`dedupe_window` seconds bump `count` and `lastTimestamp` of the existing Event instead of
creating a new one, as client-go's recorder does, so a retrying failure does not flood
the namespace. Recording never fails a reconcile: API errors are logged and dropped.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ._conditions import format_time
from ._kube import EVENTS, ApiError, KubeClient, NotFoundError, create_event
from ._object import ObjectRef

NORMAL = "Normal"
WARNING = "Warning"

_log = logging.getLogger("afflux.runtime.events")


def event_annotations(api_version: str, metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Flux metadata as Event annotations: `<group>/<key>` (keys already prefixed stay)."""
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    result: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        full = key if "/" in key or not group else f"{group}/{key}"
        result[full] = str(value)
    return result


#: annotations of an object that Flux copies into every event about it
EVENT_ANNOTATION_PREFIX = "event.toolkit.fluxcd.io/"
#: how much of them (keys and values) an Event carries at most
MAX_OBJECT_EVENT_METADATA = 4096


def object_event_metadata(meta: Mapping[str, Any]) -> dict[str, str]:
    """The object's `event.toolkit.fluxcd.io/*` annotations (e.g. `change_request`, the pull
    request a change request comment Provider comments on), bounded, as Flux's recorders
    copy them into the event's metadata."""
    result: dict[str, str] = {}
    size = 0
    for key, value in sorted((meta.get("annotations") or {}).items()):
        if not str(key).startswith(EVENT_ANNOTATION_PREFIX):
            continue
        size += len(key) + len(str(value))
        if size > MAX_OBJECT_EVENT_METADATA:
            break
        result[str(key)] = str(value)
    return result


def build_event(
    involved: Mapping[str, Any],
    event_type: str,
    reason: str,
    message: str,
    *,
    component: str,
    instance: str,
    metadata: Mapping[str, str] | None = None,
    now: datetime,
    name_suffix: str | None = None,
) -> dict[str, Any]:
    """The core/v1 Event body for an event about the object `involved` (its body)."""
    meta = involved.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    api_version = str(involved.get("apiVersion", ""))
    stamp = format_time(now)
    suffix = name_suffix or uuid.uuid4().hex[:16]
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{suffix}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": api_version,
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        # core/v1 accepts long messages, but an Event is read by people: keep it bounded
        "message": message if len(message) <= 4096 else message[:4093] + "...",
        "type": event_type,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    annotations = {**object_event_metadata(meta), **event_annotations(api_version, metadata)}
    if annotations:
        event["metadata"]["annotations"] = annotations
    return event


class EventRecorder:
    """Records Events for one controller (shared by all its kinds)."""

    def __init__(
        self,
        kube: KubeClient,
        component: str,
        *,
        instance: str | None = None,
        dedupe_window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.component = component
        self.instance = instance or socket.gethostname()
        self.dedupe_window = dedupe_window
        self._clock = clock
        self._now = now
        # (uid, type, reason, message) -> (namespace, event name, count, monotonic time)
        self._recent: OrderedDict[tuple[str, str, str, str], tuple[str, str, int, float]] = (
            OrderedDict()
        )

    async def record(
        self,
        involved: Mapping[str, Any],
        event_type: str,
        reason: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Record one Event about `involved` (an object body)."""
        meta = involved.get("metadata") or {}
        key = (str(meta.get("uid") or meta.get("name")), event_type, reason, message)
        try:
            if await self._bump(key):
                return
            event = build_event(
                involved, event_type, reason, message,
                component=self.component, instance=self.instance,
                metadata=metadata, now=self._now(),
            )
            namespace = event["metadata"]["namespace"]
            await create_event(self.kube, namespace, event)
            self._remember(key, namespace, event["metadata"]["name"], 1)
        except ApiError as err:
            _log.warning("could not record event %s: %s", reason, err)
        except Exception:  # noqa: BLE001 - an event is never worth a failed reconcile
            _log.exception("could not record event %s", reason)

    async def _bump(self, key: tuple[str, str, str, str]) -> bool:
        seen = self._recent.get(key)
        if seen is None:
            return False
        namespace, name, count, when = seen
        if self._clock() - when > self.dedupe_window:
            del self._recent[key]
            return False
        ref = ObjectRef(EVENTS, namespace, name)
        patch = {"count": count + 1, "lastTimestamp": format_time(self._now())}
        try:
            await self.kube.patch(ref, patch)
        except NotFoundError:
            del self._recent[key]
            return False
        self._remember(key, namespace, name, count + 1)
        return True

    def _remember(self, key: tuple[str, str, str, str], namespace: str, name: str,
                  count: int) -> None:
        self._recent[key] = (namespace, name, count, self._clock())
        self._recent.move_to_end(key)
        while len(self._recent) > 4096:
            self._recent.popitem(last=False)

    def for_object(self, involved: Mapping[str, Any]) -> ObjectEvents:
        return ObjectEvents(self, involved)


class ObjectEvents:
    """An `EventRecorder` bound to one object: what a phase sees as `ctx.events`."""

    def __init__(self, recorder: EventRecorder, involved: Mapping[str, Any]) -> None:
        self._recorder = recorder
        self._involved = involved

    async def normal(self, reason: str, message: str, **metadata: str) -> None:
        await self._recorder.record(self._involved, NORMAL, reason, message, metadata)

    async def warning(self, reason: str, message: str, **metadata: str) -> None:
        await self._recorder.record(self._involved, WARNING, reason, message, metadata)

    async def record(self, event_type: str, reason: str, message: str,
                     metadata: Mapping[str, str] | None = None) -> None:
        await self._recorder.record(self._involved, event_type, reason, message, metadata)
