"""The kopf wiring: one operator process, its kinds, its schedulers, its endpoints.

kopf is used for what it is good at, watching: each registered kind gets exactly one
`@kopf.on.event` handler, which hands the raw watch event to that kind's `Scheduler`
and returns nothing. No on.create/update/delete/resume, timers or daemons are registered,
so kopf has no handler progress to persist, no diff-base to store and no reason for a
finalizer of its own; all triggers (spec change, requestedAt, interval, retries,
`trigger()`) are decided by our scheduler, and all writes (status, `finalizers.fluxcd.io`,
Events) are the pipeline's.

kopf lists each watched kind in pages of `LIST_CHUNK` before it watches (memory: one page
at a time, not the whole kind). kopf's settings still say where its bookkeeping would go,
so that if a handler that persists state is ever added it lands in annotations under
`afflux.toolkit.fluxcd.io/` rather than in `status` or under kopf's own prefix: progress
and diff-base storage in annotations with that prefix, its finalizer name under that
prefix, k8s-event posting off (we record our own Events), peering off (leader election is
ours, on a Lease). Since every handler is an event handler, kopf's change detection (a deep
copy of every body on every watch event, for `on.create`/`on.update` handlers) is off
(`EventsOnlyDiffBase`) unless a change handler is ever registered (`fit_diffbase`), and
kopf's memory of each object shares its never-written daemons and indexing records with all
the others (`EventsOnlyMemories`) unless a daemon, timer or index handler is (`fit_memories`).

Crash-only: the long-lived tasks (kopf's watches, leader election) retry their transient
errors themselves; `run()` supervises them, and when one ends for good it stops kopf and
raises `OperatorFailed`, so the process exits non-zero and its Deployment restarts it.
`/healthz` answers 503 while `health` (a `TaskHealth`) lists a problem: a task that died,
or a loop that stopped beating (leader election beats every round). kopf's watch and
request timeouts are set, so that a frozen API server ends in a reconnect, not a hang.

Sharding (`--watch-label-selector`, Flux's flag and meaning): the selector goes to the API
server with every list and watch of the operator's own kinds (kopf's server-side label
selectors), so a shard never even receives another shard's objects; an object whose labels
stop matching arrives as a deletion and is forgotten (not finalized). Watches of other kinds
(sources, Secrets, Events) are not narrowed, as in Flux. Each shard elects its own leader
on a Lease of its own (`lease_name`).

Rate limit (`--kube-api-qps`, `--kube-api-burst`): every request of the operator's
client (reads, applies, status patches, Events, the leader Lease) and of the
impersonated clients made from it waits for a token of one bucket, as client-go's. kopf's
own requests are not paced: they are the initial list of each watched kind (in pages) and
the long watch streams, each one request for minutes, reopened when the server ends it.

Graceful shutdown (opt-in, `graceful_shutdown(timeout, on_stopping)`: helm-controller's
`--graceful-shutdown-timeout`): kopf answers SIGTERM by cancelling every task at once, runs
in progress included. An operator that opts in takes SIGTERM and SIGINT over from kopf once
it is up, and `graceful_stop(why)` (a signal, or another reason such as helm-controller's
OOM watch) then: starts no new run, calls the `on_stopping` hooks (helm-controller cancels
its helm actions gracefully there, so that releases end failed, not pending), gives the runs
in progress up to the timeout to end, cancels those left, and stops kopf; the process exits
0, as on any stop.

Credentials: kopf logs in with the same `kubernetes` client configuration the runtime
uses (`--kubeconfig`, else $KUBECONFIG, else in-cluster), through a login handler. The
runtime's own requests go through `_kubeaio.client_for` (aiohttp on the event loop, over
the operator's one bounded `ConnectionPool`).

RBAC an operator needs besides its own kinds: get/list/watch/patch on its kinds and their
`/status`, create/patch `events`, get/create/update `leases` (leader election), and
list/watch `customresourcedefinitions` and `namespaces` (kopf's discovery of served
resources; without it kopf only discovers at start-up and says so in its log).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import signal
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from kopf._core.engines.daemons import DaemonsMemory  # kopf has no public names for these
from kopf._core.engines.indexing import IndexingMemory
from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory

from afflux.api._legacy import CONVERSION_SERVICE
from afflux.api._meta import AFFLUX_ANNOTATION_PREFIX
from afflux.api._sharding import leader_lease_name
from afflux.api.conversion import CONVERTIBLE

from ._convcert import CertificateKeeper, manager_name
from ._conversion import ConversionServer
from ._events import EventRecorder
from ._interner import Interner
from ._kube import REQUEST_TIMEOUT, KubeClient, KubernetesClient, load_api_client
from ._kubeaio import ConnectionPool, client_for
from ._leader import LeaderElector
from ._metrics import Metrics
from ._object import Resource
from ._options import Options
from ._pipeline import Environment, Reconciler
from ._ratelimit import limiter_for
from ._scheduler import Scheduler
from ._serve import Servers
from ._supervise import OperatorFailed, TaskHealth

WatchCallback = Callable[[str | None, Mapping[str, Any]], Awaitable[None] | None]

_log = logging.getLogger("afflux.runtime.operator")

LEADER_TASK = "leader election"
#: seconds between tries of an operator's start-up listener (artifact server, receivers) whose
#: address is taken: kopf's default is a minute
LISTEN_RETRY = 2.0
#: objects per page of kopf's initial list of a watched kind
LIST_CHUNK = 500


class EventsOnlyDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff-base storage for an operator whose handlers are all `kopf.on.event`
    (every afflux operator's): on each watch event kopf builds the object's "essence" (a
    deep copy of the whole body, managedFields and status included) and diffs it against
    the stored one, for `on.create`/`on.update` handlers only; with none registered the
    result is never read. This one builds and reads an empty essence (no copy per event);
    `Operator.run` falls back to kopf's own when a change handler is registered."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: Any) -> Any:
        return None


def diffbase_storage(events_only: bool) -> kopf.DiffBaseStorage:
    """The diff-base storage (annotations under our prefix): `EventsOnlyDiffBase` when the
    operator registers only event handlers, else kopf's."""
    kind = EventsOnlyDiffBase if events_only else kopf.AnnotationsDiffBaseStorage
    return kind(prefix=AFFLUX_ANNOTATION_PREFIX, key="last-handled-configuration")


