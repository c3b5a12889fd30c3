"""The UI server's view of the cluster: one thread per Flux kind lists then watches it with
the user's own client (the CLI's `Kube`), and hands each change to the event loop, where
`FleetCache` keeps the objects and tells every subscriber (each open page's event stream).
No polling: a watch that ends is resumed from its resourceVersion, an expired one relists.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from .._kinds import NOUNS, Noun
from .._kube import Kube, KubeError, KubeNotFound, Unreachable, resource_of
from ._model import fleet_row, object_key

__all__ = ["FleetCache"]

Message = tuple[str, dict[str, Any]]
#: Seconds between two looks for a kind the cluster does not serve (its CRD may come later).
NOT_SERVED_RETRY = 60.0
#: Seconds before a failed list or watch is tried again.
ERROR_RETRY = 10.0


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def _key(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return object_key(str(obj.get("kind", "")), str(md.get("namespace", "")),
                      str(md.get("name", "")))


class FleetCache:
    """The Flux objects the user may see, kept current by watches; subscribers get
    ("upsert", row), ("delete", {"key"}), ("kinderror", {"kind", "message"}) messages, and
    ("resync", {}) in place of all of them when more than `backlog` wait (a page that does
    not read: it is sent the whole fleet again instead)."""

    backlog = 10_000

    def __init__(self, connect: Callable[[], Kube], nouns: tuple[Noun, ...] = NOUNS,
                 namespace: str | None = None, watch_timeout: int = 300) -> None:
        self._connect = connect
        #: seconds a watch runs before the server ends it (and `stop` is noticed)
        self.watch_timeout = watch_timeout
        self._nouns = nouns
        #: watch this namespace only (None: all of them)
        self.namespace = namespace
        self.objects: dict[str, dict[str, Any]] = {}
        #: kind -> why it cannot be read ("" once it can)
        self.errors: dict[str, str] = {}
        self._subscribers: set[asyncio.Queue[Message | None]] = set()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the event loop's side ------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for noun in self._nouns:
            threading.Thread(target=self._run, args=(noun,), daemon=True,
                             name=f"watch-{noun.kind.KIND}").start()

    def stop(self) -> None:
        self._stop.set()
        for q in self._subscribers:
            q.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[Message | None]:
        q: asyncio.Queue[Message | None] = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Message | None]) -> None:
        self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        """How many pages follow this cache now."""
        return len(self._subscribers)

    def rows(self) -> list[dict[str, Any]]:
        return [fleet_row(o) for o in self.objects.values()]

    def _publish(self, message: Message) -> None:
        for q in self._subscribers:
            if q.qsize() >= self.backlog:  # a page that does not keep up: start it over
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(("resync", {}))
            else:
                q.put_nowait(message)

    def _upsert(self, obj: dict[str, Any]) -> None:
        self.objects[_key(obj)] = obj
        self._publish(("upsert", fleet_row(obj)))

    def _delete(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            self._publish(("delete", {"key": key}))

    def _replace(self, kind: str, items: list[dict[str, Any]]) -> None:
        keep = {_key(o) for o in items}
        for key in [k for k, o in self.objects.items() if o.get("kind") == kind]:
            if key not in keep:
                self._delete(key)
        for obj in items:
            self._upsert(obj)
        self._error(kind, "")

    def _error(self, kind: str, message: str) -> None:
        if self.errors.get(kind, "") != message:
            self.errors[kind] = message
            self._publish(("kinderror", {"kind": kind, "message": message}))

    # --- the watch threads ----------------------------------------------------------------------
    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        if not self._stop.is_set():
            self._loop.call_soon_threadsafe(fn, *args)

    def _run(self, noun: Noun) -> None:
        kind = noun.kind.KIND
        rt = resource_of(noun.kind)
        kube: Kube | None = None
        while not self._stop.is_set():
            try:
                kube = kube or self._connect()
                items, version = kube.list_with_version(rt, self.namespace)
                self._post(self._replace, kind, [_slim(o) for o in items])
                while not self._stop.is_set():
                    expired = False
                    for type_, obj in kube.watch(rt, self.namespace, resource_version=version,
                                                 timeout_seconds=self.watch_timeout):
                        if type_ == "ERROR":
                            expired = True
                            break
                        version = str((obj.get("metadata") or {}).get("resourceVersion")
                                      or version)
                        if type_ in ("ADDED", "MODIFIED"):
                            self._post(self._upsert, _slim(obj))
                        elif type_ == "DELETED":
                            self._post(self._delete, _key(obj))
                    if expired:
                        break
            except KubeNotFound:  # the cluster does not serve this kind (yet): look again later
                self._post(self._replace, kind, [])
                self._stop.wait(NOT_SERVED_RETRY)
            except (KubeError, Unreachable) as err:
                self._post(self._error, kind, err.message)
                self._stop.wait(ERROR_RETRY)
