"""image-automation-controller's wiring: ImageUpdateAutomation, and what re-runs it.

`setup(operator)` (what `__main__` hands to `run_operator`) registers the
ImageUpdateAutomation reconciler and two watches:

- ImagePolicies: when a policy's latest image (or its labels) changes, every automation
  in its namespace is triggered (the run itself decides which policies it selects, and
  skips when their images did not change);
- GitRepositories: when a GitRepository's spec changes (generation), the automations
  whose `spec.sourceRef` names it are triggered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from afflux.controllers.runtime import Operator, Scheduler

from ._reconcile import (
    GIT_REPOSITORY,
    IMAGE_POLICY,
    automation_reconciler,
    automations_for_policy,
    automations_for_source,
    policy_change_key,
)

__all__ = ["CONTROLLER", "setup"]

CONTROLLER = "image-automation-controller"

_log = logging.getLogger(f"afflux.{CONTROLLER}")

Finder = Callable[[Mapping[str, Any], Iterable[Mapping[str, Any]]], list[tuple[str, str]]]


def _trigger(automations: Scheduler, find: Finder, what: str) -> Callable[..., None]:
    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        for namespace, name in find(body, automations.objects()):
            _log.debug(
                "%s %s/%s changed (%s): triggering ImageUpdateAutomation %s/%s",
                what,
                meta.get("namespace"),
                meta.get("name"),
                event_type or "listed",
                namespace,
                name,
            )
            automations.trigger(namespace, name)

    return callback


def _generation(body: Mapping[str, Any]) -> Any:
    return (body.get("metadata") or {}).get("generation")


def setup(operator: Operator) -> Scheduler:
    """Register the kind and both watches; returns the automations' scheduler."""
    automations = operator.register(automation_reconciler())
    operator.watch(
        IMAGE_POLICY,
        _trigger(automations, automations_for_policy, "ImagePolicy"),
        key=policy_change_key,
    )
    operator.watch(
        GIT_REPOSITORY,
        _trigger(automations, automations_for_source, "GitRepository"),
        key=_generation,
    )
    return automations
