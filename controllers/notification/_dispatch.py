"""Events in, notifications out.

Two ways in, one way out:

- **core/v1 Events** the other operators record (`on_core_event`, a watch callback): those
  about a Flux kind, not reported by notification-controller itself;
- **Flux's event API** (`accept`, called by `_server` for `POST /` at `--events-addr`).

An event goes to every Alert that takes it (`_alerts.matches_alert`; the object's labels
are read only when an Alert selects by `matchLabels`), once per rate-limit window (same
object, message and revision), each Alert's notification built by `notification_for` and
sent through its Provider by `_sender.send` in a task of its own (retries with backoff,
never holding up another Provider). A failure is recorded as a Warning Event on the
Provider and reported on its status (`DeliveryFailed`, via `Services.delivery_failures`),
which the next success clears. Every delivery, sent or failed, is recorded on the Alert
(`_deliveries`): what went to which Provider, when, without its address.

Exactly once across restarts, for core Events: when every delivery of an Event has
finished (sent, or failed after its retries), the Event gets the annotation
`notification.toolkit.fluxcd.io/dispatched: "<count>"` (its `count`, which the recorder
bumps on a repeat). The watch lists every Event when the operator starts, so an Event
recorded while it was down is dispatched then, and one already annotated with its
current count is not dispatched again. The mark lives on the Event itself, so it needs
no bookkeeping of its own and goes away with the Event (kube-apiserver's event TTL). An
Event that no Alert takes is not annotated (no write for the common case); an Event older
than an Alert is never sent through that Alert, so a new Alert does not replay history.
The one window left: a crash between a delivery and the annotation re-sends that Event
once after the restart (at-least-once rather than losing it). With leader election,
only the leader dispatches; the others wait, so a new leader picks up what is unmarked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from afflux.api._registry import kind_for
from afflux.controllers.runtime import (
    ApiError,
    EventRecorder,
    KubeClient,
    Metrics,
    NotFoundError,
    ObjectRef,
    Resource,
    Scheduler,
)

from ._alerts import RateLimiter, matches_alert, needs_labels, notification_for
from ._config import resolve_provider
from ._deliveries import DELIVERED, DELIVERY_FAILED, delivery_message, delivery_metadata
from ._event import from_core_event, group_of, is_flux_object, rate_limit_key
from ._providers import ConfigError, SkipEvent, build_request
from ._reconcile import ALERTS, PROVIDERS, Services
from ._sender import UNCHANGED, DeliveryError, send

__all__ = ["DISPATCHED_ANNOTATION", "EVENTS", "Dispatcher"]

EVENTS = Resource("", "v1", "Event", "events")
DISPATCHED_ANNOTATION = "notification.toolkit.fluxcd.io/dispatched"
CONTROLLER_NAME = "notification-controller"

_log = logging.getLogger("afflux.notification.dispatch")


def _ident(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Dispatcher:
    def __init__(
        self,
        services: Services,
        *,
        alerts: Scheduler,
        providers: Scheduler,
        recorder: EventRecorder,
        metrics: Metrics,
        rate_limit: float = 300.0,
        cross_namespace: bool = True,
        leader: Any = None,
        retries: int = 4,
        backoff: float = 1.0,
        namespace: str | None = None,
    ) -> None:
        self.services = services
        self.kube: KubeClient = services.kube
        self.alerts = alerts
        self.providers = providers
        self.recorder = recorder
        self.limiter = RateLimiter(rate_limit)
        self.cross_namespace = cross_namespace
        self.leader = leader
        self.retries = retries
        self.backoff = backoff
        self.namespace = namespace  # the one watched, None for all
        self._warm = asyncio.Lock()
        self._warmed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight: dict[str, int] = {}  # Event uid -> count being dispatched
        self._sent = metrics.counter("afflux_notifications_sent_total",
                                     "Notifications a Provider accepted.")
        self._failed = metrics.counter("afflux_notifications_failed_total",
                                       "Notifications that failed after their retries.")
        self._limited = metrics.counter("afflux_events_rate_limited_total",
                                        "Events dropped as repeats within the rate limit.")

    # --- ways in --------------------------------------------------------------------------

    def on_core_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Watch callback for core/v1 Events: start a dispatch for a new occurrence."""
        if event_type == "DELETED":
            return
        involved = body.get("involvedObject") or {}
        if not is_flux_object(involved) or group_of(
                str(involved.get("apiVersion"))) == PROVIDERS.group:
            return
        reporter = body.get("reportingComponent") or (body.get("source") or {}).get("component")
        if reporter == CONTROLLER_NAME:
            return
        meta = body.get("metadata") or {}
        count = int(body.get("count") or 1)
        try:
            done = int((meta.get("annotations") or {}).get(DISPATCHED_ANNOTATION) or 0)
        except ValueError:
            done = 0
        uid = str(meta.get("uid") or "")
        if count <= done or self._in_flight.get(uid, 0) >= count:
            return
        self._in_flight[uid] = count
        self._spawn(self._dispatch_core(dict(body), uid, count))

    def accept(self, event: Mapping[str, Any]) -> bool:
        """An event from Flux's event API: False if rate-limited (answered 429)."""
        if not self.limiter.allow(rate_limit_key(event)):
            self._limited()
            return False
        self._spawn(self._deliver_all(event))
        return True

    # --- the work ------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dispatch_core(self, body: dict[str, Any], uid: str, count: int) -> None:
        try:
            if self.leader is not None:
                await self.leader.wait()
            event = from_core_event(body)
            if event["severity"] == "trace":
                return
            alerts = await self._matching_alerts(event)
            if not alerts:
                return
            if self.limiter.allow(rate_limit_key(event)):
                await self._deliver(event, alerts)
            else:
                self._limited()
            await self._mark(body, count)
        except Exception:  # noqa: BLE001 - one Event never stops the others
            _log.exception("dispatching an event failed")
        finally:
            if self._in_flight.get(uid) == count:
                del self._in_flight[uid]

    async def _warm_up(self) -> None:
        """Before the first match: list Providers and Alerts into the schedulers' caches.
        kopf starts its watches side by side, so at start-up the Event listing can arrive
        before the Alerts are known; an Event matched against an empty cache would be
        left undelivered (and unmarked) until the next restart."""
        if self._warmed:
            return
        async with self._warm:
            if self._warmed:
                return
            for scheduler, resource in ((self.providers, PROVIDERS), (self.alerts, ALERTS)):
                known = set(scheduler.keys())
                for body in await self.kube.list(resource, self.namespace):
                    if _ident(body) not in known:
                        scheduler.observe(None, body)
            self._warmed = True

    async def _mark(self, body: Mapping[str, Any], count: int) -> None:
        namespace, name = _ident(body)
        patch = {"metadata": {"annotations": {DISPATCHED_ANNOTATION: str(count)}}}
        try:
            await self.kube.patch(ObjectRef(EVENTS, namespace, name), patch)
        except NotFoundError:
            pass
        except ApiError as err:
            _log.warning("could not mark event %s/%s as dispatched: %s", namespace, name, err)

    async def _labels(self, involved: Mapping[str, Any]) -> dict[str, str] | None:
        try:
            cls = kind_for(group_of(str(involved.get("apiVersion"))), str(involved.get("kind")))
        except (KeyError, ValueError):
            return None
        resource = Resource(cls.GROUP, cls.VERSION, cls.KIND, cls.PLURAL)
        try:
            obj = await self.kube.get(ObjectRef(resource, involved.get("namespace"),
                                                str(involved.get("name"))))
        except ApiError:
            return None
        return dict(((obj or {}).get("metadata") or {}).get("labels") or {}) if obj else None

    async def _matching_alerts(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        await self._warm_up()
        involved = event.get("involvedObject") or {}
        kind = involved.get("kind")
        candidates = self.alerts.find(lambda a: any(
            s.get("kind") == kind for s in (a.get("spec") or {}).get("eventSources") or ()))
        labels = None
        if any(needs_labels(a, involved) for a in candidates):
            labels = await self._labels(involved)
        return [a for a in candidates
                if not (a.get("metadata") or {}).get("deletionTimestamp")
                and matches_alert(event, a, labels, cross_namespace=self.cross_namespace)]

    async def _deliver_all(self, event: Mapping[str, Any]) -> None:
        try:
            alerts = await self._matching_alerts(event)
            await self._deliver(event, alerts)
        except Exception:  # noqa: BLE001
            _log.exception("dispatching an event failed")

    async def _deliver(self, event: Mapping[str, Any], alerts: list[dict[str, Any]]) -> None:
        await asyncio.gather(*(self._through(event, alert) for alert in alerts))

    def _provider(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.providers.find(lambda p: _ident(p) == (namespace, name))
        return found[0] if found else None

    async def _through(self, event: Mapping[str, Any], alert: Mapping[str, Any]) -> None:
        namespace, alert_name = _ident(alert)
        provider_name = ((alert.get("spec") or {}).get("providerRef") or {}).get("name", "")
        provider = self._provider(namespace, provider_name)
        where = {"alert": f"{namespace}/{alert_name}", "provider": f"{namespace}/{provider_name}"}
        if provider is None:
            _log.warning("Provider %s/%s of Alert %s not found: event dropped", namespace,
                         provider_name, alert_name, extra=where)
            return
        if (provider.get("spec") or {}).get("suspend") is True:
            return
        notification = notification_for(event, alert)
        try:
            resolved = await resolve_provider(self.kube, provider)
            config = replace(resolved.config, alert=alert)
            request = build_request(config, notification)
        except SkipEvent:
            return
        except ConfigError as err:
            await self._failure(provider, str(err), where)
            await self._record(alert, event, provider, str(err))
            return
        try:
            answered = await send(request, timeout=resolved.timeout, tls=resolved.tls,
                                  proxy=resolved.proxy, retries=self.retries,
                                  backoff=self.backoff)
        except DeliveryError as err:
            # the log has the whole (redacted) story; status and Events say it without the
            # address
            what = f"sending to the {resolved.config.type} Provider failed"
            await self._failure(provider, f"{what}: {err.brief or 'error'}", where,
                                f"{what}: {err}")
            await self._record(alert, event, provider, err.brief)
            return
        self._sent()
        _log.info("notification not sent: the service already shows it" if answered == UNCHANGED
                  else "sent notification", extra={
            **where, "involvedObject": f"{event['involvedObject'].get('kind')}/"
            f"{event['involvedObject'].get('namespace')}/{event['involvedObject'].get('name')}"})
        await self._record(alert, event, provider, None, unchanged=answered == UNCHANGED)
        key = _ident(provider)
        if self.services.delivery_failures.pop(key, None) is not None:
            self.providers.trigger(*key)

    async def _record(self, alert: Mapping[str, Any], event: Mapping[str, Any],
                      provider: Mapping[str, Any], failure: str | None, *,
                      unchanged: bool = False) -> None:
        """The delivery record on the Alert (`_deliveries`), for `afflux events`."""
        await self.recorder.record(
            alert, "Normal" if failure is None else "Warning",
            DELIVERED if failure is None else DELIVERY_FAILED,
            delivery_message(event, provider, failure, unchanged),
            delivery_metadata(event, provider))

    async def _failure(self, provider: Mapping[str, Any], message: str,
                       where: Mapping[str, str], logged: str | None = None) -> None:
        self._failed()
        _log.error("%s", logged or message, extra=dict(where))
        key = _ident(provider)
        self.services.delivery_failures[key] = message
        await self.recorder.record(provider, "Warning", "DeliveryFailed", message)
        self.providers.trigger(*key)
