"""`afflux ui [--addr HOST:PORT] [--as USER]`: a web UI over the Flux objects, served with the
user's kubeconfig (every read and action is the user's own). docs/ui.md describes it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .._context import Context, overrides_of
from .._errors import CLIError
from .._kube import Kube

__all__ = ["parse_addr", "register", "run"]

DEFAULT_ADDR = "127.0.0.1:9080"


def parse_addr(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9080` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. {DEFAULT_ADDR}; got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ui", parents=list(parents), help="serve the web UI (fleet, graph, objects)",
                       description="Serve a web UI over the Flux objects with your kubeconfig.")
    p.add_argument("--addr", type=parse_addr, default=parse_addr(DEFAULT_ADDR),
                   metavar="HOST:PORT", help=f"where to listen (default {DEFAULT_ADDR})")
    p.add_argument("--watch-namespace", metavar="NAMESPACE",
                   help="show only this namespace's objects (for a user who may not list "
                   "them in every namespace; default: all namespaces)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiohttp import web  # noqa: PLC0415 - keep import cost off the other commands

    from ._server import make_app  # noqa: PLC0415

    ctx = Context.from_args(args)
    host, port = args.addr

    def connect() -> Kube:
        # the global connection flags (--as, --as-group, --token, ...) apply, as to every
        # command: the UI acts as that user
        return Kube.connect(args.kubeconfig, args.context, overrides=overrides_of(args))

    ctx.kube.server_version()  # fail now, with the CLI's message, if the cluster is not there
    shown = f"[{host}]" if ":" in host else host
    hosts = {f"{shown}:{port}"}
    if host in ("127.0.0.1", "::1", "localhost"):
        hosts |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
    app = make_app(connect, hosts, args.watch_namespace)
    ctx.printer.success(f"afflux ui: http://{shown}:{port}/")
    try:
        web.run_app(app, host=host, port=port, print=None, shutdown_timeout=2,
                    handle_signals=True)
    except OSError as err:
        raise CLIError(f"cannot listen on {shown}:{port}: {err.strerror or err}",
                       "pick another --addr") from None
    return 0