def fit_diffbase(settings: kopf.OperatorSettings, registry: kopf.OperatorRegistry) -> None:
    """kopf's own diff-base storage in `settings` when `registry` holds a change handler
    (`on.create`, `on.update`, ...), which needs kopf's change detection; else
    `EventsOnlyDiffBase`."""
    events_only = not registry._changing.get_all_handlers()  # kopf has no public accessor
    settings.persistence.diffbase_storage = diffbase_storage(events_only)


class EventsOnlyMemories(ResourceMemories):
    """kopf's memory of each object (one per uid, for as long as the object exists), for an
    operator without daemons, timers or indexes (every afflux operator): kopf writes an
    object's daemons record only for daemon and timer handlers and its indexing record only
    for index handlers, so all objects share one of each instead of an empty pair apiece
    (about 0.5 KiB per object: 5 MiB at 10,000 Kustomizations). Each object's memo, error
    throttler and flags stay its own. `fit_memories` picks it."""

    def __init__(self) -> None:
        super().__init__()
        self.daemons: DaemonsMemory | None = None  # made on the loop (it reads the loop time)
        self.indexing = IndexingMemory()

    async def recall(self, raw_body: Any, **kwargs: Any) -> ResourceMemory:
        memory = await super().recall(raw_body, **kwargs)
        if self.daemons is None:
            self.daemons = memory.daemons_memory
        if memory.indexing_memory is not self.indexing:  # a new one: drop its own empty pair
            memory.daemons_memory = self.daemons
            memory.indexing_memory = self.indexing
        return memory


def fit_memories(registry: kopf.OperatorRegistry) -> ResourceMemories | None:
    """`EventsOnlyMemories` when `registry` holds no daemon, timer or index handler; else
    None (kopf's own)."""
    if registry._spawning.get_all_handlers() or registry._indexing.get_all_handlers():
        return None
    return EventsOnlyMemories()


