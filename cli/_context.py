"""What every command gets: the parsed arguments with the global flags resolved, a Printer,
and the cluster connection (made on first use, so `--export` and `--help` need no cluster)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from afflux.api import DurationError, parse_duration
from afflux.controllers.runtime import DEFAULT_BURST, DEFAULT_QPS

from ._kube import Kube, KubeOverrides, context_namespace
from ._output import Printer

__all__ = [
    "CONNECTION_FLAGS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_TIMEOUT",
    "Context",
    "add_global_flags",
    "duration_arg",
    "overrides_of",
]

DEFAULT_NAMESPACE = "flux-system"
#: Set (to anything), it makes --ns-follows-kube-context the default, as for flux.
NS_FOLLOWS_ENV = "FLUX_NS_FOLLOWS_KUBE_CONTEXT"
#: `--timeout` when not given: 5m, as flux.
DEFAULT_TIMEOUT = 300.0

#: global flag -> default, filled in after parsing (the flags may come before or after the verb)
GLOBAL_DEFAULTS: dict[str, object] = {
    "namespace": DEFAULT_NAMESPACE,
    "kubeconfig": None,
    "context": None,
    "timeout": DEFAULT_TIMEOUT,
    "verbose": 0,
    "server": None,
    "token": None,
    "as_user": None,
    "as_groups": None,
    "as_uid": None,
    "as_user_extra": None,
    "ns_follows_kube_context": False,
    "insecure_skip_tls_verify": False,
    "certificate_authority": None,
    "client_certificate": None,
    "client_key": None,
    "cluster": None,
    "user": None,
    "tls_server_name": None,
    "kube_api_qps": DEFAULT_QPS,
    "kube_api_burst": DEFAULT_BURST,
    "disable_compression": False,
    "cache_dir": None,
}

#: The connection flags (kubectl's, as flux takes them): flag -> help.
CONNECTION_FLAGS: dict[str, str] = {
    "--server": "the address and port of the Kubernetes API server",
    "--token": "bearer token for authentication to the API server",
    "--as": "username to impersonate for the operation (a regular user or a service account "
            "in a namespace)",
    "--as-group": "group to impersonate for the operation (repeat for several)",
    "--as-uid": "UID to impersonate for the operation",
    "--certificate-authority": "path to a cert file for the certificate authority",
    "--client-certificate": "path to a client certificate file for TLS",
    "--client-key": "path to a client key file for TLS",
    "--cluster": "the name of the kubeconfig cluster to use",
    "--user": "the name of the kubeconfig user to use",
    "--tls-server-name": "the server name for the API server's certificate check (and SNI); "
                         "default the host name of the server address",
}


def duration_arg(text: str) -> float:
    """argparse type for Go durations (`30s`, `5m`, `1h30m`) -> seconds."""
    try:
        value = parse_duration(text)
    except DurationError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"duration {text!r} must not be negative")
    return value


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command takes. Their defaults are SUPPRESS so that a value given
    before the verb is not overwritten by a subcommand's default; `Context` fills them in."""
    s = argparse.SUPPRESS
    g = parser.add_argument_group("global flags")
    g.add_argument("-n", "--namespace", default=s,
                   help=f"the namespace scope for this operation (default {DEFAULT_NAMESPACE})")
    g.add_argument("--kubeconfig", default=s,
                   help="path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", default=s, help="kubernetes context to use")
    g.add_argument("--timeout", type=duration_arg, default=s,
                   help="how long to wait for an operation, e.g. 90s, 5m (default 5m)")
    g.add_argument("-v", "--verbose", action="count", default=s,
                   help="show the API requests made and tracebacks of unexpected errors")
    dests = {"--as": "as_user", "--as-group": "as_groups"}
    for flag, text in CONNECTION_FLAGS.items():
        g.add_argument(flag, dest=dests.get(flag, flag[2:].replace("-", "_")), default=s,
                       action="append" if flag == "--as-group" else "store", help=text)
    g.add_argument("--insecure-skip-tls-verify", action="store_true", default=s,
                   help="do not check the server's certificate (insecure)")
    g.add_argument("--ns-follows-kube-context", action="store_true", default=s,
                   help="without -n, use the namespace of the kubeconfig context (also with "
                        f"${NS_FOLLOWS_ENV} set) instead of {DEFAULT_NAMESPACE}")
    g.add_argument("--as-user-extra", action="append", type=user_extra_arg, default=s,
                   metavar="KEY=VALUE",
                   help="a user extra to impersonate with --as (repeat, also for several "
                        "values of one key)")
    g.add_argument("--kube-api-qps", type=float, default=s, metavar="QPS",
                   help="the most requests a second to the Kubernetes API (client-side rate "
                        f"limit; default {DEFAULT_QPS:g}; 0 client-go's 5, negative no limit)")
    g.add_argument("--kube-api-burst", type=int, default=s, metavar="N",
                   help="the most requests at once before --kube-api-qps paces them "
                        f"(default {DEFAULT_BURST})")
    g.add_argument("--disable-compression", action="store_true", default=s,
                   help="do not ask the API server for compressed (gzip) answers")
    g.add_argument("--cache-dir", default=s, metavar="DIR",
                   help="accepted for flux compatibility: afflux keeps no discovery cache on "
                        "disk (it discovers in memory for each command), so nothing is "
                        "written there")


