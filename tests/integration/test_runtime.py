"""The runtime against the real API server: a tiny Widget controller built on it.

A test CRD (`widgets.test.afflux.dev`, status subresource, status schema open so that
anything kopf might write there would show) and an in-process operator (kopf in a
background thread with its own event loop) that reconciles Widgets with three phases:
`spec.mode` = ok | stall | wait picks success, a StallingError or a WaitingError. The
Kubernetes client is wrapped to count status writes per object and per run.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from afflux.api._meta import (
    AFFLUX_ANNOTATION_PREFIX,
    DEPENDENCY_NOT_READY,
    FINALIZER,
    PROGRESSING_WITH_RETRY,
    REQUESTED_AT_ANNOTATION,
    SUCCEEDED,
)
from afflux.controllers.runtime import (
    AioKubeClient,
    Environment,
    EventRecorder,
    KubernetesClient,
    ObjectRef,
    Operator,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    ReconcileResult,
    Resource,
    StallingError,
    WaitingError,
    get_condition,
    lease_name,
    parse_options,
)
from harness.wait import eventually

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "test.afflux.dev", "v1", "widgets"
WIDGET = Resource(GROUP, VERSION, "Widget", PLURAL)
GADGET = Resource(GROUP, VERSION, "Gadget", "gadgets")
CONTROLLER = "widget-controller"
INVALID_MODE = "InvalidMode"

CRD_TEMPLATE = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  versions:
    - name: {version}
      served: true
      storage: true
      subresources: {{status: {{}}}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                interval: {{type: string}}
                suspend: {{type: boolean}}
                mode: {{type: string, enum: [ok, stall, wait]}}
                color: {{type: string}}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
"""


def apply_crd(cluster: Any, resource: Resource) -> None:
    cluster.kubectl("apply", "-f", "-", input=CRD_TEMPLATE.format(
        group=resource.group, version=resource.version, kind=resource.kind,
        plural=resource.plural, singular=resource.kind.lower()))
    cluster.kubectl("wait", "--for=condition=Established",
                    f"crd/{resource.plural}.{resource.group}", "--timeout=60s")


Key = tuple[str, str]


class CountingKube:
    """The real client, counting successful status patches per object."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.status_writes: dict[Key, int] = defaultdict(int)

    async def patch(self, ref: ObjectRef, patch: Any, **kwargs: Any) -> dict[str, Any]:
        result = await self.inner.patch(ref, patch, **kwargs)
        if kwargs.get("subresource") == "status":
            with self.lock:
                self.status_writes[(ref.namespace or "", ref.name)] += 1
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RecordingReconciler(Reconciler[Any]):
    """Records each run's result and how many status writes it made."""

    def __init__(self, kube: CountingKube, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kube = kube
        self.runs: dict[Key, list[tuple[int, ReconcileResult]]] = defaultdict(list)
        self.finalized: list[Key] = []

    async def reconcile(self, body: Mapping[str, Any], env: Environment) -> ReconcileResult:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        before = self.kube.status_writes[key]
        result = await super().reconcile(body, env)
        with self.kube.lock:
            self.runs[key].append((self.kube.status_writes[key] - before, result))
        return result


async def check_mode(ctx: ReconcileContext[Any]) -> PhaseResult | None:
    mode = ctx.obj.spec.get("mode", "ok")
    if mode == "stall":
        raise StallingError(INVALID_MODE, "spec.mode 'stall' can never work; change it")
    if mode == "wait":
        raise WaitingError(DEPENDENCY_NOT_READY, "the widget waits for something", 0.3)
    return None


async def paint(ctx: ReconcileContext[Any]) -> PhaseResult | None:
    color = ctx.obj.spec.get("color", "blue")
    if ctx.status.get("color") != color:
        await ctx.events.normal("Painted", f"painted {color}", revision=color)
    ctx.status["color"] = color
    ctx.conditions.mark_true("Painted", SUCCEEDED, f"painted {color}")
    ctx.set_ready(SUCCEEDED, f"widget painted {color}")
    return None


class Running:
    def __init__(self, operator: Operator, reconciler: RecordingReconciler,
                 kube: CountingKube, api: client.ApiClient) -> None:
        self.operator = operator
        self.reconciler = reconciler
        self.kube = kube
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.api = api
        #: (event type, name, Ready status) of each readiness change the Widget watch saw
        self.readiness_seen: list[tuple[str | None, str, Any]] = []

    def runs(self, ns: str, name: str) -> list[tuple[int, ReconcileResult]]:
        with self.kube.lock:
            return list(self.reconciler.runs[(ns, name)])

    def create(self, ns: str, name: str, **spec: Any) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"interval": "1h", **spec}}
        self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)

    def get(self, ns: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, name)
        return result

    def patch(self, ns: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, patch)

    def condition(self, ns: str, name: str, type_: str) -> dict[str, Any] | None:
        return get_condition(self.get(ns, name).get("status", {}).get("conditions", []), type_)

    def events(self, ns: str, name: str) -> list[dict[str, Any]]:
        items = self.api.sanitize_for_serialization(self.core.list_namespaced_event(ns).items)
        return [e for e in items if e["involvedObject"].get("name") == name]

    def http(self, port: int | None, path: str) -> tuple[int, str]:
        assert port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()