def kopf_settings() -> kopf.OperatorSettings:
    """kopf settings that keep kopf's bookkeeping out of `status` and its Events off."""
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=AFFLUX_ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = diffbase_storage(events_only=True)
    settings.persistence.finalizer = f"{AFFLUX_ANNOTATION_PREFIX}/kopf-finalizer"
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.peering.mandatory = False
    # Frozen API server or half-open connection: reconnect instead of waiting for ever.
    settings.watching.connect_timeout = 30
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = REQUEST_TIMEOUT
    settings.networking.connect_timeout = 30
    # The initial list in pages: a single list of 5,000 Kustomizations is a 27 MB response
    # parsed at once (about 80 MB of dicts) on top of everything else, at start-up.
    settings.watching.chunk_size = LIST_CHUNK
    return settings


def label_selector(labels: Mapping[str, str]) -> str:
    """The API server's selector for objects carrying all of `labels`. Pure."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def config_key(body: Mapping[str, Any]) -> str:
    """A digest of a ConfigMap's or Secret's content: what a watch of the objects that
    `--watch-configs-label-selector` selects compares (a relabel is no change). Pure."""
    content = {k: body.get(k) for k in ("data", "stringData", "binaryData")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


#: the Lease an instance takes (the selector's digest appended for a shard)
lease_name = leader_lease_name


def connection_info(api_client: Any) -> kopf.ConnectionInfo:
    """kopf credentials from a `kubernetes.client.ApiClient`'s configuration."""
    config = api_client.configuration
    header = (config.get_api_key_with_prefix("BearerToken")
              or config.get_api_key_with_prefix("authorization"))
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (
        (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1]))
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


