"""CEL as Flux's environment has it: cel-python (`celpy`) with cel-go's optional types and
extensions.

Flux builds every CEL environment (fluxcd/pkg `runtime/cel`: health checks, readyExpr,
Receiver filters, commit status expressions) with cel-go's `OptionalTypes()` and its
`Strings`, `Sets` and `Encoders` extensions. cel-python 0.5 (the newest) has none of them,
so this module extends it without changing it:

- the grammar is celpy's own `cel.lark`, read from the installed package, with rules
  added: `member "." "?" IDENT` (optional field selection, `a.?b`), `member "[" "?" expr
  "]"` (optional index, `m[?'k']`, `l[?0]`), and optional entries in list and map literals
  (`[?x]`, `{?k: v}`: celpy's `list_lit` and `mapinits` rules rewritten to take them),
  compiled into a parser of our own (celpy's parser is left as it is);
- the evaluator is a subclass of celpy's: it evaluates those rules (an optional entry is
  there when its optional has a value), the functions `optional.of(x)`, `optional.none()`,
  `optional.ofNonZeroValue(x)`, `optional.unwrap(l)` and the methods `hasValue()`,
  `value()`, `orValue(default)`, `or(other)` (these two evaluate their argument only when
  the optional is empty, as cel-go), `optMap(x, expr)`, `optFlatMap(x, expr)`. Selecting a
  field of, or indexing, an optional gives an optional, so `a.?b.c` is `optional.none()`
  when `b` or `c` is missing, as cel-go's attribute chains; and the namespaced functions of
  the extensions (`strings.quote`, `sets.contains`, `sets.equivalent`, `sets.intersects`,
  `base64.encode`, `base64.decode`: `_cel_ext`);
- functions: `list.first()`, `list.last()` (optionals), `list.unwrapOpt()` and the string
  functions of cel-go's `Strings` extension (`split`, `join`, `lowerAscii`, `upperAscii`,
  `trim`, `replace`, `charAt`, `indexOf`, `lastIndexOf`, `substring`, `reverse`, indices
  in code points as cel-go's; `format`: `_cel_ext`).

Why the grammar and not a rewrite of the text into plain CEL: a rewrite needs its own
scanner for CEL's strings, comments and nesting to find the `.?` that are operators, and a
chain that turns into `optional.none()` has no plain-CEL spelling that does not evaluate
subexpressions twice; a grammar rule is parsed with everything else, and reports syntax
errors with the same positions.

`.value()` of `optional.none()` is an evaluation error (as cel-go). Parse and evaluation
errors are celpy's `CELParseError` and `CELEvalError`, so callers catch what they did.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Callable, Mapping
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParser
from celpy.evaluation import CELEvalError, Evaluator

from ._cel_ext import NAMESPACED, CelFunctionError, format_string

__all__ = ["CelOptional", "cel_parse", "cel_program"]

_MISSING = object()
_ABSENT = object()  # an optional entry of a literal without a value
#: the namespaces of the extensions' functions (`strings.quote`, `sets.contains`, ...)
_NAMESPACES = ("strings", "sets", "base64")


class CelOptional:
    """A CEL optional value: `optional.of(x)` or `optional.none()`."""

    __slots__ = ("_value",)

    def __init__(self, value: Any = _MISSING) -> None:
        self._value = value

    @property
    def has_value(self) -> bool:
        return self._value is not _MISSING

    @property
    def value(self) -> Any:
        if self._value is _MISSING:
            raise ValueError("optional.none() dereference")
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CelOptional):
            return False
        if not (self.has_value and other.has_value):
            return self.has_value == other.has_value
        return bool(self._value == other._value)

    def __hash__(self) -> int:
        return hash(("optional", self._value)) if self.has_value else hash("optional.none")

    def __repr__(self) -> str:
        return f"optional.of({self._value!r})" if self.has_value else "optional.none()"


NONE = CelOptional()

#: the rules added to celpy's grammar
_RULES = """
member_dot_opt : member "." "?" IDENT
member_index_opt : member "[" "?" expr "]"
listelems : listelem ("," listelem)*
?listelem : expr | opt_entry
?mapkey : expr | opt_entry
opt_entry : "?" expr
"""
_MEMBER = re.compile(r"^(member\s*:.*)$", re.M)
#: celpy's list and map literal rules, rewritten to take optional entries (`[?x]`, `{?k: v}`)
_LITERALS = (
    (re.compile(r"^list_lit\s*:.*$", re.M), 'list_lit : "[" [listelems] "]"'),
    (re.compile(r"^mapinits\s*:.*$", re.M),
     'mapinits : mapkey ":" expr ("," mapkey ":" expr)*'),
)


@functools.cache
def _parser() -> lark.Lark:
    grammar = importlib.resources.files("celpy").joinpath("cel.lark").read_text()
    grammar, count = _MEMBER.subn(r"\1 | member_dot_opt | member_index_opt", grammar)
    counts = [count]
    for rule, replacement in _LITERALS:
        grammar, count = rule.subn(replacement, grammar)
        counts.append(count)
    if counts != [1] * len(counts):
        raise RuntimeError("cel-python's grammar has no single `member`, `list_lit` or "
                           "`mapinits` rule to extend; this cel-python version is not "
                           "supported")
    # celpy's parser options, so that the trees are the ones its evaluator reads
    return lark.Lark(grammar + _RULES, parser="lalr", start="expr", g_regex_flags=re.M,
                     lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
                     propagate_positions=True, maybe_placeholders=False, priority="invert")


def cel_parse(expression: str) -> lark.Tree:
    """The parse tree of `expression`; celpy's `CELParseError` if it is not CEL."""
    try:
        return _parser().parse(expression)
    except (lark.exceptions.UnexpectedToken, lark.exceptions.UnexpectedCharacters) as ex:
        raise celpy.CELParseError(ex.get_context(expression), *ex.args, line=ex.line,
                                  column=ex.column) from None
    except lark.exceptions.LarkError as ex:
        raise celpy.CELParseError(str(ex).splitlines()[0] if str(ex) else type(ex).__name__
                                  ) from None


