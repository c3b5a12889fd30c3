"""The Helm 3 and Helm 4 engines: the gate that picks one, Flux's Helm 4 defaults and
`auto` (`_engine`), the helm command lines of each (`_args`), the post-render strategies
of Helm 4's plugin (`_plugin`), and how the poller (Helm 4's default wait) reads Jobs.
Table-driven."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.controllers.helm._args import (
    install_args,
    polls,
    rollback_args,
    uninstall_args,
    upgrade_args,
)
from afflux.controllers.helm._engine import (
    Engine,
    install_server_side,
    post_render_strategy,
    server_side,
    unsupported,
    wait_strategy,
)
from afflux.controllers.helm._plugin import by_strategy, partition, render, split_documents
from afflux.controllers.helm._reconcile_release import completed_jobs
from afflux.controllers.runtime import HealthStatus

from .objects import helm_release

H3, H4 = Engine.HELM3, Engine.HELM4

GATE_CASES = [
    ("no gate: Helm 4, as Flux 2.9", {}, H4),
    ("UseHelm3Defaults=true: Helm 3", {"UseHelm3Defaults": True}, H3),
    ("UseHelm3Defaults=false: Helm 4", {"UseHelm3Defaults": False}, H4),
    ("other gates do not count", {"ObjectLevelWorkloadIdentity": True}, H4),
]


@pytest.mark.parametrize(("gates", "expected"), [c[1:] for c in GATE_CASES],
                         ids=[c[0] for c in GATE_CASES])
def test_the_feature_gate_picks_the_engine(gates: dict[str, bool], expected: Engine) -> None:
    assert Engine.of(gates) is expected


DEFAULT_CASES = [
    ("Helm 3 installs client-side", lambda: install_server_side({}, H3), False),
    ("Helm 4 installs server-side", lambda: install_server_side({}, H4), True),
    ("install.serverSideApply false wins",
     lambda: install_server_side({"install": {"serverSideApply": False}}, H4), False),
    ("install.serverSideApply true wins",
     lambda: install_server_side({"install": {"serverSideApply": True}}, H3), True),
    ("Helm 3 waits the legacy way", lambda: wait_strategy({}, H3), "legacy"),
    ("Helm 4 polls", lambda: wait_strategy({}, H4), "poller"),
    ("waitStrategy wins", lambda: wait_strategy({"waitStrategy": {"name": "legacy"}}, H4),
     "legacy"),
    ("Helm 3 keeps hooks from post-renderers", lambda: post_render_strategy({}, H3), "nohooks"),
    ("Helm 4 post-renders hooks too", lambda: post_render_strategy({}, H4), "combined"),
    ("postRenderStrategy wins",
     lambda: post_render_strategy({"postRenderStrategy": "separate"}, H4), "separate"),
]


@pytest.mark.parametrize(("got", "expected"), [c[1:] for c in DEFAULT_CASES],
                         ids=[c[0] for c in DEFAULT_CASES])
def test_flux_defaults_per_engine(got: Any, expected: Any) -> None:
    assert got() == expected


SSA_CASES = [
    ("auto after a Helm 3 release: client-side", {}, "", False),
    ("auto after a client-side Helm 4 release", {}, "csa", False),
    ("auto after a server-side release", {}, "ssa", True),
    ("explicit auto", {"upgrade": {"serverSideApply": "auto"}}, "ssa", True),
    ("enabled over a Helm 3 release", {"upgrade": {"serverSideApply": "enabled"}}, "", True),
    ("disabled over a server-side release", {"upgrade": {"serverSideApply": "disabled"}},
     "ssa", False),
    ("the rollback's setting does not count", {"rollback": {"serverSideApply": "enabled"}},
     "", False),
]


@pytest.mark.parametrize(("spec", "method", "expected"), [c[1:] for c in SSA_CASES],
                         ids=[c[0] for c in SSA_CASES])
def test_upgrade_applies_as_flux_decides(spec: dict[str, Any], method: str,
                                         expected: bool) -> None:
    assert server_side(spec, "upgrade", method) is expected


def test_helm4_supports_what_helm3_refuses() -> None:
    spec = {"install": {"serverSideApply": True}, "postRenderStrategy": "combined",
            "upgrade": {"serverSideApply": "enabled"}}
    assert len(unsupported(spec, H3)) == 3
    assert unsupported(spec, H4) == []


def _args(build: Any) -> list[str]:
    return build[0]


ARGS_CASES = [
    ("Helm 3 install", _args(install_args(helm_release({}), "/c", "/v", (), H3)),
     ["install", "web", "/c", "--values", "/v", "--timeout", "300s", "--wait",
      "--wait-for-jobs", "--take-ownership"]),
    ("Helm 4 install: polled, server-side, conflicts forced",
     _args(install_args(helm_release({}), "/c", "/v", (), H4)),
     ["install", "web", "/c", "--values", "/v", "--timeout", "300s", "--take-ownership",
      "--server-side=true", "--force-conflicts"]),
    ("Helm 4 install, legacy wait, client-side",
     _args(install_args(helm_release({"waitStrategy": {"name": "legacy"},
                                      "install": {"serverSideApply": False}}),
                        "/c", "/v", ["--post-renderer", "afflux-postrender"], H4)),
     ["install", "web", "/c", "--values", "/v", "--timeout", "300s", "--wait=legacy",
      "--wait-for-jobs", "--take-ownership", "--post-renderer", "afflux-postrender",
      "--server-side=false"]),
    ("Helm 3 upgrade with force",
     _args(upgrade_args(helm_release({"upgrade": {"force": True}}), "/c", "/v", (), H3)),
     ["upgrade", "web", "/c", "--values", "/v", "--timeout", "300s", "--history-max", "5",
      "--wait", "--wait-for-jobs", "--take-ownership", "--reset-values", "--force"]),
    ("Helm 4 upgrade of a Helm 3 release: client-side, force is replace",
     _args(upgrade_args(helm_release({"upgrade": {"force": True}}), "/c", "/v", (), H4, "")),
     ["upgrade", "web", "/c", "--values", "/v", "--timeout", "300s", "--history-max", "5",
      "--take-ownership", "--reset-values", "--server-side=false", "--force-replace"]),
    ("Helm 4 upgrade of a server-side release: no replace",
     _args(upgrade_args(helm_release({"upgrade": {"force": True}}), "/c", "/v", (), H4,
                        "ssa")),
     ["upgrade", "web", "/c", "--values", "/v", "--timeout", "300s", "--history-max", "5",
      "--take-ownership", "--reset-values", "--server-side=true", "--force-conflicts"]),
    ("Helm 4 upgrade enabled",
     _args(upgrade_args(helm_release({"upgrade": {"serverSideApply": "enabled",
                                                  "disableWait": True}}),
                        "/c", "/v", (), H4, "csa")),
     ["upgrade", "web", "/c", "--values", "/v", "--timeout", "300s", "--history-max", "5",
      "--take-ownership", "--reset-values", "--server-side=true", "--force-conflicts"]),
    ("Helm 3 rollback recreates pods",
     _args(rollback_args(helm_release({"rollback": {"recreate": True, "force": True}}), 2, H3)),
     ["rollback", "web", "2", "--timeout", "300s", "--history-max", "5", "--wait",
      "--wait-for-jobs", "--force", "--recreate-pods"]),
    ("Helm 4 rollback to a server-side release; recreate is gone",
     _args(rollback_args(helm_release({"rollback": {"recreate": True, "force": True}}), 2, H4,
                         "ssa")),
     ["rollback", "web", "2", "--timeout", "300s", "--history-max", "5",
      "--server-side=true", "--force-conflicts"]),
    ("Helm 4 rollback disabled, legacy wait",
     _args(rollback_args(helm_release({"waitStrategy": {"name": "legacy"}, "rollback": {
         "serverSideApply": "disabled", "force": True}}), 2, H4, "ssa")),
     ["rollback", "web", "2", "--timeout", "300s", "--history-max", "5", "--wait=legacy",
      "--wait-for-jobs", "--server-side=false", "--force-replace"]),
    ("Helm 3 uninstall", _args(uninstall_args(helm_release({}), engine=H3)),
     ["uninstall", "web", "--timeout", "300s", "--cascade", "background", "--wait"]),
    ("Helm 4 uninstall", _args(uninstall_args(helm_release({}), engine=H4)),
     ["uninstall", "web", "--timeout", "300s", "--cascade", "background", "--wait=watcher"]),
]


@pytest.mark.parametrize(("got", "expected"), [c[1:] for c in ARGS_CASES],
                         ids=[c[0] for c in ARGS_CASES])
def test_command_lines_per_engine(got: list[str], expected: list[str]) -> None:
    assert got == expected


POLL_CASES = [
    ("Helm 3 default: helm waits", {}, H3, False),
    ("Helm 4 default: polled", {}, H4, True),
    ("Helm 4 legacy: helm waits", {"waitStrategy": {"name": "legacy"}}, H4, False),
    ("no wait at all", {"install": {"disableWait": True}}, H4, False),
]


@pytest.mark.parametrize(("spec", "engine", "expected"), [c[1:] for c in POLL_CASES],
                         ids=[c[0] for c in POLL_CASES])
def test_who_waits(spec: dict[str, Any], engine: Engine, expected: bool) -> None:
    hr = helm_release(spec)
    assert polls(hr, hr.spec.install, engine) is expected


STREAM = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
---
# a comment
apiVersion: batch/v1
kind: Job
metadata:
  name: hook
  annotations:
    helm.sh/hook: pre-install
---
---
apiVersion: v1
kind: Service
metadata:
  name: svc
"""