class ChangeFilter:
    """Remembers `key(body)` per object; says whether a watch event changed it. Equal keys
    of different objects are held once (an `Interner`: at 10,000 Ready Kustomizations
    their readiness keys are one tuple)."""

    _MISSING = object()

    def __init__(self, key: Callable[[Mapping[str, Any]], Any]) -> None:
        self.key = key
        self._seen: dict[tuple[str, str], Any] = {}
        self._share = Interner()

    def changed(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        ident = (meta.get("namespace") or "", meta.get("name") or "")
        if event_type == "DELETED":
            self._seen.pop(ident, None)
            return True
        value = self.key(body)
        if self._seen.get(ident, self._MISSING) == value:
            return False
        try:
            value = self._share(value)
        except TypeError:  # unhashable: held as it is
            pass
        self._seen[ident] = value
        return True


class Operator:
    """One operator process: register kinds (and watches of other kinds), then `run()`.

    `register(reconciler)` returns the kind's `Scheduler`, whose `trigger(ns, name)` and
    `find(predicate)` other code (another kind's watch) uses to ask for reconciles.
    """

    def __init__(
        self,
        name: str,
        options: Options,
        *,
        api_client: Any = None,
        kube: KubeClient | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.api_client = api_client if api_client is not None else load_api_client(
            options.kubeconfig)
        self._own_kube = kube is None
        self.metrics = Metrics()
        #: the process's connections to the API server (its own client's, and those of the
        #: clients made from it: impersonating, remote)
        self.pool = ConnectionPool(limit=options.concurrent + 4)
        if kube is None:
            host = urllib.parse.urlsplit(self.api_client.configuration.host).netloc
            kube = client_for(
                self.api_client, pool=self.pool, max_workers=options.concurrent + 4,
                on_request=lambda method, code: self.metrics.count_request(code, method, host),
                limiter=limiter_for(options.kube_api_qps, options.kube_api_burst))
        self.kube: KubeClient = kube
        self.recorder = EventRecorder(self.kube, name)
        self.semaphore = asyncio.Semaphore(options.concurrent)
        self.health = TaskHealth()
        self.leader: LeaderElector | None = None
        if options.enable_leader_election:
            self.leader = LeaderElector(
                self.kube, name=lease_name(name, options.watch_label_selector),
                namespace=options.namespace,
                lease_duration=options.leader_election_lease_duration,
                renew_deadline=options.leader_election_renew_deadline,
                retry_period=options.leader_election_retry_period,
                heartbeat=lambda: self.health.beat(LEADER_TASK),
            )
        leader = self.leader
        self.metrics.leading = lambda: leader is None or leader.is_leader
        self._supervised: dict[str, Callable[[], Awaitable[None]]] = {}
        self.registry = kopf.OperatorRegistry()
        self.settings = kopf_settings()
        self.servers = Servers(metrics=self.metrics, metrics_addr=options.metrics_addr,
                               health_addr=options.health_addr,
                               ready=lambda: self.ready and self.health.healthy(),
                               healthy=self.health.healthy)
        self.ready = False
        self._schedulers: dict[Resource, Scheduler] = {}
        #: watch callbacks on a registered kind, run by its reconcile handler (`watch`)
        self._same_kind: dict[Resource, list[Callable[[Mapping[str, Any]], Awaitable[None]]]] = {}
        #: graceful shutdown: (timeout, hooks), None for kopf's own (`graceful_shutdown`)
        self._graceful: tuple[float, list[Callable[[], Awaitable[None] | None]]] | None = None
        self._graceful_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._register_activities()

    # --- registration ------------------------------------------------------------------

    def _register_activities(self) -> None:
        api_client = self.api_client

        @kopf.on.login(registry=self.registry)
        def _login(**_: Any) -> kopf.ConnectionInfo:
            return connection_info(api_client)

        @kopf.on.cleanup(registry=self.registry)
        async def _cleanup(**_: Any) -> None:
            await self._stop_schedulers()

    def register(self, reconciler: Reconciler[Any]) -> Scheduler:
        """Reconcile `reconciler.resource` with `reconciler`; returns its scheduler."""
        resource = reconciler.resource
        if resource in self._schedulers:
            raise ValueError(f"{resource} is registered already")
        env = Environment(kube=self.kube, recorder=self.recorder, options=self.options,
                          logger=logging.getLogger(f"afflux.{self.name}"))
        scheduler = Scheduler(reconciler, env, semaphore=self.semaphore, metrics=self.metrics,
                              leader=self.leader)
        self._schedulers[resource] = scheduler
        self.metrics.set_max_concurrent(scheduler.controller, self.options.concurrent)

        same_kind = self._same_kind[resource] = []

        async def _on_event(event: Mapping[str, Any], **_: Any) -> None:
            scheduler.observe(event.get("type"), event["object"])
            for watcher in same_kind:
                try:
                    await watcher(event)
                except Exception:  # as kopf does for a handler of its own: log, go on
                    _log.exception("a watch callback of %s failed", resource.plural)

        kopf.on.event(resource.group, resource.version, resource.plural,
                      registry=self.registry, id=f"reconcile-{resource.plural}")(_on_event)
        return scheduler

    def watch(
        self,
        resource: Resource,
        callback: WatchCallback,
        *,
        key: Callable[[Mapping[str, Any]], Any] | None = None,
        labels: Mapping[str, str] | None = None,
        selector: str | None = None,
    ) -> None:
        """Call `callback(event_type, body)` on watch events of another kind (only of the
        objects carrying all of `labels`, or matching the label selector `selector`, when
        given; an empty `selector` selects every object).

        With `labels`, the selector goes to the API server (kopf's server-side label
        selectors), not only to kopf's own filter: kopf then never lists, parses or keeps a
        memory of the other objects of that kind. kustomize-controller's ConfigMap watch
        selects the few labelled `reconcile.fluxcd.io/watch: Enabled`; filtered in the
        process, it received every ConfigMap the Kustomizations apply and kopf kept about
        1.1 KiB for each (110 MiB at 10,000 Kustomizations of 10 ConfigMaps).

        With `selector` (e.g. `--watch-configs-label-selector`, any selector the API server
        takes, such as Flux's example `owner!=helm`), the same but the selector alone
        decides: kopf's own filter takes only `labels`, and the API server sends nothing
        else.

        With `key`, only when `key(body)` changed for that object since the last call (the
        first sight counts as a change; so does deletion, with event type `DELETED`): e.g.
        kustomize-controller triggers the Kustomizations of a source when
        `key=lambda b: (b.get("status") or {}).get("artifact", {}).get("revision")` moves.
        Register watches before `run()`; the callback runs on the operator's event loop. On
        a kind this operator reconciles (registered first, no `labels`), the callback runs
        in the kind's own event handler, after its scheduler saw the event.
        """
        changes = ChangeFilter(key) if key is not None else None

        async def _on_event(event: Mapping[str, Any], **_: Any) -> None:
            event_type, body = event.get("type"), event["object"]
            if changes is not None and not changes.changed(event_type, body):
                return
            result = callback(event_type, body)
            if inspect.isawaitable(result):
                await result

        if selector is not None:
            if labels:
                raise ValueError("give labels or a selector, not both")
            if resource in self._schedulers:
                raise ValueError(f"{resource} is reconciled here: its selector is "
                                 "--watch-label-selector")
            if selector:
                self.settings.watching.label_selectors[
                    resource.group, resource.version, resource.plural] = selector
            kopf.on.event(resource.group, resource.version, resource.plural,
                          registry=self.registry, id=f"watch-{resource.plural}")(_on_event)
            return
        if resource in self._same_kind and not labels:
            # a registered kind: called from its reconcile handler, after the scheduler saw
            # the event (one kopf handler invocation per event, not two)
            self._same_kind[resource].append(_on_event)
            return
        if labels and resource not in self._schedulers:
            self.settings.watching.label_selectors[
                resource.group, resource.version, resource.plural] = label_selector(labels)
        kopf.on.event(resource.group, resource.version, resource.plural,
                      registry=self.registry, id=f"watch-{resource.plural}",
                      labels=dict(labels) if labels else None)(_on_event)

    def scheduler(self, resource: Resource) -> Scheduler:
        return self._schedulers[resource]

    def supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` for as long as the operator runs; if it ever returns or raises, the
        operator stops and `run()` raises `OperatorFailed` (the task must retry its own
        transient errors). Register before `run()`."""
        self._supervised[name] = run

    def graceful_shutdown(self, timeout: float,
                          on_stopping: Callable[[], Awaitable[None] | None] | None = None) -> None:
        """Stop gracefully (module docstring) on SIGTERM/SIGINT, giving the runs in progress
        up to `timeout` seconds; `on_stopping()` is called when the stop begins. Call
        before `run()`; may be called again to add a hook (the last timeout wins)."""
        hooks = self._graceful[1] if self._graceful is not None else []
        if on_stopping is not None:
            hooks.append(on_stopping)
        self._graceful = (timeout, hooks)

    def graceful_stop(self, why: str) -> None:
        """Begin a graceful stop (once; later calls do nothing). On the operator's loop."""
        if self._graceful_task is None:
            self._graceful_task = asyncio.get_running_loop().create_task(
                self._stop_gracefully(why), name="graceful stop")

    async def _stop_gracefully(self, why: str) -> None:
        timeout, hooks = self._graceful if self._graceful is not None else (0.0, [])
        running = sum(s.running for s in self._schedulers.values())
        _log.info("%s: stopping; %d run(s) in progress get up to %gs to end", why, running,
                  timeout, extra={"reason": why, "running": running, "timeout": timeout})
        for scheduler in self._schedulers.values():
            scheduler.close()
        try:
            for hook in hooks:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            await asyncio.gather(*(s.stop(grace=timeout) for s in self._schedulers.values()))
        finally:
            self._stopped.set()

    def _take_signals(self) -> None:
        """SIGTERM and SIGINT begin `graceful_stop` instead of kopf's immediate stop (kopf
        installs its handlers when it starts; these replace them)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.graceful_stop, f"signal {sig.name}")

    # --- running -------------------------------------------------------------------------

    async def run(self, *, stop_flag: Any = None, ready_flag: Any = None) -> None:
        """Run until `stop_flag` is set (a threading/asyncio Event) or SIGINT/SIGTERM.

        `ready_flag` (threading or asyncio Event) is set once kopf is up and watching.
        """
        if not self._schedulers:
            raise RuntimeError("no kind registered: call register() before run()")
        kopf_ready = asyncio.Event()
        await self.servers.start()
        conversion = self._conversion_server()
        await conversion.start()
        relay = asyncio.create_task(self._relay_ready(kopf_ready, ready_flag), name="ready relay")
        supervised = dict(self._supervised)
        if self.leader is not None:
            leader = self.leader
            self.health.expect(LEADER_TASK, 2 * leader.retry_period + REQUEST_TIMEOUT + 10)
            supervised[LEADER_TASK] = leader.run
        tasks = {asyncio.create_task(run(), name=name): name for name, run in supervised.items()}
        if self.options.watch_label_selector:
            for resource in self._schedulers:
                self.settings.watching.label_selectors[
                    resource.group, resource.version, resource.plural] = (
                    self.options.watch_label_selector)
        fit_diffbase(self.settings, self.registry)
        namespaces: dict[str, Any] = (
            {"clusterwide": True} if self.options.watch_all_namespaces
            else {"namespaces": [self.options.namespace]})
        _log.info("starting", extra={"kinds": [str(r) for r in self._schedulers],
                                     "watchLabelSelector": self.options.watch_label_selector,
                                     "metricsPort": self.servers.metrics_port,
                                     "healthPort": self.servers.health_port, **namespaces})
        watching = asyncio.create_task(
            kopf.operator(registry=self.registry, settings=self.settings, standalone=True,
                          memories=fit_memories(self.registry),
                          stop_flag=stop_flag, ready_flag=kopf_ready, **namespaces),
            name="kopf")
        failure: OperatorFailed | None = None
        stopped = asyncio.create_task(self._stopped.wait(), name="graceful stop waiter")
        try:
            done, _ = await asyncio.wait({watching, stopped, *tasks},
                                         return_when=asyncio.FIRST_COMPLETED)
            ended = [task for task in done if task is not watching and task is not stopped]
            if ended:
                failure = self._task_ended(tasks[ended[0]], ended[0])
                watching.cancel()
            elif stopped in done:  # stopped gracefully: kopf goes now, its tasks are idle
                watching.cancel()
            await asyncio.gather(watching, return_exceptions=failure is not None
                                 or stopped in done)
        finally:
            self.ready = False
            for name in supervised:
                self.health.forget(name)
            await self._stop_schedulers()
            for task in (relay, stopped, *tasks):
                task.cancel()
            if self._graceful_task is not None and not self._graceful_task.done():
                self._graceful_task.cancel()
            await asyncio.gather(relay, stopped, *tasks, return_exceptions=True)
            await conversion.stop()
            await self.servers.stop()
            if self._own_kube and isinstance(self.kube, KubernetesClient):
                self.kube.close()
            await self.pool.close()
            _log.info("stopped")
        if failure is not None:
            raise failure

    def _conversion_server(self) -> ConversionServer:
        """The conversion webhook of the registered kinds that have old versions."""
        kinds = [(r.group, r.kind) for r in self._schedulers]
        keeper = None
        converted = [r for r in self._schedulers if (r.group, r.kind) in CONVERTIBLE]
        if self.options.conversion_cert_secret and not self.options.conversion_cert_dir \
                and converted:
            keeper = CertificateKeeper(
                self.kube, namespace=self.options.namespace,
                secret=self.options.conversion_cert_secret,
                service=CONVERSION_SERVICE[converted[0].kind],
                crds=[f"{r.plural}.{r.group}" for r in converted],
                manager=manager_name(self.name))
        return ConversionServer(kinds, self.options.conversion_addr,
                                self.options.conversion_cert_dir, keeper)

    def _task_ended(self, name: str, task: asyncio.Task[None]) -> OperatorFailed:
        """Record that a supervised task ended (it never should) and say why."""
        error = None if task.cancelled() else task.exception()
        why = ("cancelled" if task.cancelled() else "returned" if error is None
               else f"{type(error).__name__}: {error}")
        self.health.died(name, why)
        _log.error("%s ended for good (%s): stopping the operator", name, why,
                   exc_info=error)
        return OperatorFailed(f"{name} ended: {why}")

    async def _relay_ready(self, kopf_ready: asyncio.Event, ready_flag: Any) -> None:
        await kopf_ready.wait()
        if self._graceful is not None:
            self._take_signals()
        self.ready = True
        if ready_flag is not None:
            ready_flag.set()

    async def _stop_schedulers(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._schedulers.values()))
