"""Offline checks of schemas and objects, without an API server.

* `structural_problems(schema)`: what would make the API server reject a CRD schema as not
  structural (an untyped node, a forbidden keyword, a default that fails its own schema, ...).
* `validate_object(body)`: what the API server would reject in an afflux object: it applies the
  schema defaults, checks types, required fields, enums, patterns and bounds, reports unknown
  fields (as `kubectl apply`'s strict field validation does) and evaluates the Python mirror of
  every CEL rule.

The API server remains the judge (the integration tests check the real thing); these give the
same answers for the constraints we use, fast and in unit tests or the CLI.
"""

from __future__ import annotations

import copy
import datetime
import re
import typing
from collections.abc import Mapping
from typing import Any

from ._model import Model, _strip_optional, model_fields

__all__ = ["apply_defaults", "structural_problems", "validate_object", "validate_value"]

_FORBIDDEN = (
    "$ref",
    "$schema",
    "definitions",
    "dependencies",
    "patternProperties",
    "id",
    "readOnly",
    "writeOnly",
    "xml",
    "additionalItems",
    "discriminator",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
)
_KNOWN = {
    "description",
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "multipleOf",
    "default",
    "nullable",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "title",
    "example",
    "externalDocs",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
}
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def structural_problems(schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Why `schema` is not a structural schema the API server accepts (empty when it is)."""
    out: list[str] = []
    where = path or "<root>"
    for key in schema:
        if key in _FORBIDDEN:
            out.append(f"{where}: keyword {key!r} is not allowed in a structural schema")
        elif key not in _KNOWN:
            out.append(f"{where}: unknown keyword {key!r}")
    typ = schema.get("type")
    untyped_ok = schema.get("x-kubernetes-preserve-unknown-fields") is True or schema.get(
        "x-kubernetes-int-or-string"
    )
    if typ is None and not untyped_ok:
        out.append(f"{where}: no type")
    if typ is not None and typ not in _TYPES:
        out.append(f"{where}: unknown type {typ!r}")
    if schema.get("x-kubernetes-int-or-string") and typ is not None:
        out.append(f"{where}: x-kubernetes-int-or-string must not have a type")
    if "properties" in schema and "additionalProperties" in schema:
        out.append(f"{where}: properties and additionalProperties are mutually exclusive")
    if schema.get("additionalProperties") is False:
        out.append(f"{where}: additionalProperties must not be false")
    if schema.get("uniqueItems") is True:
        out.append(f"{where}: uniqueItems must not be true")
    if ("properties" in schema or "additionalProperties" in schema) and typ != "object":
        out.append(f"{where}: properties on a node that is not an object")
    if "items" in schema and typ != "array":
        out.append(f"{where}: items on a node that is not an array")
    if typ == "array" and not isinstance(schema.get("items"), Mapping):
        out.append(f"{where}: an array needs a single items schema")
    for name in schema.get("required", ()):
        if name not in schema.get("properties", {}):
            out.append(f"{where}: required field {name!r} is not a property")
    for rule in schema.get("x-kubernetes-validations", ()):
        if set(rule) - {
            "rule",
            "message",
            "messageExpression",
            "reason",
            "fieldPath",
            "optionalOldSelf",
        }:
            out.append(f"{where}: unknown keys in validation rule {rule!r}")
        if not rule.get("rule"):
            out.append(f"{where}: validation rule without a rule")
    if "enum" in schema and typ is not None:
        for value in schema["enum"]:
            out += [f"{where}: enum value {value!r}: {p}" for p in _type_problems(typ, value)]
    for name, sub in schema.get("properties", {}).items():
        out += structural_problems(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("additionalProperties"), Mapping):
        out += structural_problems(schema["additionalProperties"], f"{path}{{}}")
    if isinstance(schema.get("items"), Mapping):
        out += structural_problems(schema["items"], f"{path}[]")
    if "default" in schema:
        problems = validate_value(
            schema, apply_defaults(schema, schema["default"]), f"{where} default"
        )
        out += [f"default does not validate: {p}" for p in problems]
    return out


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """A copy of `value` with schema defaults filled in for missing fields, recursively (what the
    API server does before validating)."""
    value = copy.deepcopy(value)
    return _defaults(schema, value)


def _defaults(schema: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = _defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for k in value:
                value[k] = _defaults(extra, value[k])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_defaults(schema["items"], v) for v in value]
    return value


def _type_problems(typ: str, value: Any) -> list[str]:
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "object": isinstance(value, Mapping),
        "array": isinstance(value, list),
    }[typ]
    return [] if ok else [f"Invalid value: {type(value).__name__}: must be of type {typ}"]


def _is_datetime(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text or "t" in text


def validate_value(
    schema: Mapping[str, Any], value: Any, path: str = "", *, strict: bool = True
) -> list[str]:
    """Problems of `value` against `schema` (no defaulting; see `apply_defaults`).

    With ``strict`` (kubectl's default), fields the schema does not know are problems.
    """
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: Invalid value: null"]
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{where}: Invalid value: must be an integer or a string"]
        return []
    typ = schema.get("type")
    if typ is None:
        return []  # preserve-unknown-fields without a type: anything goes
    problems = [f"{where}: {p}" for p in _type_problems(typ, value)]
    if problems:
        return problems
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        out.append(f'{where}: Unsupported value: "{value}": supported values: {allowed}')
    if typ == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{where}: Invalid value: {value!r}: should match '{schema['pattern']}'")
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(
                f"{where}: Invalid value: {value!r}: should be at least {schema['minLength']} chars long"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{where}: Too long: may not be more than {schema['maxLength']} bytes")
        if schema.get("format") == "date-time" and not _is_datetime(value):
            out.append(f"{where}: Invalid value: {value!r}: must be an RFC 3339 date-time")
    if typ in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(
                f"{where}: Invalid value: {value}: should be greater than or equal to {schema['minimum']}"
            )
        if "maximum" in schema and value > schema["maximum"]:
            out.append(
                f"{where}: Invalid value: {value}: should be less than or equal to {schema['maximum']}"
            )
    if typ == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(f"{where}: Invalid value: should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(
                f"{where}: Too many: {len(value)}: must have at most {schema['maxItems']} items"
            )
        items = schema.get("items", {})
        for i, v in enumerate(value):
            out += validate_value(items, v, f"{path}[{i}]", strict=strict)
    if typ == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                out.append(f"{path + '.' if path else ''}{name}: Required value")
        extra = schema.get("additionalProperties")
        for name, v in value.items():
            sub_path = f"{path}.{name}" if path else str(name)
            if name in props:
                out += validate_value(props[name], v, sub_path, strict=strict)
            elif isinstance(extra, Mapping):
                out += validate_value(extra, v, sub_path, strict=strict)
            elif strict and not schema.get("x-kubernetes-preserve-unknown-fields") and props:
                out.append(f'{where}: unknown field "{sub_path}"')
    return out


def rule_problems(model: type[Model], value: Any, path: str) -> list[str]:
    """Evaluate the Python mirrors of the CEL rules of `model` and its nested models."""
    if not isinstance(value, Mapping):
        return []
    out = [
        f"{path}: Invalid value: {r.message}"
        for r in model.VALIDATIONS
        if r.check and not r.check(value)
    ]
    for f in model_fields(model):
        if f.json not in value:
            continue
        out += _rules_for_type(f.type, value[f.json], f"{path}.{f.json}")
    return out


def _rules_for_type(tp: Any, value: Any, path: str) -> list[str]:
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp)
        return [p for i, v in enumerate(value) for p in _rules_for_type(item, v, f"{path}[{i}]")]
    if origin is dict and isinstance(value, Mapping):
        _, item = typing.get_args(tp)
        return [p for k, v in value.items() for p in _rules_for_type(item, v, f"{path}.{k}")]
    if isinstance(tp, type) and issubclass(tp, Model):
        return rule_problems(tp, value, path)
    return []


def validate_object(body: Mapping[str, Any], *, strict: bool = True) -> list[str]:
    """What the API server would reject in an afflux object (empty when it would accept it)."""
    from ._registry import kind_of
    from .crdgen import root_schema

    try:
        cls = kind_of(str(body.get("apiVersion", "")), str(body.get("kind", "")))
    except KeyError as exc:
        return [str(exc.args[0])]
    meta = body.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        return ["metadata.name: Required value"]
    schema = root_schema(cls)
    defaulted = apply_defaults(schema, {k: v for k, v in body.items() if k != "status"})
    problems = validate_value(schema, defaulted, strict=strict)
    spec_type = {f.name: f.type for f in model_fields(cls)}["spec"]
    problems += rule_problems(spec_type, defaulted.get("spec"), "spec")
    return problems
