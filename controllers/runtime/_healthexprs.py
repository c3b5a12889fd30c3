"""`spec.healthCheckExprs` (Kustomization and HelmRelease): the health of custom resources,
said in CEL.

Each entry names an `apiVersion` and `kind` and gives CEL expressions over the object (its
top-level fields are the variables: `metadata`, `spec`, `status`, ...): `current`
(required), `inProgress` and `failed` (optional).

Which entry judges an object (`expr_group_kind`, as Flux's status poller): the entry's group
(the part of `apiVersion` before the `/`; none for `v1`) and kind, compared with the
object's; the version is not compared, so an entry for `example.dev/v1` also judges an
object served as `example.dev/v2`. When several entries name one group and kind, the first
one is used. An object no entry names is read by the caller's rules (kstatus).

For an object of that kind the generic rules come first, as kstatus reads any object: being
deleted is Terminating, an observedGeneration behind the generation is InProgress, a
`Reconciling=True` or `Stalled=True` condition is InProgress or Failed. Then the
expressions, in this order: `inProgress` true is InProgress, `failed` true is Failed,
`current` true is Current, none of them InProgress. An expression that cannot be evaluated
on the object (a field it reads is not there yet, `.value()` of an empty optional, a result
that is not a boolean) counts as InProgress with the error as its message, so the health
check waits and, at its timeout, says why. Use `has(...)` or the optional syntax
(`status.?phase.orValue('')`) for fields that appear late.

`compile_health_exprs` checks every expression up front, also those of an entry that a
former one for the same kind shadows: one that does not parse is a `HealthExprError`
naming the entry and the field (the reconciler stalls with `InvalidCELExpression` until the
spec changes). Compiled programs are cached by their text.

The CEL implementation is `_cel` (cel-python with cel-go's optional types), imported when
an object first has health expressions.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from ._kstatus import HealthResult, HealthStatus, generic_status

__all__ = ["HealthExprError", "HealthExprs", "compile_health_exprs", "expr_group_kind"]


class HealthExprError(ValueError):
    """An expression of spec.healthCheckExprs does not compile."""


def expr_group_kind(api_version: str, kind: str) -> tuple[str, str]:
    """The (group, kind) by which an entry and an object are matched: the group is what
    precedes the `/` of apiVersion (`""` for the core group's `v1`); an apiVersion with
    more than one `/` is no group/version at all, and names the core group, as Kubernetes'
    parser leaves it."""
    if api_version.count("/") == 1:
        return api_version.split("/", 1)[0], kind
    return "", kind


@functools.lru_cache(maxsize=256)
def _program(expression: str) -> Any:
    from ._cel import cel_parse, cel_program  # noqa: PLC0415 - only some objects need CEL

    return cel_program(cel_parse(expression))


def _compile(expression: str, where: str) -> Any:
    import celpy  # noqa: PLC0415

    try:
        return _program(expression)
    except celpy.CELParseError as err:
        detail = " ".join(str(err).split())
        raise HealthExprError(f"{where}: invalid CEL expression {expression!r}: {detail}") \
            from None


@dataclasses.dataclass(frozen=True)
class _KindExprs:
    current: Any
    in_progress: Any | None
    failed: Any | None


def _evaluate(program: Any, activation: Any) -> bool | str:
    """True/False, or why the expression gave no boolean."""
    import celpy  # noqa: PLC0415
    from celpy import celtypes  # noqa: PLC0415

    try:
        result = program.evaluate(activation)
    except celpy.CELEvalError as err:
        return str(err.args[0]) if err.args else str(err)
    if isinstance(result, celpy.CELEvalError):
        return str(result.args[0]) if result.args else str(result)
    if not isinstance(result, celtypes.BoolType):
        return f"the result is {type(result).__name__}, not a boolean"
    return bool(result)


@dataclasses.dataclass(frozen=True)
class HealthExprs:
    """The compiled expressions by (group, kind) (`expr_group_kind`)."""

    by_kind: Mapping[tuple[str, str], _KindExprs]

    def covers(self, api_version: str, kind: str) -> bool:
        return expr_group_kind(api_version, kind) in self.by_kind

    def __call__(self, obj: Mapping[str, Any]) -> HealthResult | None:
        """The object's health by its kind's expressions; None when no entry names its
        kind (the caller's usual rules apply)."""
        exprs = self.by_kind.get(expr_group_kind(str(obj.get("apiVersion") or ""),
                                           str(obj.get("kind") or "")))
        if exprs is None:
            return None
        generic = generic_status(obj)
        if generic is not None:
            return generic
        import celpy  # noqa: PLC0415

        activation = celpy.json_to_cel(dict(obj))
        for name, program, status in (("inProgress", exprs.in_progress, HealthStatus.IN_PROGRESS),
                                      ("failed", exprs.failed, HealthStatus.FAILED),
                                      ("current", exprs.current, HealthStatus.CURRENT)):
            if program is None:
                continue
            outcome = _evaluate(program, activation)
            if isinstance(outcome, str):
                return HealthResult(HealthStatus.IN_PROGRESS,
                                    f"healthCheckExprs: the {name} expression failed to "
                                    f"evaluate: {outcome}")
            if outcome:
                return HealthResult(status, f"healthCheckExprs: the {name} expression is true")
        return HealthResult(HealthStatus.IN_PROGRESS,
                            "healthCheckExprs: no expression is true yet")


def compile_health_exprs(checks: Iterable[Any]) -> HealthExprs:
    """Compile spec.healthCheckExprs (api models or camelCase dicts); HealthExprError names
    the first expression that does not parse. The first entry of a group and kind wins."""
    by_kind: dict[tuple[str, str], _KindExprs] = {}
    for index, check in enumerate(checks):
        get = check.get if isinstance(check, Mapping) else None
        api_version = get("apiVersion") if get else check.api_version
        kind = get("kind") if get else check.kind
        texts = {
            "current": get("current") if get else check.current,
            "inProgress": get("inProgress") if get else check.in_progress,
            "failed": get("failed") if get else check.failed,
        }
        where = f"spec.healthCheckExprs[{index}] ({api_version} {kind})"
        if not texts["current"]:
            raise HealthExprError(f"{where}: the current expression is required")
        compiled = {name: _compile(text, f"{where}.{name}") if text else None
                    for name, text in texts.items()}
        by_kind.setdefault(expr_group_kind(str(api_version or ""), str(kind or "")), _KindExprs(
            compiled["current"], compiled["inProgress"], compiled["failed"]))
    return HealthExprs(by_kind)
