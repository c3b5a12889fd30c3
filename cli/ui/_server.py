"""The UI's HTTP server (aiohttp): the static page, a JSON API over the watch cache, a
Server-Sent Events stream of changes, and the actions (reconcile, suspend, resume) made with
the CLI's own library calls and the user's own client, so the API server decides what the
user may do and its refusal is shown as it is.

Requests that change anything must carry `X-Afflux-UI: 1` (a page on another origin cannot
send it without a CORS preflight, which is never granted), and every request must name this
server's own host (no DNS rebinding).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
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
from .._status import is_suspended
from .._suspend import suspend
from .._tree import _Builder
from .._treefmt import Node
from ._layout import layout
from ._model import (
    build_graph,
    fleet_groups,
    fleet_row,
    focus,
    history_rows,
    image_tables,
    last_change,
    tree_for_page,
)
from ._watch import FleetCache

__all__ = ["make_app"]

ACTIONS = ("reconcile", "reconcile-with-source", "suspend", "resume")
_STATIC = resources.files(__package__) / "static"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}
#: Seconds between the comments that keep an idle event stream open through proxies.
KEEPALIVE = 15.0


def _ctx(kube: Kube) -> Context:
    return Context(argparse.Namespace(verbose=0), Printer(verbose=0), kube)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def make_app(connect: Callable[[], Kube], allowed_hosts: set[str],
             namespace: str | None = None) -> web.Application:
    """The application; `connect` makes a client with the user's credentials; `namespace`
    limits the watches to one namespace (for a user who may not list cluster-wide)."""
    kube = connect()
    fleet = FleetCache(connect, namespace=namespace)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.host not in allowed_hosts:
            return _error(421, f"this server answers for {', '.join(sorted(allowed_hosts))}")
        if request.method != "GET" and request.headers.get("X-Afflux-UI") != "1":
            return _error(403, "missing X-Afflux-UI header")
        try:
            return await handler(request)
        except KubeError as err:
            return _error(err.status if 400 <= err.status < 600 else 502, err.message)
        except Unreachable as err:
            return _error(502, err.message)
        except CLIError as err:
            return _error(409, err.message)

    app = web.Application(middlewares=[guard])

    async def on_startup(_: web.Application) -> None:
        fleet.start(asyncio.get_running_loop())

    async def on_shutdown(_: web.Application) -> None:
        fleet.stop()

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

    async def api_fleet(_: web.Request) -> web.Response:
        return web.json_response({"groups": fleet_groups(fleet.rows()),
                                  "errors": {k: v for k, v in fleet.errors.items() if v}})

    async def api_stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
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
        graph = focus(build_graph(fleet.objects.values(),
                                  applied=request.query.get("applied", "1") != "0"),
                      request.query.get("q", ""))
        size = layout(graph)
        return web.json_response({**graph.to_dict(), **size})

    async def api_images(_: web.Request) -> web.Response:
        return web.json_response(image_tables(fleet.objects.values()))

    def _target(request: web.Request) -> tuple[Any, str, str]:
        info = request.match_info
        try:
            noun = noun_for_kind(info["kind"])
        except KeyError:
            raise web.HTTPNotFound(text=f"not a Flux kind: {info['kind']}") from None
        return noun, info["namespace"], info["name"]

    async def api_object(request: web.Request) -> web.Response:
        noun, ns, name = _target(request)
        obj = await asyncio.to_thread(kube.get, resource_of(noun.kind), name, ns)
        return web.json_response(await asyncio.to_thread(_details, kube, obj))

    async def api_action(request: web.Request) -> web.Response:
        noun, ns, name = _target(request)
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound(text=f"no action {action}")
        message = await asyncio.to_thread(_act, kube, action, noun, name, ns)
        return web.json_response({"message": message})

    app.router.add_get("/", static)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/fleet", api_fleet)
    app.router.add_get("/api/stream", api_stream)
    app.router.add_get("/api/graph", api_graph)
    app.router.add_get("/api/images", api_images)
    app.router.add_get("/api/object/{kind}/{namespace}/{name}", api_object)
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
