"""Event bodies, Flux metadata annotations, and de-duplication of repeats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from afflux.controllers.runtime import EventRecorder, Resource
from afflux.controllers.runtime._events import build_event, event_annotations

from .fakes import FakeKube

KS = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    "kind": "Kustomization",
    "metadata": {"name": "apps", "namespace": "flux-system", "uid": "u-1",
                 "resourceVersion": "42"},
}
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_event_annotations_are_prefixed_with_the_group() -> None:
    assert event_annotations("kustomize.toolkit.fluxcd.io/v1", {
        "revision": "main@sha1:abc", "other.io/keep": "x"}) == {
        "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc", "other.io/keep": "x"}
    assert event_annotations("v1", {"revision": "r"}) == {"revision": "r"}


def test_build_event() -> None:
    event = build_event(KS, "Normal", "ReconciliationSucceeded", "applied",
                        component="kustomize-controller", instance="pod-1",
                        metadata={"revision": "main@sha1:abc"}, now=NOW, name_suffix="x1")
    assert event["metadata"] == {
        "name": "apps.x1", "namespace": "flux-system",
        "annotations": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"}}
    assert event["involvedObject"] == {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "name": "apps", "namespace": "flux-system", "uid": "u-1", "resourceVersion": "42"}
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal", "ReconciliationSucceeded", "applied")
    assert event["source"] == {"component": "kustomize-controller"}
    assert event["reportingComponent"] == "kustomize-controller"
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-01-01T00:00:00Z"
    assert event["count"] == 1


def test_object_event_annotations_travel_with_every_event() -> None:
    """The object's event.toolkit.fluxcd.io/* annotations (e.g. the pull request a change
    request comment Provider comments on) become event metadata, as Flux's recorders do;
    other annotations do not, and the copy is bounded."""
    annotated = {**KS, "metadata": {**KS["metadata"], "annotations": {
        "event.toolkit.fluxcd.io/change_request": "12", "team": "a",
        "event.toolkit.fluxcd.io/huge": "x" * 5000}}}
    event = build_event(annotated, "Normal", "Progressing", "m", component="c", instance="i",
                        metadata={"revision": "r"}, now=NOW, name_suffix="x1")
    assert event["metadata"]["annotations"] == {
        "event.toolkit.fluxcd.io/change_request": "12",
        "kustomize.toolkit.fluxcd.io/revision": "r"}


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_repeats_bump_count_until_the_window_passes() -> None:
    kube = FakeKube()
    tick = Tick()
    recorder = EventRecorder(kube, "kustomize-controller", instance="i", clock=tick,
                             dedupe_window=60, now=lambda: NOW)

    async def scenario() -> None:
        for _ in range(3):
            await recorder.record(KS, "Warning", "BuildFailed", "bad kustomization")
        await recorder.record(KS, "Warning", "BuildFailed", "another message")
        tick.t = 61
        await recorder.record(KS, "Warning", "BuildFailed", "bad kustomization")

    asyncio.run(scenario())
    created = [c for c in kube.calls if c[0] == "create"]
    bumps = [c for c in kube.calls if c[0] == "patch"]
    assert len(created) == 3
    assert [b[2]["count"] for b in bumps] == [2, 3]
    events = Resource("", "v1", "Event", "events")
    first = created[0][2]["metadata"]["name"]
    assert kube.objects[events.path("flux-system", first)]["count"] == 3


def test_recording_errors_are_swallowed() -> None:
    class Broken(FakeKube):
        async def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("no API")

    asyncio.run(EventRecorder(Broken(), "c").record(KS, "Normal", "R", "m"))
