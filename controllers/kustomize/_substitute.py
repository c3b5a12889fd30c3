"""postBuild variable substitution: `${var}` expressions in the built objects, with Flux's syntax,
rules and corner cases.

The expression language is the one Flux documents for `spec.postBuild` (a shell-like subset):

| expression            | value                                                              |
| --------------------- | ------------------------------------------------------------------ |
| `${var}`              | the value of `var`; empty when undefined (an error in strict mode)  |
| `${var:=default}`     | `default` when `var` is undefined or empty; also `${var=default}`,  |
|                       | `${var:-default}` (the default may hold further `${...}`)          |
| `${var:pos}`          | the value from byte `pos` on (negative: counted from the end)       |
| `${var:pos:len}`      | at most `len` bytes from `pos` (negative `len`: up to that many    |
|                       | bytes before the end)                                              |
| `${var/old/new}`      | the first `old` replaced with `new`; `//` every one, `/#` a prefix, |
|                       | `/%` a suffix; `\\/` is a literal slash in `old` and `new`          |
| `${var#glob}`         | the shortest prefix matching `glob` removed; `##` the longest;      |
|                       | `%` and `%%` the same for a suffix (`*` also matches `/`)           |
| `${#var}`             | the length of the value in bytes                                    |
| `${var^}` `${var^^}`  | first letter / all letters upper case; `,` and `,,` lower case      |

Text outside `${...}` is kept as it is: `$var` is never substituted, and `$$` is written as a
single `$`, so `$${var}` gives a literal `${var}`. A malformed expression (`${`, `${}`,
`${var-x}`, an unterminated function) is an error. In strict mode, reading an undefined
variable is an error naming it, except through a default (`=`, `:=`, `:-`).

Per object (`substitute_objects`): nothing happens unless some variable is defined (Flux's rule;
`force=True` runs it anyway); objects labelled or annotated
`kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone; every other object is written
as YAML text, substituted, and read back, so a value can change a field's type (`replicas:
${n}` with `n=3` becomes the integer 3, as in Flux). Variable names must match
`^[_[:alpha:]][_[:alpha:][:digit:]]*$`; values lose their newlines (`merge_variables`).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from afflux.api._meta import KUSTOMIZE_SUBSTITUTE_ANNOTATION

from ._objects import ManifestError, describe, dump_object, is_disabled, load_documents

__all__ = [
    "VARIABLE_NAME_PATTERN",
    "InvalidVariableNameError",
    "SubstitutionError",
    "SubstitutionSyntaxError",
    "UndefinedVariableError",
    "expand",
    "merge_variables",
    "substitute_object",
    "substitute_objects",
    "validate_variable_names",
]

#: The rule for variable names, as Flux states it (POSIX classes, ASCII only as in Go).
VARIABLE_NAME_PATTERN = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
_VARIABLE_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")

#: Operators that supply their own value when the variable is undefined (never strict errors).
_DEFAULT_OPS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})


class SubstitutionError(ValueError):
    """Substitution failed; the message says why and, when it knows, in which object."""


class SubstitutionSyntaxError(SubstitutionError):
    """A `${...}` expression that cannot be parsed."""


class UndefinedVariableError(SubstitutionError):
    """Strict mode: an expression reads a variable nobody defined."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"variable {name!r} is not defined (strict mode)")
        self.name = name


