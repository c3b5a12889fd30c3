"""CEL for Receivers and Providers: `spec.resourceFilter` and `spec.resources[].filter` (booleans over
`res`, the object, `req`, the call's JSON body, and for generic-oidc `claims`), and the
generic-oidc issuers' `variables` (any value, over `claims` and the `vars` before) and
`validations` (booleans over `claims` and `vars`); a commit status Provider's
`commitStatusExpr` (a string over `event`, `provider` and `alert`). Pure, no I/O.

An expression is compiled once (`compile_expression`, cached) and checked to use only the
variables its place declares, so `claims` in a filter of a Receiver that is not generic-oidc
is an invalid expression, as in Flux. The CEL implementation is the runtime's (cel-python
with cel-go's optional types and the string functions of Flux's CEL environment: `split`,
`lowerAscii`, `trim`, `substring`, ..., and `first()`/`last()`, which give optionals, so
`x.split('-').first().value()` reads as in Flux's examples). Messages never
carry the values an expression was evaluated with (claims, request bodies).
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

    from afflux.controllers.runtime import cel_parse, cel_program  # noqa: PLC0415

    if len(expression) > MAX_EXPRESSION:
        raise CELError(f"longer than {MAX_EXPRESSION} characters")
    try:
        tree = cel_parse(expression)
    except celpy.CELParseError as err:
        raise CELError(" ".join(str(err).split())[:300]) from None
    undeclared = sorted((_identifiers(tree) & _KNOWN_VARIABLES) - set(variables))
    if undeclared:
        raise CELError(f"undeclared reference to {', '.join(undeclared)} (here only "
                       f"{', '.join(variables)})")
    return cel_program(tree)


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
