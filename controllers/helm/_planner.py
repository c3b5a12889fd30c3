"""The action planner: from what the release is and what the HelmRelease wants, the next
Helm action. Pure: no I/O, table-tested.

The release phase calls `plan` in a loop (observe the release, act, observe again) until it
says `NONE` (done), `STALL` (give up until the spec, the chart or the values change) or a
remediation has run (the retry comes with the next reconcile, after a backoff). The state
of the release, in this order of checks (helm-controller's release states):

| state        | when                                                         | action |
| ------------ | ------------------------------------------------------------ | ------ |
| absent       | no record, or the latest is uninstalled                      | install (stall when install retries are exhausted) |
| locked       | the latest record is pending-install/-upgrade/-rollback      | unlock (mark it failed) |
| other chart  | the latest record is of another chart name (chartNameChangeStrategy Reinstall, the default) | uninstall, then install |
| unmanaged    | no history, or the latest record is not the last snapshot    | upgrade (take it over) |
| failed       | the latest record failed, or its tests failed (not ignored)  | remediation of the last action, below |
| out of sync  | chart name (InPlaceUpdate), version or values differ from the wanted ones, or the post-renderers/commonMetadata changed at a new generation | upgrade (stall when upgrade retries are exhausted) |
| untested     | tests enabled and not run on the latest record               | test |
| in sync      | otherwise                                                    | nothing |

A `forceAt` request not handled yet turns every state but locked into install (absent) or
upgrade. Remediation of a failed release (the last attempted action's `remediation`):
failures reset by a new chart or values -> upgrade at once; retries left, or exhausted with
`remediateLastFailure` -> rollback to the previous successful snapshot (strategy rollback)
or uninstall (install remediation, strategy uninstall); otherwise stall. Retries are
exhausted when `retries >= 0` and the failures counted exceed them (negative retries:
forever). Upgrade's `remediateLastFailure` defaults to `retries > 0`, install's to false.
With the last action's `strategy: RetryOnFailure` there is no remediation and no stall: a
failed release is upgraded again (the release phase waits `retryInterval` between tries).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from afflux.api._helm_v2 import ACTION_INSTALL, HelmRelease

from ._release import SUCCESSFUL_STATUSES, ReleaseInfo

__all__ = [
    "Action",
    "Desired",
    "Observed",
    "Plan",
    "Remediation",
    "State",
    "desired_remediations",
    "moved_release",
    "plan",
    "release_state",
]

STRATEGY_ROLLBACK = "rollback"
STRATEGY_UNINSTALL = "uninstall"


class Action(enum.Enum):
    NONE = "none"
    INSTALL = "install"
    UPGRADE = "upgrade"
    TEST = "test"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    UNLOCK = "unlock"
    STALL = "stall"


class State(enum.Enum):
    ABSENT = "absent"
    LOCKED = "locked"
    OTHER_CHART = "other chart"
    UNMANAGED = "unmanaged"
    FAILED = "failed"
    OUT_OF_SYNC = "out of sync"
    UNTESTED = "untested"
    IN_SYNC = "in sync"


@dataclass(frozen=True)
class Remediation:
    """One action's remediation settings, defaults resolved."""

    retries: int = 0
    remediate_last_failure: bool = False
    ignore_test_failures: bool = False
    strategy: str = STRATEGY_ROLLBACK

    def exhausted(self, failures: int) -> bool:
        return self.retries >= 0 and failures > self.retries


@dataclass(frozen=True)
class Desired:
    """What the HelmRelease asks for."""

    chart_name: str
    chart_version: str
    config_digest: str
    test_enabled: bool = False
    install: Remediation = Remediation(strategy=STRATEGY_UNINSTALL)
    upgrade: Remediation = Remediation()
    force: bool = False  # a forceAt not handled yet
    chart_in_place: bool = False  # upgrade.chartNameChangeStrategy: InPlaceUpdate
    render_changed: str = ""  # why the post-renderers/commonMetadata differ ("" if not)
    retry_install: bool = False  # install.strategy RetryOnFailure
    retry_upgrade: bool = False  # upgrade.strategy RetryOnFailure
    #: other values digests that count as in sync: with upgrade.preserveValues, the
    #: values helm made of the spec's and the last release's (`reused_values`)
    also_in_sync: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    """The latest release record and what the status remembers."""

    current: ReleaseInfo | None
    history: Sequence[Mapping[str, Any]] = ()
    install_failures: int = 0
    upgrade_failures: int = 0
    last_action: str | None = None