@pytest.fixture(scope="module")
def widget_crd(cluster: Any) -> Iterator[None]:
    apply_crd(cluster, WIDGET)
    yield


@pytest.fixture(scope="module")
def gadget_crd(cluster: Any) -> Iterator[None]:
    apply_crd(cluster, GADGET)
    yield


@pytest.fixture(scope="module")
def running(cluster: Any, widget_crd: None, gadget_crd: None) -> Iterator[Running]:
    options = parse_options(CONTROLLER, [
        f"--kubeconfig={cluster.kubeconfig}", "--metrics-addr=127.0.0.1:0",
        "--health-addr=127.0.0.1:0", "--min-retry-delay=100ms", "--requeue-dependency=1s",
    ])
    api = cluster.api_client()
    operator = Operator(CONTROLLER, options, api_client=api)
    # the operators' own client (aiohttp on the event loop), counted
    assert isinstance(operator.kube, AioKubeClient)
    kube = CountingKube(operator.kube)
    operator.kube = kube  # type: ignore[assignment]
    reconciler = RecordingReconciler(kube, WIDGET, [check_mode, paint])

    async def finalize(ctx: ReconcileContext[Any]) -> None:
        reconciler.finalized.append((ctx.namespace or "", ctx.name))

    reconciler.finalize = finalize
    widgets = operator.register(reconciler)

    def gadget_changed(event_type: str | None, body: Mapping[str, Any]) -> None:
        # like kustomize-controller and a source's revision: a Gadget's color moved, so
        # reconcile the Widget of the same name now
        if event_type != "DELETED":
            widgets.trigger(body["metadata"]["namespace"], body["metadata"]["name"])

    operator.watch(GADGET, gadget_changed, key=lambda body: (body.get("spec") or {}).get("color"))
    readiness_seen: list[tuple[str | None, str, Any]] = []

    def broken(event_type: str | None, body: Mapping[str, Any]) -> None:
        raise RuntimeError("a broken watch callback")

    def widget_readiness(event_type: str | None, body: Mapping[str, Any]) -> None:
        readiness_seen.append((event_type, body["metadata"]["name"], _ready_key(body)))

    # watches of the registered kind itself (as kustomize-controller's readiness watch of
    # Kustomizations): run by the kind's own handler; a failing one stops no other
    operator.watch(WIDGET, broken)
    operator.watch(WIDGET, widget_readiness, key=_ready_key)
    stop, ready = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(operator.run(stop_flag=stop, ready_flag=ready))
        except BaseException as err:  # noqa: BLE001 - reported by the fixture
            failure.append(err)

    thread = threading.Thread(target=main, name="widget-operator", daemon=True)
    thread.start()
    eventually(lambda: ready.is_set() or failure, timeout=60, message="operator ready")
    assert not failure, failure
    handle = Running(operator, reconciler, kube, api)
    handle.readiness_seen = readiness_seen
    try:
        yield handle
    finally:
        # let the operator finalize every Widget the tests left before it stops
        for item in handle.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]:
            meta = item["metadata"]
            handle.custom.delete_namespaced_custom_object(GROUP, VERSION, meta["namespace"],
                                                          PLURAL, meta["name"])
        eventually(lambda: not handle.custom.list_cluster_custom_object(
            GROUP, VERSION, PLURAL)["items"], timeout=60, message="widgets finalized")
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "operator did not stop"
        assert not failure, failure


