"""The build cache: keys from artifact digest, spec and keys; fresh copies; a byte bound."""

from __future__ import annotations

import json

import pytest

from afflux.controllers.kustomize._buildcache import BuildCache, build_key
from afflux.controllers.kustomize._sops import DecryptionKeys

SPEC = {"path": "./app", "prune": True}
CM = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}]
AGE = DecryptionKeys(age=(("key.agekey", "AGE-SECRET-KEY-1"),))


@pytest.mark.parametrize(("a", "b", "same"), [
    (("sha256:1", SPEC, None), ("sha256:1", dict(reversed(SPEC.items())), None), True),
    (("sha256:1", SPEC, None), ("sha256:2", SPEC, None), False),
    (("sha256:1", SPEC, None), ("sha256:1", {**SPEC, "namePrefix": "x-"}, None), False),
    (("sha256:1", SPEC, None), ("sha256:1", SPEC, AGE), False),
    (("sha256:1", SPEC, AGE), ("sha256:1", SPEC, DecryptionKeys(age=(("k.agekey", "other"),))),
     False),
], ids=["key-order-does-not-matter", "new-artifact", "new-spec", "keys-added", "other-keys"])
def test_build_key(a: tuple, b: tuple, same: bool) -> None:
    assert (build_key(*a) == build_key(*b)) is same


def test_no_digest_no_caching() -> None:
    cache = BuildCache()
    assert build_key(None, SPEC, None) is None
    cache.put(None, CM)
    assert cache.get(None) is None and len(cache) == 0


def test_hits_are_fresh_copies() -> None:
    cache = BuildCache()
    key = build_key("sha256:1", SPEC, None)
    cache.put(key, CM)
    first = cache.get(key)
    assert first == CM
    first[0]["metadata"]["labels"] = {"changed": "by a later phase"}  # type: ignore[index]
    assert cache.get(key) == CM
    assert (cache.hits, cache.misses) == (2, 0)
    assert cache.get(build_key("sha256:2", SPEC, None)) is None and cache.misses == 1


def test_least_recently_used_out_beyond_the_byte_bound() -> None:
    sizing = BuildCache()
    sizing.put(build_key("sha256:0", SPEC, None), CM)
    one = sizing.bytes  # what one build of CM takes
    cache = BuildCache(max_bytes=2 * one)
    keys = [build_key(f"sha256:{i}", SPEC, None) for i in range(3)]
    cache.put(keys[0], CM)
    cache.put(keys[1], CM)
    assert cache.get(keys[0]) is not None  # 0 is now the most recently used
    cache.put(keys[2], CM)
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None
    assert cache.bytes <= cache.max_bytes and len(cache) == 2


def test_builds_are_kept_compressed() -> None:
    many = [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"app-0001-cm-{j:02d}", "labels": {"app": "app-0001"}},
             "data": {"index": str(j), "app": "app-0001", "settings.yaml": "replicas: 1\n"}}
            for j in range(10)]
    cache = BuildCache()
    key = build_key("sha256:1", SPEC, None)
    cache.put(key, many)
    assert 0 < cache.bytes < len(json.dumps(many, separators=(",", ":"))) / 3
    assert cache.get(key) == many


def test_size_zero_turns_it_off() -> None:
    cache = BuildCache(max_bytes=0)
    key = build_key("sha256:1", SPEC, None)
    cache.put(key, CM)
    assert cache.get(key) is None