class InvalidVariableNameError(SubstitutionError):
    """A variable name that does not match `VARIABLE_NAME_PATTERN`."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"variable name {name!r} is invalid: it must match '{VARIABLE_NAME_PATTERN}'"
        )
        self.name = name


# --- variables ------------------------------------------------------------------------------


def merge_variables(*sources: Mapping[str, str | bytes] | None) -> dict[str, str]:
    """Merge variable maps given in order of precedence, lowest first: later sources win.

    For a Kustomization pass the `substituteFrom` ConfigMaps' and Secrets' data (in list order,
    Secret values already base64-decoded) and then `substitute`, so inline values win. Values
    lose their newlines, as Flux strips them. `None` sources (an optional object that does not
    exist) are skipped."""
    merged: dict[str, str] = {}
    for source in sources:
        for name, value in (source or {}).items():
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            merged[name] = text.replace("\n", "")
    return merged


def validate_variable_names(variables: Iterable[str]) -> None:
    """Raise `InvalidVariableNameError` for the first (sorted) invalid variable name."""
    for name in sorted(variables):
        if not _VARIABLE_NAME.fullmatch(name):
            raise InvalidVariableNameError(name)


# --- the expression language ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Func:
    """A `${...}` expression: the variable, the operator ("" for a plain read) and the operator's
    arguments, each a list of parts (text or nested expressions) to concatenate."""

    name: str
    op: str
    args: tuple[tuple[str | _Func, ...], ...]


def _is_ident_char(char: str) -> bool:
    # Go's unicode.IsLetter / unicode.IsDigit (Nd) / '_'.
    return char.isalpha() or char.isdecimal() or char == "_"


class _Parser:
    """Recursive descent over the text, one expression at a time (see the module docstring for
    the grammar; the scanning rules mirror the envsubst dialect Flux uses, so that edge cases
    such as `$$` or a `}` inside a replace pattern come out the same)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # helpers
    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _at_open(self) -> bool:
        return self.text.startswith("${", self.pos)

    def _error(self, what: str) -> SubstitutionSyntaxError:
        start = self.text.rfind("${", 0, self.pos + 1)
        snippet = self.text[start if start >= 0 else self.pos :][:40].split("\n")[0]
        return SubstitutionSyntaxError(f"{what} at {snippet!r}")

    def _expect_close(self) -> None:
        if self._peek() != "}":
            raise self._error("bad substitution")
        self.pos += 1

    # grammar
    def parse(self) -> list[str | _Func]:
        parts: list[str | _Func] = []
        text: list[str] = []
        while self.pos < len(self.text):
            if self._at_open():
                if text:
                    parts.append("".join(text))
                    text = []
                self.pos += 2
                parts.append(self._func())
            elif self.text.startswith("$$", self.pos):
                text.append("$")
                self.pos += 2
            else:
                text.append(self.text[self.pos])
                self.pos += 1
        if text:
            parts.append("".join(text))
        return parts

    def _name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and _is_ident_char(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def _func(self) -> _Func:
        if self._peek() == "#":
            self.pos += 1
            name = self._name()
            if not name:
                raise self._error("bad substitution")
            self._expect_close()
            return _Func(name, "#", ())
        name = self._name()
        if not name:
            raise self._error("unable to parse variable name")
        char = self._peek()
        if char == ":":
            if self._peek(1) in ("=", "-", "?", "+") and self._peek(1):
                op = ":" + self._peek(1)
                self.pos += 2
                return self._default(name, op)
            self.pos += 1
            return self._substring(name)
        if char == "=":
            self.pos += 1
            return self._default(name, "=")
        if char in (",", "^"):
            return self._casing(name)
        if char == "/":
            return self._replace(name)
        if char in ("#", "%"):
            return self._remove(name, char)
        if char == "}":
            self.pos += 1
            return _Func(name, "", ())
        raise self._error("missing closing brace")

    def _param(self, stop: str, *, escapes: bool) -> str | _Func:
        """One argument: a nested `${...}`, or text up to a character in `stop`, the start of a
        nested expression, or the end. Empty text is an error."""
        if self._at_open():
            self.pos += 2
            return self._func()
        chars: list[str] = []
        while self.pos < len(self.text):
            if self._at_open():
                break
            char = self.text[self.pos]
            following = self._peek(1)
            if escapes and char == "$" and following == "$":
                chars.append("$")
                self.pos += 2
                continue
            if escapes and char == "\\" and following in ("/", "\\") and following:
                chars.append(following)
                self.pos += 2
                continue
            if char in stop:
                break
            chars.append(char)
            self.pos += 1
        if not chars:
            raise self._error("unable to parse substitution within function")
        return "".join(chars)

    def _default(self, name: str, op: str) -> _Func:
        parts: list[str | _Func] = []
        while True:
            if self._peek() == "}":
                self.pos += 1
                return _Func(name, op, (tuple(parts),))
            if not self._peek():
                raise self._error("unable to parse substitution within function")
            parts.append(self._param("}", escapes=False))

    def _substring(self, name: str) -> _Func:
        args = [(self._param(":}", escapes=False),)]
        if self._peek() == "}":
            self.pos += 1
            return _Func(name, ":", tuple(args))
        if self._peek() != ":":
            raise self._error("bad substitution")
        while self._peek() == ":":
            self.pos += 1
        args.append((self._param("}", escapes=False),))
        self._expect_close()
        return _Func(name, ":", tuple(args))

    def _casing(self, name: str) -> _Func:
        start = self.pos
        while self.pos - start < 2 and self._peek() in (",", "^") and self._peek():
            self.pos += 1
        op = self.text[start : self.pos]
        self._expect_close()
        return _Func(name, op, ())

    def _remove(self, name: str, char: str) -> _Func:
        start = self.pos
        while self.pos - start < 2 and self._peek() == char:
            self.pos += 1
        op = self.text[start : self.pos]
        pattern = self._param("}", escapes=False)
        self._expect_close()
        return _Func(name, op, ((pattern,),))

    def _replace(self, name: str) -> _Func:
        self.pos += 1  # the first '/'
        op = "/"
        if self._peek() in ("/", "#", "%") and self._peek():
            op += self._peek()
            self.pos += 1
        pattern: str | _Func = "" if self._peek() == "/" else self._param("/", escapes=True)
        if self._peek() != "/":
            raise self._error("bad substitution")
        while self._peek() == "/":
            self.pos += 1
        if self._peek() == "}":
            self.pos += 1
            return _Func(name, op, ((pattern,),))
        replacement = self._param("}", escapes=True)
        self._expect_close()
        return _Func(name, op, ((pattern,), (replacement,)))


# --- evaluation -------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str] | None:
    """A shell glob as a regex: `*` any run of characters (`/` included), `?` one character,
    `[...]` a class (`[!...]`/`[^...]` negated), `\\x` a literal x. None when malformed."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\":
            if i + 1 >= len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = i + 1
            if end < len(pattern) and pattern[end] in "!^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            while end < len(pattern) and pattern[end] != "]":
                end += 1
            if end >= len(pattern):
                return None
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    regex = _glob_regex(pattern)
    if regex is None:
        return value
    lengths = range(len(value), 0, -1) if longest else range(1, len(value) + 1)
    for length in lengths:
        piece = value[:length] if prefix else value[len(value) - length :]
        if regex.fullmatch(piece):
            return value[length:] if prefix else value[: len(value) - length]
    return value


_INTEGER = re.compile(r"[-+]?[0-9]+")


def _substring(value: str, args: Sequence[str]) -> str:
    data = value.encode()
    if not _INTEGER.fullmatch(args[0]):
        return value
    pos = int(args[0])
    if pos < 0:
        pos = max(len(data) + pos, 0)
    if len(args) == 1:
        return data[pos:].decode("utf-8", "replace")
    if not _INTEGER.fullmatch(args[1]):
        return value
    length = int(args[1])
    if length < 0:
        end = len(data) + length
        return "" if end < pos else data[pos:end].decode("utf-8", "replace")
    return data[pos : pos + length].decode("utf-8", "replace")


def _upper(text: str) -> str:
    # One character in, one out (Go's strings.ToUpper never makes 'ß' into 'SS').
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def _lower(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _apply(op: str, value: str, args: list[str]) -> str:
    if op in _DEFAULT_OPS or op == "":
        return value if value or not args else "".join(args)
    if op == "#":
        return str(len(value.encode())) if not args else _trim(value, args[0], prefix=True, longest=False)
    if op == "##":
        return _trim(value, args[0], prefix=True, longest=True)
    if op == "%":
        return _trim(value, args[0], prefix=False, longest=False)
    if op == "%%":
        return _trim(value, args[0], prefix=False, longest=True)
    if op == ":":
        return _substring(value, args)
    if op in ("/", "//"):
        new = args[1] if len(args) > 1 else ""
        return value.replace(args[0], new, 1 if op == "/" else -1)
    if op == "/#":
        if len(args) == 2 and value.startswith(args[0]):
            return args[1] + value[len(args[0]) :]
        return value
    if op == "/%":
        if len(args) == 2 and value.endswith(args[0]):
            return value[: len(value) - len(args[0])] + args[1]
        return value
    if op == "^":
        return _upper(value[:1]) + value[1:]
    if op == "^^":
        return _upper(value)
    if op == ",":
        return _lower(value[:1]) + value[1:]
    if op == ",,":
        return _lower(value)
    return value  # a mixed casing operator such as ",^" leaves the value alone


class _Evaluator:
    def __init__(self, variables: Mapping[str, str], strict: bool) -> None:
        self.variables = variables
        self.strict = strict

    def parts(self, parts: Iterable[str | _Func]) -> str:
        return "".join(p if isinstance(p, str) else self.func(p) for p in parts)

    def func(self, node: _Func) -> str:
        args = [self.parts(arg) for arg in node.args]
        if node.name not in self.variables:
            if self.strict and node.op not in _DEFAULT_OPS:
                raise UndefinedVariableError(node.name)
        return _apply(node.op, self.variables.get(node.name, ""), args)


def expand(text: str, variables: Mapping[str, str], *, strict: bool = False) -> str:
    """`text` with every `${...}` expression replaced (see the module docstring).

    Undefined variables read as empty strings, or raise `UndefinedVariableError` when `strict`.
    A malformed expression raises `SubstitutionSyntaxError`."""
    if "$" not in text:
        return text
    return _Evaluator(variables, strict).parts(_Parser(text).parse())


# --- objects ------------------------------------------------------------------------------------


def substitute_object(
    obj: Mapping[str, Any], variables: Mapping[str, str], *, strict: bool = False
) -> dict[str, Any]:
    """One object with its variables substituted in its YAML text, read back as an object.

    An object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` comes back
    unchanged. Errors name the object."""
    if is_disabled(obj, KUSTOMIZE_SUBSTITUTE_ANNOTATION):
        return dict(obj)
    where = describe(obj)
    try:
        text = expand(dump_object(obj), variables, strict=strict)
    except UndefinedVariableError as err:
        raise UndefinedVariableError(err.name, f"{where}: {err}") from None
    except SubstitutionError as err:
        raise type(err)(f"{where}: variable substitution failed: {err}") from None
    try:
        documents = load_documents(text, source=f"{where} after substitution")
    except ManifestError as err:
        raise SubstitutionError(str(err)) from None
    if len(documents) != 1:
        raise SubstitutionError(
            f"{where}: substitution produced {len(documents)} objects instead of one"
        )
    return documents[0]


def substitute_objects(
    objects: Iterable[Mapping[str, Any]],
    variables: Mapping[str, str],
    *,
    strict: bool = False,
    force: bool = False,
) -> list[dict[str, Any]]:
    """`spec.postBuild` over a build: every object through `substitute_object`.

    Runs only when `variables` is not empty (as Flux: with no variable defined, even
    `${var:=default}` stays as written) or `force` is set; otherwise the objects come back as
    they are. Variable names are checked first (`InvalidVariableNameError`)."""
    objects = [dict(obj) for obj in objects]
    if not variables and not force:
        return objects
    validate_variable_names(variables)
    return [substitute_object(obj, variables, strict=strict) for obj in objects]
