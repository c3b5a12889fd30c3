"""A Go `text/template` engine: lexer, parser and executor for the common language.

Pure logic, no I/O. Written for ImageUpdateAutomation commit messages (see `_template`),
but independent of them. What it covers of Go's text/template:

- text and actions `{{ ... }}`, trim markers `{{- ` and ` -}}`, comments `{{/* ... */}}`;
- pipelines `a | b c`, parenthesised pipelines, variables (`$`, `$x := ...`, `$x = ...`),
  fields and map keys (`.A.B`, `$x.A`, `(...).A`), methods (called, with arguments when
  last in the chain), constants (strings with Go escapes, raw strings, chars, numbers,
  `true`, `false`, `nil`);
- `if` / `else if` / `else`, `with` / `else with` / `else`, `range` (slices, maps in
  sorted key order, integers; one or two variables; `else`; `break`, `continue`),
  `define`, `template`, `block`;
- Go's functions: and, or (short-circuit), not, eq, ne, lt, le, gt, ge, len, index,
  slice, print, printf, println, html, js, urlquery, call; more can be passed in
  (`_template` adds sprig's).

Data: dicts are Go maps, lists/tuples are slices, other objects are structs whose Go
field `FooBar` is the attribute `foo_bar` (or `FooBar`); a callable attribute is a
method. An object may define `__go_format__()` (how `%v` prints it), `__go_string__()`
(a Go `String()` method, used by `print` and `%v`/`%s`), and `__go_type__` (its Go
type name in error messages).

Errors are `TemplateError`s whose message follows Go's: `template: <name>:<line>:
<problem>` when parsing, `template: <name>:<line>:<col>: executing "<name>" at <...>:
<problem>` when executing.
"""

from __future__ import annotations

import dataclasses
import html
import inspect
import math
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NO_VALUE",
    "Template",
    "TemplateError",
    "TemplateExecError",
    "TemplateParseError",
    "go_format",
    "go_quote",
    "go_sprint",
    "go_sprintf",
    "go_type_name",
    "is_true",
]

MAX_EXEC_DEPTH = 1000


class _NoValue:
    """Go's invalid reflect.Value: a missing map key; prints as `<no value>`."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Any = _NoValue()


class TemplateError(Exception):
    """A template could not be parsed or executed; `message` is Go-style, with position."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateParseError(TemplateError):
    """The template text is not a valid template."""


class TemplateExecError(TemplateError):
    """The template failed while rendering its data."""


# --- formatting values the way Go's fmt does ----------------------------------------------------


def go_type_name(value: Any) -> str:
    if value is None or value is NO_VALUE:
        return "<nil>"
    explicit = getattr(type(value), "__go_type__", None)
    if explicit:
        return str(explicit)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def _go_float(value: float) -> str:
    """`%v`/`%g` of a float64 (strconv 'g', shortest): exponent form below 1e-4 and from
    1e6 on."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = int(exp_text or 0) + len(whole.lstrip("0") or "") - 1
    if not whole.lstrip("0"):  # 0.000123
        exponent = int(exp_text or 0) - (len(frac) - len(frac.lstrip("0"))) - 1
    digits = digits.rstrip("0") or "0"
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent >= len(digits) - 1:
        return sign + digits + "0" * (exponent - len(digits) + 1)
    if exponent >= 0:
        return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"
    return f"{sign}0.{'0' * (-exponent - 1)}{digits}"


def _sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    items = list(mapping.items())
    try:
        return sorted(items, key=lambda kv: kv[0])
    except TypeError:
        return items


def go_format(value: Any) -> str:
    """`fmt.Sprint`/`%v` of one value."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    stringer = getattr(value, "__go_string__", None)
    if callable(stringer):
        return str(stringer())
    custom = getattr(value, "__go_format__", None)
    if callable(custom):
        return str(custom())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, Mapping):
        inner = " ".join(f"{go_format(k)}:{go_format(v)}" for k, v in _sorted_items(value))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            "{"
            + " ".join(go_format(getattr(value, f.name)) for f in dataclasses.fields(value))
            + "}"
        )
    return str(value)


def go_quote(text: str) -> str:
    """`strconv.Quote`: a double-quoted Go string literal."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch in "\a\b\f\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_sprint(*args: Any) -> str:
    """`fmt.Sprint`: spaces between operands when neither side is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_format(arg))
    return "".join(out)


def go_sprintln(*args: Any) -> str:
    return " ".join(go_format(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?([a-zA-Z%])")


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(arg)}={go_format(arg)})"