@dataclass(frozen=True)
class Plan:
    action: Action
    state: State
    message: str
    rollback_to: int | None = None
    remediation: bool = False  # a rollback/uninstall that remediates a failure
    extra: Mapping[str, Any] = field(default_factory=dict)


def desired_remediations(hr: HelmRelease) -> tuple[Remediation, Remediation]:
    """(install, upgrade) remediation of a HelmRelease, defaults resolved."""
    spec = hr.spec
    test_ignore = bool(spec.test and spec.test.ignore_failures)
    inst = spec.install.remediation if spec.install and spec.install.remediation else None
    upg = spec.upgrade.remediation if spec.upgrade and spec.upgrade.remediation else None
    inst_retries = inst.retries if inst and inst.retries is not None else 0
    upg_retries = upg.retries if upg and upg.retries is not None else 0

    def ignore(rem: Any) -> bool:
        if rem is not None and rem.ignore_test_failures is not None:
            return bool(rem.ignore_test_failures)
        return test_ignore

    install = Remediation(
        retries=inst_retries,
        remediate_last_failure=bool(inst and inst.remediate_last_failure),
        ignore_test_failures=ignore(inst),
        strategy=STRATEGY_UNINSTALL)
    upgrade = Remediation(
        retries=upg_retries,
        remediate_last_failure=(upg.remediate_last_failure
                                if upg and upg.remediate_last_failure is not None
                                else upg_retries > 0),
        ignore_test_failures=ignore(upg),
        strategy=(upg.strategy if upg and upg.strategy else STRATEGY_ROLLBACK))
    return install, upgrade


def _matches(snap: Mapping[str, Any], release: ReleaseInfo) -> bool:
    return (snap.get("name") == release.name and snap.get("namespace") == release.namespace
            and snap.get("version") == release.version and release.has_digest(snap.get("digest")))


def _active(desired: Desired, observed: Observed) -> tuple[Remediation, int, str]:
    """The remediation of the last attempted action, its failure count, and its verb."""
    if observed.last_action == ACTION_INSTALL:
        return desired.install, observed.install_failures, "install"
    return desired.upgrade, observed.upgrade_failures, "upgrade"


def release_state(desired: Desired, observed: Observed) -> tuple[State, str]:
    """The state of the release (the table in the module docstring) and why."""
    cur = observed.current
    if cur is None:
        return State.ABSENT, "no release in storage"
    if cur.absent:
        return State.ABSENT, f"release {cur.ref} is {cur.status}"
    if cur.pending:
        return State.LOCKED, f"release {cur.ref} is locked in {cur.status}"
    if cur.chart_name != desired.chart_name and not desired.chart_in_place:
        return State.OTHER_CHART, (f"release {cur.ref} is of chart '{cur.chart_name}', "
                                   f"not '{desired.chart_name}'")
    if not observed.history or not _matches(observed.history[0], cur):
        return State.UNMANAGED, f"release {cur.ref} is not the one last made by this object"
    if cur.status == "failed":
        return State.FAILED, f"release {cur.ref} is failed"
    if (cur.chart_name != desired.chart_name or cur.chart_version != desired.chart_version
            or cur.config_digest not in (desired.config_digest, *desired.also_in_sync)):
        return State.OUT_OF_SYNC, f"release {cur.ref} differs from the wanted chart or values"
    if desired.render_changed:
        return State.OUT_OF_SYNC, f"release {cur.ref}: {desired.render_changed}"
    if desired.test_enabled:
        # a test run that ran no test (none in the chart, or all filtered out) leaves no
        # trace in Helm's record: the snapshot's testHooks (empty) says it ran, as Flux's
        if not cur.tests_ran and "testHooks" not in observed.history[0]:
            return State.UNTESTED, f"release {cur.ref} has not been tested"
        remediation, _, _ = _active(desired, observed)
        if cur.tests_failed and not remediation.ignore_test_failures:
            return State.FAILED, f"release {cur.ref} has failed tests"
    return State.IN_SYNC, f"release {cur.ref} is in sync"