def _ready_key(body: Mapping[str, Any]) -> Any:
    return next((c.get("status") for c in (body.get("status") or {}).get("conditions") or ()
                 if c.get("type") == "Ready"), None)


def _ready(running: Running, ns: str, name: str, generation: int = 1) -> bool:
    ready = running.condition(ns, name, "Ready")
    status = running.get(ns, name).get("status", {})
    return bool(ready and ready["status"] == "True"
                and status.get("observedGeneration") == generation)


def test_success_sets_conditions_with_progress_and_one_result_write_and_no_kopf_traces(
        running: Running, namespace: str) -> None:
    running.create(namespace, "plain")
    eventually(lambda: _ready(running, namespace, "plain"), timeout=30,
               message="Ready=True")
    obj = running.get(namespace, "plain")
    status = obj["status"]
    assert set(status) == {"conditions", "observedGeneration", "color"}
    assert status["color"] == "blue"
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Painted"]
    ready = status["conditions"][0]
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == (
        SUCCEEDED, "widget painted blue", 1)
    # our finalizer, and nothing of kopf's: no finalizer, no status key, no annotation
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    annotations = obj["metadata"].get("annotations") or {}
    assert not [k for k in annotations if "kopf" in k]
    assert all(k.startswith(AFFLUX_ANNOTATION_PREFIX + "/") for k in annotations
               if "last-handled-configuration" in k)
    progress = running.operator.settings.persistence.progress_storage
    assert progress.prefix == AFFLUX_ANNOTATION_PREFIX  # type: ignore[attr-defined]
    # the first run (a new generation) reports its progress, then writes its result; a
    # later run of the same generation writes at most its result
    runs = running.runs(namespace, "plain")
    assert runs[0][0] == 2 and runs[0][1].status_written
    assert all(writes <= 1 for writes, _ in runs[1:])
    # the Event, with Flux's metadata annotation
    events = eventually(lambda: running.events(namespace, "plain"), timeout=10)
    painted = [e for e in events if e["reason"] == "Painted"]
    assert len(painted) == 1
    event = painted[0]
    assert event["type"] == "Normal" and event["message"] == "painted blue"
    assert event["source"]["component"] == CONTROLLER
    assert event["reportingComponent"] == CONTROLLER
    assert event["metadata"]["annotations"] == {f"{GROUP}/revision": "blue"}
    assert event["involvedObject"]["kind"] == "Widget"


def test_spec_change_and_requested_at(running: Running, namespace: str) -> None:
    running.create(namespace, "asked")
    eventually(lambda: _ready(running, namespace, "asked"), timeout=30)
    running.patch(namespace, "asked", {"spec": {"color": "red"}})
    eventually(lambda: _ready(running, namespace, "asked", generation=2), timeout=30)
    assert running.get(namespace, "asked")["status"]["color"] == "red"
    before = len(running.runs(namespace, "asked"))
    token = f"t-{uuid.uuid4().hex[:8]}"
    running.patch(namespace, "asked",
                  {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}})
    eventually(lambda: running.get(namespace, "asked")["status"].get(
        "lastHandledReconcileAt") == token, timeout=30, message="lastHandledReconcileAt")
    runs = running.runs(namespace, "asked")
    assert len(runs) == before + 1
    assert runs[-1][0] == 1  # the copy of requestedAt is the run's one write