def _pad(text: str, flags: str, width: int | None, numeric: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + "0" * (width - len(text)) + text[len(sign) :]
    return " " * (width - len(text)) + text


def _format_one(verb: str, flags: str, width: int | None, prec: int | None, arg: Any) -> str:
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "v":
        if "#" in flags and isinstance(arg, str):
            return _pad(go_quote(arg), flags, width)
        return _pad(go_format(arg), flags, width)
    if verb == "T":
        return _pad(go_type_name(arg), flags, width)
    if verb == "s":
        if isinstance(arg, str) or hasattr(arg, "__go_string__"):
            text = go_format(arg)
        elif isinstance(arg, list | tuple) and all(isinstance(a, str) for a in arg):
            text = "[" + " ".join(arg) + "]"
        elif isinstance(arg, bytes):
            text = arg.decode("utf-8", "replace")
        else:
            return _bad_verb(verb, arg)
        if prec is not None:
            text = text[:prec]
        return _pad(text, flags, width)
    if verb == "q":
        if isinstance(arg, str):
            return _pad(go_quote(arg), flags, width)
        if is_int:
            return _pad("'" + go_quote(chr(arg))[1:-1].replace("'", "\\'") + "'", flags, width)
        return _bad_verb(verb, arg)
    if verb == "t":
        return (
            _pad("true" if arg else "false", flags, width)
            if isinstance(arg, bool)
            else _bad_verb(verb, arg)
        )
    if verb in "dboxXcU" and is_int:
        if verb == "c":
            return _pad(chr(arg), flags, width)
        if verb == "U":
            return _pad(f"U+{arg:04X}", flags, width)
        base = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        body = format(abs(arg), base)
        if prec is not None:
            body = body.rjust(prec, "0")
        if "#" in flags and verb in "xXo":
            body = {"x": "0x", "X": "0X", "o": "0"}[verb] + body
        sign = "-" if arg < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
        return _pad(sign + body, flags, width, numeric=prec is None)
    if verb in "xX" and isinstance(arg, str | bytes):
        data = arg.encode("utf-8") if isinstance(arg, str) else arg
        text = data.hex()
        return _pad(text.upper() if verb == "X" else text, flags, width)
    if verb in "eEfFgG" and isinstance(arg, int | float) and not isinstance(arg, bool):
        if isinstance(arg, int):
            return _bad_verb(verb, arg)
        if verb in "gG" and prec is None:
            text = _go_float(arg)
            text = text.upper() if verb == "G" else text
        else:
            py = {"F": "f"}.get(verb, verb)
            text = format(arg, f"{'+' if '+' in flags else ''}.{6 if prec is None else prec}{py}")
            if verb in "eE":
                text = re.sub(r"([eE][+-])(\d)$", r"\g<1>0\2", text)
        return _pad(text, flags, width, numeric=True)
    return _bad_verb(verb, arg)


def go_sprintf(fmt: str, *args: Any) -> str:
    """`fmt.Sprintf` for the verbs templates use: %v %+v %s %q %d %t %x %X %o %b %c %U %e
    %f %g %T %%, flags `-+# 0`, width and precision (also `*`). Mismatches print as Go
    does: `%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`."""
    out: list[str] = []
    pos = 0
    argi = 0

    def next_arg() -> tuple[bool, Any]:
        nonlocal argi
        if argi >= len(args):
            return False, None
        argi += 1
        return True, args[argi - 1]

    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width_s, prec_s, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        width = prec = None
        if width_s == "*":
            ok, value = next_arg()
            width = value if ok and isinstance(value, int) else None
        elif width_s:
            width = int(width_s)
        if m.group(0).find(".") >= 0:
            if prec_s == "*":
                ok, value = next_arg()
                prec = value if ok and isinstance(value, int) else None
            else:
                prec = int(prec_s) if prec_s else 0
        ok, arg = next_arg()
        if not ok:
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(verb, flags, width, prec, arg))
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{go_type_name(a)}={go_format(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --- truth and comparison -----------------------------------------------------------------------


def is_true(value: Any) -> bool:
    """Go template truth: false, 0, nil, empty string/slice/map and no value are false."""
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | bytes | Mapping | list | tuple):
        return len(value) > 0
    return True


def _basic_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if value is None or value is NO_VALUE:
        return "nil"
    return "other"


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise _FuncError("missing argument for comparison")
    for arg in args:
        k1, k2 = _basic_kind(arg1), _basic_kind(arg)
        if k1 == "other" or k2 == "other":
            if arg1 == arg:
                return True
            continue
        if k1 != k2 and "nil" not in (k1, k2):
            raise _FuncError("incompatible types for comparison")
        if arg1 == arg and not (k1 == "nil") ^ (k2 == "nil"):
            return True
    return False


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _basic_kind(a), _basic_kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return a, b


class _FuncError(Exception):
    """A function failed; the executor adds the position."""


# --- lexer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # text, ident, field, var, dot, string, char, number, bool, nil, ( ) | := = , eof-action
    value: Any
    pos: int


_SPACE = " \t\r\n"
_KEYWORDS = {
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
}
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*(?:[pP][+-]?[0-9_]+)?|0[bB][01_]+|0[oO][0-7_]+"
    r"|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)"
)
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def _unquote(body: str, quote: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("invalid syntax")
        e = body[i + 1]
        if e in _ESCAPES and (e != "'" or quote == "'") and (e != '"' or quote == '"'):
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 16)))
            i += 2 + size
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits):
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


