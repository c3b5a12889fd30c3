"""The UI's HTTP server (aiohttp): the static page, a JSON API over the watch cache, a
Server-Sent Events stream of changes, and the actions (reconcile, suspend, resume) made with
the CLI's own library calls and the user's own client, so the API server decides what the
user may do and its refusal is shown as it is.

Every `/api/` request is made in a session (`_sessions`): the local user's, or in-cluster
the caller's own (its bearer token; 401 without one). Locally, requests that change
anything must carry `X-Afflux-UI: 1` (a page on another origin cannot send it without a
CORS preflight, which is never granted), and every request must name this server's own host
(no DNS rebinding); in-cluster they must come from this origin with the session's CSRF
token (`_auth.check_same_origin`). `/api/next/...` is what the next reconcile would change
(`_next`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from afflux.api import ObjectRef, meta

from .._context import Context
from .._driftfmt import drift_records
from .._errors import CLIError
from .._kinds import noun_for_kind
from .._kube import EVENTS, Kube, KubeError, KubeNotFound, Unreachable, resource_of
from .._output import Printer
from .._reconcile import request_reconcile, source_of
from .._status import get_path, is_suspended
from .._suspend import suspend
from .._tree import _Builder
from .._treefmt import Node
from ._auth import AuthError, check_same_origin
from ._layout import layout
from ._model import (
    build_graph,
    fleet_groups,
    fleet_row,
    focus,
    history_rows,
    image_tables,
    last_change,
    push_records,
    tree_for_page,
)
from ._next import NextReconcile
from ._sessions import Session
from ._watch import FleetCache

__all__ = ["make_app"]

ACTIONS = ("reconcile", "reconcile-with-source", "suspend", "resume")
_STATIC = resources.files(__package__) / "static"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}
#: Seconds between the comments that keep an idle event stream open through proxies.
KEEPALIVE = 15.0
#: Seconds between two looks for idle sessions to end (at most).
REAP_EVERY = 30.0


def _ctx(kube: Kube) -> Context:
    return Context(argparse.Namespace(verbose=0), Printer(verbose=0), kube)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


Resolve = Callable[[web.Request], Awaitable[Session]]


def make_app(resolve: Resolve, allowed_hosts: set[str] | None, *, in_cluster: bool = False,
             on_stop: Callable[[], None] | None = None,
             next_reconcile: NextReconcile | None = None,
             reap: Callable[[], object] | None = None,
             reap_every: float = REAP_EVERY) -> web.Application:
    """The application. `resolve` gives the session of a request (the local user's, or the
    caller's own in-cluster: AuthError when it has no credentials); `allowed_hosts` are the
    Host headers answered (None: any); `in_cluster` asks every POST for the same origin and
    the session's CSRF token (else for the `X-Afflux-UI` header); `reap` is called every
    `reap_every` seconds (ending idle sessions); `on_stop` when the server stops."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if allowed_hosts is not None and request.host not in allowed_hosts:
            return _error(421, f"this server answers for {', '.join(sorted(allowed_hosts))}")
        if not request.path.startswith("/api/"):
            return await handler(request)  # the page itself and /healthz: no cluster data
        try:
            session = await resolve(request)
            if request.method != "GET":
                if in_cluster:
                    check_same_origin(request.headers, request.host, session.csrf)
                elif request.headers.get("X-Afflux-UI") != "1":
                    return _error(403, "missing X-Afflux-UI header")
        except AuthError as err:
            resp = _error(err.status, err.message)
            if err.status == 401:
                resp.headers["WWW-Authenticate"] = 'Bearer realm="afflux-ui"'
            return resp
        except Unreachable as err:
            return _error(502, err.message)
        request["session"] = session
        session.touch()
        try:
            return await handler(request)
        except KubeError as err:
            return _error(err.status if 400 <= err.status < 600 else 502, err.message)
        except Unreachable as err:
            return _error(502, err.message)
        except CLIError as err:
            return _error(409, err.message)

    app = web.Application(middlewares=[guard])

    def session_of(request: web.Request) -> Session:
        session: Session = request["session"]
        return session

    def fleet_of(request: web.Request) -> FleetCache:
        return session_of(request).fleet(request.query.get("namespace", ""))

    async def reaper() -> None:
        while reap is not None:
            await asyncio.sleep(reap_every)
            reap()

    async def on_startup(app: web.Application) -> None:
        app["reaper"] = asyncio.ensure_future(reaper())

    async def on_shutdown(app: web.Application) -> None:
        app["reaper"].cancel()
        if on_stop is not None:
            on_stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)

    async def static(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        suffix = name[name.rfind("."):]
        item = _STATIC / name
        if "/" in name or suffix not in _TYPES or not item.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=item.read_bytes(), content_type=_TYPES[suffix],
                            headers={"Cache-Control": "no-cache"})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def api_session(request: web.Request) -> web.Response:
        session = session_of(request)
        return web.json_response({"user": session.user, "groups": session.groups,
                                  "csrf": session.csrf, "inCluster": in_cluster,
                                  "namespace": session.default_namespace or ""})

    async def api_fleet(request: web.Request) -> web.Response:
        fleet = fleet_of(request)
        return web.json_response({"groups": fleet_groups(fleet.rows()),
                                  "errors": {k: v for k, v in fleet.errors.items() if v}})

    async def api_stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        fleet = fleet_of(request)
        session = session_of(request)
        await resp.prepare(request)
        queue = fleet.subscribe()

        async def send(event: str, data: Any) -> None:
            await resp.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        async def snapshot() -> None:
            await send("snapshot", {"rows": fleet.rows(),
                                    "errors": {k: v for k, v in fleet.errors.items() if v}})

        try:
            await snapshot()
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    session.touch()
                    await resp.write(b": keepalive\n\n")
                    continue
                if message is None:
                    break
                if message[0] == "resync":
                    await snapshot()
                else:
                    await send(*message)
        except ConnectionResetError:
            pass  # the page went away
        finally:
            fleet.unsubscribe(queue)
        return resp

    async def api_graph(request: web.Request) -> web.Response:
        fleet = fleet_of(request)
        graph = focus(build_graph(fleet.objects.values(),
                                  applied=request.query.get("applied", "1") != "0"),
                      request.query.get("q", ""))
        size = layout(graph)
        return web.json_response({**graph.to_dict(), **size})

    async def api_images(request: web.Request) -> web.Response:
        tables = image_tables(fleet_of(request).objects.values())
        await asyncio.to_thread(_add_pushes, session_of(request).kube, tables["automations"])
        return web.json_response(tables)

    def _target(request: web.Request) -> tuple[Any, str, str]:
        info = request.match_info
        try:
            noun = noun_for_kind(info["kind"])
        except KeyError:
            raise web.HTTPNotFound(text=f"not a Flux kind: {info['kind']}") from None
        return noun, info["namespace"], info["name"]

    async def api_object(request: web.Request) -> web.Response:
        noun, ns, name = _target(request)
        kube = session_of(request).kube
        obj = await asyncio.to_thread(kube.get, resource_of(noun.kind), name, ns)
        return web.json_response(await asyncio.to_thread(_details, kube, obj))

    async def api_next(request: web.Request) -> web.Response:
        if next_reconcile is None:
            raise web.HTTPNotFound(text="previews are off")
        info = request.match_info
        session = session_of(request)
        return web.json_response(await next_reconcile.compute(
            session.key, session.kube, info["kind"], info["namespace"], info["name"],
            refresh=request.query.get("refresh", "") == "1"))

    async def api_action(request: web.Request) -> web.Response:
        noun, ns, name = _target(request)
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound(text=f"no action {action}")
        message = await asyncio.to_thread(_act, session_of(request).kube, action, noun, name, ns)
        return web.json_response({"message": message})

    app.router.add_get("/", static)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/session", api_session)
    app.router.add_get("/api/fleet", api_fleet)
    app.router.add_get("/api/stream", api_stream)
    app.router.add_get("/api/graph", api_graph)
    app.router.add_get("/api/images", api_images)
    app.router.add_get("/api/object/{kind}/{namespace}/{name}", api_object)
    app.router.add_get("/api/next/{kind}/{namespace}/{name}", api_next)
    app.router.add_post("/api/{action}/{kind}/{namespace}/{name}", api_action)
    return app


