"""`afflux ui [--addr HOST:PORT] [--as USER]`: a web UI over the Flux objects, served with the
user's kubeconfig (every read and action is the user's own); `afflux ui --in-cluster
--auth=token`: the same UI as a shared server (config/ui/), where every read and action is
made with the caller's own bearer token and the server holds no rights of its own;
`--auth=proxy` (config/ui/proxy/): behind an authenticating proxy, impersonating the user and
groups it names.
docs/ui.md describes both."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._context import Context, duration_arg, overrides_of
from .._errors import CLIError
from .._kube import Kube, KubeOverrides, Unreachable, apply_overrides, merge_kubeconfigs

__all__ = ["cluster_entry", "parse_addr", "register", "run"]

DEFAULT_ADDR = "127.0.0.1:9080"
#: Where a pod finds the cluster's CA (config/ui mounts the kube-root-ca.crt ConfigMap there).
IN_CLUSTER_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
AUTH_MODES = ("token", "proxy")


def parse_addr(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9080` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. {DEFAULT_ADDR}; got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ui", parents=list(parents), help="serve the web UI (fleet, graph, objects)",
                       description="Serve a web UI over the Flux objects with your kubeconfig "
                       "or, with --in-cluster, with each caller's own bearer token.")
    p.add_argument("--addr", type=parse_addr, default=None, metavar="HOST:PORT",
                   help=f"where to listen (default {DEFAULT_ADDR}; 0.0.0.0:9080 with "
                   "--in-cluster)")
    p.add_argument("--watch-namespace", metavar="NAMESPACE",
                   help="show only this namespace's objects (for a user who may not list "
                   "them in every namespace; default: all namespaces)")
    p.add_argument("--in-cluster", action="store_true",
                   help="serve many users: every request is made with the caller's own "
                   "identity (--auth), never with the server's")
    p.add_argument("--auth", choices=AUTH_MODES, default="token",
                   help="with --in-cluster, how callers prove who they are: token = the "
                   "`Authorization: Bearer` header their authenticating proxy sends (the UI "
                   "has no rights); proxy = the X-Forwarded-User/-Groups headers of a proxy "
                   "that sends the shared secret of --proxy-secret-file (the UI impersonates "
                   "them with its own credentials)")
    p.add_argument("--proxy-secret-file", type=Path, metavar="FILE",
                   help="with --auth=proxy, the file holding the secret the proxy sends in "
                   "X-Afflux-Proxy-Secret (at least 16 characters)")
    p.add_argument("--api-ca", default=IN_CLUSTER_CA, metavar="FILE",
                   help="with --in-cluster and no kubeconfig, the API server's CA "
                   f"(default {IN_CLUSTER_CA})")
    p.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT]",
                   help="with --in-cluster, answer only requests for this Host (repeat; "
                   "default: any)")
    p.add_argument("--max-sessions", type=int, default=32,
                   help="with --in-cluster, users served at once (default 32)")
    p.add_argument("--session-idle", type=duration_arg, default=600.0, metavar="DURATION",
                   help="with --in-cluster, end a user's session (and its watches) after "
                   "this long without a request or an open page (default 10m)")
    p.add_argument("--preview-timeout", type=duration_arg, default=60.0, metavar="DURATION",
                   help="the longest a 'what the next reconcile would change' may take "
                   "(default 60s)")
    p.set_defaults(func=run)


def cluster_entry(args: argparse.Namespace, env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The API server to reach (a kubeconfig `cluster` entry: server and CA), without any
    credentials: from the kubeconfig's context (with the connection flags) when there is
    one, else from the pod's environment."""
    env = dict(os.environ) if env is None else env
    path = args.kubeconfig or env.get("KUBECONFIG") or ""
    default = Path.home() / ".kube" / "config"
    o = KubeOverrides(server=args.server, certificate_authority=args.certificate_authority,
                      insecure_skip_tls_verify=bool(args.insecure_skip_tls_verify),
                      cluster=args.cluster)
    if path or default.exists():
        files = [Path(p).expanduser() for p in (path or str(default)).split(os.pathsep) if p]
        if not files[0].exists():
            raise Unreachable(f"kubeconfig {files[0]} does not exist",
                              "pass --kubeconfig <file> or set KUBECONFIG")
        cfg = apply_overrides(merge_kubeconfigs(files), args.context, o)
        name = args.context or cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c.get("name") == name)
        cluster = next(c.get("cluster") or {} for c in cfg["clusters"]
                       if c.get("name") == ctx.get("cluster"))
        return {k: v for k, v in cluster.items() if k in (
            "server", "certificate-authority", "certificate-authority-data",
            "insecure-skip-tls-verify", "tls-server-name")}
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not (host or args.server):
        raise Unreachable("no kubeconfig and not in a pod: cannot tell where the API server is",
                          "pass --kubeconfig or --server")
    shown = f"[{host}]" if host and ":" in host else host
    return {"server": args.server or f"https://{shown}:{port}",
            "certificate-authority": args.certificate_authority or args.api_ca}