def test_split_and_partition_keep_documents_verbatim() -> None:
    docs = split_documents(STREAM)
    assert len(docs) == 3 and docs[1].startswith("# a comment\n")
    hooks, others = partition(STREAM)
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(hooks)] == ["hook"]
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(others)] == ["plain", "svc"]
    assert "# a comment" in hooks
    assert partition("") == ("", "")


@pytest.fixture
def marker(tmp_path: Path) -> str:
    """A post-render program that labels each object with the run it was part of (the
    number of objects that run saw)."""
    program = tmp_path / "mark"
    program.write_text(
        f"#!{sys.executable}\nimport sys, yaml\n"
        "docs = [d for d in yaml.safe_load_all(sys.stdin) if d]\n"
        "for d in docs:\n"
        "    d['metadata'].setdefault('labels', {})['seen'] = str(len(docs))\n"
        "sys.stdout.write(yaml.safe_dump_all(docs))\n")
    os.chmod(program, 0o700)
    return str(program)


STRATEGY_CASES = [
    ("combined: one run sees all", "combined", {"plain": "3", "hook": "3", "svc": "3"}),
    ("separate: hooks in a run of their own", "separate",
     {"plain": "2", "hook": "1", "svc": "2"}),
    ("nohooks: hooks untouched", "nohooks", {"plain": "2", "hook": None, "svc": "2"}),
]