def _previous_good(history: Sequence[Mapping[str, Any]], ignore_tests: bool) -> int | None:
    for snap in list(history)[1:]:
        if snap.get("status") not in SUCCESSFUL_STATUSES:
            continue
        hooks = (snap.get("testHooks") or {}).values()
        if not ignore_tests and any(h.get("phase") == "Failed" for h in hooks):
            continue
        return int(snap["version"])
    return None


_SIMPLE = {State.OTHER_CHART: Action.UNINSTALL, State.UNMANAGED: Action.UPGRADE,
           State.UNTESTED: Action.TEST, State.IN_SYNC: Action.NONE}


def _exhausted(verb: str, failures: int) -> str:
    return f"Failed to {verb} after {failures} attempt(s)"


def plan(desired: Desired, observed: Observed) -> Plan:
    """The next action (module docstring)."""
    state, why = release_state(desired, observed)
    if state is State.LOCKED:
        return Plan(Action.UNLOCK, state, why)
    if desired.force and state is not State.OTHER_CHART:
        action = Action.INSTALL if state is State.ABSENT else Action.UPGRADE
        return Plan(action, state, f"{why}; forced by reconcile.fluxcd.io/forceAt")
    if state in (State.ABSENT, State.OUT_OF_SYNC):
        install = state is State.ABSENT
        verb = "install" if install else "upgrade"
        limits = desired.install if install else desired.upgrade
        failures = observed.install_failures if install else observed.upgrade_failures
        retry = desired.retry_install if install else desired.retry_upgrade
        if limits.exhausted(failures) and not retry:
            return Plan(Action.STALL, state, _exhausted(verb, failures))
        return Plan(Action.INSTALL if install else Action.UPGRADE, state, why)
    if state in _SIMPLE:
        return Plan(_SIMPLE[state], state, why)
    # failed
    remediation, failures, verb = _active(desired, observed)
    if desired.retry_install if verb == "install" else desired.retry_upgrade:
        return Plan(Action.UPGRADE, state, f"{why}; retrying ({verb} strategy RetryOnFailure)")
    if failures <= 0:
        return Plan(Action.UPGRADE, state, f"{why}; the chart or values changed since")
    if remediation.exhausted(failures) and not remediation.remediate_last_failure:
        return Plan(Action.STALL, state, _exhausted(verb, failures))
    if remediation.strategy == STRATEGY_UNINSTALL or verb == "install":
        return Plan(Action.UNINSTALL, state, why, remediation=True)
    target = _previous_good(observed.history, remediation.ignore_test_failures)
    if target is None:
        return Plan(Action.STALL, state,
                    f"{why} and there is no previous successful release to roll back to")
    return Plan(Action.ROLLBACK, state, why, rollback_to=target, remediation=True)


def moved_release(history: Sequence[Mapping[str, Any]], storage_namespace: str | None,
                  name: str, namespace: str, storage: str) -> tuple[str, str, str] | None:
    """(name, release namespace, storage namespace) of the release this object made before,
    when its name, namespace or storage namespace changed since (it must be uninstalled
    first)."""
    if not history:
        return None
    last = history[0]
    old_storage = storage_namespace or str(last.get("namespace") or "")
    if (last.get("name"), last.get("namespace"), old_storage) == (name, namespace, storage):
        return None
    return str(last.get("name")), str(last.get("namespace") or ""), old_storage