def _act(kube: Kube, action: str, noun: Any, name: str, namespace: str) -> str:
    """Do an action as the CLI does it (without waiting: the page shows the outcome live)."""
    ctx = _ctx(kube)
    kind = noun.kind.KIND
    if action == "suspend":
        suspend(ctx, noun, name, namespace)
        return f"{kind} {namespace}/{name} suspended"
    if action == "resume":
        request_reconcile(ctx, noun, name, namespace, spec_patch={"suspend": False})
        return f"{kind} {namespace}/{name} resumed"
    obj = kube.get(resource_of(noun.kind), name, namespace)
    if is_suspended(obj):
        raise CLIError(f"{kind} {namespace}/{name} is suspended: resume it first")
    done = []
    if action == "reconcile-with-source":
        source = source_of(obj)
        if source is None:
            raise CLIError(f"{kind} {namespace}/{name} names no source")
        request_reconcile(ctx, noun_for_kind(source[0]), source[1], source[2])
        done.append(f"{source[0]} {source[2]}/{source[1]}")
    request_reconcile(ctx, noun, name, namespace)
    done.append(f"{kind} {namespace}/{name}")
    return "reconciliation requested: " + ", ".join(done)


def _add_pushes(kube: Kube, automations: list[dict[str, Any]]) -> None:
    """Fill each automation row's `pushes` from its namespace's `Succeeded` events of
    ImageUpdateAutomations, read with the user's identity (one list per namespace); a
    namespace whose events the user may not list gets `pushesError` on its rows."""
    for namespace in sorted({row["namespace"] for row in automations}):
        rows = [row for row in automations if row["namespace"] == namespace]
        try:
            events = kube.list(EVENTS, namespace, field_selector=(
                "involvedObject.kind=ImageUpdateAutomation,reason=Succeeded"))
        except KubeError as err:
            for row in rows:
                row["pushesError"] = err.message
            continue
        for row in rows:
            row["pushes"] = push_records(
                e for e in events if get_path(e, "involvedObject", "name") == row["name"])


