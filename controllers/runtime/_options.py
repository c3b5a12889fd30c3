"""The flags every operator shares, parsed in one place.

Names and defaults follow Flux's controllers, so manifests written for Flux keep working:
booleans are Go-style (`--watch-all-namespaces`, `--watch-all-namespaces=false`),
durations are Go durations (`--requeue-dependency=30s`), addresses are `host:port` with an
empty host for all interfaces (`:8080`); `--metrics-addr=0` turns the metrics server off.
An operator adds its own flags with `add_flags(parser)`; they land in `Options.extra`.
Then every flag of the operator's Flux controller (`_fluxflags`) that it does not have yet
is accepted with Flux's type, so a Deployment written for Flux starts it; those given a
value other than Flux's default are listed in `Options.notes` (logged at start) as having
no effect.
`--namespace` (default `$RUNTIME_NAMESPACE`, else `flux-system`) is both what is watched
when `--watch-all-namespaces=false` and where the leader-election Lease lives.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._duration import parse_duration
from ._fluxflags import FluxFlag, flux_flags, ignored_notes
from ._logging import ENCODINGS, LEVELS
from ._ratelimit import DEFAULT_BURST, DEFAULT_QPS
from ._selectors import check_selector

_TRUE = {"true", "1", "t", "yes", "y", "on"}
_FALSE = {"false", "0", "f", "no", "n", "off"}


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def duration_arg(text: str) -> float:
    """argparse `type=` for a Go duration flag (`30s`, `1m30s`): seconds, never negative."""
    try:
        value = parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"duration must not be negative: {text!r}")
    return value


def positive_int_arg(text: str) -> int:
    """argparse `type=` for a count flag that must be at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int_arg(text: str) -> int:
    """argparse `type=` for a count flag that may be 0 (e.g. a number of retries)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def add_http_retry_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """Flux's `--http-retry` (lands in `extra.http_retry`)."""
    from ._httpretry import DEFAULT_RETRIES

    parser.add_argument(
        "--http-retry", type=non_negative_int_arg, default=DEFAULT_RETRIES, metavar="N",
        help=f"retries of {what} after a failure that may pass (no connection, a timeout, an "
        "answer 429 or 5xx but 501), waiting 5s, 10s, 20s then 30s; a 404 or another 4xx "
        f"fails at once (default {DEFAULT_RETRIES}; 0: one try)")


def group_kinds_arg(text: str) -> frozenset[tuple[str, str]]:
    """argparse `type=` for Flux's `group/Kind,...` flags: (group, kind) pairs."""
    from ._ssa import parse_group_kinds

    try:
        return parse_group_kinds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_addr(text: str) -> tuple[str, int] | None:
    """`host:port` -> (host, port); an empty host means all interfaces; `0` -> None (off)."""
    text = text.strip()
    if text in ("0", ""):
        return None
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"address must be host:port, got {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse `type=` that checks the text with `parse` and keeps the text."""

    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return text

    return check


#: argparse `type=` for a `host:port` flag (`:8080`; `0` for off): checked, kept as text
addr_arg = _checked(parse_addr)


@dataclass(frozen=True)
class Options:
    """Parsed common flags (durations in seconds)."""

    name: str
    watch_all_namespaces: bool = True
    #: Kubernetes label selector: only the objects of the operator's kinds it selects are
    #: listed, watched and reconciled (sharding); empty: all
    watch_label_selector: str = ""
    #: Kubernetes label selector of the ConfigMaps and Secrets whose changes re-reconcile
    #: the objects that reference them (kustomize-, helm- and notification-controller);
    #: empty: all of them
    watch_configs_label_selector: str = "reconcile.fluxcd.io/watch=Enabled"
    namespace: str = "flux-system"
    concurrent: int = 4
    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False
    default_service_account: str = ""
    log_level: str = "info"
    log_encoding: str = "json"
    enable_leader_election: bool = False
    leader_election_lease_duration: float = 35.0
    leader_election_renew_deadline: float = 30.0
    leader_election_retry_period: float = 5.0
    kubeconfig: str | None = None
    metrics_addr: str = ":8080"
    health_addr: str = ":9440"
    interval_jitter_percentage: float = 5.0
    min_retry_delay: float = 0.75
    max_retry_delay: float = 900.0
    insecure_kubeconfig_exec: bool = False
    insecure_kubeconfig_tls: bool = False
    #: client-side rate limit of the operator's API requests (client-go's token bucket):
    #: requests a second, and the burst; a QPS of 0 is client-go's 5, negative no limit
    kube_api_qps: float = DEFAULT_QPS
    kube_api_burst: int = DEFAULT_BURST
    conversion_addr: str = "0"
    conversion_cert_dir: str | None = None
    conversion_cert_secret: str | None = None
    extra: argparse.Namespace = field(default_factory=argparse.Namespace)
    #: (level, message) of the Flux flags given that afflux does not act on
    notes: tuple[tuple[str, str], ...] = ()


