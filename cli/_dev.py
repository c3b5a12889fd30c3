"""`afflux dev up|down|status`: the local development environment (no Docker needed).

`up` starts, under `--state-dir` (default `$AFFLUX_DEV_DIR` or `.local`), the local cluster,
the Git server (HTTP and HTTPS with basic auth), the OCI registry (TLS from a dev CA,
htpasswd auth) and the operators as local processes (logs in `<state-dir>/logs`, which
`afflux logs` reads), then prints how to use them. Everything outlives the command; running
`up` again keeps what runs and starts what is missing. `down` stops it all and leaves no
process behind. `status` lists each part and exits 1 when something is not running.
See `afflux.cli.devenv._env` for the layout.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._context import Context
from ._errors import EXIT_FAILURE, CLIError

if TYPE_CHECKING:
    from .devenv._env import DevInfo

__all__ = ["default_state_dir", "register", "usage_text"]


def default_state_dir() -> Path:
    return Path(os.environ.get("AFFLUX_DEV_DIR") or ".local")


def _operators(text: str) -> list[str]:
    from .devenv._env import OPERATOR_MODULES  # noqa: PLC0415

    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [n for n in names if n not in OPERATOR_MODULES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown operator(s) {', '.join(unknown)}; choose from "
            f"{', '.join(OPERATOR_MODULES)}")
    return names


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dev", parents=list(parents),
                       help="run a local cluster, Git server, registry and the operators",
                       description="The local development environment: cluster, Git server, "
                       "OCI registry and the operators as local processes.")
    actions = p.add_subparsers(dest="dev_action", metavar="<action>")
    actions.required = True
    for name, help_text in (("up", "start everything (idempotent) and print how to use it"),
                            ("down", "stop everything, leaving no process behind"),
                            ("status", "show what runs (exit 1 when something does not)")):
        a = actions.add_parser(name, parents=list(parents), help=help_text,
                               description=help_text)
        a.add_argument("--state-dir", type=Path, default=None,
                       help="where state, logs and data live (default $AFFLUX_DEV_DIR or "
                            ".local)")
        if name == "up":
            a.add_argument("--operators", type=_operators, default=None,
                           help="operators to run, comma-separated (default: all that exist: "
                                "source, kustomize, helm, image-reflector, image-automation "
                                "controllers)")
            a.add_argument("--real-node", action="store_true",
                           help="add a real node (kubelet, containerd; needs root): Pods run, "
                                "and no operator runs locally (bootstrap without --local)")
        a.set_defaults(func=run)


def usage_text(info: DevInfo, operator_registry: str = "") -> str:
    """What to do with a running environment (pure). With `operator_registry` (a real
    node) bootstrap runs the operators in the cluster from that registry, else locally."""
    local = f"--registry {operator_registry} " if operator_registry else "--local "
    return "\n".join([
        "",
        "The dev environment is up. To use it:",
        f"  export KUBECONFIG={info.kubeconfig}",
        f"  git server:  {info.git_https}/<repo>.git  (also {info.git_http})",
        f"               user {info.git_username}  password {info.git_password}",
        f"               CA certificate {info.ca_file}",
        f"  registry:    {info.registry}  user {info.registry_username}  "
        f"password {info.registry_password}",
        f"  logs:        afflux logs --log-dir {info.logs}",
        f"  bootstrap:   afflux bootstrap git {local}--url {info.git_https}/fleet.git "
        f"-u {info.git_username} -p {info.git_password} --ca-file {info.ca_file} "
        "--token-auth --path clusters/dev",
        f"  stop:        afflux dev down --state-dir {info.root}",
        "",
    ])


def run(args: argparse.Namespace) -> int:
    from .devenv import ClusterError, DevEnvError  # noqa: PLC0415 - keep --help light
    from .devenv._env import DEFAULT_OPERATORS, DevEnvironment  # noqa: PLC0415
    from .devenv._tools import ToolMissing  # noqa: PLC0415

    ctx = Context.from_args(args)
    printer = ctx.printer
    state_dir = args.state_dir or default_state_dir()

    def log(line: str) -> None:
        printer.err.write(line + "\n")
        printer.err.flush()

    env = DevEnvironment(state_dir, operators=getattr(args, "operators", None)
                         or DEFAULT_OPERATORS, log=log,
                         real_node=getattr(args, "real_node", False))
    try:
        if args.dev_action == "up":
            printer.action(f"starting the dev environment in {env.root}")
            info = env.up()
            real = env.cluster.real_node is not None
            printer.result(usage_text(info, f"{info.registry}/afflux" if real else ""))
            return 0
        if args.dev_action == "down":
            printer.action(f"stopping the dev environment in {env.root}")
            env.down()
            printer.success("dev environment stopped")
            return 0
        ok = True
        for part, (running, text) in env.status().items():
            (printer.success if running else printer.failure)(
                f"{part}: {'running' if running else 'not running'} {text}")
            ok = ok and running
        return 0 if ok else EXIT_FAILURE
    except ToolMissing as err:
        raise CLIError(str(err).split(": run")[0], "run `make tools` (it builds the pinned "
                       "tools once, into ~/.cache/afflux)") from None
    except (DevEnvError, ClusterError) as err:
        first, _, rest = str(err).partition("\n")
        if rest:
            log(rest)
        raise CLIError(first, "run `afflux dev down` and try again; the logs are in "
                       f"{env.root}/logs and {env.root}/cluster/logs") from None
