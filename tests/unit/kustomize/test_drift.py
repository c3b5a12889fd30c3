"""Drift detection's pure parts: the inventory index, whose change an event is, the re-list
difference, the debounce, and when an interval reconcile may skip its apply."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from afflux.controllers.kustomize._drift import (
    Debouncer,
    HeldVersions,
    InventoryIndex,
    ObjectMeta,
    Rv,
    SkipFacts,
    compact_rv,
    diff_listing,
    is_foreign,
    meta_of,
    newest_writer,
    pack_inventory,
    skip_apply,
    unpack_inventory,
)
from afflux.controllers.kustomize.handlers import (
    inventory_and_readiness_key,
    on_kustomization_change,
)
from harness.scheduler_fakes import RecordingScheduler

OURS = "kustomize-controller"


def entry(ns: str, name: str, group: str, kind: str, version: str = "v1") -> dict[str, str]:
    return {"id": f"{ns}_{name}_{group}_{kind}", "v": version}


A = entry("apps", "a", "", "ConfigMap")
B = entry("apps", "b", "", "ConfigMap")
WEB = entry("apps", "web", "apps", "Deployment")
NS = entry("", "apps", "", "Namespace")


# --- the index -----------------------------------------------------------------------------


def test_index_owners_and_kinds() -> None:
    index = InventoryIndex()
    assert index.set(("flux", "one"), [A, WEB]) is True  # two new kinds
    assert index.set(("flux", "two"), [A, B]) is False  # ConfigMap is watched already
    assert index.owners(("", "ConfigMap", "apps", "a")) == {("flux", "one"), ("flux", "two")}
    assert index.owners(("", "ConfigMap", "apps", "b")) == {("flux", "two")}
    assert index.kinds() == {("", "v1", "ConfigMap"), ("apps", "v1", "Deployment")}
    assert index.set(("flux", "one"), [A]) is True  # the last Deployment left
    assert index.kinds() == {("", "v1", "ConfigMap")}
    assert index.remove(("flux", "two")) is False
    assert index.owners(("", "ConfigMap", "apps", "b")) == set()
    assert index.remove(("flux", "one")) is True
    assert index.kinds() == set() and len(index) == 0


def test_index_an_object_in_two_inventories_keeps_the_other_owner() -> None:
    index = InventoryIndex()
    index.set(("flux", "one"), [A])
    index.set(("flux", "two"), [A])
    index.set(("flux", "three"), [A])
    index.remove(("flux", "two"))
    assert index.owners(("", "ConfigMap", "apps", "a")) == {("flux", "one"), ("flux", "three")}
    index.remove(("flux", "one"))
    assert index.owners(("", "ConfigMap", "apps", "a")) == {("flux", "three")}
    index.remove(("flux", "three"))
    assert index.owners(("", "ConfigMap", "apps", "a")) == set() and len(index) == 0


def test_index_same_inventory_again_changes_nothing() -> None:
    index = InventoryIndex()
    index.set(("flux", "one"), [A, NS])
    assert index.set(("flux", "one"), [NS, A]) is False
    assert index.objects_of(("flux", "one")) == {
        ("", "ConfigMap", "apps", "a"): ("", "v1", "ConfigMap"),
        ("", "Namespace", "", "apps"): ("", "v1", "Namespace")}


def test_index_leaves_malformed_ids_out() -> None:
    index = InventoryIndex()
    index.set(("flux", "one"), [{"id": "nonsense", "v": "v1"}, A])
    assert len(index) == 1


# --- whose change -------------------------------------------------------------------------


def mf(manager: str, operation: str, time: str, subresource: str | None = None
       ) -> dict[str, Any]:
    entry: dict[str, Any] = {"manager": manager, "operation": operation, "time": time}
    if subresource:
        entry["subresource"] = subresource
    return entry


T1, T2, T3 = "2026-12-01T10:00:01Z", "2026-12-01T10:00:02Z", "2026-12-01T10:00:03Z"


@pytest.mark.parametrize(("fields", "newest"), [
    ([], None),
    ([mf(OURS, "Apply", T1)], (OURS, "Apply", T1)),
    # the server sorts Apply entries first: the last entry is not the newest one
    ([mf(OURS, "Apply", T3), mf("kubectl-edit", "Update", T2)], (OURS, "Apply", T3)),
    ([mf(OURS, "Apply", T1), mf("kubectl-edit", "Update", T2)], ("kubectl-edit", "Update", T2)),
    # a status writer is not a writer of the object
    ([mf(OURS, "Apply", T1), mf("kube-controller-manager", "Update", T3, "status")],
     (OURS, "Apply", T1)),
    # same second: the foreign writer wins, whatever the order
    ([mf(OURS, "Apply", T2), mf("kubectl-edit", "Update", T2)], ("kubectl-edit", "Update", T2)),
    ([mf("kubectl-edit", "Update", T2), mf(OURS, "Apply", T2)], ("kubectl-edit", "Update", T2)),
], ids=["none", "ours-only", "ours-newer-than-an-edit", "edit-newer", "status-writer-ignored",
        "tie-foreign-wins", "tie-foreign-wins-either-order"])
def test_newest_writer(fields: list[dict[str, Any]], newest: tuple[str, str, str] | None
                       ) -> None:
    assert newest_writer(fields, OURS) == newest


def test_meta_of_keeps_only_version_and_writer() -> None:
    body = {"metadata": {"name": "a", "resourceVersion": "42", "labels": {"x": "y"},
                         "managedFields": [mf(OURS, "Apply", T1)]}}
    assert meta_of(body, OURS) == ObjectMeta("42", OURS, "Apply", T1)
    assert meta_of({"metadata": {"resourceVersion": "7"}}, OURS) == ObjectMeta("7")


OUR_META = ObjectMeta("2", OURS, "Apply", T2)
EDIT_META = ObjectMeta("3", "kubectl-edit", "Update", T3)


@pytest.mark.parametrize(("rv", "kept"), [
    ("12345", 12345), ("0", 0), ("9" * 30, int("9" * 30)), ("007", "007"), ("", ""),
    ("12a", "12a"), ("\u00b2", "\u00b2"), ("-1", "-1"),
], ids=["number", "zero", "long-number", "leading-zero-kept", "empty", "not-a-number",
        "unicode-digit", "sign"])
def test_compact_rv(rv: str, kept: Rv) -> None:
    assert compact_rv(rv) == kept
    assert type(compact_rv(rv)) is type(kept)


@pytest.mark.parametrize(("event", "old", "new", "foreign"), [
    ("MODIFIED", 1, OUR_META, False),
    ("MODIFIED", 2, EDIT_META, True),
    ("MODIFIED", 3, EDIT_META, False),
    ("MODIFIED", "opaque", ObjectMeta("opaque", "kubectl-edit"), False),
    ("ADDED", None, OUR_META, False),
    ("ADDED", None, EDIT_META, True),
    ("DELETED", 2, None, True),
    ("MODIFIED", 2, ObjectMeta("3"), True),
], ids=["our-apply", "kubectl-edit", "same-resource-version", "same-opaque-version",
        "created-by-us", "created-by-someone-else", "deleted", "no-managed-fields"])
def test_is_foreign(event: str, old: Rv | None, new: ObjectMeta | None,
                    foreign: bool) -> None:
    assert is_foreign(event, old, new, OURS) is foreign


def test_diff_listing_stands_for_the_missed_events() -> None:
    held: dict[tuple[str, str], Rv] = {("a", "x"): 2, ("a", "y"): 2, ("a", "gone"): 2}
    listed = {("a", "x"): OUR_META, ("a", "y"): EDIT_META, ("a", "new"): OUR_META}
    assert sorted(diff_listing(held, listed), key=str) == sorted([
        ("MODIFIED", ("a", "y"), EDIT_META), ("ADDED", ("a", "new"), OUR_META),
        ("DELETED", ("a", "gone"), None)], key=str)


# --- debounce -----------------------------------------------------------------------------


@pytest.mark.parametrize(("notes", "polls", "fired"), [
    ([0.0], [0.05, 0.1], [[], ["ks"]]),
    ([0.0, 0.02, 0.05, 0.09], [0.1, 0.2], [["ks"], []]),
    ([0.0, 0.5], [0.1, 0.6, 1.1], [["ks"], [], ["ks"]]),
    ([0.0, 3.0], [0.1, 3.1], [["ks"], ["ks"]]),
], ids=["one-change-fires-after-the-delay", "a-burst-fires-once",
        "again-no-sooner-than-min-gap", "quiet-key-fires-after-delay-again"])
def test_debouncer(notes: list[float], polls: list[float], fired: list[list[str]]) -> None:
    debouncer = Debouncer(delay=0.1, min_gap=1.0)
    events = sorted([(t, "note") for t in notes] + [(t, "poll") for t in polls])
    got = []
    for t, what in events:
        if what == "note":
            debouncer.note("ks", t)
        else:
            got.append(debouncer.due(t))
    assert got == fired


def test_debouncer_keys_are_independent() -> None:
    debouncer = Debouncer(delay=0.1, min_gap=1.0)
    debouncer.note("a", 0.0)
    debouncer.note("b", 0.05)
    assert debouncer.next_at() == pytest.approx(0.1)
    assert debouncer.due(0.2) == ["a", "b"]
    assert debouncer.pending() == 0 and debouncer.next_at() is None


# --- the skip decision -------------------------------------------------------------------------

CLEAN = SkipFacts(digest="d1", applied_digest="d1", applied_seq=10, foreign_seq=5,
                  synced_seq=3, missing=0, skipped=0, full_every=6)


@pytest.mark.parametrize(("changes", "skip", "why"), [
    ({}, True, "unchanged since the last apply"),
    ({"skipped": 4}, True, "unchanged since the last apply"),
    ({"skipped": 5}, False, "full apply due"),
    ({"full_every": 1}, False, "full apply due"),
    ({"enabled": False}, False, "drift watch off"),
    ({"local": False}, False, "remote cluster"),
    ({"requested": True}, False, "requested"),
    ({"applied_digest": None}, False, "no apply seen by this process"),
    ({"digest": "d2"}, False, "objects changed"),
    ({"synced_seq": None}, False, "watches not synced"),
    ({"synced_seq": 11}, False, "watches synced after the last apply"),
    ({"foreign_seq": 10}, False, "foreign change since the last apply"),
    ({"foreign_seq": 12}, False, "foreign change since the last apply"),
    ({"missing": 1}, False, "objects missing"),
], ids=["clean", "clean-4-skipped", "sixth-interval-applies", "every-interval-applies",
        "flag-off", "remote-cluster", "requested", "restarted", "new-objects",
        "watch-not-synced", "watch-synced-late", "foreign-change-as-apply-started",
        "foreign-change-after", "object-deleted"])
def test_skip_apply(changes: dict[str, Any], skip: bool, why: str) -> None:
    assert skip_apply(dataclasses.replace(CLEAN, **changes)) == (skip, why)


# --- the Kustomization watch feeds the index and still triggers dependents ---------------------


class _Drift:
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, list[dict[str, str]]]] = []

    def observe_kustomization(self, event_type: str | None, body: dict[str, Any]) -> None:
        self.seen.append((event_type, body["status"].get("inventory", {}).get("entries", [])))


def _ks(name: str, entries: list[dict[str, str]], ready: str = "True",
        **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "flux", "name": name, "generation": 1},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "observedGeneration": 1, "inventory": {"entries": entries}}}


def test_kustomization_watch_feeds_the_index_and_triggers_dependents_on_readiness() -> None:
    dependent = _ks("app", [], dependsOn=[{"name": "base"}])
    scheduler, drift = RecordingScheduler(dependent), _Drift()
    callback = on_kustomization_change(scheduler, drift)  # type: ignore[arg-type]
    callback(None, _ks("base", [A]))  # first sight: nothing triggered
    callback("MODIFIED", _ks("base", [A, B]))  # only the inventory moved
    assert scheduler.triggered == []
    callback("MODIFIED", _ks("base", [A, B], ready="False"))  # readiness moved
    assert scheduler.triggered == [("flux", "app")]
    assert [entries for _, entries in drift.seen] == [[A], [A, B], [A, B]]
    assert (inventory_and_readiness_key(_ks("base", [A]))
            != inventory_and_readiness_key(_ks("base", [A, B])))


# --- the compact forms: a packed inventory, the versions a watch holds -----------------------

CM = ("", "v1", "ConfigMap")
DEPLOY = ("apps", "v1", "Deployment")
NAMESPACE = ("", "v1", "Namespace")


@pytest.mark.parametrize(("objects", "groups"), [
    pytest.param({}, 0, id="empty"),
    pytest.param({("", "ConfigMap", "apps", "a"): CM}, 1, id="one"),
    pytest.param({("", "ConfigMap", "apps", f"cm-{i}"): CM for i in range(10)}, 1,
                 id="ten-of-a-kind-one-group"),
    pytest.param({("", "ConfigMap", "apps", "a"): CM, ("", "ConfigMap", "other", "a"): CM,
                  ("apps", "Deployment", "apps", "web"): DEPLOY,
                  ("", "Namespace", "", "apps"): NAMESPACE}, 4,
                 id="kinds-and-namespaces-apart"),
    pytest.param({("", "ConfigMap", "apps", "a"): CM,
                  ("", "ConfigMap", "apps", "a2"): ("", "v2", "ConfigMap")}, 2,
                 id="versions-apart"),
])
def test_a_packed_inventory_unpacks_to_the_same_objects(
        objects: dict[tuple[str, str, str, str], tuple[str, str, str]], groups: int) -> None:
    packed = pack_inventory(objects)
    assert len(packed) == groups
    assert unpack_inventory(packed) == objects


def test_the_index_holds_each_name_once_for_its_owner_map_and_its_inventory() -> None:
    index = InventoryIndex()
    index.set(("flux", "one"), [A, B])
    [(gvk, namespace, names)] = index._by_ks[("flux", "one")]
    assert (gvk, namespace, names) == (CM, "apps", ("a", "b"))
    held = index._owners[("", "ConfigMap", "apps")]
    assert all(any(n is name for n in held) for name in names)  # the same string objects


@pytest.mark.parametrize(("steps", "expected"), [
    pytest.param([], {}, id="empty"),
    pytest.param([("set", ("apps", "a"), 1)], {("apps", "a"): 1}, id="one"),
    pytest.param([("set", ("apps", "a"), 1), ("set", ("apps", "a"), "x7")],
                 {("apps", "a"): "x7"}, id="replaced"),
    pytest.param([("set", ("apps", "a"), 1), ("set", ("b", "a"), 2), ("set", ("", "n"), 3)],
                 {("apps", "a"): 1, ("b", "a"): 2, ("", "n"): 3},
                 id="namespaces-and-cluster-scoped"),
    pytest.param([("set", ("apps", "a"), 1), ("del", ("apps", "a"), None)], {},
                 id="deleted-namespace-dropped"),
    pytest.param([("set", ("apps", "a"), 1), ("set", ("apps", "b"), 2),
                  ("del", ("apps", "a"), None)], {("apps", "b"): 2}, id="deleted-one-of-two"),
])
def test_held_versions_is_a_mapping_of_namespace_and_name(
        steps: list[tuple[str, tuple[str, str], Rv | None]], expected: dict[Any, Rv]) -> None:
    held = HeldVersions()
    for op, key, rv in steps:
        if op == "set":
            assert rv is not None
            held[key] = rv
        else:
            del held[key]
    assert dict(held.items()) == expected and len(held) == len(expected)
    assert set(held) == set(expected)
    for key, rv in expected.items():
        assert key in held and held[key] == rv and held.get(key) == rv
    assert ("apps", "missing") not in held and held.get(("apps", "missing")) is None
    assert ("nowhere", "a") not in held and held.pop(("nowhere", "a"), None) is None
    assert "not-a-key" not in held
    assert all(held._by_ns.values())  # no empty namespace map is kept
    assert HeldVersions(expected.items()) == held
    assert diff_listing(held, {}) == [("DELETED", key, None) for key in expected]
