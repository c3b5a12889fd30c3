"""Crash-only supervision: TaskHealth's verdicts, and an operator whose supervised task dies
stops with OperatorFailed (so the process exits non-zero) and says so on /healthz."""

from __future__ import annotations

import asyncio

import pytest

from afflux.controllers.runtime._supervise import OperatorFailed, TaskHealth


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(("steps", "problems"), [
    ([], []),
    ([("expect", "leader", 10.0), ("advance", 9.0)], []),
    ([("expect", "leader", 10.0), ("advance", 11.0)],
     ["leader has not made progress for 11s (expected every 10s)"]),
    ([("expect", "leader", 10.0), ("advance", 8.0), ("beat", "leader", 0), ("advance", 8.0)], []),
    ([("expect", "leader", 10.0), ("died", "leader", "ValueError: x"), ("advance", 50.0)],
     ["leader ended: ValueError: x"]),
    ([("expect", "leader", 10.0), ("forget", "leader", 0), ("advance", 50.0)], []),
    ([("beat", "unknown", 0)], []),
], ids=["nothing-expected", "within-its-period", "silent-too-long", "beat-resets",
        "died-is-reported-not-silence", "forgotten-on-stop", "unexpected-beat-ignored"])
def test_problems(steps: list[tuple], problems: list[str]) -> None:
    clock = Clock()
    health = TaskHealth(clock=clock)
    for step in steps:
        match step:
            case ("expect", name, within):
                health.expect(name, within)
            case ("advance", seconds):
                clock.t += seconds
            case ("beat", name, _):
                health.beat(name)
            case ("died", name, why):
                health.died(name, why)
            case ("forget", name, _):
                health.forget(name)
    assert health.problems() == problems
    assert health.healthy() is (not problems)


def test_a_supervised_task_that_dies_stops_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    import kopf
    from kubernetes import client

    from afflux.controllers.runtime import Operator, Options, Reconciler
    from afflux.controllers.runtime._kube import KubernetesClient

    from .test_pipeline import WIDGET

    async def watches_forever(**_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(kopf, "operator", watches_forever)
    api_client = client.ApiClient(client.Configuration())
    operator = Operator("test-controller", Options(name="t", metrics_addr="0", health_addr="0"),
                        api_client=api_client, kube=KubernetesClient(api_client, max_workers=1))
    async def phase(ctx: object) -> None:
        return None

    operator.register(Reconciler(WIDGET, [phase]))

    async def dies() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("the artifact server's socket is gone")

    operator.supervise("artifact server", dies)
    with pytest.raises(OperatorFailed, match="artifact server ended: RuntimeError"):
        asyncio.run(asyncio.wait_for(operator.run(), 5))
    assert operator.health.problems() == [
        "artifact server ended: RuntimeError: the artifact server's socket is gone"]
    assert not operator.health.healthy()