@pytest.mark.parametrize(("strategy", "expected"), [c[1:] for c in STRATEGY_CASES],
                         ids=[c[0] for c in STRATEGY_CASES])
def test_post_render_strategies(marker: str, strategy: str,
                                expected: dict[str, str | None]) -> None:
    out = list(yaml.safe_load_all(render(strategy, marker, STREAM)))
    seen = {d["metadata"]["name"]: (d["metadata"].get("labels") or {}).get("seen")
            for d in out if d}
    assert seen == expected


def _mark_in_process(stream: str) -> str:
    """The `marker` program's work as a function (the CLI post-renders in process)."""
    assert stream.strip(), "never called with an empty stream"
    docs = [d for d in yaml.safe_load_all(stream) if d]
    for d in docs:
        d["metadata"].setdefault("labels", {})["seen"] = str(len(docs))
    return yaml.safe_dump_all(docs)


@pytest.mark.parametrize(("strategy", "expected"), [c[1:] for c in STRATEGY_CASES],
                         ids=[c[0] for c in STRATEGY_CASES])
def test_post_render_strategies_with_a_function(strategy: str,
                                                expected: dict[str, str | None]) -> None:
    out = list(yaml.safe_load_all(by_strategy(strategy, _mark_in_process, STREAM)))
    seen = {d["metadata"]["name"]: (d["metadata"].get("labels") or {}).get("seen")
            for d in out if d}
    assert seen == expected
    assert by_strategy(strategy, _mark_in_process, "") == ""


def test_an_unknown_post_render_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown post-render strategy"):
        by_strategy("all", _mark_in_process, STREAM)


def _job(*conditions: tuple[str, str]) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "status": {"startTime": "2026-01-01T00:00:00Z", "active": 1, "conditions": [
                {"type": t, "status": s, "reason": "R"} for t, s in conditions]}}


JOB_CASES = [
    ("a started Job is not ready yet", _job(), HealthStatus.IN_PROGRESS),
    ("a complete Job is ready", _job(("Complete", "True")), HealthStatus.CURRENT),
    ("a failed Job fails", _job(("Failed", "True")), HealthStatus.FAILED),
    ("a condition that is not True does not count", _job(("Complete", "False")),
     HealthStatus.IN_PROGRESS),
]


@pytest.mark.parametrize(("obj", "expected"), [c[1:] for c in JOB_CASES],
                         ids=[c[0] for c in JOB_CASES])
def test_the_poller_waits_for_jobs_to_complete(obj: dict[str, Any],
                                               expected: HealthStatus) -> None:
    result = completed_jobs(None)(obj)
    assert result is not None and result.status is expected


def test_the_poller_leaves_other_kinds_to_kstatus() -> None:
    assert completed_jobs(None)({"apiVersion": "v1", "kind": "ConfigMap"}) is None
