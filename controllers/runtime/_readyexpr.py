"""`spec.dependsOn[].readyExpr` (Kustomization and HelmRelease): a dependency's readiness,
said in CEL.

The expression sees two variables, the objects as JSON maps: `self` (the dependent, the
object whose spec lists the dependency) and `dep` (the dependency). By default it replaces
the built-in check (Ready=True at the current generation); with the operator's
`--feature-gates=AdditiveCELDependencyCheck=true` both must hold (the caller decides which).

`compile_ready_expr` checks an expression up front: one that does not parse is a
`ReadyExprError` (the reconciler stalls with `InvalidCELExpression` until the spec
changes). `ready_by_expr` evaluates it: True/False, or a `ReadyExprError` when the
expression cannot be evaluated on these objects (a field it reads is missing, the result
is not a boolean): the dependency counts as not ready, with that message, and the check
is retried. Pure; the CEL implementation and the compile cache are `_healthexprs`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._healthexprs import _evaluate, _program

__all__ = ["ADDITIVE_CEL_DEPENDENCY_CHECK_GATE", "ReadyExprError", "compile_ready_expr",
           "ready_by_expr"]

#: the feature gate that makes readyExpr add to the built-in check instead of replacing it
ADDITIVE_CEL_DEPENDENCY_CHECK_GATE = "AdditiveCELDependencyCheck"


class ReadyExprError(ValueError):
    """A readyExpr that does not compile, or cannot be evaluated on the objects."""


def compile_ready_expr(expression: str, where: str) -> Any:
    """The compiled program of `expression`; `where` names it in the error
    (e.g. `spec.dependsOn[0].readyExpr`)."""
    import celpy  # noqa: PLC0415 - only objects with a readyExpr need CEL

    try:
        return _program(expression)
    except celpy.CELParseError as err:
        detail = " ".join(str(err).split())
        raise ReadyExprError(f"{where}: invalid CEL expression {expression!r}: {detail}; "
                             "it sees 'self' (this object) and 'dep' (the dependency) and "
                             "must give a boolean") from None


def ready_by_expr(program: Any, self_body: Mapping[str, Any], dep_body: Mapping[str, Any]
                  ) -> bool:
    """Whether the compiled readyExpr holds for `self_body` and `dep_body`."""
    import celpy  # noqa: PLC0415

    activation = {"self": celpy.json_to_cel(_plain(self_body)),
                  "dep": celpy.json_to_cel(_plain(dep_body))}
    outcome = _evaluate(program, activation)
    if isinstance(outcome, str):
        raise ReadyExprError(outcome)
    return outcome


def _plain(value: Any) -> Any:
    """A JSON-shaped copy (mappings as dicts) that `json_to_cel` accepts."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