class _Box:
    """A value already evaluated, in place of the subtree it came from."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _is_zero(value: Any) -> bool:
    if value is None or isinstance(value, CelOptional):
        return value is None or not value.has_value
    try:
        return not bool(value)
    except (TypeError, ValueError):
        return False


def _is_index(value: Any) -> bool:
    return isinstance(value, (celtypes.IntType, celtypes.UintType, int)) and not isinstance(
        value, (bool, celtypes.BoolType))


def _present(container: Any, key: Any, tree: lark.Tree) -> CelOptional | CELEvalError:
    """`container[key]` as an optional: none when the key or index is not there."""
    if isinstance(container, Mapping):
        try:
            return CelOptional(container[key]) if key in container else NONE
        except TypeError:
            pass
    elif isinstance(container, list) and _is_index(key):
        index = int(key)
        return CelOptional(container[index]) if 0 <= index < len(container) else NONE
    return CELEvalError(f"no such overload: {type(container).__name__} has no optional "
                        f"field or index {key!r}", TypeError, None, tree=tree)


def _lookup(member: Any, key: Any, tree: lark.Tree) -> Any:
    """`member[key]` as an optional (`.?`, `[?]`, and a plain selection or index of an
    optional): an error stays the error, an empty optional stays empty, an optional's value
    is looked into."""
    for value in (member, key):
        if isinstance(value, CELEvalError):
            return value
    if isinstance(member, CelOptional):
        if not member.has_value:
            return member
        member = member.value
    return _present(member, key, tree)


_OPTIONAL_METHODS = frozenset({"hasValue", "value", "orValue", "or", "optMap", "optFlatMap"})


class _Evaluator(Evaluator):
    """celpy's evaluator with cel-go's optional types."""

    def sub_evaluator(self, ast: lark.Tree) -> Evaluator:
        return _Evaluator(ast, activation=self.activation)

    def resolved(self, tree: lark.Tree) -> Any:
        return tree.children[0].value

    @staticmethod
    def _resolved(tree: lark.Tree, member: Any) -> lark.Tree:
        """`tree` with its member subtree replaced by the member's value, for celpy's own
        rules (so the member is not evaluated twice)."""
        return lark.Tree(tree.data, [lark.Tree("resolved", [_Box(member)]),
                                     *tree.children[1:]], meta=tree.meta)

    def _arguments(self, tree: lark.Tree) -> list[Any] | CELEvalError:
        if len(tree.children) < 3:
            return []
        values = self.visit_children(tree.children[2])
        for value in values:
            if isinstance(value, CELEvalError):
                return value
        return list(values)

    def member_dot(self, tree: lark.Tree) -> Any:
        member = self.visit(tree.children[0])
        if isinstance(member, CelOptional):
            return _lookup(member, celtypes.StringType(tree.children[1].value), tree)
        return super().member_dot(self._resolved(tree, member))

    def member_dot_opt(self, tree: lark.Tree) -> Any:
        return _lookup(self.visit(tree.children[0]),
                       celtypes.StringType(tree.children[1].value), tree)

    def member_index(self, tree: lark.Tree) -> Any:
        member = self.visit(tree.children[0])
        if isinstance(member, CelOptional):
            return _lookup(member, self.visit(tree.children[1]), tree)
        return super().member_index(self._resolved(tree, member))

    def member_index_opt(self, tree: lark.Tree) -> Any:
        return _lookup(self.visit(tree.children[0]), self.visit(tree.children[1]), tree)

    def listelems(self, tree: lark.Tree) -> Any:
        """A list literal's elements; `?x` (an optional) is there when it has a value."""
        values = []
        for child in tree.children:
            value = self._entry(child)
            if isinstance(value, CELEvalError):
                return value
            if value is not _ABSENT:
                values.append(value)
        return celtypes.ListType(values)

    def mapinits(self, tree: lark.Tree) -> Any:
        """A map literal's entries; `?k: v` (v an optional) is there when v has a value."""
        result = celtypes.MapType()
        children = tree.children
        for key_tree, value_tree in zip(children[0::2], children[1::2], strict=True):
            optional = _is_optional_entry(key_tree)
            key = self.visit(key_tree.children[0] if optional else key_tree)
            if isinstance(key, CELEvalError):
                return key
            value = self._entry(lark.Tree("opt_entry", [value_tree], meta=key_tree.meta)
                                if optional else value_tree)
            if isinstance(value, CELEvalError):
                return value
            if value is _ABSENT:
                continue
            try:
                if key in result:
                    return CELEvalError(f"Failed with repeated key {key!r}", ValueError,
                                        None, tree=tree)
                result[key] = value
            except TypeError as err:
                return CELEvalError(f"unsupported key type: {err}", TypeError, None,
                                    tree=tree)
        return result

    def _entry(self, tree: Any) -> Any:
        """A literal's element: its value, or for an optional entry (`opt_entry`) the
        optional's value, `_ABSENT` when it has none."""
        if not _is_optional_entry(tree):
            return self.visit(tree)
        value = self.visit(tree.children[0])
        if isinstance(value, CELEvalError):
            return value
        if not isinstance(value, CelOptional):
            return CELEvalError(f"no such overload: an optional entry ('?') of "
                                f"{type(value).__name__}, not an optional", TypeError, None,
                                tree=tree)
        return value.value if value.has_value else _ABSENT

    def member_dot_arg(self, tree: lark.Tree) -> Any:
        member_tree, method = tree.children[:2]
        name = str(method.value)
        if _is_ident(member_tree, "optional"):
            return self._optional_function(name, tree)
        namespace = next((n for n in _NAMESPACES if _is_ident(member_tree, n)), None)
        if namespace is not None:
            return self._namespaced_function(f"{namespace}.{name}", tree)
        member = self.visit(member_tree)
        if isinstance(member, CELEvalError):
            return member
        if isinstance(member, CelOptional):
            return self._optional_method(member, name, tree)
        if name in _OPTIONAL_METHODS:
            return CELEvalError(f"no such overload: {name}() of {type(member).__name__}, "
                                "not an optional", TypeError, None, tree=tree)
        return super().member_dot_arg(self._resolved(tree, member))

    def _optional_function(self, name: str, tree: lark.Tree) -> Any:
        args = self._arguments(tree)
        if isinstance(args, CELEvalError):
            return args
        if name == "none" and not args:
            return NONE
        if name == "of" and len(args) == 1:
            return CelOptional(args[0])
        if name == "ofNonZeroValue" and len(args) == 1:
            return NONE if _is_zero(args[0]) else CelOptional(args[0])
        if name == "unwrap" and len(args) == 1:
            try:
                return _unwrap(args[0])
            except TypeError as err:
                return CELEvalError(f"no such overload: {err}", TypeError, None, tree=tree)
        return CELEvalError(f"undeclared reference to 'optional.{name}' (with {len(args)} "
                            "arguments)", KeyError, None, tree=tree)

    def _namespaced_function(self, name: str, tree: lark.Tree) -> Any:
        """`strings.quote(...)`, `sets.*(...)`, `base64.*(...)` (`_cel_ext.NAMESPACED`)."""
        args = self._arguments(tree)
        if isinstance(args, CELEvalError):
            return args
        function = NAMESPACED.get(name)
        if function is None:
            return CELEvalError(f"undeclared reference to '{name}' (with {len(args)} "
                                "arguments)", KeyError, None, tree=tree)
        return _checked(function)(*args)

    def _optional_method(self, member: CelOptional, name: str, tree: lark.Tree) -> Any:
        arity = len(tree.children[2].children) if len(tree.children) > 2 else 0
        expected = {"hasValue": 0, "value": 0, "orValue": 1, "or": 1, "optMap": 2,
                    "optFlatMap": 2}.get(name)
        if expected is None or arity != expected:
            return CELEvalError(f"no such overload: {name}() with {arity} arguments of an "
                                "optional", TypeError, None, tree=tree)
        if name == "hasValue":
            return celtypes.BoolType(member.has_value)
        if name == "value":
            return member.value if member.has_value else CELEvalError(
                "optional.none() dereference", ValueError, None, tree=tree)
        if name in ("orValue", "or"):
            if member.has_value:
                return member.value if name == "orValue" else member
            other = self.visit(tree.children[2].children[0])
            if name == "or" and not isinstance(other, (CelOptional, CELEvalError)):
                return CELEvalError("no such overload: or() takes an optional",
                                    TypeError, None, tree=tree)
            return other
        # optMap / optFlatMap: the expression with the variable bound to the value
        if not member.has_value:
            return member
        if not _is_ident(tree.children[2].children[0], None):
            return CELEvalError(f"{name}() needs a variable name first", TypeError, None,
                                tree=tree)
        try:
            result = self.build_macro_eval(tree)(member.value)
        except CELEvalError as err:
            return err
        if name == "optMap":
            return CelOptional(result)
        if not isinstance(result, CelOptional):
            return CELEvalError("no such overload: optFlatMap() must give an optional",
                                TypeError, None, tree=tree)
        return result


