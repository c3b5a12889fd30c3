"""The functions of cel-go's extensions that Flux's CEL environment enables and cel-python
lacks, on celpy's values. Pure: no I/O, table-tested.

fluxcd/pkg `runtime/cel` builds every environment with cel-go's `ext.Strings()` (its newest
version), `ext.Sets()` and `ext.Encoders()`. `_cel` has the older string functions; here:

- `format(text, args)` — `<string>.format(<list>)`, the newest (cel-spec) formatting:
  `%s` (any value but an object: lists `[a, b]`, maps `{k: v}` sorted by the formatted key,
  doubles in their shortest form without an exponent, `NaN`, `Infinity`, timestamps in
  RFC 3339 UTC, durations in seconds with an `s`, `null`, bytes as text, types by name),
  `%d` (ints, uints, doubles), `%f` and `%e` (ints, uints, doubles; precision `%.3f`,
  6 by default), `%b` (ints, uints, bools), `%x`/`%X` (ints, uints, strings and bytes as
  hex of their bytes), `%o` (ints, uints), `%%`; a wrong type, an unknown clause or too few
  arguments is an error, in cel-go's words;
- `quote(text)` — `strings.quote`: double quotes around the text, `\\a \\b \\f \\n \\r \\t
  \\v \\\\ \\"` escaped;
- `sets_contains`, `sets_equivalent`, `sets_intersects` — `sets.contains(l, sub)` (every
  element of `sub` in `l`), `sets.equivalent(a, b)` (each contains the other),
  `sets.intersects(a, b)` (one element in common), with CEL's equality across numeric
  types (`1 == 1u == 1.0`), element by element in lists and maps;
- `base64_encode(bytes)` and `base64_decode(text)` — `base64.encode`, `base64.decode`
  (padded, else unpadded, as cel-go's fallback).

Each returns a celpy value, or raises `CelFunctionError` (the caller makes it an evaluation
error) with cel-go's message.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any

from celpy import celtypes

__all__ = [
    "NAMESPACED",
    "CelFunctionError",
    "base64_decode",
    "base64_encode",
    "cel_equal",
    "format_string",
    "quote",
    "sets_contains",
    "sets_equivalent",
    "sets_intersects",
]

DEFAULT_PRECISION = 6
#: cel-go's names of celpy's types, for `%s` of a type and for error messages
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (celtypes.BoolType, "bool"),
    (celtypes.UintType, "uint"),
    (celtypes.IntType, "int"),
    (celtypes.DoubleType, "double"),
    (celtypes.StringType, "string"),
    (celtypes.BytesType, "bytes"),
    (celtypes.ListType, "list"),
    (celtypes.MapType, "map"),
    (celtypes.TimestampType, "google.protobuf.Timestamp"),
    (celtypes.DurationType, "google.protobuf.Duration"),
    (celtypes.TypeType, "type"),
    (type(None), "null_type"),
)
_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", "\\": "\\\\", '"': '\\"'}


class CelFunctionError(ValueError):
    """A CEL extension function refused its arguments (cel-go's message)."""


def _type_name(value: Any) -> str:
    cls = value if isinstance(value, type) else type(value)
    for kind, name in _TYPE_NAMES:
        if issubclass(cls, kind):
            return name
    return cls.__name__


def _is(value: Any, *kinds: type) -> bool:
    """`value` is of one of `kinds`; bools are never ints, uints never ints (celpy's
    UintType and BoolType are int subclasses too)."""
    if isinstance(value, (bool, celtypes.BoolType)):
        return celtypes.BoolType in kinds
    if isinstance(value, celtypes.UintType):
        return celtypes.UintType in kinds
    return isinstance(value, kinds)


_INTEGERS = (celtypes.IntType, celtypes.UintType)
_NUMBERS = (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)


def _special(number: float) -> str | None:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return None


def _shortest(number: float) -> str:
    """A double in its shortest round-trip digits without an exponent (Go's
    `strconv.FormatFloat(x, 'f', -1, 64)`)."""
    special = _special(number)
    if special is not None:
        return special
    text = format(decimal.Decimal(repr(float(number))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _timestamp(value: datetime.datetime) -> str:
    """RFC 3339 in UTC, the fraction without trailing zeros (Go's RFC3339Nano)."""
    utc = value.astimezone(datetime.UTC)
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _duration(value: datetime.timedelta) -> str:
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    seconds = format(decimal.Decimal(micros).scaleb(-6).normalize(), "f")
    return f"{seconds}s"


def _as_string(value: Any) -> str:
    """`%s` of a value (module docstring)."""
    if value is None:
        return "null"
    if isinstance(value, type):
        return _type_name(value)
    if _is(value, celtypes.BoolType):
        return "true" if value else "false"
    if _is(value, *_INTEGERS):
        return str(int(value))
    if _is(value, celtypes.DoubleType):
        return _shortest(float(value))
    if isinstance(value, celtypes.StringType | str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, datetime.datetime):
        return _timestamp(value)
    if isinstance(value, datetime.timedelta):
        return _duration(value)
    if isinstance(value, list):
        return "[" + ", ".join(_as_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        entries = sorted(((_as_string(k), _as_string(v)) for k, v in value.items()),
                         key=lambda entry: entry[0])
        return "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"
    raise CelFunctionError("string clause can only be used on strings, bools, bytes, ints, "
                           "doubles, maps, lists, types, durations, and timestamps, was "
                           f"given {_type_name(value)}")


def _decimal(value: Any) -> str:
    if _is(value, *_INTEGERS):
        return str(int(value))
    if _is(value, celtypes.DoubleType):
        return _shortest(float(value))
    raise CelFunctionError("decimal clause can only be used on ints, uints, and doubles, "
                           f"was given {_type_name(value)}")


def _floating(what: str, code: str) -> Callable[[Any, int], str]:
    def clause(value: Any, precision: int) -> str:
        if not _is(value, *_NUMBERS):
            raise CelFunctionError(f"{what} clause can only be used on ints, uints, and "
                                   f"doubles, was given {_type_name(value)}")
        special = _special(float(value))
        return special if special is not None else format(float(value), f".{precision}{code}")
    return clause


def _binary(value: Any) -> str:
    if _is(value, celtypes.BoolType):
        return "1" if value else "0"
    if _is(value, *_INTEGERS):
        return format(int(value), "b")
    raise CelFunctionError("only ints, uints, and bools can be formatted as binary, was "
                           f"given {_type_name(value)}")


def _hex(value: Any, upper: bool) -> str:
    if _is(value, *_INTEGERS):
        text = format(int(value), "x")
    elif isinstance(value, celtypes.StringType | str):
        text = str(value).encode().hex()
    elif isinstance(value, bytes):
        text = bytes(value).hex()
    else:
        raise CelFunctionError("only ints, uints, bytes, and strings can be formatted as hex, "
                               f"was given {_type_name(value)}")
    return text.upper() if upper else text


def _octal(value: Any) -> str:
    if _is(value, *_INTEGERS):
        return format(int(value), "o")
    raise CelFunctionError("octal clause can only be used on ints and uints, was given "
                           f"{_type_name(value)}")


_CLAUSES: Mapping[str, Callable[[Any, int], str]] = {
    "s": lambda v, _: _as_string(v),
    "d": lambda v, _: _decimal(v),
    "f": _floating("fixed-point", "f"),
    "e": _floating("scientific", "e"),
    "b": lambda v, _: _binary(v),
    "x": lambda v, _: _hex(v, False),
    "X": lambda v, _: _hex(v, True),
    "o": lambda v, _: _octal(v),
}


def _clause(text: str, start: int) -> tuple[str, int, int]:
    """(clause letter, precision, index after the clause) of the clause after the `%` at
    `start - 1`."""
    i, precision = start, DEFAULT_PRECISION
    if i < len(text) and text[i] == ".":
        j = i + 1
        while j < len(text) and text[j].isascii() and text[j].isdigit():
            j += 1
        if j >= len(text):
            raise CelFunctionError("could not parse formatting clause: error while parsing "
                                   "precision: could not find end of precision specifier")
        if j == i + 1:
            raise CelFunctionError("could not parse formatting clause: error while parsing "
                                   "precision: no digits after '.'")
        precision, i = int(text[i + 1:j]), j
    letter = text[i]
    if letter not in _CLAUSES:
        raise CelFunctionError("could not parse formatting clause: unrecognized formatting "
                               f'clause "{letter}"')
    return letter, precision, i + 1


def format_string(text: Any, args: Any) -> celtypes.StringType:
    """`text.format(args)` (module docstring)."""
    if not isinstance(text, str) or not isinstance(args, list):
        raise CelFunctionError("no such overload: format() takes a string and a list")
    out: list[str] = []
    i = used = 0
    while i < len(text):
        char = text[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        if text[i + 1:i + 2] == "%":
            out.append("%")
            i += 2
            continue
        if used >= len(args):
            raise CelFunctionError(f"index {used} out of range")
        if i + 1 >= len(text):
            raise CelFunctionError("unexpected end of string")
        letter, precision, i = _clause(text, i + 1)
        try:
            out.append(_CLAUSES[letter](args[used], precision))
        except CelFunctionError as err:
            raise CelFunctionError(f"error during formatting: {err}") from None
        used += 1
    return celtypes.StringType("".join(out))


def quote(text: Any) -> celtypes.StringType:
    """`strings.quote(text)` (module docstring)."""
    if not isinstance(text, str):
        raise CelFunctionError("no such overload: strings.quote() takes a string")
    return celtypes.StringType('"' + "".join(_ESCAPES.get(c, c) for c in str(text)) + '"')


def cel_equal(a: Any, b: Any) -> bool:
    """CEL's equality: numbers by value across int, uint and double; lists element by
    element; maps by keys and values; otherwise values of one type compared, values of
    different types unequal."""
    if _is(a, *_NUMBERS) and _is(b, *_NUMBERS):
        x = float(a) if _is(a, celtypes.DoubleType) else int(a)
        y = float(b) if _is(b, celtypes.DoubleType) else int(b)
        return x == y
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(cel_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        for key, value in a.items():
            match = next((k for k in b if cel_equal(key, k)), _ABSENT)
            if match is _ABSENT or not cel_equal(value, b[match]):
                return False
        return True
    if _type_name(a) != _type_name(b):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


_ABSENT = object()


def _lists(name: str, *values: Any) -> None:
    if not all(isinstance(v, list) for v in values):
        raise CelFunctionError(f"no such overload: sets.{name}() takes two lists")


def _has(items: list[Any], value: Any) -> bool:
    return any(cel_equal(item, value) for item in items)


def sets_contains(items: Any, sub: Any) -> celtypes.BoolType:
    _lists("contains", items, sub)
    return celtypes.BoolType(all(_has(items, v) for v in sub))


def sets_equivalent(a: Any, b: Any) -> celtypes.BoolType:
    _lists("equivalent", a, b)
    return celtypes.BoolType(all(_has(a, v) for v in b) and all(_has(b, v) for v in a))


def sets_intersects(a: Any, b: Any) -> celtypes.BoolType:
    _lists("intersects", a, b)
    return celtypes.BoolType(any(_has(b, v) for v in a))


def base64_encode(data: Any) -> celtypes.StringType:
    if not isinstance(data, bytes):
        raise CelFunctionError("no such overload: base64.encode() takes bytes")
    return celtypes.StringType(base64.b64encode(bytes(data)).decode())


def base64_decode(text: Any) -> celtypes.BytesType:
    if not isinstance(text, str):
        raise CelFunctionError("no such overload: base64.decode() takes a string")
    raw = str(text).replace("\r", "").replace("\n", "")  # Go's decoder skips line breaks
    try:
        return celtypes.BytesType(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        pass
    if "=" not in raw:  # unpadded (cel-go falls back to the raw encoding)
        try:
            return celtypes.BytesType(base64.b64decode(raw + "=" * (-len(raw) % 4),
                                                       validate=True))
        except (binascii.Error, ValueError):
            pass
    raise CelFunctionError("illegal base64 data")  # not the text: it may be a secret


#: the namespaced functions (`<namespace>.<name>(...)`)
NAMESPACED: Mapping[str, Callable[..., Any]] = {
    "strings.quote": quote,
    "sets.contains": sets_contains,
    "sets.equivalent": sets_equivalent,
    "sets.intersects": sets_intersects,
    "base64.encode": base64_encode,
    "base64.decode": base64_decode,
}
