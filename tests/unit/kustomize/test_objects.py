"""Object YAML read and written the Go way, and the metadata kustomize-controller sets."""

from __future__ import annotations

import math

import pytest
import yaml

from afflux.controllers.kustomize._objects import (
    ManifestError,
    describe,
    dump_documents,
    dump_object,
    is_disabled,
    is_encrypted_secret,
    load_documents,
    set_common_metadata,
    set_owner_labels,
)

SCALARS = [
    ("yes", "yes", True),
    ("y-is-true-in-go", "y", True),
    ("on", "On", True),
    ("no", "NO", False),
    ("n-is-false-in-go", "n", False),
    ("off", "off", False),
    ("true", "true", True),
    ("null-word", "null", None),
    ("tilde", "~", None),
    ("empty", "", None),
    ("decimal", "42", 42),
    ("signed", "-7", -7),
    ("underscores", "1_000", 1000),
    ("hex", "0x1F", 31),
    ("octal-leading-zero", "017", 15),
    ("octal-0o", "0o17", 15),
    ("binary-0b", "0b101", 5),
    ("not-octal-is-float", "08", 8.0),
    ("float", "1.5", 1.5),
    ("exponent", "1e3", 1000.0),
    ("infinity", "-.inf", -math.inf),
    ("date-stays-text", "2024-01-31", "2024-01-31"),
    ("timestamp-stays-text", "2024-01-31T10:00:00Z", "2024-01-31T10:00:00Z"),
    ("base-60-stays-text", "1:20", "1:20"),
    ("version-stays-text", "1.2.3", "1.2.3"),
    ("word", "hello", "hello"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in SCALARS], ids=[c[0] for c in SCALARS]
)
def test_plain_scalars_resolve_as_go_yaml(text: str, expected: object) -> None:
    [doc] = load_documents(f"value: {text}\n")
    assert doc["value"] == expected
    assert type(doc["value"]) is type(expected)


def test_nan() -> None:
    [doc] = load_documents("value: .nan\n")
    assert math.isnan(doc["value"])


@pytest.mark.parametrize(
    ("text", "keys"),
    [("1: a\n", ["1"]), ("yes: a\n", ["true"]), ("~: a\n", ["null"]), ("a: 1\n", ["a"])],
    ids=["int-key", "bool-key", "null-key", "string-key"],
)
def test_mapping_keys_become_strings(text: str, keys: list[str]) -> None:
    assert list(load_documents(text)[0]) == keys


def test_quoted_scalars_stay_strings() -> None:
    [doc] = load_documents("a: 'yes'\nb: \"12\"\nc: !!str 3\n")
    assert doc == {"a": "yes", "b": "12", "c": "3"}


def test_empty_documents_are_skipped() -> None:
    assert load_documents("---\n---\na: 1\n---\n") == [{"a": 1}]


@pytest.mark.parametrize(
    ("text", "message"),
    [("a: [\n", "invalid YAML in here.yaml"), ("- a\n- b\n", "document 1 in here.yaml is a list"),
     ("just text\n", "document 1 in here.yaml is a str")],
    ids=["broken", "list", "scalar"],
)
def test_bad_documents_name_the_source(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        load_documents(text, source="here.yaml")


ROUND_TRIP = {
    "bools-as-strings": ["yes", "no", "y", "n", "on", "off", "true", "False"],
    "numbers-as-strings": ["1", "0x1F", "017", "1e3", "1_000", ".inf", "08"],
    "dates-as-strings": ["2024-01-31", "1:20"],
    "nulls-as-strings": ["null", "~", ""],
    "values": [1, 1.5, True, None, "plain", "with: colon", "#hash", "'quote", "${var}"],
    "multiline": ["line 1\nline 2\n", "trailing spaces  \nnext", "tab\there\n"],
    "long": ["x" * 500 + " " + "y" * 500],
}


@pytest.mark.parametrize("values", list(ROUND_TRIP.values()), ids=list(ROUND_TRIP))
def test_dump_reads_back_identically_with_both_readers(values: list) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
           "data": {f"k{i}": v for i, v in enumerate(values)}}
    text = dump_object(obj)
    assert load_documents(text) == [obj]
    assert yaml.safe_load(text) == obj


def test_dump_style() -> None:
    text = dump_object({"script": "echo a\necho ${b}\n", "count": "3", "v": "${v}",
                        "url": "a: b", "n": 1})
    assert "script: |\n  echo a\n  echo ${b}\n" in text
    assert 'count: "3"' in text  # quoted with double quotes, never single
    assert '"n": 1' in text  # a key Go would read as a boolean is quoted too
    assert "v: ${v}" in text  # a variable reference stays plain
    assert 'url: "a: b"' in text


def test_dump_documents() -> None:
    text = dump_documents([{"a": 1}, {"b": 2}])
    assert load_documents(text) == [{"a": 1}, {"b": 2}]
    assert text.count("---") == 1


CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "cfg", "namespace": "apps", "labels": {"app": "web", "tier": "x"}}}


def test_common_metadata_overrides_and_adds() -> None:
    [out] = set_common_metadata([CM], {"tier": "back", "team": "a"}, {"note": "n"})
    assert out["metadata"]["labels"] == {"app": "web", "tier": "back", "team": "a"}
    assert out["metadata"]["annotations"] == {"note": "n"}
    assert CM["metadata"]["labels"] == {"app": "web", "tier": "x"}  # input untouched


def test_common_metadata_on_object_without_metadata_maps() -> None:
    [out] = set_common_metadata([{"apiVersion": "v1", "kind": "Secret",
                                  "metadata": {"name": "s"}}], None, {"a": "b"})
    assert out["metadata"] == {"name": "s", "annotations": {"a": "b"}}


def test_owner_labels() -> None:
    [out] = set_owner_labels([CM], "apps", "flux-system")
    assert out["metadata"]["labels"] == {
        "app": "web", "tier": "x", "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}


@pytest.mark.parametrize(
    ("meta", "disabled"),
    [({"labels": {"k/x": "disabled"}}, True), ({"annotations": {"k/x": "DISABLED"}}, True),
     ({"annotations": {"k/x": "enabled"}}, False), ({"annotations": {"k/y": "disabled"}}, False),
     ({}, False)],
    ids=["label", "annotation-upper", "enabled", "other-key", "none"],
)
def test_is_disabled(meta: dict, disabled: bool) -> None:
    assert is_disabled({"metadata": meta}, "k/x") is disabled


@pytest.mark.parametrize(
    ("obj", "expected"),
    [(CM, "ConfigMap/apps/cfg"), ({"kind": "Namespace", "metadata": {"name": "a"}}, "Namespace/a"),
     ({}, "<no kind>/<no name>")],
    ids=["namespaced", "cluster", "empty"],
)
def test_describe(obj: dict, expected: str) -> None:
    assert describe(obj) == expected


@pytest.mark.parametrize(
    ("obj", "encrypted"),
    [({"apiVersion": "v1", "kind": "Secret", "sops": {"mac": "ENC[x]"}}, True),
     ({"apiVersion": "v1", "kind": "Secret"}, False),
     ({"apiVersion": "v1", "kind": "ConfigMap", "sops": {"mac": "ENC[x]"}}, False),
     ({"apiVersion": "v1", "kind": "Secret", "sops": "text"}, False)],
    ids=["encrypted-secret", "plain-secret", "not-a-secret", "sops-not-metadata"],
)
def test_is_encrypted_secret(obj: dict, encrypted: bool) -> None:
    assert is_encrypted_secret(obj) is encrypted