def token_client(cluster: dict[str, Any]) -> Callable[[str], Kube]:
    """A client factory: the API server of `cluster` with a caller's bearer token and no
    other credentials."""
    def connect(token: str) -> Kube:
        from kubernetes import config  # noqa: PLC0415 - keep import cost off --help

        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "caller",
               "clusters": [{"name": "cluster", "cluster": cluster}],
               "users": [{"name": "caller", "user": {"token": token}}],
               "contexts": [{"name": "caller",
                             "context": {"cluster": "cluster", "user": "caller"}}]}
        return Kube(config.new_client_from_config_dict(cfg, context="caller"))

    return connect


def _proxy_secret(path: Path | None) -> str:
    """The proxy's shared secret (`--proxy-secret-file`)."""
    if path is None:
        raise CLIError("--auth=proxy needs --proxy-secret-file", "name the file holding the "
                       "secret the authenticating proxy sends in X-Afflux-Proxy-Secret")
    try:
        secret = path.read_text().strip()
    except OSError as err:
        raise CLIError(f"cannot read --proxy-secret-file {path}: {err.strerror or err}") \
            from None
    if len(secret) < 16:
        raise CLIError(f"the proxy secret in {path} is shorter than 16 characters",
                       "use a long random one, e.g. `openssl rand -hex 32`")
    return secret


def run(args: argparse.Namespace) -> int:
    from aiohttp import web  # noqa: PLC0415 - keep import cost off the other commands

    from ._auth import (  # noqa: PLC0415
        bearer_token,
        identity_key,
        proxy_identity,
        session_key,
    )
    from ._next import NextReconcile  # noqa: PLC0415
    from ._server import make_app  # noqa: PLC0415
    from ._sessions import Session, Sessions  # noqa: PLC0415

    ctx = Context.from_args(args)
    host, port = args.addr or parse_addr("0.0.0.0:9080" if args.in_cluster else DEFAULT_ADDR)
    shown = f"[{host}]" if ":" in host else host
    next_reconcile = NextReconcile(timeout=args.preview_timeout)
    if args.in_cluster and args.auth == "token":
        if args.as_user or args.as_groups or args.token:
            raise CLIError("--in-cluster --auth=token acts with each caller's token: --as, "
                           "--as-group and --token do not apply", "leave them out")
        sessions = Sessions(token_client(cluster_entry(args)), limit=args.max_sessions,
                            idle=args.session_idle, log=ctx.printer.action)

        async def resolve(request: web.Request) -> Session:
            token = bearer_token(request.headers)
            return await sessions.get(session_key(token), token)

    elif args.in_cluster:
        if args.as_user or args.as_groups:
            raise CLIError("--auth=proxy impersonates the user the proxy names: --as and "
                           "--as-group do not apply", "leave them out")
        secret = _proxy_secret(args.proxy_secret_file)
        base = overrides_of(args)  # the UI's own credentials, which may impersonate

        def impersonate(identity: tuple[str, tuple[str, ...]]) -> Kube:
            return Kube.connect(args.kubeconfig, args.context, overrides=dataclasses.replace(
                base, as_user=identity[0], as_groups=identity[1], as_uid=None))

        sessions = Sessions(impersonate, limit=args.max_sessions, idle=args.session_idle,
                            log=ctx.printer.action, credentials="the UI's own credentials")

        async def resolve(request: web.Request) -> Session:
            user, groups = proxy_identity(request.headers, secret)
            return await sessions.get(identity_key(user, groups), (user, groups))

    if args.in_cluster:
        app = make_app(resolve, set(args.allowed_host) or None, in_cluster=True,
                       on_stop=sessions.stop, reap=sessions.reap,
                       reap_every=min(30.0, max(1.0, args.session_idle / 2)),
                       next_reconcile=next_reconcile)
        ctx.printer.success(f"afflux ui (in-cluster, --auth={args.auth}): "
                            f"http://{shown}:{port}/")
    else:
        kube = Kube.connect(args.kubeconfig, args.context, overrides=overrides_of(args))
        # the global connection flags (--as, --as-group, --token, ...) apply, as to every
        # command: the UI acts as that user
        ctx.kube.server_version()  # fail now, with the CLI's message, if the cluster is not there
        local = Session("local", "", [], kube, "", default_namespace=args.watch_namespace)

        async def local_session(_: web.Request) -> Session:
            return local

        hosts = {f"{shown}:{port}"}
        if host in ("127.0.0.1", "::1", "localhost"):
            hosts |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
        app = make_app(local_session, hosts, on_stop=local.stop, next_reconcile=next_reconcile)
        ctx.printer.success(f"afflux ui: http://{shown}:{port}/")
    try:
        web.run_app(app, host=host, port=port, print=None, shutdown_timeout=2,
                    handle_signals=True)
    except OSError as err:
        raise CLIError(f"cannot listen on {shown}:{port}: {err.strerror or err}",
                       "pick another --addr") from None
    return 0
