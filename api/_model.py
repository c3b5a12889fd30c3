"""The modelling kit behind every afflux kind: typed fields, (de)serialisation, OpenAPI schemas.

A model is a plain dataclass that subclasses :class:`Model`; each attribute is declared with
:func:`field` (or :func:`duration`), which records what the Kubernetes API needs to know about
it: its JSON name, description, enum, pattern, bounds, schema default and so on. From one
declaration we get three things:

* ``Model.from_dict(data)``: a tolerant reader. Unknown keys are ignored, missing optional
  fields are ``None``, missing fields that have a schema default get that default (as the API
  server would have written it).
* ``model.to_dict()``: the camelCase JSON form, leaving out fields that are ``None``.
* ``Model.openapi_schema()``: the structural OpenAPI v3 schema the CRD generator embeds.

Why not pydantic (or attrs, or marshmallow)? Three reasons. We add no dependency to a package
that every controller imports. We need full control over the schema we hand the API server:
structural schemas are a strict subset of JSON Schema (every node typed, no ``$ref``, no
``anyOf`` carrying types, ``x-kubernetes-*`` extensions, CEL rules), so pydantic's JSON Schema
output would have to be rewritten node by node anyway. And Kubernetes objects need
tolerant reading (fields added by newer Flux releases must not break us), which is the
opposite of pydantic's validating constructors. The whole kit is a few hundred lines of
stdlib code that we can read end to end.

Nothing here does I/O.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

__all__ = [
    "DURATION_PATTERN",
    "TIMEOUT_PATTERN",
    "FieldInfo",
    "Model",
    "Rule",
    "duration",
    "field",
    "model_fields",
]

#: Go duration strings as Flux's CRDs accept them for intervals: `1m30s`, `500ms`, `1.5h`.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
#: The variant Flux uses for most timeouts: hours are not accepted.
TIMEOUT_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"

_AUTO: Any = object()  # placeholder default, resolved when the model class is created


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: Marks a field without a schema default (``None`` is a legitimate default value).
NO_DEFAULT: Any = _NoDefault()


@dataclasses.dataclass(frozen=True)
class Rule:
    """A CEL validation rule (``x-kubernetes-validations``) attached to a model.

    ``rule`` is evaluated by the API server with ``self`` bound to the object the rule is on;
    ``message`` is what the user sees when it fails, so it names the field(s) involved.
    ``check`` mirrors the rule in Python over the raw dict, so the same constraint can be
    checked offline (unit tests, ``afflux`` CLI) without an API server.
    """

    rule: str
    message: str
    check: Callable[[Mapping[str, Any]], bool] | None = None

    def schema(self) -> dict[str, str]:
        """The rule as it appears in a CRD."""
        return {"message": self.message, "rule": self.rule}


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What the schema generator and the (de)serialisers know about one field."""

    json: str | None = None
    description: str = ""
    required: bool = False
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    default: Any = NO_DEFAULT
    #: When False the default only goes into the schema; the Python attribute starts with the
    #: type's zero value instead (used for `status`, whose schema default is only a marker).
    python_default: bool = True
    preserve_unknown: bool = False
    int_or_string: bool = False
    list_type: str | None = None
    map_type: str | None = None
    #: Constraints on the items of a list[str] field (enum / pattern per item).
    item_enum: tuple[Any, ...] | None = None
    item_pattern: str | None = None


def field(
    json: str | None = None,
    *,
    doc: str = "",
    required: bool = False,
    enum: tuple[Any, ...] | list[Any] | None = None,
    pattern: str | None = None,
    format: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    default: Any = NO_DEFAULT,
    python_default: bool = True,
    preserve_unknown: bool = False,
    int_or_string: bool = False,
    list_type: str | None = None,
    map_type: str | None = None,
    item_enum: tuple[Any, ...] | list[Any] | None = None,
    item_pattern: str | None = None,
) -> Any:
    """Declare a model attribute.

    ``json`` is the wire name; when omitted it is the attribute name in camelCase
    (``secret_ref`` -> ``secretRef``). ``default`` is a *schema* default: the API server
    writes it when the field is missing, so :meth:`Model.from_dict` does too and the Python
    attribute starts with it. Required fields start with their type's zero value, optional
    ones with ``None``.
    """
    info = FieldInfo(
        json=json,
        description=doc,
        required=required,
        enum=tuple(enum) if enum is not None else None,
        pattern=pattern,
        format=format,
        minimum=minimum,
        maximum=maximum,
        min_length=min_length,
        max_length=max_length,
        min_items=min_items,
        max_items=max_items,
        default=default,
        python_default=python_default,
        preserve_unknown=preserve_unknown,
        int_or_string=int_or_string,
        list_type=list_type,
        map_type=map_type,
        item_enum=tuple(item_enum) if item_enum is not None else None,
        item_pattern=item_pattern,
    )
    return dataclasses.field(default=_AUTO, metadata={"afflux": info}, kw_only=True)


