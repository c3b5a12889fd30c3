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
  an unknown path 404; a suspended Receiver 503. `spec.resourceFilter` and each entry's
  `filter` (CEL over `res`, `req` = the JSON body, and `claims` for generic-oidc) narrow
  the objects annotated.

Request bodies are bounded (`MAX_BODY`); a larger one gets 413 before it is read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
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

from ._cel import CELError, compile_expression, evaluate_bool
from ._dispatch import Dispatcher
from ._event import InvalidEvent, from_json
from ._oidc import GOOGLE_ISSUER, InvalidToken, IssuerKeys, authenticate, authenticate_google
from ._providers import ConfigError
from ._receivers import Ignored, Unauthorized, check, gcr_payload
from ._reconcile import OIDC_TYPE, filter_variables, receiver_secret, receiver_token

__all__ = ["MAX_BODY", "Listeners", "request_reconcile", "resource_filter"]

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


#: decides, for one resource entry and one object, whether it is reconciled
Accept = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


async def request_reconcile(kube: KubeClient, receiver: Receiver, now: datetime,
                            accept: Accept | None = None) -> list[str]:
    """Set requestedAt on every object `receiver` lists that `accept(entry, object)` takes
    (all without `accept`); returns what was annotated."""
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
        elif accept is not None:
            found = await kube.get(ObjectRef(resource, namespace, ref["name"]))
            objects = [found] if found is not None else []
        else:
            objects = [{"metadata": {"name": ref["name"]}}]
        for obj in objects:
            if accept is not None and not accept(ref, obj):
                continue
            name = obj["metadata"]["name"]
            try:
                await kube.patch(ObjectRef(resource, namespace, name), patch)
                done.append(f"{resource.kind}/{namespace}/{name}")
            except ApiError as err:
                _log.warning("Receiver %s/%s could not annotate %s/%s/%s: %s",
                             receiver.namespace, receiver.name, resource.kind, namespace, name,
                             err.reason)
    return done


def _json_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The call's body as `req` sees it: the JSON object of a JSON call, else empty."""
    if "json" not in content_type.lower():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def resource_filter(receiver: Receiver, req: Mapping[str, Any],
                    claims: Mapping[str, Any] | None) -> Accept | None:
    """What `request_reconcile` asks about each object: spec.resourceFilter and the
    entry's filter (both, when set) are true for it. An expression that fails for an object
    leaves that object alone (logged, without values). None when there are no filters."""
    variables = filter_variables(receiver)
    top = (compile_expression(receiver.spec.resource_filter, variables)
           if receiver.spec.resource_filter else None)
    if top is None and not any(r.filter for r in receiver.spec.resources):
        return None
    base: dict[str, Any] = {"req": dict(req)}
    if claims is not None:
        base["claims"] = dict(claims)

    def accept(ref: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        values = {**base, "res": dict(obj)}
        programs = [p for p in (top, compile_expression(ref["filter"], variables)
                                if ref.get("filter") else None) if p is not None]
        try:
            return all(evaluate_bool(p, values) for p in programs)
        except CELError as err:
            _log.warning("Receiver %s/%s: a resource filter failed for %s/%s: %s",
                         receiver.namespace, receiver.name, ref.get("kind"),
                         (obj.get("metadata") or {}).get("name"), err)
            return False
    return accept


class Listeners:
    def __init__(self, *, kube: KubeClient, dispatcher: Dispatcher, receivers: Scheduler,
                 events_addr: str, receiver_addr: str,
                 google_issuer: str = GOOGLE_ISSUER) -> None:
        self.kube = kube
        self.dispatcher = dispatcher
        self.receivers = receivers
        self.oidc_keys = IssuerKeys()
        self.google_issuer = google_issuer
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
        claims: dict[str, Any] | None = None
        req = _json_body(request.content_type, body)
        try:
            if receiver.spec.type == OIDC_TYPE:
                event = ""
                issuers = receiver.to_dict()["spec"].get("oidcProviders") or []
                claims = await authenticate(issuers, request.headers.get("Authorization", ""),
                                            self.oidc_keys, time.time())
            elif receiver.spec.type == "gcr":
                event = ""
                secret = await receiver_secret(self.kube, receiver)
                await authenticate_google(request.headers.get("Authorization", ""),
                                          secret["email"], secret["audience"], self.oidc_keys,
                                          time.time(), self.google_issuer)
                req = gcr_payload(body)  # the filters see the registry's event, as Flux's
            else:
                event = check(receiver.spec.type, token, dict(request.headers), body,
                              receiver.spec.events)
        except Unauthorized as err:
            _log.warning("rejected webhook call: %s", err, extra=where)
            return web.Response(status=401, text="unauthorized\n")
        except InvalidToken as err:
            # as Flux's: the caller learns why (a failed validation's message); the reasons
            # carry no token or claim value
            _log.warning("rejected webhook call: %s", err, extra=where)
            return web.Response(status=401, text=f"unauthorized: {err}\n")
        except Ignored as err:
            _log.info("ignored webhook call: %s", err, extra=where)
            return web.Response(status=200, text="ignored\n")
        try:
            accept = resource_filter(receiver, req, claims)
        except CELError as err:  # the reconciler stalls the Receiver on this too
            _log.warning("invalid resource filter: %s", err, extra=where)
            return web.Response(status=500, text="invalid resource filter\n")
        done = await request_reconcile(self.kube, receiver, datetime.now(UTC), accept)
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
