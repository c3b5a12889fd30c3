"""Reading one Flux object for a command, with the errors and hints users need (not found,
kind not served), and the shared way of naming it in messages."""

from __future__ import annotations

from typing import Any

from ._context import Context
from ._errors import NotFoundError
from ._kinds import Noun
from ._kube import KubeNotFound, resource_of

__all__ = ["describe", "get_object", "list_objects"]


def describe(noun: Noun, name: str, namespace: str) -> str:
    """`GitRepository 'flux-system/podinfo'`."""
    return f"{noun.kind.KIND} '{namespace}/{name}'"


def _kind_missing(noun: Noun) -> NotFoundError:
    return NotFoundError(
        f"the cluster does not serve {noun.kind.KIND} ({noun.kind.API_VERSION})",
        "are the Flux CRDs installed? `afflux check` tells; `afflux install` installs them",
    )


def get_object(ctx: Context, noun: Noun, name: str, namespace: str) -> dict[str, Any]:
    """The object, or NotFoundError with a hint that lists the kind."""
    try:
        return ctx.kube.get(resource_of(noun.kind), name, namespace)
    except KubeNotFound as err:
        if "could not find the requested resource" in err.message:
            raise _kind_missing(noun) from None
        raise NotFoundError(
            f"{describe(noun, name, namespace)} not found",
            f"list them with `afflux get {noun.get_cli} -A`",
        ) from None


def list_objects(ctx: Context, noun: Noun, namespace: str | None) -> list[dict[str, Any]]:
    """The objects of a kind in `namespace` (all when None), sorted by namespace and name."""
    try:
        objs = ctx.kube.list(resource_of(noun.kind), namespace)
    except KubeNotFound:
        raise _kind_missing(noun) from None
    return sorted(objs, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