def user_extra_arg(text: str) -> tuple[str, str]:
    """argparse type of --as-user-extra: `key=value` -> (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value, e.g. scopes=view")
    return key, value


def fill_global_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Set the global flags the command line left out; `timeout_given` records whether
    --timeout was given (streams run until interrupted unless it was). Without -n, the
    namespace is the kubeconfig context's with --ns-follows-kube-context (or
    $FLUX_NS_FOLLOWS_KUBE_CONTEXT) when the context names one."""
    if not hasattr(args, "timeout_given"):
        args.timeout_given = hasattr(args, "timeout")
    if not hasattr(args, "namespace") and (getattr(args, "ns_follows_kube_context", False)
                                           or os.environ.get(NS_FOLLOWS_ENV)):
        namespace = context_namespace(getattr(args, "kubeconfig", None),
                                      getattr(args, "context", None))
        if namespace:
            args.namespace = namespace
    for key, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args


def overrides_of(args: argparse.Namespace) -> KubeOverrides:
    """The connection flags of a parsed command line (`--token` is not one for the commands
    whose own `--token` is a webhook token: `token_is_local`)."""
    token = None if getattr(args, "token_is_local", False) else args.token
    return KubeOverrides(
        server=args.server, token=token, as_user=args.as_user,
        as_groups=tuple(args.as_groups or ()), as_uid=args.as_uid,
        as_user_extra=tuple(args.as_user_extra or ()),
        insecure_skip_tls_verify=bool(args.insecure_skip_tls_verify),
        certificate_authority=args.certificate_authority,
        client_certificate=args.client_certificate, client_key=args.client_key,
        cluster=args.cluster, user=args.user, tls_server_name=args.tls_server_name,
        qps=float(args.kube_api_qps), burst=int(args.kube_api_burst),
        disable_compression=bool(args.disable_compression))


@dataclass
class Context:
    """The resolved global flags, the printer and the (lazy) cluster connection."""

    args: argparse.Namespace
    printer: Printer
    _kube: Kube | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        fill_global_defaults(args)
        return cls(args, Printer(verbose=int(args.verbose or 0)))

    @property
    def namespace(self) -> str:
        return str(self.args.namespace)

    @property
    def timeout(self) -> float:
        return float(self.args.timeout)

    @property
    def all_namespaces(self) -> bool:
        return bool(getattr(self.args, "all_namespaces", False))

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            debug = self.printer.debug if self.printer.verbose else None
            self._kube = Kube.connect(self.args.kubeconfig, self.args.context, debug=debug,
                                      overrides=overrides_of(self.args))
        return self._kube