def test_suspended_widget_is_not_reconciled(running: Running, namespace: str) -> None:
    running.create(namespace, "sleepy", suspend=True)
    running.create(namespace, "barrier")
    eventually(lambda: _ready(running, namespace, "barrier"), timeout=30)
    token = f"t-{uuid.uuid4().hex[:8]}"
    for name in ("sleepy", "barrier"):
        running.patch(namespace, name,
                      {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}})
    eventually(lambda: running.get(namespace, "barrier")["status"].get(
        "lastHandledReconcileAt") == token, timeout=30)
    sleepy = running.get(namespace, "sleepy")
    assert running.runs(namespace, "sleepy") == []
    assert "status" not in sleepy and "finalizers" not in sleepy["metadata"]
    _, text = running.http(running.operator.servers.metrics_port, "/metrics")
    assert (f'gotk_suspend_status{{kind="Widget",name="sleepy",namespace="{namespace}"}} 1'
            in text)
    running.patch(namespace, "sleepy", {"spec": {"suspend": False}})
    eventually(lambda: _ready(running, namespace, "sleepy", generation=2), timeout=30)


def test_stalling_error_is_not_retried_until_the_spec_changes(
        running: Running, namespace: str) -> None:
    running.create(namespace, "stuck", mode="stall", interval="1s")
    running.create(namespace, "ticker", interval="1s")

    def stalled() -> bool:
        cond = running.condition(namespace, "stuck", "Stalled")
        return bool(cond and cond["status"] == "True")

    eventually(stalled, timeout=30, message="Stalled=True")
    obj = running.get(namespace, "stuck")
    ready = get_condition(obj["status"]["conditions"], "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", INVALID_MODE)
    assert get_condition(obj["status"]["conditions"], "Reconciling") is None
    assert obj["status"]["observedGeneration"] == 1
    # the 1s ticker next door reconciles three more times: several intervals have passed
    ticks = len(running.runs(namespace, "ticker"))
    eventually(lambda: len(running.runs(namespace, "ticker")) >= ticks + 3, timeout=30)
    assert len(running.runs(namespace, "stuck")) == 1
    warnings = [e for e in running.events(namespace, "stuck") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == [INVALID_MODE]
    # a spec change un-stalls it
    running.patch(namespace, "stuck", {"spec": {"mode": "ok"}})
    eventually(lambda: _ready(running, namespace, "stuck", generation=2), timeout=30)
    assert running.condition(namespace, "stuck", "Stalled") is None


def test_waiting_error_is_retried(running: Running, namespace: str) -> None:
    running.create(namespace, "patient", mode="wait")
    eventually(lambda: len(running.runs(namespace, "patient")) >= 3, timeout=30,
               message="three attempts")
    status = running.get(namespace, "patient")["status"]
    ready = get_condition(status["conditions"], "Ready")
    reconciling = get_condition(status["conditions"], "Reconciling")
    assert ready is not None and (ready["status"], ready["reason"]) == (
        "False", DEPENDENCY_NOT_READY)
    assert reconciling is not None and reconciling["reason"] == PROGRESSING_WITH_RETRY
    assert "observedGeneration" not in status  # never reached Ready or Stalled
    writes = [w for w, _ in running.runs(namespace, "patient")]
    # the first run reports progress and its result; the retries change nothing, write nothing
    assert writes[0] == 2 and all(w == 0 for w in writes[1:])
    assert not [e for e in running.events(namespace, "patient") if e["type"] == "Warning"]
    running.patch(namespace, "patient", {"spec": {"mode": "ok"}})
    eventually(lambda: _ready(running, namespace, "patient", generation=2), timeout=30)
    assert running.condition(namespace, "patient", "Reconciling") is None


def test_finalizer_is_honoured_on_delete(running: Running, namespace: str) -> None:
    running.create(namespace, "doomed")
    eventually(lambda: _ready(running, namespace, "doomed"), timeout=30)
    assert running.get(namespace, "doomed")["metadata"]["finalizers"] == [FINALIZER]
    running.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "doomed")

    def gone() -> bool:
        try:
            running.get(namespace, "doomed")
        except client.ApiException as err:
            return err.status == 404
        return False

    eventually(gone, timeout=30, message="widget deleted")
    assert (namespace, "doomed") in running.reconciler.finalized