def _details(kube: Kube, obj: dict[str, Any]) -> dict[str, Any]:
    """What the object page shows: the row, conditions, events, inventory tree, history, the
    drift corrected (from the DriftCorrected events) and the last change set."""
    md = obj.get("metadata") or {}
    md.pop("managedFields", None)
    kind, ns, name = str(obj.get("kind")), str(md.get("namespace", "")), str(md["name"])
    status = obj.get("status") or {}
    out: dict[str, Any] = {
        "row": fleet_row(obj),
        "object": obj,
        "conditions": status.get("conditions") or [],
        "history": history_rows(status.get("history") or []),
        "requestedAt": (md.get("annotations") or {}).get(meta.REQUESTED_AT_ANNOTATION, ""),
        "lastHandledReconcileAt": status.get("lastHandledReconcileAt", ""),
        "source": "",
    }
    src = source_of(obj)
    if src is not None:
        out["source"] = f"{src[0]}/{src[2]}/{src[1]}"
    try:
        events = kube.list(EVENTS, ns, field_selector=f"involvedObject.kind={kind},"
                           f"involvedObject.name={name}")
        events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime")
                                      or (e.get("metadata") or {}).get("creationTimestamp")))
        out["events"] = [{
            "type": e.get("type", ""), "reason": e.get("reason", ""),
            "message": e.get("message", ""), "count": e.get("count", 1),
            "last": e.get("lastTimestamp") or e.get("eventTime") or "",
        } for e in events[-50:]]
        out["drift"] = drift_records(events)[:10]
        out["lastChange"] = last_change(events)
    except KubeError as err:
        out["events"], out["eventsError"] = [], err.message
    if kind in ("Kustomization", "HelmRelease"):
        ref = ObjectRef(ns, name, noun_for_kind(kind).kind.GROUP, kind)
        root = Node(ref)
        builder = _Builder(_ctx(kube), ref)
        try:
            if kind == "Kustomization":
                builder.kustomization(root, obj)
            else:
                builder.helm_release(root, obj)
        except KubeNotFound:
            pass
        out["tree"] = tree_for_page(root)
    return out
