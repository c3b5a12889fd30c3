"""What every command gets: the parsed arguments with the global flags resolved, a Printer,
and the cluster connection (made on first use, so `--export` and `--help` need no cluster)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from afflux.api import DurationError, parse_duration

from ._kube import Kube
from ._output import Printer

__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_TIMEOUT", "Context", "add_global_flags", "duration_arg"]

DEFAULT_NAMESPACE = "flux-system"
#: `--timeout` when not given: 5m, as flux.
DEFAULT_TIMEOUT = 300.0

#: global flag -> default, filled in after parsing (the flags may come before or after the verb)
GLOBAL_DEFAULTS: dict[str, object] = {
    "namespace": DEFAULT_NAMESPACE,
    "kubeconfig": None,
    "context": None,
    "timeout": DEFAULT_TIMEOUT,
    "verbose": 0,
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


def fill_global_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Set the global flags the command line left out; `timeout_given` records whether
    --timeout was given (streams run until interrupted unless it was)."""
    if not hasattr(args, "timeout_given"):
        args.timeout_given = hasattr(args, "timeout")
    for key, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args


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
            self._kube = Kube.connect(self.args.kubeconfig, self.args.context, debug=debug)
        return self._kube
