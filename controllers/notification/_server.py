"""notification-controller's two listeners, each on its own address (and apart from
metrics and health):

- `--events-addr` (Flux's default `:9090`; ours `127.0.0.1:9090`): Flux's event API,
  `POST /` with an event's JSON. 202 when accepted, 429 when rate-limited (Flux's
  recorders do not retry a 429), 400 for a body that is not an event.
- `--receiverAddr` (Flux's default `:9292`; ours `127.0.0.1:9292`): Receiver webhooks,
  `POST /hook/<sha256>`. The path names the Receiver (its `status.webhookPath`); the
  Receiver's type authenticates the call (`_receivers.check`). A valid call sets
  `reconcile.fluxcd.io/requestedAt` on every object the Receiver lists (`name: '*'` with
  `matchLabels` lists them); a call that is not authentic gets 401 and touches nothing;
  an unknown path 404; a suspended Receiver 503.

Request bodies are bounded (`MAX_BODY`); a larger one gets 413 before it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from afflux.api import Receiver
from afflux.api._meta import REQUESTED_AT_ANNOTATION
from afflux.api._registry import KINDS, kind_for
from afflux.controllers.runtime import (
    ApiError,
    KubeClient,
    ObjectRef,
    Resource,
    Scheduler,
    parse_addr,
)

from ._dispatch import Dispatcher
from ._event import InvalidEvent, from_json
from ._providers import ConfigError
from ._receivers import Ignored, Unauthorized, check
from ._reconcile import receiver_token

__all__ = ["MAX_BODY", "Listeners", "request_reconcile"]

MAX_BODY = 3 * 1024 * 1024
#: a Receiver's resources may leave out apiVersion: the group of each kind afflux serves
GROUP_BY_KIND = {k.KIND: k.GROUP for k in KINDS}

_log = logging.getLogger("afflux.notification.server")


def _resource(ref: Mapping[str, Any]) -> Resource | None:
    kind = str(ref.get("kind") or "")
    api_version = str(ref.get("apiVersion") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else GROUP_BY_KIND.get(kind, "")
    try:
        cls = kind_for(group, kind)
    except KeyError:
        return None
    version = api_version.rpartition("/")[2] if "/" in api_version else cls.VERSION
    return Resource(cls.GROUP, version, cls.KIND, cls.PLURAL)


async def request_reconcile(kube: KubeClient, receiver: Receiver, now: datetime) -> list[str]:
    """Set requestedAt on every object `receiver` lists; returns what was annotated."""
    stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    patch = {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: stamp}}}
    done: list[str] = []
    for ref in receiver.to_dict()["spec"].get("resources") or ():
        resource = _resource(ref)
        if resource is None:
            _log.warning("Receiver %s/%s: kind %s is not served", receiver.namespace,
                         receiver.name, ref.get("kind"))
            continue
        namespace = ref.get("namespace") or receiver.namespace
        if ref.get("name") == "*":
            selector = ",".join(f"{k}={v}" for k, v in (ref.get("matchLabels") or {}).items())
            objects = await kube.list(resource, namespace, label_selector=selector or None)
            names = [o["metadata"]["name"] for o in objects]
        else:
            names = [ref["name"]]
        for name in names:
            try:
                await kube.patch(ObjectRef(resource, namespace, name), patch)
                done.append(f"{resource.kind}/{namespace}/{name}")
            except ApiError as err:
                _log.warning("Receiver %s/%s could not annotate %s/%s/%s: %s",
                             receiver.namespace, receiver.name, resource.kind, namespace, name,
                             err.reason)
    return done


class Listeners:
    def __init__(self, *, kube: KubeClient, dispatcher: Dispatcher, receivers: Scheduler,
                 events_addr: str, receiver_addr: str) -> None:
        self.kube = kube
        self.dispatcher = dispatcher
        self.receivers = receivers
        self._addrs = {"events": parse_addr(events_addr), "receiver": parse_addr(receiver_addr)}
        self._runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}

    async def _event(self, request: web.Request) -> web.Response:
        try:
            event = from_json(await request.read())
        except InvalidEvent as err:
            return web.Response(status=400, text=f"{err}\n")
        if not self.dispatcher.accept(event):
            return web.Response(status=429, text="rate limited\n")
        return web.Response(status=202)

    async def _hook(self, request: web.Request) -> web.Response:
        path = request.path
        found = self.receivers.find(
            lambda r: ((r.get("status") or {}).get("webhookPath")) == path)
        if not found:
            return web.Response(status=404, text="no receiver for this path\n")
        receiver = Receiver.from_dict(found[0])
        if receiver.spec.suspend:
            return web.Response(status=503, text="receiver is suspended\n")
        try:
            token = await receiver_token(self.kube, receiver)
        except ConfigError:
            return web.Response(status=404, text="no receiver for this path\n")
        if receiver.webhook_path(token) != path:  # the token changed since: an old path
            return web.Response(status=404, text="no receiver for this path\n")
        body = await request.read()
        where = {"receiver": f"{receiver.namespace}/{receiver.name}"}
        try:
            event = check(receiver.spec.type, token, dict(request.headers), body,
                          receiver.spec.events)
        except Unauthorized as err:
            _log.warning("rejected webhook call: %s", err, extra=where)
            return web.Response(status=401, text="unauthorized\n")
        except Ignored as err:
            _log.info("ignored webhook call: %s", err, extra=where)
            return web.Response(status=200, text="ignored\n")
        done = await request_reconcile(self.kube, receiver, datetime.now(UTC))
        _log.info("webhook call handled", extra={**where, "event": event, "annotated": done})
        return web.Response(status=200, text="ok\n")

    async def start(self) -> None:
        apps = {"events": [("POST", "/", self._event)],
                "receiver": [("POST", "/hook/{digest}", self._hook)]}
        for name, routes in apps.items():
            addr = self._addrs[name]
            if addr is None:
                continue
            app = web.Application(client_max_size=MAX_BODY)
            for method, path, handler in routes:
                app.router.add_route(method, path, handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, addr[0], addr[1]).start()
            self._runners.append(runner)
            for address in runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    self.ports[name] = int(address[1])
            _log.info("listening", extra={"listener": name, "port": self.ports.get(name)})

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
