"""The action planner: release state and next action, table-driven."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from afflux.controllers.helm._planner import (
    Action,
    Desired,
    Observed,
    Remediation,
    State,
    desired_remediations,
    moved_release,
    plan,
)
from afflux.controllers.helm._release import ReleaseInfo, snapshot
from afflux.controllers.helm._values import config_digest

from .objects import helm_release

VALUES = {"replicas": 2}
DIGEST = config_digest(VALUES)


def release(version: int = 1, status: str = "deployed", chart: str = "app",
            chart_version: str = "1.0.0", config: dict[str, Any] | None = None,
            tests: dict[str, str] | None = None) -> ReleaseInfo:
    return ReleaseInfo(
        name="app", namespace="apps", version=version, status=status, chart_name=chart,
        chart_version=chart_version, app_version="1", config=VALUES if config is None else config,
        digest=f"sha256:{version}{status}{chart_version}{tests}",
        test_hooks={name: {"phase": phase} for name, phase in (tests or {}).items()})


def history(*releases: ReleaseInfo) -> list[dict[str, Any]]:
    return [snapshot(r) for r in releases]


WANT = Desired("app", "1.0.0", DIGEST)
RETRY_ROLLBACK = replace(WANT, upgrade=Remediation(retries=2, remediate_last_failure=True))
UNINSTALLING = replace(WANT, upgrade=Remediation(retries=2, strategy="uninstall"))
TESTED = replace(WANT, test_enabled=True)
CUR = release()
FAILED_UPGRADE = release(2, "failed")

CASES = [
    # id, desired, observed, (state, action, rollback_to)
    ("no release installs", WANT, Observed(None), (State.ABSENT, Action.INSTALL, None)),
    ("uninstalled release installs", WANT,
     Observed(release(status="uninstalled"), history(release(status="uninstalled"))),
     (State.ABSENT, Action.INSTALL, None)),
    ("install retries exhausted stalls", WANT, Observed(None, install_failures=1),
     (State.ABSENT, Action.STALL, None)),
    ("install retries left installs again", replace(WANT, install=Remediation(retries=2)),
     Observed(None, install_failures=2), (State.ABSENT, Action.INSTALL, None)),
    ("negative retries retry forever", replace(WANT, install=Remediation(retries=-1)),
     Observed(None, install_failures=99), (State.ABSENT, Action.INSTALL, None)),
    ("pending release is unlocked", WANT,
     Observed(release(status="pending-upgrade"), history(release(status="pending-upgrade"))),
     (State.LOCKED, Action.UNLOCK, None)),
    ("in sync does nothing", WANT, Observed(CUR, history(CUR)),
     (State.IN_SYNC, Action.NONE, None)),
    ("new values upgrade", replace(WANT, config_digest="sha256:other"),
     Observed(CUR, history(CUR)), (State.OUT_OF_SYNC, Action.UPGRADE, None)),
    ("new chart version upgrades", replace(WANT, chart_version="1.1.0"),
     Observed(CUR, history(CUR)), (State.OUT_OF_SYNC, Action.UPGRADE, None)),
    ("out of sync with upgrade retries exhausted stalls", replace(WANT, chart_version="1.1.0"),
     Observed(CUR, history(CUR), upgrade_failures=1, last_action="upgrade"),
     (State.OUT_OF_SYNC, Action.STALL, None)),
    ("another chart name reinstalls", replace(WANT, chart_name="other"),
     Observed(CUR, history(CUR)), (State.OTHER_CHART, Action.UNINSTALL, None)),
    ("a release made outside is taken over", WANT, Observed(CUR, ()),
     (State.UNMANAGED, Action.UPGRADE, None)),
    ("a newer revision made by hand is taken over", WANT,
     Observed(release(2), history(CUR)), (State.UNMANAGED, Action.UPGRADE, None)),
    ("failed upgrade with retries left rolls back", RETRY_ROLLBACK,
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR), upgrade_failures=1,
              last_action="upgrade"), (State.FAILED, Action.ROLLBACK, 1)),
    ("failed upgrade, exhausted, remediate last failure rolls back", RETRY_ROLLBACK,
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR), upgrade_failures=3,
              last_action="upgrade"), (State.FAILED, Action.ROLLBACK, 1)),
    ("failed upgrade without retries stalls", WANT,
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR), upgrade_failures=1,
              last_action="upgrade"), (State.FAILED, Action.STALL, None)),
    ("failed upgrade with strategy uninstall uninstalls", UNINSTALLING,
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR), upgrade_failures=1,
              last_action="upgrade"), (State.FAILED, Action.UNINSTALL, None)),
    ("failed release after a chart change upgrades at once", RETRY_ROLLBACK,
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR), upgrade_failures=0,
              last_action="upgrade"), (State.FAILED, Action.UPGRADE, None)),
    ("failed upgrade with nothing to roll back to stalls", RETRY_ROLLBACK,
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE), upgrade_failures=1,
              last_action="upgrade"), (State.FAILED, Action.STALL, None)),
    ("failed install with retries uninstalls", replace(WANT, install=Remediation(retries=1)),
     Observed(release(status="failed"), history(release(status="failed")), install_failures=1,
              last_action="install"), (State.FAILED, Action.UNINSTALL, None)),
    ("untested release is tested", TESTED, Observed(CUR, history(CUR)),
     (State.UNTESTED, Action.TEST, None)),
    ("a test hook that never ran is untested", TESTED,
     Observed(replace(CUR, test_hooks={"t": {}}), history(replace(CUR, test_hooks={"t": {}}))),
     (State.UNTESTED, Action.TEST, None)),
    ("tested with every test filtered out is in sync", TESTED,
     Observed(CUR, [{**snapshot(CUR), "testHooks": {}}]), (State.IN_SYNC, Action.NONE, None)),
    ("values helm merged with preserveValues are in sync",
     replace(WANT, config_digest=config_digest({"extra": 1}), also_in_sync=(DIGEST,)),
     Observed(CUR, history(CUR)), (State.IN_SYNC, Action.NONE, None)),
    ("passed tests are in sync", TESTED,
     Observed(release(tests={"t": "Succeeded"}), history(release(tests={"t": "Succeeded"}))),
     (State.IN_SYNC, Action.NONE, None)),
    ("failed tests are remediated", replace(TESTED, upgrade=Remediation(retries=1)),
     Observed(release(2, tests={"t": "Failed"}), history(release(2, tests={"t": "Failed"}), CUR),
              upgrade_failures=1, last_action="upgrade"), (State.FAILED, Action.ROLLBACK, 1)),
    ("ignored test failures are in sync",
     replace(TESTED, upgrade=Remediation(ignore_test_failures=True)),
     Observed(release(tests={"t": "Failed"}), history(release(tests={"t": "Failed"})),
              last_action="upgrade"), (State.IN_SYNC, Action.NONE, None)),
    ("forceAt upgrades an in-sync release", replace(WANT, force=True),
     Observed(CUR, history(CUR)), (State.IN_SYNC, Action.UPGRADE, None)),
    ("forceAt installs past exhausted retries", replace(WANT, force=True),
     Observed(None, install_failures=5), (State.ABSENT, Action.INSTALL, None)),
    ("another chart name with InPlaceUpdate upgrades",
     replace(WANT, chart_name="other", chart_in_place=True),
     Observed(CUR, history(CUR)), (State.OUT_OF_SYNC, Action.UPGRADE, None)),
    ("changed post-renderers at a new generation upgrade",
     replace(WANT, render_changed="post-renderers changed"),
     Observed(CUR, history(CUR)), (State.OUT_OF_SYNC, Action.UPGRADE, None)),
    ("RetryOnFailure upgrades a failed release instead of remediating",
     replace(RETRY_ROLLBACK, retry_upgrade=True),
     Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR), upgrade_failures=3,
              last_action="upgrade"), (State.FAILED, Action.UPGRADE, None)),
    ("RetryOnFailure install never stalls on exhausted retries",
     replace(WANT, retry_install=True), Observed(None, install_failures=7),
     (State.ABSENT, Action.INSTALL, None)),
    ("RetryOnFailure of upgrade does not change a failed install's remediation",
     replace(WANT, install=Remediation(retries=1), retry_upgrade=True),
     Observed(release(status="failed"), history(release(status="failed")), install_failures=1,
              last_action="install"), (State.FAILED, Action.UNINSTALL, None)),
    ("forceAt does not skip an unlock", replace(WANT, force=True),
     Observed(release(status="pending-install"), ()), (State.LOCKED, Action.UNLOCK, None)),
]


@pytest.mark.parametrize(("desired", "observed", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_plan(desired: Desired, observed: Observed, expected: tuple[Any, ...]) -> None:
    step = plan(desired, observed)
    assert (step.state, step.action, step.rollback_to) == expected, step.message


def test_remediations_are_marked_and_stall_messages_count_attempts() -> None:
    step = plan(RETRY_ROLLBACK, Observed(FAILED_UPGRADE, history(FAILED_UPGRADE, CUR),
                                         upgrade_failures=1, last_action="upgrade"))
    assert step.remediation
    step = plan(WANT, Observed(None, install_failures=1))
    assert step.message == "Failed to install after 1 attempt(s)"


REMEDIATION_CASES = [
    ("defaults", {}, Remediation(0, False, False, "uninstall"), Remediation(0, False, False)),
    ("upgrade retries imply remediateLastFailure",
     {"upgrade": {"remediation": {"retries": 3}}},
     Remediation(0, False, False, "uninstall"), Remediation(3, True, False)),
    ("explicit remediateLastFailure wins",
     {"upgrade": {"remediation": {"retries": 3, "remediateLastFailure": False,
                                  "strategy": "uninstall"}}},
     Remediation(0, False, False, "uninstall"), Remediation(3, False, False, "uninstall")),
    ("test.ignoreFailures is the default of ignoreTestFailures",
     {"test": {"enable": True, "ignoreFailures": True},
      "install": {"remediation": {"ignoreTestFailures": False, "retries": 1}}},
     Remediation(1, False, False, "uninstall"), Remediation(0, False, True)),
]


@pytest.mark.parametrize(("spec", "install", "upgrade"), [c[1:] for c in REMEDIATION_CASES],
                         ids=[c[0] for c in REMEDIATION_CASES])
def test_desired_remediations(spec: dict[str, Any], install: Remediation,
                              upgrade: Remediation) -> None:
    assert desired_remediations(helm_release(spec, 'app')) == (install, upgrade)


MOVED_CASES = [
    ("no history", [], None, ("app", "apps", "apps"), None),
    ("same place", [{"name": "app", "namespace": "apps"}], "apps", ("app", "apps", "apps"),
     None),
    ("renamed", [{"name": "old", "namespace": "apps"}], "apps", ("app", "apps", "apps"),
     ("old", "apps", "apps")),
    ("new target namespace", [{"name": "app", "namespace": "apps"}], "apps",
     ("app", "other", "other"), ("app", "apps", "apps")),
    ("storage moved", [{"name": "app", "namespace": "apps"}], "old-storage",
     ("app", "apps", "apps"), ("app", "apps", "old-storage")),
    ("storage apart from the release", [{"name": "app", "namespace": "apps"}], "flux",
     ("app", "apps", "flux"), None),
]


@pytest.mark.parametrize(("history_", "storage", "now", "expected"),
                         [c[1:] for c in MOVED_CASES], ids=[c[0] for c in MOVED_CASES])
def test_moved_release(history_: list[dict[str, Any]], storage: str | None,
                       now: tuple[str, str, str], expected: tuple[str, str, str] | None
                       ) -> None:
    assert moved_release(history_, storage, *now) == expected