def add_override_manager_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """Flux's `--override-manager` (repeatable, one field manager each; lands in
    `extra.override_manager`); `what` says when its fields are taken over."""
    parser.add_argument(
        "--override-manager", action="append", default=[], metavar="NAME",
        help=f"a field manager (a name prefix, as Flux) whose fields are taken over {what}, "
        "so that what it set and the manifest does not say is removed; repeat the flag for "
        "more (default none)")


def _bool_flag(parser: argparse.ArgumentParser, flag: str, default: bool, help_: str) -> None:
    parser.add_argument(flag, nargs="?", const=True, default=default, type=parse_bool,
                        metavar="BOOL", help=f"{help_} (default {str(default).lower()})")


def build_parser(name: str) -> argparse.ArgumentParser:
    """The parser with the common flags (an operator may add its own)."""
    p = argparse.ArgumentParser(prog=f"python -m afflux.controllers.{name}",
                                description=f"afflux {name}", allow_abbrev=False)
    _bool_flag(p, "--watch-all-namespaces", True,
               "watch every namespace; false watches only --namespace")
    p.add_argument("--watch-label-selector", type=_checked(check_selector), default="",
                   metavar="SELECTOR",
                   help="reconcile only the objects of this operator's kinds whose labels match "
                        "this Kubernetes label selector, e.g. 'sharding.fluxcd.io/key in "
                        "(shard1)' for a shard, '!sharding.fluxcd.io/key' for the main "
                        "instance (default: all)")
    p.add_argument("--watch-configs-label-selector", type=_checked(check_selector),
                   default="reconcile.fluxcd.io/watch=Enabled", metavar="SELECTOR",
                   help="re-reconcile the objects that reference a ConfigMap or Secret when "
                        "one that this label selector selects changes, e.g. 'owner!=helm' "
                        "(every one but Helm's release Secrets); empty: every one (default "
                        "reconcile.fluxcd.io/watch=Enabled)")
    p.add_argument("--namespace", default=os.environ.get("RUNTIME_NAMESPACE") or "flux-system",
                   help="the namespace watched when not watching all, and of the leader Lease")
    p.add_argument("--concurrent", type=positive_int_arg, default=4,
                   help="objects reconciled at the same time (default 4)")
    p.add_argument("--requeue-dependency", type=duration_arg, default=30.0, metavar="DURATION",
                   help="retry interval when a dependency is not ready (default 30s)")
    _bool_flag(p, "--no-cross-namespace-refs", False,
               "refuse references to objects in other namespaces")
    p.add_argument("--default-service-account", default="",
                   help="service account to impersonate when an object names none")
    p.add_argument("--log-level", default="info", choices=sorted(LEVELS), type=str.lower)
    p.add_argument("--log-encoding", default="json", choices=ENCODINGS)
    _bool_flag(p, "--enable-leader-election", False,
               "take a coordination.k8s.io Lease; only the leader reconciles")
    p.add_argument("--leader-election-lease-duration", type=duration_arg, default=35.0,
                   metavar="DURATION")
    p.add_argument("--leader-election-renew-deadline", type=duration_arg, default=30.0,
                   metavar="DURATION")
    p.add_argument("--leader-election-retry-period", type=duration_arg, default=5.0,
                   metavar="DURATION")
    p.add_argument("--kubeconfig", default=None,
                   help="kubeconfig file (default $KUBECONFIG, then in-cluster)")
    p.add_argument("--metrics-addr", type=addr_arg, default=":8080",
                   help="address of the Prometheus metrics endpoint; 0 turns it off")
    p.add_argument("--health-addr", type=addr_arg, default=":9440",
                   help="address of /healthz and /readyz; 0 turns it off")
    p.add_argument("--interval-jitter-percentage", type=float, default=5.0,
                   help="spread each interval by up to this percentage either way (default 5)")
    p.add_argument("--min-retry-delay", type=duration_arg, default=0.75, metavar="DURATION",
                   help="first retry delay after a failure (default 750ms)")
    p.add_argument("--max-retry-delay", type=duration_arg, default=900.0, metavar="DURATION",
                   help="longest retry delay after repeated failures (default 15m)")
    _bool_flag(p, "--insecure-kubeconfig-exec", False,
               "allow exec and auth-provider users in kubeconfigs from Secrets (they run "
               "programs on the controller's host)")
    _bool_flag(p, "--insecure-kubeconfig-tls", False,
               "allow insecure-skip-tls-verify in kubeconfigs from Secrets")
    p.add_argument("--kube-api-qps", type=float, default=DEFAULT_QPS, metavar="QPS",
                   help="requests a second to the Kubernetes API, after the burst (default "
                        f"{DEFAULT_QPS:g}; 0 is client-go's 5; negative: no limit)")
    p.add_argument("--kube-api-burst", type=int, default=DEFAULT_BURST, metavar="N",
                   help="requests to the Kubernetes API that may go at once before the QPS "
                        f"paces them (default {DEFAULT_BURST}; 0 is client-go's 10)")
    _conversion_flags(p)
    return p