def duration(
    json: str | None = None,
    *,
    doc: str = "",
    required: bool = False,
    default: str | None = None,
    hours: bool = True,
) -> Any:
    """Declare a Go-duration string field (`interval`, `timeout`, ...).

    ``hours=False`` gives the pattern Flux uses on most timeouts, which has no ``h`` unit.
    """
    return field(
        json,
        doc=doc,
        required=required,
        pattern=DURATION_PATTERN if hours else TIMEOUT_PATTERN,
        default=default if default is not None else NO_DEFAULT,
    )


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    json: str
    type: Any
    info: FieldInfo


def model_fields(cls: type[Model]) -> tuple[_Field, ...]:
    """The declared fields of a model class, with resolved types and wire names."""
    cached = cls.__dict__.get("_afflux_fields")
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = f.metadata.get("afflux")
        if info is None:
            continue
        out.append(_Field(f.name, info.json or _camel(f.name), hints[f.name], info))
    result = tuple(out)
    cls._afflux_fields = result  # type: ignore[attr-defined]
    return result


def _strip_optional(tp: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return typing.Union[tuple(args)]  # noqa: UP007 - runtime construction
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Model)


def _zero(tp: Any) -> Callable[[], Any]:
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return list
    if origin is dict:
        return dict
    if _is_model(tp):
        return tp
    if tp is str:
        return str
    if tp is bool:
        return bool
    if tp is int:
        return int
    if tp is float:
        return float
    return lambda: None


@typing.dataclass_transform(kw_only_default=True, field_specifiers=(field, duration))
class Model:
    """Base class of every afflux API model; subclasses become keyword-only dataclasses.

    Class attributes a subclass may set:

    * ``VALIDATIONS``: CEL :class:`Rule` objects checked on this object.
    * ``PRESERVE_UNKNOWN``: keep fields the schema does not list (free-form objects).
    * ``MAP_TYPE``: ``x-kubernetes-map-type`` of the object (e.g. ``atomic``).
    """

    VALIDATIONS: ClassVar[tuple[Rule, ...]] = ()
    PRESERVE_UNKNOWN: ClassVar[bool] = False
    MAP_TYPE: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        module_ns = vars(sys.modules[cls.__module__])
        own = cls.__dict__.get("__annotations__", {})
        for name in own:
            value = cls.__dict__.get(name)
            if not isinstance(value, dataclasses.Field) or value.default is not _AUTO:
                continue
            info: FieldInfo = value.metadata["afflux"]
            tp = eval(own[name], module_ns, {}) if isinstance(own[name], str) else own[name]
            value.default = dataclasses.MISSING
            if info.default is not NO_DEFAULT and info.python_default:
                value.default_factory = _default_factory(tp, info.default)
            elif info.required or info.default is not NO_DEFAULT:
                value.default_factory = _zero(tp)
            else:
                value.default = None
        dataclasses.dataclass(kw_only=True)(cls)

    # --- (de)serialisation ------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        """Read the JSON form (camelCase keys); unknown keys are ignored."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        kwargs = {}
        for f in model_fields(cls):
            if f.json in data and data[f.json] is not None:
                kwargs[f.name] = _decode(f.type, data[f.json], f"{cls.__name__}.{f.json}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form with camelCase keys; fields that are None are left out."""
        out: dict[str, Any] = {}
        for f in model_fields(type(self)):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.json] = _encode(value)
        return out

    # --- schema -------------------------------------------------------------------------
    @classmethod
    def openapi_schema(cls, description: str | None = None) -> dict[str, Any]:
        """The structural OpenAPI v3 schema of this model (an object node)."""
        node: dict[str, Any] = {}
        if description:
            node["description"] = description
        node["type"] = "object"
        props = {}
        required = []
        for f in sorted(model_fields(cls), key=lambda f: f.json):
            props[f.json] = _field_schema(f)
            if f.info.required:
                required.append(f.json)
        if props:
            node["properties"] = props
        if required:
            node["required"] = required
        if cls.PRESERVE_UNKNOWN:
            node["x-kubernetes-preserve-unknown-fields"] = True
        if cls.MAP_TYPE:
            node["x-kubernetes-map-type"] = cls.MAP_TYPE
        if cls.VALIDATIONS:
            node["x-kubernetes-validations"] = [r.schema() for r in cls.VALIDATIONS]
        return node


