"""Commit messages of ImageUpdateAutomation: Go templates over Flux's data model.

Pure logic, no I/O. `spec.git.commit.messageTemplate` is a Go `text/template` (rendered
by `_gotemplate`) that sees, as in Flux:

- `.AutomationObject`: the automation's namespaced name; prints as `<namespace>/<name>`,
  fields `.Name`, `.Namespace`;
- `.Changed`: the update's result; `.Changed.FileChanges` maps file -> object -> changes,
  `.Changed.Changes` is the flat list of distinct changes, `.Changed.Objects` maps object
  -> changes; an object has `.APIVersion .Kind .Name .Namespace`, a change `.OldValue
  .NewValue .Setter`;
- `.Values`: `spec.git.commit.messageTemplateValues`.

Besides Go's own functions, the template has the deterministic ("hermetic") functions of
the Sprig library that Flux adds (string, list, dict, math, encoding, regex, default and
type helpers; no time, random or environment functions). The regex functions use
Python's `re` in ASCII mode, which agrees with Go's RE2 on the usual patterns.

No template: Flux's default message, `Update from image update automation`. A template
that does not parse or fails to render raises `CommitTemplateError` (a stalling error:
only a spec change can fix it) whose message says where; a template that uses a field
Flux removed (`.Updated`, `.Changed.ImageResult`) gets Flux's pointer to the
replacement.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from afflux.api._meta import UPDATE_FAILED
from afflux.controllers.runtime import StallingError

from ._gotemplate import NO_VALUE, Template, TemplateError, go_format, go_quote, go_type_name
from ._setters import Result

__all__ = [
    "DEFAULT_MESSAGE_TEMPLATE",
    "TEMPLATE_NAME",
    "CommitTemplateError",
    "NamespacedName",
    "TemplateData",
    "render_commit_message",
    "sprig_functions",
    "validate_commit_template",
]

#: Flux's commit message when spec.git.commit.messageTemplate is empty.
DEFAULT_MESSAGE_TEMPLATE = "Update from image update automation"
#: The template's name in error messages (as in Flux).
TEMPLATE_NAME = "commit message"
_DOCS = "https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"


class CommitTemplateError(StallingError):
    """The commit message template cannot be used; fix spec.git.commit.messageTemplate."""

    def __init__(self, message: str) -> None:
        super().__init__(UPDATE_FAILED, message)


@dataclass(frozen=True, order=True)
class NamespacedName:
    """`.AutomationObject`: prints as `<namespace>/<name>` (Go's String method)."""

    __go_type__: ClassVar[str] = "types.NamespacedName"

    namespace: str
    name: str

    def __go_string__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class TemplateData:
    """What a commit message template sees as `.`."""

    __go_type__: ClassVar[str] = "source.TemplateData"

    automation_object: NamespacedName
    changed: Result = field(default_factory=Result)
    values: dict[str, str] = field(default_factory=dict)


# --- sprig (hermetic subset) ------------------------------------------------------------------


def _strval(value: Any) -> str:
    if value is None or value is NO_VALUE:
        return "<nil>" if value is None else "<no value>"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return go_format(value)


def _to_int(value: Any) -> int:
    """cast.ToInt64: numbers truncate, numeric strings parse, anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        text = value.strip()
        try:
            return (
                int(text, 0)
                if re.fullmatch(r"[+-]?(0[xXoObB])?[0-9a-fA-F_]+", text)
                else int(float(text))
            )
        except ValueError:
            return 0
    return 0


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return 0.0
    return 0.0


def _empty(value: Any) -> bool:
    if value is None or value is NO_VALUE:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | bytes | Mapping | list | tuple):
        return len(value) == 0
    return False


def _as_list(value: Any) -> list[Any]:
    if value is None or value is NO_VALUE:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"cannot find first on type {go_type_name(value)}")


def _strslice(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [_strval(v) for v in value if v is not None]
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [_strval(value)]


def _title(text: str) -> str:
    out, prev_letter = [], False
    for ch in text:
        out.append(ch.upper() if not prev_letter else ch)
        prev_letter = ch.isalnum() or ch == "_" or ch == "'"
    return "".join(out)


def _untitle(text: str) -> str:
    out, prev_space = [], True
    for ch in text:
        out.append(ch.lower() if prev_space and ch.isalpha() else ch)
        prev_space = ch.isspace()
    return "".join(out)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Z]+(?=[A-Z][a-z]|\b|[^A-Za-z]|$)|[A-Z]?[a-z]+|[0-9]+", text)


def _substr(start: Any, end: Any, text: str) -> str:
    start, end = _to_int(start), _to_int(end)
    if start < 0:
        return text[:end]
    if end < 0 or end > len(text):
        return text[start:]
    return text[start:end]


def _trunc(count: Any, text: str) -> str:
    count = _to_int(count)
    if count < 0 and len(text) + count > 0:
        return text[len(text) + count :]
    if count >= 0 and len(text) > count:
        return text[:count]
    return text


def _abbrev(width: Any, text: str) -> str:
    width = _to_int(width)
    if width < 4 or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _quote(*args: Any) -> str:
    return " ".join(go_quote(_strval(a)) for a in args if a is not None)


def _squote(*args: Any) -> str:
    return " ".join("'" + _strval(a) + "'" for a in args if a is not None)


def _cat(*args: Any) -> str:
    return " ".join(_strval(a) for a in args if a is not None)


def _indent(spaces: Any, text: str) -> str:
    pad = " " * _to_int(spaces)
    return pad + text.replace("\n", "\n" + pad)


def _split(sep: str, text: str) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(text.split(sep))}


def _splitn(sep: str, count: Any, text: str) -> dict[str, str]:
    n = _to_int(count)
    parts = text.split(sep, n - 1) if n > 0 else ([] if n == 0 else text.split(sep))
    return {f"_{i}": part for i, part in enumerate(parts)}


def _uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _as_list(items):
        if item not in out:
            out.append(item)
    return out


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[_strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    return mapping.get(key, "")


def _set(mapping: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    mapping[key] = value
    return mapping


def _unset(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    mapping.pop(key, None)
    return mapping


def _keys(*mappings: Mapping[Any, Any]) -> list[Any]:
    return [k for m in mappings for k in m]


def _default(default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if not _empty(value):
            return value
    return None


def _fail(message: str) -> Any:
    raise ValueError(message)


def _to_json(value: Any, indent: int | None = None, escape_html: bool = True) -> str:
    def plain(v: Any) -> Any:
        if v is NO_VALUE:
            return None
        if isinstance(v, Mapping):
            return {_strval(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, str | int | float | bool) or v is None:
            return v
        return _strval(v)

    text = json.dumps(
        plain(value),
        indent=indent,
        sort_keys=True,
        ensure_ascii=False,
        separators=None if indent else (",", ":"),
    )
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _int_args(fn: Callable[..., int]) -> Callable[..., int]:
    return lambda *args: fn(*[_to_int(a) for a in args])


def _div(a: Any, b: Any) -> int:
    a, b = _to_int(a), _to_int(b)
    if b == 0:
        raise ValueError("integer divide by zero")
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _mod(a: Any, b: Any) -> int:
    a, b = _to_int(a), _to_int(b)
    if b == 0:
        raise ValueError("integer divide by zero")
    return a - _div(a, b) * b


def _round(value: Any, precision: Any, round_on: Any = 0.5) -> float:
    scale = 10 ** _to_int(precision)
    number = _to_float(value) * scale
    digit = number - math.floor(number)
    rounded = math.ceil(number) if digit >= _to_float(round_on) else math.floor(number)
    return rounded / scale


def _go_repl(repl: str) -> Callable[[re.Match[str]], str]:
    """Go's Expand for regexReplaceAll: `$1`, `${name}`, `$$`."""

    def expand(match: re.Match[str]) -> str:
        out: list[str] = []
        rest = repl
        while True:
            before, sep, after = rest.partition("$")
            out.append(before)
            if not sep:
                return "".join(out)
            if after.startswith("$"):
                out.append("$")
                rest = after[1:]
                continue
            brace = after.startswith("{")
            body = after[1:] if brace else after
            m = re.match(r"\w+", body)
            if m is None or (brace and not body[m.end() :].startswith("}")):
                out.append("$")
                rest = after
                continue
            name = m.group()
            rest = body[m.end() + (1 if brace else 0) :]
            value = None
            if name.isdigit():
                if int(name) <= match.re.groups:
                    value = match.group(int(name))
            elif name in match.re.groupindex:
                value = match.group(name)
            out.append(value or "")

    return expand


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


def _regex_find_all(pattern: str, text: str, n: Any) -> list[str]:
    found = [m.group(0) for m in _rx(pattern).finditer(text)]
    count = _to_int(n)
    return found if count < 0 else found[:count]


def _regex_split(pattern: str, text: str, n: Any) -> list[str]:
    count = _to_int(n)
    if count == 0:
        return []
    return _rx(pattern).split(text, maxsplit=0 if count < 0 else count - 1)


def _kind_of(value: Any) -> str:
    name = go_type_name(value)
    if name.startswith("map["):
        return "map"
    if name.startswith("[]"):
        return "slice"
    if name == "<nil>":
        return "invalid"
    return name if name in ("string", "int", "float64", "bool") else "struct"


def sprig_functions() -> dict[str, Callable[..., Any]]:
    """The hermetic Sprig functions afflux offers templates."""
    return {
        # strings
        "trim": lambda s: _strval(s).strip(" \t\n\r\v\f"),
        "trimAll": lambda cut, s: _strval(s).strip(cut),
        "trimPrefix": lambda p, s: _strval(s).removeprefix(p),
        "trimSuffix": lambda p, s: _strval(s).removesuffix(p),
        "upper": lambda s: _strval(s).upper(),
        "lower": lambda s: _strval(s).lower(),
        "title": lambda s: _title(_strval(s)),
        "untitle": lambda s: _untitle(_strval(s)),
        "swapcase": lambda s: _strval(s).swapcase(),
        "repeat": lambda n, s: _strval(s) * max(_to_int(n), 0),
        "substr": lambda a, b, s: _substr(a, b, _strval(s)),
        "nospace": lambda s: re.sub(r"\s+", "", _strval(s)),
        "trunc": lambda n, s: _trunc(n, _strval(s)),
        "abbrev": lambda n, s: _abbrev(n, _strval(s)),
        "initials": lambda s: "".join(w[0] for w in _strval(s).split()),
        "contains": lambda sub, s: sub in _strval(s),
        "hasPrefix": lambda p, s: _strval(s).startswith(p),
        "hasSuffix": lambda p, s: _strval(s).endswith(p),
        "quote": _quote,
        "squote": _squote,
        "cat": _cat,
        "indent": lambda n, s: _indent(n, _strval(s)),
        "nindent": lambda n, s: "\n" + _indent(n, _strval(s)),
        "replace": lambda old, new, s: _strval(s).replace(old, new),
        "plural": lambda one, many, n: one if _to_int(n) == 1 else many,
        "snakecase": lambda s: "_".join(w.lower() for w in _words(_strval(s))),
        "kebabcase": lambda s: "-".join(w.lower() for w in _words(_strval(s))),
        "camelcase": lambda s: "".join(
            w[:1].upper() + w[1:] for w in re.split(r"[_\-\s]+", _strval(s)) if w
        ),
        "toString": _strval,
        "toStrings": _strslice,
        "join": lambda sep, v: sep.join(_strslice(v)),
        "split": _split,
        "splitList": lambda sep, s: _strval(s).split(sep),
        "splitn": _splitn,
        "sortAlpha": lambda v: sorted(_strslice(v)),
        # lists
        "list": lambda *v: list(v),
        "tuple": lambda *v: list(v),
        "first": lambda v: (_as_list(v) or [None])[0],
        "last": lambda v: (_as_list(v) or [None])[-1],
        "rest": lambda v: _as_list(v)[1:],
        "initial": lambda v: _as_list(v)[:-1],
        "append": lambda v, x: [*_as_list(v), x],
        "push": lambda v, x: [*_as_list(v), x],
        "prepend": lambda v, x: [x, *_as_list(v)],
        "concat": lambda *lists: [x for v in lists for x in _as_list(v)],
        "reverse": lambda v: list(reversed(_as_list(v))),
        "uniq": _uniq,
        "without": lambda v, *drop: [x for x in _as_list(v) if x not in drop],
        "has": lambda needle, v: needle in _as_list(v),
        "compact": lambda v: [x for x in _as_list(v) if not _empty(x)],
        "until": lambda n: (
            list(range(_to_int(n))) if _to_int(n) >= 0 else list(range(0, _to_int(n), -1))
        ),
        "untilStep": lambda a, b, step: list(range(_to_int(a), _to_int(b), _to_int(step) or 1)),
        # dicts
        "dict": _dict,
        "get": _get,
        "set": _set,
        "unset": _unset,
        "hasKey": lambda m, k: k in m,
        "keys": _keys,
        "values": lambda m: list(m.values()),
        "pluck": lambda key, *ms: [m[key] for m in ms if key in m],
        "pick": lambda m, *ks: {k: m[k] for k in ks if k in m},
        "omit": lambda m, *ks: {k: v for k, v in m.items() if k not in ks},
        # defaults and flow
        "default": _default,
        "empty": _empty,
        "coalesce": _coalesce,
        "ternary": lambda vt, vf, cond: vt if cond else vf,
        "fail": _fail,
        "toJson": lambda v: _to_json(v),
        "toPrettyJson": lambda v: _to_json(v, indent=2),
        "toRawJson": lambda v: _to_json(v, escape_html=False),
        # math
        "add": _int_args(lambda *a: sum(a)),
        "add1": _int_args(lambda a: a + 1),
        "sub": _int_args(lambda a, b: a - b),
        "mul": _int_args(lambda a, *b: math.prod((a, *b))),
        "div": _div,
        "mod": _mod,
        "max": _int_args(lambda a, *b: max((a, *b))),
        "min": _int_args(lambda a, *b: min((a, *b))),
        "floor": lambda a: float(math.floor(_to_float(a))),
        "ceil": lambda a: float(math.ceil(_to_float(a))),
        "round": _round,
        "int": _to_int,
        "int64": _to_int,
        "float64": _to_float,
        "atoi": lambda s: _to_int(s) if re.fullmatch(r"\s*[+-]?\d+\s*", _strval(s)) else 0,
        # encodings and hashes
        "b64enc": lambda s: base64.b64encode(_strval(s).encode()).decode(),
        "b64dec": _b64dec,
        "b32enc": lambda s: base64.b32encode(_strval(s).encode()).decode(),
        "b32dec": _b32dec,
        "sha1sum": lambda s: hashlib.sha1(_strval(s).encode()).hexdigest(),
        "sha256sum": lambda s: hashlib.sha256(_strval(s).encode()).hexdigest(),
        "adler32sum": lambda s: str(zlib.adler32(_strval(s).encode())),
        # regular expressions
        "regexMatch": lambda rx, s: _rx(rx).search(_strval(s)) is not None,
        "regexFind": lambda rx, s: m.group(0) if (m := _rx(rx).search(_strval(s))) else "",
        "regexFindAll": lambda rx, s, n: _regex_find_all(rx, _strval(s), n),
        "regexReplaceAll": lambda rx, s, repl: _rx(rx).sub(_go_repl(repl), _strval(s)),
        "regexReplaceAllLiteral": lambda rx, s, repl: _rx(rx).sub(lambda _m: repl, _strval(s)),
        "regexSplit": lambda rx, s, n: _regex_split(rx, _strval(s), n),
        "regexQuoteMeta": lambda s: re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", _strval(s)),
        # types
        "typeOf": go_type_name,
        "typeIs": lambda t, v: go_type_name(v) == t,
        "kindOf": _kind_of,
        "kindIs": lambda k, v: _kind_of(v) == k,
        "deepEqual": lambda a, b: a == b,
    }


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(_strval(text), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as err:
        return str(err)


def _b32dec(text: str) -> str:
    try:
        return base64.b32decode(_strval(text)).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as err:
        return str(err)


_FUNCS = sprig_functions()

_REMOVED_FIELDS = (
    (
        ".Updated",
        "can't evaluate field Updated in type source.TemplateData",
        "Please use '.Changed' instead. ",
    ),
    (
        ".Changed.ImageResult",
        "can't evaluate field ImageResult in type update.Result",
        "Please use '.Changed.FileChanges' or '.Changed.Objects' instead. ",
    ),
)


def validate_commit_template(template: str | None) -> None:
    """Parse the template (without data): raise `CommitTemplateError` if it cannot be."""
    try:
        Template(TEMPLATE_NAME, template or DEFAULT_MESSAGE_TEMPLATE, _FUNCS)
    except TemplateError as err:
        raise CommitTemplateError(
            f"unable to create commit message template from spec: {err.message}"
        ) from err


def render_commit_message(template: str | None, data: TemplateData) -> str:
    """Render `spec.git.commit.messageTemplate` (Flux's default when empty) with `data`."""
    text = template or DEFAULT_MESSAGE_TEMPLATE
    try:
        parsed = Template(TEMPLATE_NAME, text, _FUNCS)
    except TemplateError as err:
        raise CommitTemplateError(
            f"unable to create commit message template from spec: {err.message}"
        ) from err
    try:
        return parsed.render(data)
    except TemplateError as err:
        for name, pattern, advice in _REMOVED_FIELDS:
            if pattern in err.message:
                raise CommitTemplateError(
                    f"template uses removed '{name}' field. {advice}See: {_DOCS}"
                ) from err
        raise CommitTemplateError(f"failed to run template from spec: {err.message}") from err