def test_watch_of_another_kind_triggers_a_reconcile(running: Running, namespace: str) -> None:
    running.create(namespace, "linked")
    eventually(lambda: _ready(running, namespace, "linked"), timeout=30)
    runs = len(running.runs(namespace, "linked"))
    running.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, GADGET.plural, {
        "apiVersion": GADGET.api_version, "kind": GADGET.kind, "metadata": {"name": "linked"},
        "spec": {"color": "blue"}})
    eventually(lambda: len(running.runs(namespace, "linked")) == runs + 1, timeout=30,
               message="reconcile triggered by the new Gadget")
    running.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, GADGET.plural,
                                                  "linked", {"spec": {"color": "red"}})
    eventually(lambda: len(running.runs(namespace, "linked")) == runs + 2, timeout=30,
               message="reconcile triggered by the Gadget's color")
    # the trigger does not change the Widget: its run writes nothing
    assert running.runs(namespace, "linked")[-1][0] == 0


def test_watch_of_the_reconciled_kind_sees_its_changes(running: Running, namespace: str
                                                        ) -> None:
    running.create(namespace, "watched")
    eventually(lambda: _ready(running, namespace, "watched"), timeout=30)
    eventually(lambda: ("MODIFIED", "watched", "True") in running.readiness_seen, timeout=30,
               message="the Widget watch saw it become Ready (after a broken callback)")
    seen = [key for _, name, key in running.readiness_seen if name == "watched"]
    # only changes of the key: first sight (no Ready), then each new Ready status once
    assert seen[0] is None and seen[-1] == "True"
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), seen


def test_metrics_and_health_endpoints(running: Running, namespace: str) -> None:
    running.create(namespace, "measured")
    eventually(lambda: _ready(running, namespace, "measured"), timeout=30)
    servers = running.operator.servers
    labels = f'kind="Widget",name="measured",namespace="{namespace}"'

    def scraped() -> str:
        _, text = running.http(servers.metrics_port, "/metrics")
        assert f'gotk_reconcile_condition{{{labels},type="Ready",status="True"}} 1' in text
        return text

    text = eventually(scraped, timeout=10)
    assert f'gotk_reconcile_condition{{{labels},type="Ready",status="False"}} 0' in text
    # every request of the operator's client is counted (its status patches among them)
    host = urllib.parse.urlsplit(running.operator.api_client.configuration.host).netloc
    assert re.search(rf'rest_client_requests_total{{code="200",host="{re.escape(host)}",'
                     r'method="PATCH"} [1-9]', text)
    assert f"gotk_reconcile_duration_seconds_count{{{labels}}} " in text
    assert running.http(servers.health_port, "/healthz") == (200, "ok")
    assert running.http(servers.health_port, "/readyz") == (200, "ok")
    assert running.operator.ready


# --- whole operators as processes: run_operator, JSON logs, signals, leader election -----

GADGET_CONTROLLER = "gadget-controller"
GADGET_OPERATOR = '''
from afflux.controllers.runtime import Reconciler, Resource, run_operator

GADGET = Resource("test.afflux.dev", "v1", "Gadget", "gadgets")


async def ok(ctx):
    ctx.set_ready("Succeeded", f"reconciled by {ctx.options.extra.tag}")


def setup(operator):
    operator.register(Reconciler(GADGET, [ok]))


def flags(parser):
    parser.add_argument("--tag", default="")


run_operator(name="gadget-controller", setup=setup, add_flags=flags)
'''