def _default_factory(tp: Any, default: Any) -> Callable[[], Any]:
    def make() -> Any:
        return _decode(tp, copy.deepcopy(default), "default")

    return make


def _decode(tp: Any, value: Any, path: str) -> Any:
    tp = _strip_optional(tp)
    if tp is Any:
        return copy.deepcopy(value)
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"{path}: expected an object, got {type(value).__name__}")
        _, item = typing.get_args(tp)
        return {str(k): _decode(item, v, f"{path}.{k}") for k, v in value.items()}
    if _is_model(tp):
        if not isinstance(value, Mapping):
            raise TypeError(f"{path}: expected an object, got {type(value).__name__}")
        return tp.from_dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _type_schema(tp: Any, info: FieldInfo | None, where: str) -> dict[str, Any]:
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if info is not None and info.int_or_string:
        return {"x-kubernetes-int-or-string": True}
    if tp is Any:
        if info is None or not info.preserve_unknown:
            raise TypeError(f"{where}: a free-form field needs preserve_unknown=True")
        return {"x-kubernetes-preserve-unknown-fields": True}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if origin is list:
        (item,) = typing.get_args(tp)
        items = _type_schema(item, None, f"{where}[]")
        if info is not None and info.item_enum is not None:
            items["enum"] = list(info.item_enum)
        if info is not None and info.item_pattern is not None:
            items["pattern"] = info.item_pattern
        return {"type": "array", "items": items}
    if origin is dict:
        key, item = typing.get_args(tp)
        if key is not str:
            raise TypeError(f"{where}: map keys must be strings")
        if item is Any:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": _type_schema(item, None, f"{where}{{}}")}
    if _is_model(tp):
        return tp.openapi_schema()
    raise TypeError(f"{where}: no schema for type {tp!r}")


_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "default",
)


def _field_schema(f: _Field) -> dict[str, Any]:
    info = f.info
    base = _type_schema(f.type, info, f.name)
    base.pop("description", None)  # the field's own words win over the class's
    extra: dict[str, Any] = {}
    if info.description:
        extra["description"] = info.description
    if info.format:
        extra["format"] = info.format
    if info.enum is not None:
        extra["enum"] = list(info.enum)
    if info.pattern is not None:
        extra["pattern"] = info.pattern
    if info.minimum is not None:
        extra["minimum"] = info.minimum
    if info.maximum is not None:
        extra["maximum"] = info.maximum
    if info.min_length is not None:
        extra["minLength"] = info.min_length
    if info.max_length is not None:
        extra["maxLength"] = info.max_length
    if info.min_items is not None:
        extra["minItems"] = info.min_items
    if info.max_items is not None:
        extra["maxItems"] = info.max_items
    if info.default is not NO_DEFAULT:
        extra["default"] = copy.deepcopy(info.default)
    if info.preserve_unknown and "x-kubernetes-preserve-unknown-fields" not in base:
        extra["x-kubernetes-preserve-unknown-fields"] = True
    if info.list_type:
        extra["x-kubernetes-list-type"] = info.list_type
    if info.map_type:
        extra["x-kubernetes-map-type"] = info.map_type
    merged = {**base, **extra}
    ordered = {k: merged[k] for k in _ORDER if k in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return ordered
