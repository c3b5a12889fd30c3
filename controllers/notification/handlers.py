"""notification-controller's wiring: three reconcilers, the Event watch, the listeners.

`setup(operator)` (what `__main__` hands to `run_operator`):

1. registers the Provider, Alert and Receiver reconcilers (`_reconcile`);
2. watches Providers: when one's readiness changes, the Alerts that name it are
   reconciled at once (so an Alert says when its Provider goes missing or comes back);
3. watches core/v1 Events and hands each to the `Dispatcher` (`_dispatch`);
4. watches the Secrets `--watch-configs-label-selector` selects (default: labelled
   `reconcile.fluxcd.io/watch: Enabled`; empty: all), as Flux's: when the data of one
   changes (or it goes), the Receivers of its namespace whose `spec.secretRef` names it are
   reconciled at once (a new token is a new `status.webhookPath`);
5. starts the event API and the Receiver listeners (`_server`) with the operator and
   stops them (and the deliveries in flight) with it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

import kopf

from afflux.controllers.runtime import (
    LISTEN_RETRY,
    Operator,
    addr_arg,
    config_key,
    duration_arg,
    trigger_readers,
)

from ._config import SECRETS
from ._dispatch import EVENTS, Dispatcher
from ._oidc import GOOGLE_ISSUER
from ._reconcile import (
    PROVIDERS,
    Services,
    alert_reconciler,
    provider_reconciler,
    receiver_reconciler,
)
from ._server import Listeners

__all__ = ["DEFAULT_EVENTS_ADDR", "DEFAULT_RECEIVER_ADDR", "add_flags", "reads_secret", "setup"]

DEFAULT_EVENTS_ADDR = "127.0.0.1:9090"
DEFAULT_RECEIVER_ADDR = "127.0.0.1:9292"


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events-addr", type=addr_arg, default=DEFAULT_EVENTS_ADDR,
                        help="address of Flux's event API, POST / (default "
                        f"{DEFAULT_EVENTS_ADDR}; Flux's is :9090); 0 turns it off")
    parser.add_argument("--receiverAddr", "--receiver-addr", dest="receiver_addr",
                        type=addr_arg, default=DEFAULT_RECEIVER_ADDR,
                        help="address of the Receiver webhooks, POST /hook/<sha256> (default "
                        f"{DEFAULT_RECEIVER_ADDR}; Flux's is :9292); 0 turns it off")
    parser.add_argument("--rate-limit-interval", type=duration_arg, default=300.0,
                        metavar="DURATION",
                        help="the same event (object, message, revision) is sent once per "
                        "interval (default 5m)")


def provider_readiness(body: Mapping[str, Any]) -> tuple[Any, ...]:
    status = body.get("status") or {}
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
    return ready.get("status"), ready.get("reason"), ready.get("message")


def reads_secret(receiver: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Whether `receiver` (a body) takes its token from Secret `namespace/name`."""
    meta = receiver.get("metadata") or {}
    ref = (receiver.get("spec") or {}).get("secretRef") or {}
    return (meta.get("namespace") or "") == namespace and ref.get("name") == name


def setup(operator: Operator) -> Dispatcher:
    """Register everything; returns the dispatcher (for tests)."""
    extra = operator.options.extra
    services = Services(operator.kube)
    providers = operator.register(provider_reconciler(services))
    alerts = operator.register(alert_reconciler(services))
    receivers = operator.register(receiver_reconciler(services))
    dispatcher = Dispatcher(
        services, alerts=alerts, providers=providers, recorder=operator.recorder,
        metrics=operator.metrics, rate_limit=extra.rate_limit_interval,
        cross_namespace=not operator.options.no_cross_namespace_refs, leader=operator.leader,
        namespace=None if operator.options.watch_all_namespaces else operator.options.namespace)

    def on_provider(event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        for alert in alerts.find(lambda a: (a.get("metadata") or {}).get("namespace") == namespace
                                 and ((a.get("spec") or {}).get("providerRef") or {}).get("name")
                                 == name):
            alerts.trigger(namespace, alert["metadata"]["name"])

    operator.watch(PROVIDERS, on_provider, key=provider_readiness)
    operator.watch(EVENTS, dispatcher.on_core_event)
    operator.watch(SECRETS, trigger_readers(receivers, reads_secret), key=config_key,
                   selector=operator.options.watch_configs_label_selector)
    # gcr Receivers verify Google's ID tokens with Google's keys; AFFLUX_GCR_ISSUER_URL
    # points at a stand-in of Google's issuer (the tests'; an operator's admin sets it, never
    # an object)
    listeners = Listeners(kube=operator.kube, dispatcher=dispatcher, receivers=receivers,
                          events_addr=extra.events_addr, receiver_addr=extra.receiver_addr,
                          google_issuer=os.environ.get("AFFLUX_GCR_ISSUER_URL") or GOOGLE_ISSUER)

    # a listening address taken for a moment (e.g. by another process's outgoing connection
    # on that port) is tried again every LISTEN_RETRY seconds, not kopf's default minute
    @kopf.on.startup(registry=operator.registry, id="notification-listeners", backoff=LISTEN_RETRY)
    async def _start(**_: Any) -> None:
        await listeners.start()

    @kopf.on.cleanup(registry=operator.registry, id="notification-stop")
    async def _stop(**_: Any) -> None:
        await listeners.stop()
        await dispatcher.stop()

    return dispatcher