class OperatorProcess:
    """`python gadget_operator.py ...` with its output (stdout and stderr) in a file."""

    def __init__(self, tmp_path: Path, cluster: Any, namespace: str, tag: str,
                 *flags: str) -> None:
        script = tmp_path / "gadget_operator.py"
        script.write_text(GADGET_OPERATOR)
        self.tag = tag
        self.log_path = tmp_path / f"{tag}.log"
        self.health_port = _free_port()
        with self.log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), f"--kubeconfig={cluster.kubeconfig}",
                 "--watch-all-namespaces=false", f"--namespace={namespace}",
                 "--metrics-addr=0", f"--health-addr=127.0.0.1:{self.health_port}",
                 f"--tag={tag}", *flags],
                stdout=out, stderr=subprocess.STDOUT, text=True)

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"{self.tag} exited:\n{self.log_path.read_text()}"
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def lines(self) -> list[dict[str, Any]]:
        """Every output line, parsed: each one must be a JSON object."""
        text = self.log_path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def reconciled(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("name") == name
                and str(line.get("msg", "")).startswith("reconciled by")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gadgets:
    def __init__(self, cluster: Any, namespace: str) -> None:
        self.api = client.CustomObjectsApi(cluster.api_client())
        self.ns = namespace

    def create(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.api.create_namespaced_custom_object(GROUP, VERSION, self.ns, GADGET.plural, {
            "apiVersion": GADGET.api_version, "kind": GADGET.kind,
            "metadata": {"name": name, "labels": labels or {}}, "spec": {"interval": "1h"}})

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.ns, GADGET.plural, name)
        except client.ApiException as err:
            if err.status == 404:
                return None
            raise
        return result

    def ready_message(self, name: str, generation: int = 1) -> str | None:
        obj = self.get(name) or {}
        status = obj.get("status") or {}
        ready = get_condition(status.get("conditions") or [], "Ready")
        if ready and ready["status"] == "True" and status.get("observedGeneration") == generation:
            return str(ready["message"])
        return None

    def delete(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(GROUP, VERSION, self.ns, GADGET.plural, name)

    def release(self, name: str) -> None:
        """Drop finalizers of a leftover (after a failure) so the namespace can go."""
        if self.get(name) is not None:
            self.api.patch_namespaced_custom_object(
                GROUP, VERSION, self.ns, GADGET.plural, name, {"metadata": {"finalizers": None}})


def test_run_operator_process_logs_json_and_stops_on_sigterm(
        cluster: Any, gadget_crd: None, namespace: str, tmp_path: Path) -> None:
    gadgets = Gadgets(cluster, namespace)
    op = OperatorProcess(tmp_path, cluster, namespace, "solo")
    try:
        eventually(op.ready, timeout=60, message="operator /readyz")
        gadgets.create("g")
        eventually(lambda: gadgets.ready_message("g") == "reconciled by solo", timeout=30)
        gadgets.delete("g")
        eventually(lambda: gadgets.get("g") is None, timeout=30, message="finalized")
        assert op.stop() == 0
    finally:
        op.stop()
        gadgets.release("g")
    lines = op.lines()
    assert lines, "no output"
    for line in lines:
        assert {"ts", "level", "logger", "msg", "controller"} <= set(line), line
        assert line["controller"] == GADGET_CONTROLLER
    (done,) = op.reconciled("g")
    assert (done["kind"], done["namespace"], done["level"]) == ("Gadget", namespace, "info")
    assert done["reconcileID"]


def test_leader_election_only_the_leader_reconciles(
        cluster: Any, gadget_crd: None, namespace: str, tmp_path: Path) -> None:
    gadgets = Gadgets(cluster, namespace)
    election = ["--enable-leader-election", "--leader-election-lease-duration=3s",
                "--leader-election-renew-deadline=2s", "--leader-election-retry-period=500ms"]
    first = OperatorProcess(tmp_path, cluster, namespace, "first", *election)
    eventually(first.ready, timeout=60, message="first /readyz")
    second = OperatorProcess(tmp_path, cluster, namespace, "second", *election)
    try:
        eventually(second.ready, timeout=60, message="second /readyz")
        lease = client.CoordinationV1Api(cluster.api_client()).read_namespaced_lease(
            f"{GADGET_CONTROLLER}-leader-election", namespace)
        assert lease.spec.holder_identity
        gadgets.create("g")
        message = eventually(lambda: gadgets.ready_message("g"), timeout=30)
        leader, follower = (first, second) if message == "reconciled by first" else (
            second, first)
        assert message == f"reconciled by {leader.tag}"
        assert len(leader.reconciled("g")) == 1
        assert follower.reconciled("g") == []
        # the leader stops (and releases the Lease): the follower takes over
        assert leader.stop() == 0
        gadgets.api.patch_namespaced_custom_object(GROUP, VERSION, namespace, GADGET.plural,
                                                   "g", {"spec": {"color": "red"}})
        eventually(lambda: gadgets.ready_message("g", generation=2)
                   == f"reconciled by {follower.tag}", timeout=30, message="follower leads")
        gadgets.delete("g")
        eventually(lambda: gadgets.get("g") is None, timeout=30, message="finalized")
        assert follower.stop() == 0
    finally:
        first.stop()
        second.stop()
        gadgets.release("g")


SHARD_KEY = "sharding.fluxcd.io/key"


def test_watch_label_selector_shards_the_objects_and_each_shard_leads_its_own_lease(
        cluster: Any, gadget_crd: None, namespace: str, tmp_path: Path) -> None:
    gadgets = Gadgets(cluster, namespace)
    election = ["--enable-leader-election", "--leader-election-retry-period=500ms"]
    main = OperatorProcess(tmp_path, cluster, namespace, "main", *election,
                           f"--watch-label-selector=!{SHARD_KEY}")
    shard = OperatorProcess(tmp_path, cluster, namespace, "shard1", *election,
                            f"--watch-label-selector={SHARD_KEY} in (shard1)")
    try:
        eventually(main.ready, timeout=60, message="main /readyz")
        eventually(shard.ready, timeout=60, message="shard1 /readyz")
        gadgets.create("plain")
        gadgets.create("sharded", labels={SHARD_KEY: "shard1"})
        gadgets.create("other", labels={SHARD_KEY: "shard2"})
        eventually(lambda: gadgets.ready_message("plain") == "reconciled by main", timeout=30)
        eventually(lambda: gadgets.ready_message("sharded") == "reconciled by shard1",
                   timeout=30)
        # both lead at once: one Lease each
        leases = client.CoordinationV1Api(cluster.api_client()).list_namespaced_lease(namespace)
        names = {lease.metadata.name for lease in leases.items}
        assert {lease_name(GADGET_CONTROLLER, f"!{SHARD_KEY}"),
                lease_name(GADGET_CONTROLLER, f"{SHARD_KEY} in (shard1)")} <= names
        # moving an object to the shard: the shard takes it, the main instance lets go
        gadgets.api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, GADGET.plural, "plain",
            {"metadata": {"labels": {SHARD_KEY: "shard1"}}})
        eventually(lambda: gadgets.ready_message("plain") == "reconciled by shard1",
                   timeout=30, message="the shard reconciles the relabelled object")
        assert main.reconciled("sharded") == [] and shard.reconciled("other") == []
        assert main.reconciled("other") == []
        assert gadgets.ready_message("other") is None  # no shard2 runs
        # the server filters: a shard's log never names another shard's object
        assert not [line for line in shard.lines() if line.get("name") == "other"]
        for name in ("plain", "sharded"):
            gadgets.delete(name)
        eventually(lambda: gadgets.get("plain") is None and gadgets.get("sharded") is None,
                   timeout=30, message="finalized by the shard")
        assert main.stop() == 0 and shard.stop() == 0
    finally:
        main.stop()
        shard.stop()
        for name in ("plain", "sharded", "other"):
            gadgets.release(name)
            if gadgets.get(name) is not None:
                gadgets.delete(name)


def test_event_recorder_bumps_repeats_on_the_api(cluster: Any, namespace: str) -> None:
    api = cluster.api_client()
    kube = KubernetesClient(api)
    recorder = EventRecorder(kube, CONTROLLER, instance="test")
    involved = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                "metadata": {"name": "ghost", "namespace": namespace, "uid": str(uuid.uuid4())}}

    async def record() -> None:
        for _ in range(3):
            await recorder.record(involved, "Warning", "BuildFailed", "same failure",
                                  {"revision": "main@sha1:abc"})

    try:
        asyncio.run(record())
    finally:
        kube.close()
    items = api.sanitize_for_serialization(client.CoreV1Api(api).list_namespaced_event(
        namespace).items)
    (event,) = [e for e in items if e["involvedObject"]["name"] == "ghost"]
    assert event["count"] == 3 and event["reason"] == "BuildFailed"
    assert event["metadata"]["annotations"] == {f"{GROUP}/revision": "main@sha1:abc"}
    assert event["reportingInstance"] == "test"