def _conversion_flags(p: argparse.ArgumentParser) -> None:
    """The conversion webhook of the kinds with removed versions (afflux, not Flux)."""
    p.add_argument("--conversion-addr", type=addr_arg, default="0",
                   help="address of the HTTPS conversion webhook of this operator's kinds "
                        "with old API versions (e.g. :9443); 0 (the default) turns it off")
    p.add_argument("--conversion-cert-dir", default=None,
                   help="directory with tls.crt and tls.key for the conversion webhook")
    p.add_argument("--conversion-cert-secret", default=None, metavar="NAME",
                   help="in-cluster: keep the conversion webhook's CA and certificate in "
                        "Secret NAME of --namespace (made and renewed here) and the CA in "
                        "the caBundle of this operator's CRDs whose webhook names its "
                        "Service; not used when --conversion-cert-dir is given (a local "
                        "launcher's certificate wins over the Deployment's flag)")


_COMMON = frozenset(Options.__dataclass_fields__) - {"name", "extra", "notes"}
_ACCEPTED = "flux_accepted_"
_TYPES: dict[str, Callable[[str], object]] = {
    "bool": parse_bool, "duration": duration_arg, "int": int, "float": float, "str": str,
    "list": str, "addr": addr_arg,
}


def accept_flux_flags(parser: argparse.ArgumentParser, flags: Sequence[FluxFlag]) -> None:
    """Add each of `flags` the parser does not have, with Flux's type and no default."""
    have = {o for action in parser._actions for o in action.option_strings}
    for flag in flags:
        option = f"--{flag.name}"
        if option in have:
            continue
        extra: dict[str, object] = {"nargs": "?", "const": "true"} if flag.kind == "bool" else {}
        parser.add_argument(option, dest=_ACCEPTED + flag.name.replace("-", "_"),
                            type=_checked(_TYPES[flag.kind]), default=None, metavar=flag.kind.upper(),
                            help=f"Flux's flag, accepted: {flag.ignored or 'see the docs'}",
                            **extra)  # type: ignore[arg-type]


def parse_options(
    name: str,
    argv: Sequence[str] | None = None,
    add_flags: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Options:
    """Parse `argv` (default: sys.argv[1:]) into `Options`; exits with usage on errors."""
    parser = build_parser(name)
    if add_flags is not None:
        add_flags(parser)
    accept_flux_flags(parser, flux_flags(name))
    args = parser.parse_args(argv)
    values = vars(args)
    common = {k: values.pop(k) for k in list(values) if k in _COMMON}
    if not 0 <= common["interval_jitter_percentage"] <= 100:
        parser.error("--interval-jitter-percentage must be between 0 and 100")
    given = {}
    for key in [k for k in values if k.startswith(_ACCEPTED)]:
        value = values.pop(key)
        if value is not None:
            given[key.removeprefix(_ACCEPTED).replace("_", "-")] = value
    for flag in flux_flags(name):  # a common flag this controller has no use for
        dest = flag.name.replace("-", "_")
        if flag.ignored and isinstance(common.get(dest), str):
            given.setdefault(flag.name, common[dest])
    return Options(name=name, extra=argparse.Namespace(**values),
                   notes=tuple(ignored_notes(name, given)), **common)