class _Lexer:
    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.items: list[_Tok] = []

    def line_of(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def error(self, pos: int, message: str) -> TemplateParseError:
        return TemplateParseError(f"template: {self.name}:{self.line_of(pos)}: {message}")

    def run(self) -> list[_Tok]:
        text, pos, n = self.text, 0, len(self.text)
        while pos < n:
            start = text.find("{{", pos)
            if start < 0:
                self.items.append(_Tok("text", text[pos:], pos))
                break
            chunk = text[pos:start]
            after = start + 2
            trim_left = text.startswith("-", after) and after + 1 < n and text[after + 1] in _SPACE
            if trim_left:
                chunk = chunk.rstrip(_SPACE)
                after += 2
            if chunk:
                self.items.append(_Tok("text", chunk, pos))
            pos = self._action(start, after)
        self.items.append(_Tok("eof", None, n))
        return self.items

    def _close(self, pos: int) -> tuple[int, bool] | None:
        """If a right delimiter starts at pos (after optional spaces for ' -}}'), return
        (position after it, trim-right)."""
        if self.text.startswith("}}", pos):
            return pos + 2, False
        if self.text[pos : pos + 1] in _SPACE:
            j = pos
            while j < len(self.text) and self.text[j] in _SPACE:
                j += 1
            if self.text.startswith("-}}", j):
                return j + 3, True
        return None

    def _action(self, start: int, pos: int) -> int:
        text, n = self.text, len(self.text)
        # comment
        j = pos
        if text.startswith("/*", j):
            end = text.find("*/", j + 2)
            if end < 0:
                raise self.error(start, "unclosed comment")
            closed = self._close(end + 2)
            if closed is None:
                raise self.error(start, "comment ends before closing delimiter")
            after, trim = closed
            return self._trim_right(after) if trim else after
        self.items.append(_Tok("open", None, start))
        paren = 0
        while True:
            if pos >= n:
                raise self.error(start, "unclosed action")
            closed = self._close(pos)
            if closed is not None and paren == 0:
                self.items.append(_Tok("close", None, pos))
                after, trim = closed
                return self._trim_right(after) if trim else after
            ch = text[pos]
            if text.startswith("}}", pos) and paren:
                raise self.error(pos, "unclosed left paren")
            if ch in _SPACE:
                pos += 1
            elif ch == "(":
                paren += 1
                self.items.append(_Tok("(", None, pos))
                pos += 1
            elif ch == ")":
                paren -= 1
                if paren < 0:
                    raise self.error(pos, "unexpected right paren")
                self.items.append(_Tok(")", None, pos))
                pos += 1
            elif ch == "|":
                self.items.append(_Tok("|", None, pos))
                pos += 1
            elif ch == ",":
                self.items.append(_Tok(",", None, pos))
                pos += 1
            elif text.startswith(":=", pos):
                self.items.append(_Tok(":=", None, pos))
                pos += 2
            elif ch == "=":
                self.items.append(_Tok("=", None, pos))
                pos += 1
            elif ch == '"':
                end = pos + 1
                while end < n and text[end] != '"':
                    if text[end] == "\\":
                        end += 1
                    elif text[end] == "\n":
                        raise self.error(pos, "unterminated quoted string")
                    end += 1
                if end >= n:
                    raise self.error(pos, "unterminated quoted string")
                try:
                    self.items.append(_Tok("string", _unquote(text[pos + 1 : end], '"'), pos))
                except ValueError as err:
                    raise self.error(pos, f"{err}: {text[pos : end + 1]}") from err
                pos = end + 1
            elif ch == "`":
                end = text.find("`", pos + 1)
                if end < 0:
                    raise self.error(pos, "unterminated raw quoted string")
                self.items.append(_Tok("string", text[pos + 1 : end].replace("\r", ""), pos))
                pos = end + 1
            elif ch == "'":
                end = pos + 1
                while end < n and text[end] != "'":
                    end += 2 if text[end] == "\\" else 1
                try:
                    value = _unquote(text[pos + 1 : end], "'")
                    if len(value) != 1:
                        raise ValueError("invalid syntax")
                except ValueError as err:
                    raise self.error(
                        pos, f"malformed character constant: {text[pos : end + 1]}"
                    ) from err
                self.items.append(_Tok("char", ord(value), pos))
                pos = end + 1
            elif ch == "$":
                m = re.compile(r"\$\w*").match(text, pos)
                assert m is not None
                self.items.append(_Tok("var", m.group(), pos))
                pos = m.end()
            elif ch == ".":
                m = re.compile(r"\.(\w+)").match(text, pos)
                if m and not m.group(1)[0].isdigit():
                    self.items.append(_Tok("field", m.group(1), pos))
                    pos = m.end()
                elif pos + 1 < n and text[pos + 1].isdigit():
                    pos = self._number(pos)
                else:
                    self.items.append(_Tok("dot", None, pos))
                    pos += 1
            elif ch.isdigit() or (
                ch in "+-" and pos + 1 < n and (text[pos + 1].isdigit() or text[pos + 1] == ".")
            ):
                pos = self._number(pos)
            elif ch.isalpha() or ch == "_":
                m = re.compile(r"\w+").match(text, pos)
                assert m is not None
                word = m.group()
                if word in ("true", "false"):
                    self.items.append(_Tok("bool", word == "true", pos))
                elif word == "nil":
                    self.items.append(_Tok("nil", None, pos))
                elif word in _KEYWORDS:
                    self.items.append(_Tok("keyword", word, pos))
                else:
                    self.items.append(_Tok("ident", word, pos))
                pos = m.end()
            else:
                raise self.error(pos, f"unexpected {go_quote(ch)} in command")

    def _number(self, pos: int) -> int:
        m = _NUMBER.match(self.text, pos)
        assert m is not None
        literal = m.group()
        if m.end() < len(self.text) and (self.text[m.end()].isalnum() or self.text[m.end()] == "_"):
            bad = re.compile(r"[\w.+-]+").match(self.text, pos)
            raise self.error(pos, f"bad number syntax: {go_quote(bad.group() if bad else literal)}")
        clean = literal.replace("_", "")
        try:
            if re.fullmatch(
                r"[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)", clean
            ):
                value: int | float = (
                    int(clean, 8) if re.fullmatch(r"[+-]?0[0-7]+", clean) else int(clean, 0)
                )
            elif re.fullmatch(r"[+-]?0[xX].*[pP].*", clean):
                value = float.fromhex(clean)
            else:
                value = float(clean)
        except ValueError as err:
            raise self.error(pos, f"bad number syntax: {go_quote(literal)}") from err
        self.items.append(_Tok("number", value, pos))
        return m.end()

    def _trim_right(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in _SPACE:
            pos += 1
        return pos


# --- parse tree -------------------------------------------------------------------------------


@dataclass
class _Node:
    pos: int


@dataclass
class _Text(_Node):
    text: str


@dataclass
class _Const(_Node):
    value: Any
    is_number: bool = False


@dataclass
class _Field(_Node):  # .A.B on dot
    names: list[str]


@dataclass
class _Variable(_Node):  # $x.A.B
    name: str
    names: list[str]


@dataclass
class _DotNode(_Node):
    pass


@dataclass
class _Ident(_Node):  # a function name
    name: str


@dataclass
class _Chain(_Node):  # (pipeline).A.B
    node: _Node
    names: list[str]


@dataclass
class _Command(_Node):
    args: list[_Node]


@dataclass
class _Pipe(_Node):
    decl: list[str]
    is_assign: bool
    cmds: list[_Command]


@dataclass
class _Action(_Node):
    pipe: _Pipe


@dataclass
class _List(_Node):
    nodes: list[_Node] = field(default_factory=list)


@dataclass
class _Branch(_Node):
    kind: str  # if, with, range
    pipe: _Pipe
    body: _List
    else_body: _List | None


@dataclass
class _TemplateCall(_Node):
    name: str
    pipe: _Pipe | None


@dataclass
class _LoopControl(_Node):
    kind: str  # break, continue


class _Parser:
    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lexer = _Lexer(name, text)
        self.toks = self.lexer.run()
        self.i = 0
        self.defines: dict[str, _List] = {}
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    # token helpers
    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def error(self, tok: _Tok, message: str) -> TemplateParseError:
        return self.lexer.error(tok.pos, message)

    def describe(self, tok: _Tok) -> str:
        if tok.kind == "close":
            return '"}}"'
        if tok.kind in ("ident", "keyword", "var"):
            return f"<{tok.value}>"
        if tok.kind == "field":
            return f"<.{tok.value}>"
        if tok.kind == "string":
            return go_quote(tok.value)
        if tok.kind in ("(", ")", "|", ",", ":=", "="):
            return go_quote(tok.kind)
        if tok.kind == "eof":
            return "EOF"
        return f"<{go_format(tok.value)}>" if tok.value is not None else f"<{tok.kind}>"

    def expect(self, kind: str, context: str) -> _Tok:
        tok = self.next()
        if tok.kind != kind:
            raise self.error(tok, f"unexpected {self.describe(tok)} in {context}")
        return tok

    # structure
    def parse(self) -> tuple[_List, dict[str, _List]]:
        body, end = self.item_list(top=True)
        assert end is None
        return body, self.defines

    def item_list(self, top: bool = False) -> tuple[_List, str | None]:
        """Items until {{end}} / {{else}} (returned as the terminator) or EOF at top."""
        out = _List(self.peek().pos)
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                if not top:
                    raise self.error(tok, "unexpected EOF")
                return out, None
            if tok.kind == "text":
                self.next()
                out.nodes.append(_Text(tok.pos, tok.value))
                continue
            self.expect("open", "template")
            kw = self.peek()
            if kw.kind == "keyword" and kw.value in ("end", "else"):
                if top:
                    raise self.error(kw, f"unexpected {{{{{kw.value}}}}}")
                self.next()
                return out, kw.value
            out.nodes.append(self.action())

    def action(self) -> _Node:
        tok = self.peek()
        if tok.kind == "keyword":
            self.next()
            word = tok.value
            if word in ("if", "with", "range"):
                return self.branch(word, tok)
            if word == "template":
                return self.template_call(tok, block=False)
            if word == "block":
                return self.template_call(tok, block=True)
            if word == "define":
                return self.define(tok)
            if word in ("break", "continue"):
                if self.range_depth == 0:
                    raise self.error(tok, f"{{{{{word}}}}} outside {{{{range}}}}")
                self.expect("close", word)
                return _LoopControl(tok.pos, word)
        pipe = self.pipeline("command", allow_decl=True)
        return _Action(tok.pos, pipe)

    def branch(self, kind: str, tok: _Tok) -> _Branch:
        mark = len(self.vars)
        pipe = self.pipeline(kind, allow_decl=True, range_decl=kind == "range")
        if kind == "range":
            self.range_depth += 1
        body, end = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body = None
        if end == "else":
            nxt = self.peek()
            if nxt.kind == "keyword" and nxt.value == kind and kind in ("if", "with"):
                # {{else if ...}} / {{else with ...}}: a nested branch sharing our {{end}}
                self.next()
                nested = self.branch(nxt.value, nxt)
                else_body = _List(nxt.pos, [nested])
            else:
                self.expect("close", "else")
                else_body, end2 = self.item_list()
                if end2 != "end":
                    raise self.error(self.peek(), "expected end; found {{else}}")
                self.expect("close", "end")
        else:
            self.expect("close", "end")
        del self.vars[mark:]
        return _Branch(tok.pos, kind, pipe, body, else_body)

    def template_call(self, tok: _Tok, block: bool) -> _TemplateCall:
        name_tok = self.next()
        if name_tok.kind != "string":
            raise self.error(name_tok, f"unexpected {self.describe(name_tok)} in template clause")
        pipe = None
        if self.peek().kind != "close":
            pipe = self.pipeline("template clause", allow_decl=False)
        else:
            self.next()
        if block:
            saved = self.vars
            self.vars = ["$"]
            body, end = self.item_list()
            self.vars = saved
            if end != "end":
                raise self.error(tok, "unexpected {{else}} in block")
            self.expect("close", "end")
            self.defines[name_tok.value] = body
        return _TemplateCall(tok.pos, name_tok.value, pipe)

    def define(self, tok: _Tok) -> _List:
        name_tok = self.next()
        if name_tok.kind != "string":
            raise self.error(name_tok, "name of template in define clause must be a string")
        self.expect("close", "define clause")
        saved = self.vars
        self.vars = ["$"]
        body, end = self.item_list()
        self.vars = saved
        if end != "end":
            raise self.error(tok, "unexpected {{else}} in define clause")
        self.expect("close", "end")
        self.defines[name_tok.value] = body
        return _List(tok.pos)  # defines produce no output where they stand

    def pipeline(self, context: str, allow_decl: bool, range_decl: bool = False) -> _Pipe:
        start = self.peek()
        decl: list[str] = []
        is_assign = False
        if allow_decl and start.kind == "var":
            t1, t2 = self.peek(1), self.peek(2)
            if t1.kind in (":=", "="):
                decl, is_assign = [start.value], t1.kind == "="
                self.i += 2
            elif (
                range_decl
                and t1.kind == ","
                and t2.kind == "var"
                and self.peek(3).kind in (":=", "=")
            ):
                decl, is_assign = [start.value, t2.value], self.peek(3).kind == "="
                self.i += 4
            if is_assign:
                for name in decl:
                    if name not in self.vars:
                        raise self.error(start, f"undefined variable {go_quote(name)}")
            else:
                self.vars.extend(decl)
        cmds: list[_Command] = []
        while True:
            tok = self.peek()
            if tok.kind in ("close", ")"):
                if tok.kind == "close":
                    self.next()
                break
            cmds.append(self.command(context))
            if self.peek().kind == "|":
                self.next()
                if self.peek().kind in ("close", ")"):
                    raise self.error(self.peek(), f"missing command in {context}")
        if not cmds:
            raise self.error(start, f"missing value for {context}")
        for cmd in cmds[1:]:
            if isinstance(cmd.args[0], _Const):
                raise self.error(
                    self.peek(-1), f"non executable command in pipeline stage {cmds.index(cmd) + 1}"
                )
        return _Pipe(start.pos, decl, is_assign, cmds)

    def command(self, context: str) -> _Command:
        tok = self.peek()
        cmd = _Command(tok.pos, [])
        while True:
            t = self.peek()
            if t.kind in ("close", ")", "|"):
                break
            if t.kind == "eof" or t.kind in (",", ":=", "="):
                raise self.error(t, f"unexpected {self.describe(t)} in operand")
            cmd.args.append(self.operand())
        if not cmd.args:
            raise self.error(tok, f"empty command in {context}")
        return cmd

    def operand(self) -> _Node:
        tok = self.next()
        node: _Node
        if tok.kind == "field":
            names = [tok.value]
            while (
                self.peek().kind == "field"
                and self.peek().pos == self.toks[self.i - 1].pos + len(names[-1]) + 1
            ):
                names.append(self.next().value)
            return _Field(tok.pos, names)
        if tok.kind == "var":
            if tok.value not in self.vars:
                raise self.error(tok, f"undefined variable {go_quote(tok.value)}")
            node = _Variable(tok.pos, tok.value, [])
            end = tok.pos + len(tok.value)
            while self.peek().kind == "field" and self.peek().pos == end:
                f = self.next()
                node.names.append(f.value)
                end = f.pos + len(f.value) + 1
            return node
        if tok.kind == "dot":
            return _DotNode(tok.pos)
        if tok.kind == "ident":
            return _Ident(tok.pos, tok.value)
        if tok.kind in ("string", "bool", "nil"):
            node = _Const(tok.pos, tok.value)
        elif tok.kind in ("number", "char"):
            node = _Const(tok.pos, tok.value, is_number=True)
        elif tok.kind == "(":
            pipe = self.pipeline("parenthesized pipeline", allow_decl=False)
            close = self.expect(")", "parenthesized pipeline")
            node = _Chain(tok.pos, pipe, [])
            end = close.pos + 1
            while self.peek().kind == "field" and self.peek().pos == end:
                f = self.next()
                node.names.append(f.value)
                end = f.pos + len(f.value) + 1
            if not node.names:
                return pipe
            return node
        else:
            raise self.error(tok, f"unexpected {self.describe(tok)} in operand")
        if self.peek().kind == "field" and self.peek().pos == self.toks[self.i - 1].pos + 1:
            raise self.error(self.peek(), "unexpected . after term")
        return node


# --- execution ----------------------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _go_field_candidates(name: str) -> list[str]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return [snake, name]


BUILTINS: dict[str, Callable[..., Any]] = {}


class Template:
    """A parsed template: `Template(name, text, funcs)`, then `render(data)`."""

    def __init__(
        self, name: str, text: str, funcs: Mapping[str, Callable[..., Any]] | None = None
    ) -> None:
        self.name = name
        self.text = text
        self.funcs: dict[str, Callable[..., Any]] = dict(BUILTINS)
        self.funcs.update(funcs or {})
        parser = _Parser(name, text)
        self.root, self.defines = parser.parse()
        self._check_functions(self.root)
        for body in self.defines.values():
            self._check_functions(body)

    def _check_functions(self, node: Any) -> None:
        for ident in _walk_idents(node):
            if ident.name not in self.funcs and ident.name not in ("and", "or"):
                line = self.text.count("\n", 0, ident.pos) + 1
                raise TemplateParseError(
                    f'template: {self.name}:{line}: function "{ident.name}" not defined'
                )

    def render(self, data: Any) -> str:
        state = _State(self, data)
        state.walk(data, self.root)
        return "".join(state.out)


def _walk_idents(node: Any) -> Iterator[_Ident]:
    if isinstance(node, _Ident):
        yield node
    elif isinstance(node, _List):
        for child in node.nodes:
            yield from _walk_idents(child)
    elif isinstance(node, _Action):
        yield from _walk_idents(node.pipe)
    elif isinstance(node, _Pipe):
        for cmd in node.cmds:
            yield from _walk_idents(cmd)
    elif isinstance(node, _Command):
        for arg in node.args:
            yield from _walk_idents(arg)
    elif isinstance(node, _Chain):
        yield from _walk_idents(node.node)
    elif isinstance(node, _Branch):
        yield from _walk_idents(node.pipe)
        yield from _walk_idents(node.body)
        if node.else_body is not None:
            yield from _walk_idents(node.else_body)
    elif isinstance(node, _TemplateCall) and node.pipe is not None:
        yield from _walk_idents(node.pipe)


class _State:
    def __init__(self, template: Template, data: Any) -> None:
        self.t = template
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []
        self.node: _Node | None = None
        self.depth = 0

    # errors
    def location(self, node: _Node | None) -> tuple[int, int]:
        pos = node.pos if node is not None else 0
        text = self.t.text
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1)
        return line, col

    def context(self, node: _Node | None) -> str:
        if node is None:
            return ""
        return _describe_node(node)

    def error(self, message: str, node: _Node | None = None) -> TemplateExecError:
        node = node or self.node
        line, col = self.location(node)
        return TemplateExecError(
            f'template: {self.t.name}:{line}:{col}: executing "{self.t.name}" at '
            f"<{self.context(node)}>: {message}"
        )

    # variables
    def var(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise self.error(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.error(f"undefined variable: {name}")

    # walking
    def walk(self, dot: Any, node: _Node) -> None:
        self.node = node
        if isinstance(node, _Text):
            self.out.append(node.text)
        elif isinstance(node, _List):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, _Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(self.printable(value, node))
        elif isinstance(node, _Branch):
            self.walk_branch(dot, node)
        elif isinstance(node, _TemplateCall):
            self.walk_template(dot, node)
        elif isinstance(node, _LoopControl):
            raise _Break() if node.kind == "break" else _Continue()
        else:  # pragma: no cover - the parser makes no other nodes
            raise self.error(f"unknown node {type(node).__name__}", node)

    def printable(self, value: Any, node: _Node) -> str:
        if callable(value) and not hasattr(value, "__go_string__"):
            raise self.error(f"can't print {go_type_name(value)} value", node)
        return go_format(value)

    def walk_branch(self, dot: Any, node: _Branch) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.walk_range(dot, node)
                return
            value = self.eval_pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Branch) -> None:
        pipe = node.pipe
        value = self.eval_pipeline(dot, _Pipe(pipe.pos, [], False, pipe.cmds))
        items: list[tuple[Any, Any]]
        if value is None or value is NO_VALUE:
            items = []
        elif isinstance(value, Mapping):
            items = _sorted_items(value)
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(pipe.decl) > 1:
                raise self.error("can't use two variables when ranging over an int", node)
            items = [(i, i) for i in range(value)]
        elif isinstance(value, str):
            raise self.error(f"range can't iterate over {value}", node)
        else:
            raise self.error(f"range can't iterate over {go_format(value)}", node)
        if not items:
            if node.else_body is not None:
                self.walk(dot, node.else_body)
            return
        mark = len(self.vars)
        for key, elem in items:
            if len(pipe.decl) == 1:
                self.declare_or_assign(pipe, pipe.decl[0], elem)
            elif len(pipe.decl) == 2:
                self.declare_or_assign(pipe, pipe.decl[0], key)
                self.declare_or_assign(pipe, pipe.decl[1], elem)
            try:
                self.walk(elem, node.body)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                if not pipe.is_assign:
                    del self.vars[mark:]

    def declare_or_assign(self, pipe: _Pipe, name: str, value: Any) -> None:
        if pipe.is_assign:
            self.set_var(name, value)
        else:
            self.vars.append((name, value))

    def walk_template(self, dot: Any, node: _TemplateCall) -> None:
        body = self.t.defines.get(node.name)
        if body is None:
            raise self.error(
                f'template: no template "{node.name}" associated with template "{self.t.name}"',
                node,
            )
        new_dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else None
        self.depth += 1
        if self.depth > MAX_EXEC_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})", node)
        saved = self.vars
        self.vars = [("$", new_dot)]
        try:
            self.walk(new_dot, body)
        finally:
            self.vars = saved
            self.depth -= 1

    # pipelines and commands
    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value: Any = NO_VALUE
        first = True
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, None if first else (value,))
            first = False
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def eval_command(self, dot: Any, cmd: _Command, final: tuple[Any] | None) -> Any:
        head = cmd.args[0]
        self.node = head
        if isinstance(head, _Field):
            return self.eval_chain(dot, dot, head.names, cmd.args, final, head)
        if isinstance(head, _Chain):
            receiver = (
                self.eval_pipeline(dot, head.node)
                if isinstance(head.node, _Pipe)
                else self.eval_arg(dot, head.node)
            )
            return self.eval_chain(dot, receiver, head.names, cmd.args, final, head)
        if isinstance(head, _Ident):
            return self.eval_function(dot, head, cmd.args, final)
        if isinstance(head, _Pipe):
            self.not_a_function(cmd.args, final, head)
            return self.eval_pipeline(dot, head)
        if isinstance(head, _Variable):
            value = self.var(head.name)
            if head.names:
                return self.eval_chain(dot, value, head.names, cmd.args, final, head)
            self.not_a_function(cmd.args, final, head)
            return value
        self.not_a_function(cmd.args, final, head)
        if isinstance(head, _DotNode):
            return dot
        assert isinstance(head, _Const)
        return head.value

    def not_a_function(self, args: list[_Node], final: tuple[Any] | None, node: _Node) -> None:
        if len(args) > 1 or final is not None:
            raise self.error(f"can't give argument to non-function {_describe_node(args[0])}", node)

    def eval_arg(self, dot: Any, node: _Node) -> Any:
        self.node = node
        if isinstance(node, _DotNode):
            return dot
        if isinstance(node, _Const):
            return node.value
        if isinstance(node, _Field):
            return self.eval_chain(dot, dot, node.names, [node], None, node)
        if isinstance(node, _Variable):
            value = self.var(node.name)
            return (
                self.eval_chain(dot, value, node.names, [node], None, node) if node.names else value
            )
        if isinstance(node, _Pipe):
            return self.eval_pipeline(dot, node)
        if isinstance(node, _Chain):
            receiver = (
                self.eval_pipeline(dot, node.node)
                if isinstance(node.node, _Pipe)
                else self.eval_arg(dot, node.node)
            )
            return self.eval_chain(dot, receiver, node.names, [node], None, node)
        if isinstance(node, _Ident):
            return self.call(dot, node, [], None)
        raise self.error(f"can't handle {_describe_node(node)} as an argument", node)

    def eval_chain(
        self,
        dot: Any,
        receiver: Any,
        names: list[str],
        args: list[_Node],
        final: tuple[Any] | None,
        node: _Node,
    ) -> Any:
        value = receiver
        for i, name in enumerate(names):
            last = i == len(names) - 1
            value = self.eval_field(
                dot, name, value, args if last else [node], final if last else None, node
            )
        return value

    def eval_field(
        self,
        dot: Any,
        name: str,
        receiver: Any,
        args: list[_Node],
        final: tuple[Any] | None,
        node: _Node,
    ) -> Any:
        has_args = len(args) > 1 or final is not None
        if receiver is None or receiver is NO_VALUE:
            raise self.error(f"nil pointer evaluating {go_type_name(receiver)}.{name}", node)
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments", node)
            if name in receiver:
                return receiver[name]
            return NO_VALUE
        if not name[0].isupper():
            raise self.error(
                f"{name} is an unexported field of struct type {go_type_name(receiver)}", node
            )
        for attr in _go_field_candidates(name):
            if attr.startswith("_") or not hasattr(receiver, attr):
                continue
            value = getattr(receiver, attr)
            if callable(value) and not isinstance(value, type):
                call_args = [self.eval_arg(dot, a) for a in args[1:]]
                if final is not None:
                    call_args.append(final[0])
                try:
                    return value(*call_args)
                except TypeError as err:
                    raise self.error(f"wrong number of args for {name}: {err}", node) from err
                except Exception as err:  # noqa: BLE001 - a method failed: report it
                    raise self.error(f"error calling {name}: {err}", node) from err
            if has_args:
                raise self.error(f"{name} has arguments but cannot be invoked as function", node)
            return value
        raise self.error(f"can't evaluate field {name} in type {go_type_name(receiver)}", node)

    def eval_function(
        self, dot: Any, ident: _Ident, args: list[_Node], final: tuple[Any] | None
    ) -> Any:
        return self.call(dot, ident, args[1:], final)

    def call(
        self, dot: Any, ident: _Ident, arg_nodes: list[_Node], final: tuple[Any] | None
    ) -> Any:
        name = ident.name
        if name in ("and", "or"):
            if not arg_nodes and final is None:
                raise self.error(f"wrong number of args for {name}: want at least 1 got 0", ident)
            value: Any = None
            for node in arg_nodes:
                value = self.eval_arg(dot, node)
                if is_true(value) != (name == "and"):
                    return value
            if final is not None:
                value = final[0]
            return value
        fn = self.t.funcs[name]
        values = [self.eval_arg(dot, a) for a in arg_nodes]
        if final is not None:
            values.append(final[0])
        self.node = ident
        try:
            return fn(*values)
        except _FuncError as err:
            raise self.error(f"error calling {name}: {err}", ident) from err
        except TypeError as err:
            raise self.error(
                f"wrong number of args for {name}: {_arity(fn, len(values), err)}", ident
            ) from err
        except TemplateError:
            raise
        except Exception as err:  # noqa: BLE001 - any function failure is a template error
            raise self.error(f"error calling {name}: {err}", ident) from err


