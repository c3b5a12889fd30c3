"""CEL for Receivers and Providers: `spec.resourceFilter` and `spec.resources[].filter` (booleans over
`res`, the object, `req`, the call's JSON body, and for generic-oidc `claims`), and the
generic-oidc issuers' `variables` (any value, over `claims` and the `vars` before) and
`validations` (booleans over `claims` and `vars`); a commit status Provider's
`commitStatusExpr` (a string over `event`, `provider` and `alert`). Pure, no I/O.

An expression is compiled once (`compile_expression`, cached) and checked to use only the
variables its place declares, so `claims` in a filter of a Receiver that is not generic-oidc
is an invalid expression, as in Flux. The CEL implementation is cel-python (`celpy`), with
the string functions Flux's CEL environment has and celpy lacks (`split`, `lowerAscii`,
`upperAscii`, `trim`, `replace`, `join`, and `first()`/`last()` with `.value()`, which here
give the element itself rather than an optional). Messages never carry the values an expression was
evaluated with (claims, request bodies).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CELError", "compile_expression", "evaluate", "evaluate_bool"]

#: identifiers that are variables somewhere; an expression may use only its place's
_KNOWN_VARIABLES = frozenset({"res", "req", "claims", "vars", "event", "provider", "alert"})
#: longest expression taken (Flux's CRD has no limit; this bounds the parse)
MAX_EXPRESSION = 4096


class CELError(ValueError):
    """An expression that does not compile, or whose evaluation fails or is not a boolean."""


def _short(err: BaseException) -> str:
    """The first line of a celpy error, without the activation it dumps (which holds the
    values: claims, request bodies)."""
    text = str(err.args[0]) if err.args else str(err)
    return " ".join(text.split(" (in activation")[0].split())[:300]


def _functions() -> dict[str, Any]:
    from celpy import celtypes  # noqa: PLC0415 - only Receivers with CEL need it

    def split(text: Any, sep: Any, limit: Any = -1) -> Any:
        parts = str(text).split(str(sep)) if int(limit) < 0 else str(text).split(
            str(sep), max(int(limit) - 1, 0))
        return celtypes.ListType([celtypes.StringType(p) for p in parts])

    def join(items: Any, sep: Any = "") -> Any:
        return celtypes.StringType(str(sep).join(str(i) for i in items))

    return {
        "split": split,
        "join": join,
        "lowerAscii": lambda s: celtypes.StringType(str(s).lower()),
        "upperAscii": lambda s: celtypes.StringType(str(s).upper()),
        "trim": lambda s: celtypes.StringType(str(s).strip()),
        "replace": lambda s, old, new: celtypes.StringType(str(s).replace(str(old), str(new))),
        # cel-go's optional list accessors, as Flux's examples use them
        # (`x.split('-').first().value()`): here the element itself, an error when empty
        "first": lambda items: items[0],
        "last": lambda items: items[-1],
        "value": lambda item: item,
    }


def _identifiers(tree: Any) -> set[str]:
    """The plain identifiers of a parsed expression (not member names after a dot)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        children = getattr(node, "children", None)
        if children is None:
            continue
        if getattr(node, "data", None) in ("ident", "ident_arg"):
            for child in children:
                if getattr(child, "type", None) == "IDENT":
                    found.add(str(child))
        stack.extend(children)
    return found


@functools.lru_cache(maxsize=512)
def _program(expression: str, variables: tuple[str, ...]) -> Any:
    import celpy  # noqa: PLC0415

    if len(expression) > MAX_EXPRESSION:
        raise CELError(f"longer than {MAX_EXPRESSION} characters")
    env = celpy.Environment()
    try:
        tree = env.compile(expression)
    except celpy.CELParseError as err:
        raise CELError(" ".join(str(err).split())[:300]) from None
    undeclared = sorted((_identifiers(tree) & _KNOWN_VARIABLES) - set(variables))
    if undeclared:
        raise CELError(f"undeclared reference to {', '.join(undeclared)} (here only "
                       f"{', '.join(variables)})")
    return env.program(tree, functions=_functions())


def compile_expression(expression: str, variables: Iterable[str]) -> Any:
    """The compiled expression; `CELError` saying why it does not compile."""
    return _program(expression, tuple(variables))


def evaluate(program: Any, values: Mapping[str, Any]) -> Any:
    """The expression's value (a celpy value) for `values` (JSON-like)."""
    import celpy  # noqa: PLC0415

    activation = {k: celpy.json_to_cel(v) for k, v in values.items()}
    try:
        result = program.evaluate(activation)
    except celpy.CELEvalError as err:
        raise CELError(_short(err)) from None
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise CELError(f"{type(err).__name__}") from None
    if isinstance(result, celpy.CELEvalError):
        raise CELError(_short(result))
    return result


def evaluate_bool(program: Any, values: Mapping[str, Any]) -> bool:
    """The boolean the expression gives; `CELError` if it gives something else."""
    from celpy import celtypes  # noqa: PLC0415

    result = evaluate(program, values)
    if not isinstance(result, celtypes.BoolType):
        raise CELError(f"the result is {type(result).__name__}, not a boolean")
    return bool(result)