def _is_optional_entry(tree: Any) -> bool:
    return isinstance(tree, lark.Tree) and tree.data == "opt_entry"


def _checked(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` of `_cel_ext`, its refusal (or a wrong number of arguments) an evaluation
    error with its message."""
    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except CelFunctionError as err:
            return CELEvalError(str(err), ValueError, None)
        except TypeError as err:
            return CELEvalError(f"no such overload: {err}", TypeError, None)
    return call


def _is_ident(tree: Any, name: str | None) -> bool:
    """Whether `tree` is a bare identifier (`name`, or any when None)."""
    while isinstance(tree, lark.Tree) and tree.data in (
            "expr", "conditionalor", "conditionaland", "relation", "addition",
            "multiplication", "unary", "member", "primary") and len(tree.children) == 1:
        tree = tree.children[0]
    if not (isinstance(tree, lark.Tree) and tree.data == "ident"):
        return False
    return name is None or str(tree.children[0]) == name


def _unwrap(items: Any) -> Any:
    if not isinstance(items, list) or not all(isinstance(i, CelOptional) for i in items):
        raise TypeError("unwrap takes a list of optionals")
    return celtypes.ListType([i.value for i in items if i.has_value])


def _first(items: Any) -> CelOptional:
    if not isinstance(items, list):
        raise TypeError("first() takes a list")
    return CelOptional(items[0]) if items else NONE


def _last(items: Any) -> CelOptional:
    if not isinstance(items, list):
        raise TypeError("last() takes a list")
    return CelOptional(items[-1]) if items else NONE


def _split(text: Any, sep: Any, limit: Any = -1) -> Any:
    parts = str(text).split(str(sep)) if int(limit) < 0 else str(text).split(
        str(sep), max(int(limit) - 1, 0))
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _join(items: Any, sep: Any = "") -> Any:
    return celtypes.StringType(str(sep).join(str(i) for i in items))


def _out_of_range(what: str, index: int, text: str) -> CELEvalError:
    return CELEvalError(f"{what} out of range: {index} (size {len(text)})", IndexError, None)


def _char_at(text: Any, index: Any) -> Any:
    text, i = str(text), int(index)
    if not 0 <= i <= len(text):
        return _out_of_range("index", i, text)
    return celtypes.StringType(text[i:i + 1])


def _index_of(text: Any, sub: Any, offset: Any = 0) -> Any:
    text, i = str(text), int(offset)
    if not 0 <= i <= len(text):
        return _out_of_range("index", i, text)
    return celtypes.IntType(text.find(str(sub), i))


def _last_index_of(text: Any, sub: Any, offset: Any = None) -> Any:
    text, sub = str(text), str(sub)
    i = len(text) if offset is None else int(offset)
    if not 0 <= i <= len(text):
        return _out_of_range("index", i, text)
    return celtypes.IntType(text.rfind(sub, 0, i + len(sub)))


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    text, i = str(text), int(start)
    j = len(text) if end is None else int(end)
    if not 0 <= i <= j <= len(text):
        return _out_of_range("substring", i if not 0 <= i <= len(text) else j, text)
    return celtypes.StringType(text[i:j])


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> Any:
    return celtypes.StringType(str(text).replace(str(old), str(new), int(limit)))


#: functions every program has: cel-go's optional list functions and the string functions
#: of its Strings extension that celpy lacks (`-1` limits mean all, as there)
FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "first": _first,
    "last": _last,
    "unwrapOpt": _unwrap,
    "split": _split,
    "join": _join,
    "lowerAscii": lambda s: celtypes.StringType(str(s).lower()),
    "upperAscii": lambda s: celtypes.StringType(str(s).upper()),
    "trim": lambda s: celtypes.StringType(str(s).strip()),
    "replace": _replace,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "substring": _substring,
    "reverse": lambda s: celtypes.StringType(str(s)[::-1]),
    "format": _checked(format_string),
}


class _Runner(celpy.InterpretedRunner):
    """celpy's interpreter, with the optional-aware evaluator."""

    def evaluate(self, context: Any) -> Any:
        return _Evaluator(ast=self.ast, activation=self.new_activation()).evaluate(context)


@functools.cache
def _environment() -> celpy.Environment:
    return celpy.Environment(runner_class=_Runner)


def cel_program(tree: lark.Tree, functions: Mapping[str, Callable[..., Any]] | None = None
                ) -> Any:
    """A program of a parsed expression (`cel_parse`), with `FUNCTIONS` and `functions`;
    its `evaluate(activation)` gives a celpy value or raises `CELEvalError`."""
    return _environment().program(tree, functions={**FUNCTIONS, **(functions or {})})
