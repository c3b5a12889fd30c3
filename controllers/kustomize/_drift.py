"""Drift detection, the pure parts: which Kustomization holds an object, whose change a
watch event is, when to trigger, and when an interval reconcile may skip its apply.

`_watches.ManagedWatches` does the I/O (metadata watches of the managed kinds) and feeds
these:

- `InventoryIndex`: object id -> the Kustomizations whose `status.inventory` holds it, and
  the (group, version, kind)s that appear in any inventory (a watch per kind, shared).
- `ObjectMeta` / `meta_of` / `is_foreign`: what an event says of an object (its
  resourceVersion and the newest writer of the main resource) and whether it is someone
  else's change; `compact_rv`: all that a watch keeps of an object it holds, its
  resourceVersion (an int when it is the decimal number the API server writes).
- `Debouncer`: a burst of changes to one Kustomization's objects -> one trigger.
- `skip_apply`: the rule by which an interval reconcile trusts the cluster and skips the
  apply's dry-runs (inputs unchanged, no foreign change since the last apply, watches
  synced since before it, and not yet `full_every` intervals in a row).

"Newest writer": the managedFields entry of the main resource (entries of a subresource,
such as a Deployment's `status` written by kube-controller-manager, are left out) with the
latest `time`. The API server sorts managedFields (Apply entries first, then Updates by
time), so the *last* entry is not the newest one; on equal times (they have a one-second
resolution) a foreign writer wins, so a change made in the same second as our apply is
never taken for ours.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from afflux.api._refs import parse_inventory_id

__all__ = [
    "GVK",
    "Debouncer",
    "HeldVersions",
    "InventoryIndex",
    "KsKey",
    "ObjectId",
    "ObjectMeta",
    "Rv",
    "SkipFacts",
    "compact_rv",
    "diff_listing",
    "is_foreign",
    "meta_of",
    "newest_writer",
    "pack_inventory",
    "skip_apply",
    "unpack_inventory",
]

#: group, kind, namespace ("" when cluster-scoped), name: what an inventory id says.
ObjectId = tuple[str, str, str, str]
#: group, version, kind: one watch each.
GVK = tuple[str, str, str]
#: a Kustomization: namespace, name.
KsKey = tuple[str, str]
#: a resourceVersion as a watch keeps it (`compact_rv`).
Rv = int | str


# --- the index -------------------------------------------------------------------------


def inventory_objects(entries: Iterable[Mapping[str, str]]) -> dict[ObjectId, GVK]:
    """The objects of `status.inventory.entries` and their kinds (malformed ids left out).
    Group, kind, namespace and version are interned: thousands of entries share them."""
    found: dict[ObjectId, GVK] = {}
    for entry in entries:
        try:
            ref = parse_inventory_id(str(entry.get("id") or ""), str(entry.get("v") or ""))
        except ValueError:
            continue
        group, kind = sys.intern(ref.group), sys.intern(ref.kind)
        found[(group, kind, sys.intern(ref.namespace), ref.name)] = (
            group, sys.intern(ref.version), kind)
    return found


class InventoryIndex:
    """Which Kustomizations hold which objects, and how many entries of each kind there
    are (a kind's watch lives while its count is above zero).

    Memory per object (tens of thousands at 10,000 Kustomizations): its name, once, as a
    key of the owner map of its (group, kind, namespace), whose value is the one
    Kustomization that holds it (a set only for an object in several inventories); and the
    same name in its Kustomization's packed inventory (`_Packed`: per kind and namespace,
    a tuple of names). No tuple per object: an object id is built when asked for."""

    def __init__(self) -> None:
        self._by_ks: dict[KsKey, _Packed] = {}
        self._owners: dict[tuple[str, str, str], dict[str, KsKey | set[KsKey]]] = {}
        self._objects = 0  # objects held by at least one inventory
        self._kinds: dict[GVK, int] = {}
        self._gvks: dict[GVK, GVK] = {}  # one tuple per kind, shared by all its entries

    def set(self, ks: KsKey, entries: Iterable[Mapping[str, str]]) -> bool:
        """`ks`'s inventory is now `entries`; True if the set of watched kinds changed."""
        return self._replace(ks, inventory_objects(entries))

    def remove(self, ks: KsKey) -> bool:
        """`ks` is gone; True if the set of watched kinds changed."""
        return self._replace(ks, {})

    def _replace(self, ks: KsKey, new: dict[ObjectId, GVK]) -> bool:
        old = unpack_inventory(self._by_ks.get(ks, ()))
        if old == new:  # the same inventory again (every apply): keep the names held
            return False
        self._by_ks.pop(ks, None)
        kinds_before = set(self._kinds)
        for oid, gvk in old.items():
            self._drop_owner(oid, ks)
            self._kinds[gvk] -= 1
            if self._kinds[gvk] <= 0:
                del self._kinds[gvk]
                self._gvks.pop(gvk, None)
        for oid, gvk in new.items():
            self._add_owner(oid, ks)
            self._kinds[gvk] = self._kinds.get(gvk, 0) + 1
        if new:  # the names are the owner map's own strings (the same objects)
            self._by_ks[ks] = pack_inventory(
                {oid: self._gvks.setdefault(gvk, gvk) for oid, gvk in new.items()})
        return set(self._kinds) != kinds_before

    def _add_owner(self, oid: ObjectId, ks: KsKey) -> None:
        group, kind, namespace, name = oid
        names = self._owners.setdefault((group, kind, namespace), {})
        held = names.get(name)
        if held is None:
            names[name] = ks
            self._objects += 1
        elif isinstance(held, set):
            held.add(ks)
        elif held != ks:
            names[name] = {held, ks}

    def _drop_owner(self, oid: ObjectId, ks: KsKey) -> None:
        group, kind, namespace, name = oid
        names = self._owners.get((group, kind, namespace))
        held = None if names is None else names.get(name)
        if names is None or held is None:
            return
        if isinstance(held, set):
            held.discard(ks)
            if len(held) == 1:
                names[name] = next(iter(held))
            return
        if held == ks:
            del names[name]
            self._objects -= 1
            if not names:
                del self._owners[(group, kind, namespace)]

    def owners(self, oid: ObjectId) -> set[KsKey]:
        group, kind, namespace, name = oid
        names = self._owners.get((group, kind, namespace))
        held = None if names is None else names.get(name)
        if held is None:
            return set()
        return set(held) if isinstance(held, set) else {held}

    def objects_of(self, ks: KsKey) -> dict[ObjectId, GVK]:
        return unpack_inventory(self._by_ks.get(ks, ()))

    def kinds(self) -> set[GVK]:
        return set(self._kinds)

    def __len__(self) -> int:
        return self._objects