def _arity(fn: Callable[..., Any], given: int, err: TypeError) -> str:
    """Go's `want N got M` when the signature tells N; else Python's message."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return str(err)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        want = sum(1 for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD)
        return f"want at least {want} got {given}"
    want = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return f"want {want} got {given}" if want != given else str(err)


def _describe_node(node: _Node) -> str:
    if isinstance(node, _Field):
        return "." + ".".join(node.names)
    if isinstance(node, _Variable):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, _Ident):
        return node.name
    if isinstance(node, _DotNode):
        return "."
    if isinstance(node, _Const):
        return go_quote(node.value) if isinstance(node.value, str) else go_format(node.value)
    if isinstance(node, _Chain):
        return "(...)" + "".join("." + n for n in node.names)
    if isinstance(node, _Pipe):
        return "(...)"
    if isinstance(node, _Command) and node.args:
        return _describe_node(node.args[0])
    if isinstance(node, _Action):
        return _describe_node(node.pipe)
    if isinstance(node, _Branch):
        return node.kind
    return type(node).__name__.strip("_").lower()


# --- Go's predefined functions ------------------------------------------------------------------


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, Mapping | list | tuple | bytes):
        return len(value)
    raise _FuncError(f"len of type {go_type_name(value)}")


def _index(item: Any, *indexes: Any) -> Any:
    value = item
    for idx in indexes:
        if value is None or value is NO_VALUE:
            raise _FuncError("index of untyped nil")
        if isinstance(value, Mapping):
            if idx in value:
                value = value[idx]
            else:
                values = list(value.values())
                value = "" if values and all(isinstance(v, str) for v in values) else NO_VALUE
        elif isinstance(value, list | tuple | str | bytes):
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise _FuncError(f"cannot index slice/array with type {go_type_name(idx)}")
            if not 0 <= idx < len(value):
                raise _FuncError(f"index out of range: {idx}")
            value = value[idx]
            if isinstance(value, str) and isinstance(item, str):
                value = ord(value)
        else:
            raise _FuncError(f"can't index item of type {go_type_name(value)}")
    return value


def _slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, str | list | tuple):
        raise _FuncError(f"can't slice item of type {go_type_name(item)}")
    if len(indexes) > 3 or (isinstance(item, str) and len(indexes) > 2):
        raise _FuncError("too many slice indexes")
    bounds = [int(i) for i in indexes]
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= start <= end <= len(item):
        raise _FuncError(f"index out of range: {start}:{end}")
    return item[start:end]


def _not(value: Any) -> bool:
    return not is_true(value)


def _cmp(op: str) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        a, b = _ordered(a, b)
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]

    return compare


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _js(*args: Any) -> str:
    text = go_sprint(*args)
    out = []
    for ch in text:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _call(fn: Any, *args: Any) -> Any:
    if not callable(fn):
        raise _FuncError(f"non-function of type {go_type_name(fn)}")
    return fn(*args)


BUILTINS.update(
    {
        "call": _call,
        "eq": _eq,
        "ge": _cmp("ge"),
        "gt": _cmp("gt"),
        "html": lambda *a: html.escape(go_sprint(*a), quote=True).replace("&#x27;", "&#39;"),
        "index": _index,
        "js": _js,
        "le": _cmp("le"),
        "len": _len,
        "lt": _cmp("lt"),
        "ne": _ne,
        "not": _not,
        "print": go_sprint,
        "printf": go_sprintf,
        "println": go_sprintln,
        "slice": _slice,
        "urlquery": lambda *a: urllib.parse.quote_plus(go_sprint(*a)),
    }
)


def parse_only(
    name: str, text: str, funcs: Mapping[str, Callable[..., Any]] | None = None
) -> Template:
    """Parse (and check the function names of) a template without rendering it."""
    return Template(name, text, funcs)
