"""Offline validation: every sample is accepted, every invalid object rejected with a
message naming the field, and the structural-schema checker catches what the API server
would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api import structural_problems, validate_object

from .conftest import invalid_cases, sample_documents

SAMPLES = sample_documents()
INVALID = invalid_cases()


@pytest.mark.parametrize("doc", [d for _, d in SAMPLES], ids=[i for i, _ in SAMPLES])
def test_samples_are_valid(doc: dict[str, Any]) -> None:
    assert validate_object(doc) == []


def test_there_are_enough_invalid_cases() -> None:
    assert len(INVALID) >= 12
    assert len({c["id"] for c in INVALID}) == len(INVALID)


@pytest.mark.parametrize("case", INVALID, ids=[c["id"] for c in INVALID])
def test_invalid_objects_are_rejected_naming_the_field(case: dict[str, Any]) -> None:
    problems = validate_object(case["object"])
    assert problems, "expected the object to be rejected"
    for problem in problems:
        assert case["expect"] in problem, f"{problem!r} does not name {case['expect']!r}"


OTHER = [
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}, "serves no kind"),
    (
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
            "kind": "GitRepository",
            "metadata": {"name": "x"},
        },
        "served as",
    ),
    (
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {}},
        "metadata.name",
    ),
    (
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "x"},
        },
        "spec: Required",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), OTHER, ids=["foreign-kind", "unserved-version", "no-name", "no-spec"]
)
def test_objects_that_are_not_ours_or_incomplete(body: dict[str, Any], message: str) -> None:
    problems = validate_object(body)
    assert any(message in p for p in problems), problems


def test_unknown_fields_are_allowed_when_not_strict() -> None:
    body = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "x"},
        "spec": {
            "interval": "1m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "r"},
            "extra": 1,
        },
    }
    assert validate_object(body, strict=False) == []
    assert validate_object(body) != []


OK = {"type": "object", "properties": {"a": {"type": "string"}}}
NOT_STRUCTURAL = [
    ("untyped-node", {"type": "object", "properties": {"a": {"description": "?"}}}, "a: no type"),
    (
        "ref",
        {"type": "object", "properties": {"a": {"$ref": "#/x", "type": "string"}}},
        "'$ref' is not allowed",
    ),
    ("one-of", {"type": "object", "oneOf": [OK]}, "'oneOf' is not allowed"),
    ("additional-false", {"type": "object", "additionalProperties": False}, "must not be false"),
    (
        "both-property-kinds",
        {**OK, "additionalProperties": {"type": "string"}},
        "mutually exclusive",
    ),
    ("array-without-items", {"type": "array"}, "single items schema"),
    (
        "bad-default",
        {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
        "default does not validate",
    ),
    ("required-unknown", {**OK, "required": ["b"]}, "'b' is not a property"),
    (
        "typed-int-or-string",
        {"type": "string", "x-kubernetes-int-or-string": True},
        "must not have a type",
    ),
    (
        "unique-items",
        {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "uniqueItems",
    ),
]


@pytest.mark.parametrize(
    ("schema", "message"), [n[1:] for n in NOT_STRUCTURAL], ids=[n[0] for n in NOT_STRUCTURAL]
)
def test_structural_problems_are_found(schema: dict[str, Any], message: str) -> None:
    problems = structural_problems(schema)
    assert any(message in p for p in problems), problems


def test_structural_schema_passes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "free": {"x-kubernetes-preserve-unknown-fields": True},
            "port": {"x-kubernetes-int-or-string": True},
            "list": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
        },
    }
    assert structural_problems(schema) == []
