"""`ManagedWatches`: metadata watches of the kinds Kustomizations manage, so that drift is
seen in seconds rather than at the next interval.

One watch per (group, version, kind) found in any Kustomization's `status.inventory`
(`_drift.InventoryIndex`, fed by the Kustomization watch and by each apply): it starts when
the kind first appears and stops when no inventory has it any more, and it is shared by all
Kustomizations. Each watch lists, then watches from the list's resourceVersion with
bookmarks, across namespaces, only the objects labelled `kustomize.toolkit.fluxcd.io/name`
(what a Kustomization applies carries it), and asks for `PartialObjectMetadata`: the API
server sends metadata only, never specs or data; lists come in pages of 500. A 410 Gone re-lists (the difference with
what it held stands for the events missed), any other error reconnects with backoff and is
logged; every request has a timeout (the list `REQUEST_TIMEOUT`, the watch its server-side
`timeoutSeconds` plus a margin), so a frozen API server ends in a reconnect, never a hang.

Memory, per watched object: its name under its namespace (`_drift.HeldVersions`: no
tuple per object) and its resourceVersion, as an int (`_drift.compact_rv`): whose change an
event is needs only the event's own newest writer and the version held before. Per
Kustomization: its inventory's object names in the index (`_drift.InventoryIndex`), the
digest and the sequence number of its last apply, the sequence number of its last foreign
change. Nothing else of an object is kept, and bodies
are reduced in the watch thread before they reach the event loop.

When an object held by an inventory is deleted, or changes with a newest writer other than
`kustomize-controller` (`_drift.is_foreign`), the Kustomizations that hold it are triggered
through the `Debouncer` (a burst -> one reconcile); the apply phase then corrects the drift.
With that, `skip_facts` tells the apply phase whether an interval reconcile may trust the
cluster (`_drift.skip_apply`), and `known_absent` which objects it may create without a
GET and a dry-run (the engine's create-only apply).

Why threads and not aiohttp: the watches use the same `kubernetes` client, hence the same
credentials, TLS and proxy handling, as every other request of the operator (an aiohttp
session would need its own copy of the kubeconfig's auth, exec plugins aside), and the
number of threads is the number of managed kinds (tens), each blocked in a socket read that
costs nothing while the cluster is quiet. JSON parsing and the reduction to `ObjectMeta`
happen in that thread; the loop only sees the small result. A stopped watch's socket is shut
down from the loop (`HTTPResponse.shutdown`), so its thread ends at once.

`run()` is supervised (`Operator.supervise`): it beats the operator's `TaskHealth`, fires
debounced triggers, starts and stops the per-kind tasks, and raises (the operator stops, the
process exits non-zero) if one of them ends with an unexpected error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from urllib3.exceptions import HTTPError

from afflux.api._meta import KUSTOMIZE_NAME_LABEL
from afflux.controllers.runtime import (
    REQUEST_TIMEOUT,
    ApiError,
    KubeClient,
    Resource,
    RESTMapper,
    api_error,
    backoff,
)

from ._drift import (
    GVK,
    Debouncer,
    HeldVersions,
    InventoryIndex,
    KsKey,
    ObjectMeta,
    SkipFacts,
    compact_rv,
    diff_listing,
    is_foreign,
    meta_of,
)

__all__ = ["META_ACCEPT", "META_LIST_ACCEPT", "ManagedWatches"]

_log = logging.getLogger("afflux.kustomize-controller.drift")

META_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
META_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
TASK = "drift watches"
#: objects per list page
LIST_PAGE = 500

Key = tuple[str, str]
_NOTHING: frozenset[Any] = frozenset()


class _Gone(Exception):
    """410: the resourceVersion is too old; list again."""


@dataclasses.dataclass(slots=True)
class _Applied:
    digest: str
    seq: int
    excluded: frozenset[Any] = frozenset()  # keys the apply skipped (reconcile: disabled)
    skipped: int = 0


@dataclasses.dataclass
class _KindWatch:
    gvk: GVK
    objects: HeldVersions = dataclasses.field(default_factory=HeldVersions)  # compact_rv
    synced: bool = False
    synced_seq: int | None = None  # when it first synced with nothing held before
    response: Any = None  # the open watch response, shut down to stop the thread
    task: asyncio.Task[None] | None = None
    stopped: bool = False

    def stop_stream(self) -> None:
        response, self.response = self.response, None
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # noqa: BLE001 - best effort: the thread ends at its timeout
                pass


def _reduce(obj: Mapping[str, Any], ours: str) -> tuple[Key, ObjectMeta]:
    """The key and what an event says of a PartialObjectMetadata body (the namespace is
    interned: the keys held share it)."""
    meta = obj.get("metadata") or {}
    return (sys.intern(meta.get("namespace") or ""), meta.get("name") or ""), meta_of(obj, ours)


def _iter_lines(response: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line, buffer = buffer[:cut], buffer[cut + 1:]
            if line.strip():
                yield line


class ManagedWatches:
    """The drift watches of kustomize-controller (module docstring)."""

    def __init__(
        self,
        api_client: Any,
        kube: KubeClient,
        trigger: Callable[[KsKey], bool],
        *,
        ours: str,
        debouncer: Debouncer | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        watch_timeout: int = 240,
        retry_base: float = 1.0,
        health: Any = None,
        on_trigger: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_client = api_client
        self.mapper = RESTMapper(kube)
        self.trigger = trigger
        self.ours = ours
        self.debouncer = debouncer or Debouncer()
        self.request_timeout = request_timeout
        self.watch_timeout = watch_timeout
        self.retry_base = retry_base
        self.health = health
        self.on_trigger = on_trigger
        self.clock = clock
        self.index = InventoryIndex()
        self.seq = 0
        self.triggers = 0
        #: called for each object `known_absent` vouches for (a metric)
        self.on_absent: Callable[[], None] | None = None
        self._foreign: dict[KsKey, int] = {}
        self._applied: dict[KsKey, _Applied] = {}
        self._watches: dict[GVK, _KindWatch] = {}
        self._wake: asyncio.Event | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=256,
                                                           thread_name_prefix="drift")

    # --- inputs (on the event loop) -------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def observe_kustomization(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A Kustomization watch event: its inventory goes into the index (or leaves it)."""
        meta = body.get("metadata") or {}
        ks: KsKey = (meta.get("namespace") or "", meta.get("name") or "")
        if event_type == "DELETED":
            changed = self.index.remove(ks)
            self._applied.pop(ks, None)
            self._foreign.pop(ks, None)
        else:
            entries = ((body.get("status") or {}).get("inventory") or {}).get("entries") or []
            changed = self.index.set(ks, entries)
        if changed:
            self._poke()

    def begin_apply(self) -> int:
        """The sequence number an apply starts at (pass it to `applied`)."""
        return self._next_seq()

    def applied(self, ks: KsKey, entries: list[dict[str, str]], digest: str, seq: int,
                excluded: frozenset[Any] = frozenset()) -> None:
        """A full apply of `ks` that started at `seq` succeeded with inventory `entries`
        (`excluded`: the keys it skipped by annotation)."""
        if self.index.set(ks, entries):
            self._poke()
        # an empty set made by the caller is a 216-byte object of its own: the shared one
        self._applied[ks] = _Applied(digest, seq, excluded or _NOTHING)

    def skipped_keys(self, ks: KsKey) -> frozenset[Any]:
        record = self._applied.get(ks)
        return record.excluded if record else frozenset()

    def skipped(self, ks: KsKey) -> None:
        record = self._applied.get(ks)
        if record is not None:
            record.skipped += 1

    def skip_facts(self, ks: KsKey, digest: str, *, local: bool, requested: bool,
                   full_every: int) -> SkipFacts:
        """The facts `_drift.skip_apply` decides on, for `ks` about to apply `digest`."""
        record = self._applied.get(ks)
        synced: int | None = 0
        missing = 0
        for (_, _, namespace, name), gvk in self.index.objects_of(ks).items():
            watch = self._watches.get(gvk)
            if watch is None or not watch.synced or watch.synced_seq is None:
                synced = None
                break
            synced = max(synced or 0, watch.synced_seq)
            if (namespace, name) not in watch.objects:
                missing += 1
        return SkipFacts(
            local=local, requested=requested, digest=digest,
            applied_digest=record.digest if record else None,
            applied_seq=record.seq if record else 0,
            foreign_seq=self._foreign.get(ks, -1), synced_seq=synced, missing=missing,
            skipped=record.skipped if record else 0, full_every=full_every)

    def known_absent(self, key: Any, body: Mapping[str, Any]) -> bool:
        """Whether an object about to be applied (an engine `ObjectKey` and its body) is
        known not to exist: its kind's watch is synced and does not hold it, and it carries
        the label the watches select on (so they would hold it if it existed). A stale
        answer costs requests, never correctness: the engine's create-only apply is refused
        by the API server when the object exists (`runtime._ssa`)."""
        labels = (body.get("metadata") or {}).get("labels") or {}
        if KUSTOMIZE_NAME_LABEL not in labels:
            return False
        group, _, version = str(key.api_version).rpartition("/")
        watch = self._watches.get((group, version, key.kind))
        if watch is None or not watch.synced or watch.stopped:
            return False
        if (key.namespace, key.name) in watch.objects:
            return False
        if self.on_absent is not None:
            self.on_absent()
        return True

    def _changed(self, watch: _KindWatch, event_type: str, key: Key,
                 new: ObjectMeta | None) -> None:
        """One event of a kind's watch (real, or from a re-list's difference)."""
        old = watch.objects.get(key)
        if event_type == "DELETED":
            watch.objects.pop(key, None)
        elif new is not None:
            watch.objects[key] = compact_rv(new.resource_version)
        if not is_foreign(event_type, old, new, self.ours):
            return
        group, _, kind = watch.gvk
        owners = self.index.owners((group, kind, key[0], key[1]))
        if not owners:
            return
        seq = self._next_seq()
        now = self.clock()
        for ks in owners:
            self._foreign[ks] = seq
            if self.debouncer.note(ks, now) is not None:
                _log.debug("foreign change", extra={"kind": kind, "object": "/".join(key),
                                                    "event": event_type,
                                                    "by": new.manager if new else None})
        self._poke()

    # --- the supervised loop --------------------------------------------------------------

    async def run(self) -> None:
        self._wake = asyncio.Event()
        if self.health is not None:
            self.health.expect(TASK, 60.0)
        try:
            while True:
                self._wake.clear()
                self._sync_watches()
                now = self.clock()
                for ks in self.debouncer.due(now):
                    if self.trigger(ks):
                        self.triggers += 1
                        if self.on_trigger is not None:
                            self.on_trigger()
                if self.health is not None:
                    self.health.beat(TASK)
                next_at = self.debouncer.next_at()
                timeout = 10.0 if next_at is None else min(max(next_at - now, 0.0), 10.0)
                try:  # not wait_for: in 3.11 it can swallow a cancel that meets a wake-up
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            for watch in self._watches.values():
                self._stop(watch)
            tasks = [w.task for w in self._watches.values() if w.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            self._watches.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _sync_watches(self) -> None:
        wanted = self.index.kinds()
        for gvk in [g for g in self._watches if g not in wanted]:
            self._stop(self._watches.pop(gvk))
            _log.info("stopped watching", extra={"watchKind": _gvk_text(gvk)})
        for gvk in wanted - set(self._watches):
            watch = self._watches[gvk] = _KindWatch(gvk)
            watch.task = asyncio.create_task(self._watch_kind(watch),
                                             name=f"drift watch {_gvk_text(gvk)}")
            watch.task.add_done_callback(lambda _: self._poke())  # a death is seen at once
            _log.info("watching", extra={"watchKind": _gvk_text(gvk)})
        for watch in self._watches.values():
            task = watch.task
            if task is not None and task.done() and not task.cancelled():
                error = task.exception()
                raise RuntimeError(f"the watch of {_gvk_text(watch.gvk)} ended: "
                                   f"{type(error).__name__}: {error}") from error

    @staticmethod
    def _stop(watch: _KindWatch) -> None:
        watch.synced = False
        watch.stopped = True
        if watch.task is not None:
            watch.task.cancel()
        watch.stop_stream()

    # --- one kind ---------------------------------------------------------------------------

    async def _watch_kind(self, watch: _KindWatch) -> None:
        """List, then watch; re-list on 410, reconnect with backoff on errors; for ever."""
        loop = asyncio.get_running_loop()
        group, version, kind = watch.gvk
        api_version = f"{group}/{version}" if group else version
        failures = 0
        resource: Resource | None = None
        while True:
            try:
                if resource is None:
                    resource = await self.mapper.resource_for(api_version, kind)
                listed, rv = await loop.run_in_executor(self._pool, self._list, resource)
                self._relisted(watch, listed)
                failures = 0
                while True:
                    rv = await loop.run_in_executor(
                        self._pool, self._stream, watch, resource, rv,
                        lambda item, w=watch: loop.call_soon_threadsafe(self._deliver, w, item))
            except asyncio.CancelledError:
                watch.stop_stream()
                raise
            except _Gone:
                _log.debug("watch expired, listing again",
                           extra={"watchKind": _gvk_text(watch.gvk)})
                continue
            except (ApiError, OSError, HTTPError, LookupError, ValueError) as err:
                # transient (the API server away or restarting, a cut stream, RBAC, a kind
                # not served any more): retry, say so; anything else is a bug and ends run()
                failures += 1
                watch.synced = False
                if isinstance(err, LookupError):
                    self.mapper.invalidate()
                    resource = None
                delay = backoff(failures, base=self.retry_base, cap=60.0)
                _log.warning("drift watch failed, retrying in %.1fs: %s", delay, err,
                             extra={"watchKind": _gvk_text(watch.gvk), "failures": failures})
                await asyncio.sleep(delay)

    def _relisted(self, watch: _KindWatch, listed: dict[Key, ObjectMeta]) -> None:
        fresh = watch.synced_seq is None
        if not fresh:
            for event_type, key, meta in diff_listing(watch.objects, listed):
                self._changed(watch, event_type, key, meta)
        watch.objects = HeldVersions(
            (key, compact_rv(meta.resource_version)) for key, meta in listed.items())
        watch.synced = True
        if fresh:
            watch.synced_seq = self._next_seq()

    def _deliver(self, watch: _KindWatch, item: tuple[str, Key, ObjectMeta | None]) -> None:
        if watch.task is None or watch.task.done():
            return
        self._changed(watch, *item)

    # --- in the watch threads ---------------------------------------------------------------

    def _request(self, path: str, query: list[tuple[str, str]], accept: str,
                 timeout: Any) -> Any:
        params = self.api_client.param_serialize(
            method="GET", resource_path=path, query_params=query,
            header_params={"Accept": accept}, auth_settings=["BearerToken"])
        return self.api_client.call_api(*params, _request_timeout=timeout)

    def _list(self, resource: Resource) -> tuple[dict[Key, ObjectMeta], str]:
        """All the labelled objects of a kind, in pages of `LIST_PAGE` (so a kind with many
        objects is never held as one big response), reduced page by page; and the list's
        resourceVersion. An expired continue token is a 410: list again."""
        objects: dict[Key, ObjectMeta] = {}
        token = ""
        while True:
            query = [("labelSelector", KUSTOMIZE_NAME_LABEL), ("limit", str(LIST_PAGE))]
            if token:
                query.append(("continue", token))
            response = self._request(resource.collection_path(None), query, META_LIST_ACCEPT,
                                     self.request_timeout)
            data = response.read()
            if response.status == 410:
                raise _Gone()
            if response.status != 200:
                raise api_error(response.status, data)
            body = json.loads(data)
            del data
            objects.update(_reduce(item, self.ours) for item in body.get("items") or ())
            meta = body.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                return objects, str(meta.get("resourceVersion") or "")

    def _stream(self, watch: _KindWatch, resource: Resource, rv: str,
                deliver: Callable[[tuple[str, Key, ObjectMeta | None]], Any]) -> str:
        """One watch request, until the server ends it; returns the last resourceVersion."""
        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("resourceVersion", rv),
                 ("timeoutSeconds", str(self.watch_timeout)),
                 ("labelSelector", KUSTOMIZE_NAME_LABEL)]
        response = self._request(resource.collection_path(None), query, META_ACCEPT,
                                 (self.request_timeout, self.watch_timeout + 30))
        if response.status != 200:
            raise api_error(response.status, response.read())
        raw = response.response
        watch.response = raw
        if watch.stopped:  # stopped while this request was on its way
            watch.stop_stream()
        try:
            for line in _iter_lines(raw):
                event = json.loads(line)
                event_type, obj = event.get("type"), event.get("object") or {}
                if event_type == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise api_error(int(obj.get("code") or 500), json.dumps(obj))
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                if event_type == "BOOKMARK":
                    continue
                key, meta = _reduce(obj, self.ours)
                deliver((str(event_type), key, None if event_type == "DELETED" else meta))
        finally:
            raw.release_conn()
            if watch.response is raw:
                watch.response = None
        return rv


def _gvk_text(gvk: GVK) -> str:
    group, version, kind = gvk
    return f"{kind}.{version}.{group}" if group else f"{kind}.{version}"