#: an inventory as the index keeps it: per (group, version, kind) and namespace, the names
_Packed = tuple[tuple[GVK, str, tuple[str, ...]], ...]


def pack_inventory(objects: Mapping[ObjectId, GVK]) -> _Packed:
    """`objects` grouped by kind and namespace, names in their order: a few tuples instead
    of a dict entry and a 4-tuple per object. Pure."""
    groups: dict[tuple[GVK, str], list[str]] = {}
    for (_, _, namespace, name), gvk in objects.items():
        groups.setdefault((gvk, namespace), []).append(name)
    return tuple((gvk, namespace, tuple(names)) for (gvk, namespace), names in groups.items())


def unpack_inventory(packed: _Packed) -> dict[ObjectId, GVK]:
    """The objects `pack_inventory` packed. Pure."""
    return {(gvk[0], gvk[2], namespace, name): gvk
            for gvk, namespace, names in packed for name in names}


class HeldVersions(MutableMapping[tuple[str, str], Rv]):
    """What a kind's watch holds: (namespace, name) -> `compact_rv`, kept by namespace then
    name, so that no (namespace, name) tuple is held per object (56 bytes each; the
    namespace is held once per namespace). Pure."""

    __slots__ = ("_by_ns", "_len")

    def __init__(self, items: Iterable[tuple[tuple[str, str], Rv]] = ()) -> None:
        self._by_ns: dict[str, dict[str, Rv]] = {}
        self._len = 0
        for key, rv in items:
            self[key] = rv

    def __getitem__(self, key: tuple[str, str]) -> Rv:
        return self._by_ns[key[0]][key[1]]

    def get(self, key: tuple[str, str], default: Any = None) -> Any:  # type: ignore[override]
        names = self._by_ns.get(key[0])
        return default if names is None else names.get(key[1], default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        names = self._by_ns.get(key[0])
        return names is not None and key[1] in names

    def __setitem__(self, key: tuple[str, str], rv: Rv) -> None:
        names = self._by_ns.setdefault(key[0], {})
        if key[1] not in names:
            self._len += 1
        names[key[1]] = rv

    def __delitem__(self, key: tuple[str, str]) -> None:
        names = self._by_ns[key[0]]
        del names[key[1]]
        self._len -= 1
        if not names:
            del self._by_ns[key[0]]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for namespace, names in list(self._by_ns.items()):
            for name in list(names):
                yield namespace, name

    def __len__(self) -> int:
        return self._len


# --- what a watch keeps, and whose change an event is -----------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What a watch event says of one object (the watch keeps only `compact_rv` of it)."""

    resource_version: str
    manager: str | None = None
    operation: str | None = None
    time: str | None = None


def newest_writer(managed_fields: Iterable[Mapping[str, Any]] | None, ours: str
                  ) -> tuple[str, str, str] | None:
    """(manager, operation, time) of the newest main-resource managedFields entry (module
    docstring); None when there is none."""
    best: tuple[str, str, str] | None = None
    for entry in managed_fields or ():
        if entry.get("subresource"):
            continue
        cand = (str(entry.get("manager") or ""), str(entry.get("operation") or ""),
                str(entry.get("time") or ""))
        if best is None or cand[2] > best[2] or (cand[2] == best[2] and best[0] == ours):
            best = cand
    return best


def meta_of(obj: Mapping[str, Any], ours: str) -> ObjectMeta:
    """The `ObjectMeta` of a PartialObjectMetadata body."""
    meta = obj.get("metadata") or {}
    writer = newest_writer(meta.get("managedFields"), ours)
    rv = str(meta.get("resourceVersion") or "")
    if writer is None:
        return ObjectMeta(rv)
    return ObjectMeta(rv, *writer)


def compact_rv(rv: str) -> Rv:
    """A resourceVersion as a watch keeps it: the API server's decimal numbers as ints (28
    bytes instead of a 50-odd-byte string per object held), anything else unchanged. Two
    versions are equal exactly when their compact forms are (no leading zeros are
    converted, so "07" stays a string and never equals 7). Pure."""
    if rv.isascii() and rv.isdigit() and (rv[0] != "0" or rv == "0"):
        return int(rv)
    return rv


def is_foreign(event_type: str, old: Rv | None, new: ObjectMeta | None, ours: str) -> bool:
    """Whether a watch event is a change someone else made to a managed object: any
    deletion; otherwise a new resourceVersion (`old`: the `compact_rv` held before) whose
    newest writer is not `ours`."""
    if event_type == "DELETED":
        return True
    if new is None:
        return False
    if old is not None and old == compact_rv(new.resource_version):
        return False
    return new.manager != ours


def diff_listing(held: Mapping[tuple[str, str], Rv],
                 listed: Mapping[tuple[str, str], ObjectMeta]
                 ) -> list[tuple[str, tuple[str, str], ObjectMeta | None]]:
    """The events a re-list stands for (what changed while the watch was away):
    (type, (namespace, name), new meta) for every object added, modified or deleted
    (`held`: the `compact_rv` of each object held)."""
    events: list[tuple[str, tuple[str, str], ObjectMeta | None]] = []
    for key, meta in listed.items():
        old = held.get(key)
        if old is None:
            events.append(("ADDED", key, meta))
        elif old != compact_rv(meta.resource_version):
            events.append(("MODIFIED", key, meta))
    events.extend(("DELETED", key, None) for key in held if key not in listed)
    return events


# --- debounce ----------------------------------------------------------------------------


class Debouncer:
    """A burst of changes -> one trigger per key: the first change of a quiet key fires
    `delay` seconds later (and no sooner than `min_gap` after its previous firing, so a
    writer that fights the apply costs one reconcile per `min_gap`, not a hot loop);
    changes until it fires are absorbed. Pure over the times given."""

    def __init__(self, delay: float = 0.1, min_gap: float = 1.0) -> None:
        self.delay = delay
        self.min_gap = min_gap
        self._pending: dict[Any, float] = {}
        self._fired: dict[Any, float] = {}

    def note(self, key: Any, now: float) -> float | None:
        """A change of `key` at `now`: the time it fires, or None if one is pending."""
        if key in self._pending:
            return None
        at = now + self.delay
        last = self._fired.get(key)
        if last is not None:
            at = max(at, last + self.min_gap)
        self._pending[key] = at
        return at

    def due(self, now: float) -> list[Any]:
        """The keys whose time came (each fires once), oldest first."""
        ready = sorted((at, i, k) for i, (k, at) in enumerate(self._pending.items())
                       if at <= now)
        for _, _, key in ready:
            del self._pending[key]
            self._fired[key] = now
        # forget old firings so the map stays as small as the set of active keys
        for key in [k for k, t in self._fired.items() if now - t > self.min_gap]:
            if key not in self._pending:
                del self._fired[key]
        return [key for _, _, key in ready]

    def next_at(self) -> float | None:
        return min(self._pending.values(), default=None)

    def pending(self) -> int:
        return len(self._pending)


# --- the skip decision --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SkipFacts:
    """What `skip_apply` decides from (one interval reconcile of one Kustomization)."""

    enabled: bool = True
    local: bool = True  # applies to this cluster (no kubeConfig): our watches see it
    requested: bool = False  # requestedAt not handled yet: the user asked for a full run
    digest: str = ""  # of the objects about to be applied
    applied_digest: str | None = None  # of the last apply by this process (None: none)
    applied_seq: int = 0  # the watch sequence number when that apply started
    foreign_seq: int = -1  # of the last foreign change to its objects (-1: none)
    synced_seq: int | None = None  # since when all its kinds' watches are synced (None: not)
    missing: int = 0  # inventory objects the watches do not hold (gone, or never seen)
    skipped: int = 0  # applies skipped in a row since the last full one
    full_every: int = 6  # a full apply at least every this many intervals


def skip_apply(f: SkipFacts) -> tuple[bool, str]:
    """(skip, why): whether the apply's dry-runs may be skipped, and the reason to log."""
    if not f.enabled:
        return False, "drift watch off"
    if not f.local:
        return False, "remote cluster"
    if f.requested:
        return False, "requested"
    if f.applied_digest is None:
        return False, "no apply seen by this process"
    if f.digest != f.applied_digest:
        return False, "objects changed"
    if f.synced_seq is None:
        return False, "watches not synced"
    if f.synced_seq > f.applied_seq:
        return False, "watches synced after the last apply"
    if f.foreign_seq >= f.applied_seq:
        return False, "foreign change since the last apply"
    if f.missing:
        return False, "objects missing"
    if f.skipped + 1 >= f.full_every:
        return False, "full apply due"
    return True, "unchanged since the last apply"
