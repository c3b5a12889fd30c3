"""Values composition (valuesFrom, targetPath, inline), the valuesFrom references read
(missing objects and keys, optional ones) and Flux's config digest."""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Any

import pytest

from afflux.controllers.helm._helm import values_json
from afflux.controllers.helm._values import (
    ValuesError,
    ValuesSource,
    compose_values,
    config_digest,
    go_json,
    merge_maps,
    reused_values,
    set_path,
    values_sources,
)

MERGE_CASES = [
    ("disjoint keys", {"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ("maps merge deeply", {"a": {"x": 1, "y": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}),
    ("lists are replaced", {"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ("a scalar replaces a map", {"a": {"x": 1}}, {"a": 5}, {"a": 5}),
    ("null is a value", {"a": 1}, {"a": None}, {"a": None}),
]


@pytest.mark.parametrize(("base", "overlay", "expected"), [c[1:] for c in MERGE_CASES],
                         ids=[c[0] for c in MERGE_CASES])
def test_merge_maps(base: dict[str, Any], overlay: dict[str, Any],
                    expected: dict[str, Any]) -> None:
    assert merge_maps(base, overlay) == expected


SET_CASES = [
    ("top-level string", {}, "name", "web", False, {"name": "web"}),
    ("nested path", {"a": {"keep": 1}}, "a.b.c", "x", False, {"a": {"keep": 1, "b": {"c": "x"}}}),
    ("integers typed", {}, "replicas", "3", False, {"replicas": 3}),
    ("booleans typed", {}, "on", "true", False, {"on": True}),
    ("null typed", {}, "gone", "null", False, {"gone": None}),
    ("literal stays a string", {}, "replicas", "3", True, {"replicas": "3"}),
    ("escaped dot in a key", {}, r"annotations.a\.b/c", "v", False,
     {"annotations": {"a.b/c": "v"}}),
    ("list index pads", {}, "list[2]", "z", False, {"list": [None, None, "z"]}),
    ("map inside a list", {}, "items[0].name", "n", False, {"items": [{"name": "n"}]}),
    ("replaces a scalar on the way", {"a": 1}, "a.b", "v", False, {"a": {"b": "v"}}),
]


@pytest.mark.parametrize(("values", "path", "text", "literal", "expected"),
                         [c[1:] for c in SET_CASES], ids=[c[0] for c in SET_CASES])
def test_set_path(values: dict[str, Any], path: str, text: str, literal: bool,
                  expected: dict[str, Any]) -> None:
    set_path(values, path, text, literal=literal)
    assert values == expected


@pytest.mark.parametrize("path", ["a..b", "[1]", "a[99999]"], ids=["empty key", "index only",
                                                                   "index too large"])
def test_bad_target_paths(path: str) -> None:
    with pytest.raises(ValuesError):
        set_path({}, path, "x")


def test_compose_values_in_order_then_inline() -> None:
    sources = [
        ValuesSource("a: 1\nb: {x: 1}\n", "first"),
        ValuesSource("b: {y: 2}\nc: 3\n", "second"),
        ValuesSource("v7\n", "tag", target_path="image.tag"),
        ValuesSource("", "empty"),
    ]
    assert compose_values(sources, {"c": 4, "image": {"pull": "Always"}}) == {
        "a": 1, "b": {"x": 1, "y": 2}, "c": 4, "image": {"tag": "v7", "pull": "Always"}}


@pytest.mark.parametrize(("text", "message"), [("a: [", "is not valid YAML"),
                                                ("- a\n- b\n", "is not a YAML mapping")],
                         ids=["bad yaml", "not a mapping"])
def test_compose_values_errors_name_the_source(text: str, message: str) -> None:
    with pytest.raises(ValuesError, match=f"key 'values.yaml' of ConfigMap 'ns/cm' {message}"):
        compose_values([ValuesSource(text, "key 'values.yaml' of ConfigMap 'ns/cm'")], None)


GO_JSON_CASES = [
    ("empty", {}, "{}"),
    ("sorted keys, compact", {"b": 1, "a": [True, None, "x"]}, '{"a":[true,null,"x"],"b":1}'),
    ("html escaped like Go", {"h": "<a & b>"}, '{"h":"\\u003ca \\u0026 b\\u003e"}'),
    ("unicode kept", {"u": "é"}, '{"u":"é"}'),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in GO_JSON_CASES],
                         ids=[c[0] for c in GO_JSON_CASES])
def test_go_json(value: Any, expected: str) -> None:
    assert go_json(value) == expected


def test_config_digest_is_sha256_of_go_json() -> None:
    assert config_digest(None) == config_digest({}) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    assert config_digest({"a": 1}) == "sha256:" + hashlib.sha256(b'{"a":1}').hexdigest()


@pytest.mark.parametrize(("values", "text"), [
    pytest.param({"n": 1, "y": "Y", "no": False}, '{"n": 1, "no": false, "y": "Y"}',
                 id="yaml-1.1-booleans-stay-keys-and-strings"),
    pytest.param({"when": datetime.date(2024, 1, 2)}, '{"when": "2024-01-02"}',
                 id="a-yaml-timestamp-is-a-string"),
    pytest.param({"msg": "héllo"}, '{"msg": "héllo"}', id="unicode-kept"),
])
def test_values_json(values: dict[str, Any], text: str) -> None:
    assert values_json(values) == text


class _Ref:
    def __init__(self, kind: str, name: str, key: str | None = None, optional: bool = False,
                 target: str | None = None) -> None:
        self.kind, self.name, self.values_key = kind, name, key
        self.optional, self.target_path, self.literal = optional, target, False


SOURCE_CASES = [
    ("present", [_Ref("ConfigMap", "a")], ["a: 1\n"], ""),
    ("missing optional object skipped", [_Ref("ConfigMap", "gone", optional=True)], [], ""),
    ("missing optional key skipped", [_Ref("ConfigMap", "a", key="x", optional=True)], [], ""),
    ("missing object fails", [_Ref("Secret", "gone")], [],
     "Secret 'apps/gone' not found; create it, or set optional: true"),
    ("missing key fails", [_Ref("ConfigMap", "a", key="x")], [],
     "ConfigMap 'apps/a' has no key 'x' (set valuesKey"),
]


@pytest.mark.parametrize(("refs", "texts", "error"), [c[1:] for c in SOURCE_CASES],
                         ids=[c[0] for c in SOURCE_CASES])
def test_values_sources(refs: list[_Ref], texts: list[str], error: str) -> None:
    found = {("ConfigMap", "a"): {"data": {"values.yaml": "a: 1\n"}},
             ("Secret", "gone"): None}
    if error:
        with pytest.raises(ValuesError, match=re.escape(error)):
            values_sources(refs, "apps", found)
        return
    assert [s.text for s in values_sources(refs, "apps", found)] == texts


REUSE_CASES = [
    ("the previous value kept", {"extra": "x"}, {"replicas": 2}, {"extra": "x", "replicas": 2}),
    ("the new value wins", {"replicas": 3}, {"replicas": 2}, {"replicas": 3}),
    ("maps merged key by key", {"image": {"tag": "2"}}, {"image": {"repo": "r", "tag": "1"}},
     {"image": {"repo": "r", "tag": "2"}}),
    ("a null removes the key", {"replicas": None}, {"replicas": 2}, {}),
    ("a map replaced by a scalar", {"image": "r:2"}, {"image": {"tag": "1"}}, {"image": "r:2"}),
]


@pytest.mark.parametrize(("new", "previous", "expected"), [c[1:] for c in REUSE_CASES],
                         ids=[c[0] for c in REUSE_CASES])
def test_reused_values(new: dict[str, Any], previous: dict[str, Any],
                       expected: dict[str, Any]) -> None:
    assert reused_values(new, previous) == expected
