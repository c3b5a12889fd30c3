"""`afflux check [--pre]`: is the cluster ready for afflux, and is afflux healthy in it?

`--pre` checks only that the API server answers and runs a supported Kubernetes version.
The full check also looks at each controller (an in-cluster Deployment that is ready, or, for
operators run locally, a leader-election Lease they keep renewing) and at the CRDs (present
and Established). Each check prints a ✔ or ✗ line; any ✗ exits 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from afflux.api import KINDS

from ._checkfmt import (
    MIN_KUBERNETES,
    crd_health,
    deployment_health,
    lease_health,
    parse_kube_version,
    version_text,
)
from ._context import Context
from ._errors import EXIT_FAILURE
from ._kinds import COMPONENTS_HELP, DEFAULT_COMPONENTS
from ._kube import CRDS, DEPLOYMENTS, LEASES, KubeError

__all__ = ["register", "run"]


def _components(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", parents=list(parents),
                       help="check the prerequisites and the health of afflux in the cluster",
                       description="Check the cluster's prerequisites and afflux's health.")
    p.add_argument("--pre", action="store_true", help="only check the prerequisites")
    p.add_argument("--components", type=_components, default=list(DEFAULT_COMPONENTS),
                   help=COMPONENTS_HELP)
    p.add_argument("--components-extra", type=_components, default=[],
                   help="more controllers to check, comma-separated")
    p.set_defaults(func=run)


def check_prerequisites(ctx: Context) -> bool:
    printer = ctx.printer
    printer.action("checking prerequisites")
    info = ctx.kube.server_version()
    git_version = str(info.get("gitVersion", ""))
    try:
        version = parse_kube_version(git_version)
    except ValueError as err:
        printer.failure(str(err))
        return False
    wanted = f">={version_text(MIN_KUBERNETES)}-0"
    if version < MIN_KUBERNETES:
        printer.failure(f"Kubernetes {version_text(version)} {wanted} (too old)")
        return False
    printer.success(f"Kubernetes {version_text(version)} {wanted}")
    return True


def check_controllers(ctx: Context, controllers: Sequence[str]) -> bool:
    printer = ctx.printer
    printer.action("checking controllers")
    ok = True
    now = datetime.now(UTC)
    for name in controllers:
        dep = ctx.kube.get_or_none(DEPLOYMENTS, name, ctx.namespace)
        if dep is not None:
            healthy, message = deployment_health(dep)
            (printer.success if healthy else printer.failure)(f"{name}: {message}")
            for container in ((dep.get("spec") or {}).get("template") or {}).get(
                    "spec", {}).get("containers") or []:
                printer.action(str(container.get("image", "")))
            ok = ok and healthy
            continue
        lease = ctx.kube.get_or_none(LEASES, f"{name}-leader-election", ctx.namespace)
        if lease is not None:
            healthy, message = lease_health(lease, now)
            (printer.success if healthy else printer.failure)(f"{name}: {message}")
            ok = ok and healthy
            continue
        printer.failure(f"{name}: not found (no Deployment and no leader-election Lease in the "
                        f"{ctx.namespace} namespace)")
        ok = False
    return ok


def check_crds(ctx: Context) -> bool:
    printer = ctx.printer
    printer.action("checking crds")
    ok = True
    for kind in KINDS:
        name = f"{kind.PLURAL}.{kind.GROUP}"
        crd = ctx.kube.get_or_none(CRDS, name)
        if crd is None:
            printer.failure(f"{name}: not installed")
            ok = False
            continue
        established, text = crd_health(crd)
        if established:
            printer.success(text)
        else:
            printer.failure(f"{text}: not established")
            ok = False
    return ok


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    printer = ctx.printer
    if not check_prerequisites(ctx):
        printer.failure("prerequisites checks failed")
        return EXIT_FAILURE
    printer.success("prerequisites checks passed")
    if args.pre:
        return 0
    controllers = list(dict.fromkeys([*args.components, *args.components_extra]))
    try:
        ok = check_controllers(ctx, controllers)
        ok = check_crds(ctx) and ok
    except KubeError as err:
        printer.failure(f"cannot check: {err.message}")
        return EXIT_FAILURE
    if not ok:
        printer.failure("check failed")
        return EXIT_FAILURE
    printer.success("all checks passed")
    return 0
