"""`afflux check [--pre]`: is the cluster ready for afflux, and is afflux healthy in it?

`--pre` checks only that the API server answers and runs a supported Kubernetes version.
The full check also looks at each controller (an in-cluster Deployment that is ready, or, for
operators run locally, a leader-election Lease they keep renewing: no Deployment, or one of a
`--local` install, annotated `afflux.toolkit.fluxcd.io/local`), at the CRDs (present and
Established; the distribution their labels name), and at the objects: a kind that has objects
while its operator is not running (in-cluster or local) fails the check, named with its
count, since nothing reconciles them. Each check prints a ✔ or ✗ line; any ✗ exits 1.

As flux's, the check waits for an in-cluster controller Deployment that is not ready yet,
reading it again every `--poll-interval` (default 5s) until it is or `--timeout` (shared by
all controllers) runs out. A controller with no Deployment, or a local one (its Lease), is
judged at once: there is no rollout to wait for.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from afflux.api import KINDS, format_duration
from afflux.api._distribution import distribution_of

from ._bootstrapgen import LOCAL_ANNOTATION, LOCAL_DEPLOYMENT_ANNOTATION
from ._checkfmt import (
    MIN_KUBERNETES,
    crd_health,
    deployment_health,
    distribution_text,
    lease_health,
    parse_kube_version,
    unserved_kinds,
    version_text,
)
from ._context import Context, duration_arg
from ._errors import EXIT_FAILURE
from ._kinds import COMPONENTS_HELP, CONTROLLERS, DEFAULT_COMPONENTS, controller_for
from ._kube import CRDS, DEPLOYMENTS, LEASES, NAMESPACES, KubeError, ResourceType
from ._shards import COMPONENT_LABEL, SHARD_ROLE_LABEL, instance_lease

__all__ = ["register", "run"]


def _components(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", parents=list(parents),
                       help="check the prerequisites and the health of afflux in the cluster",
                       description="Check the cluster's prerequisites and afflux's health.")
    p.add_argument("--pre", action="store_true", help="only check the prerequisites")
    p.add_argument("--components", type=_components, default=None,
                   help=COMPONENTS_HELP + " (default: those a `bootstrap --local` recorded on "
                   "the namespace, else Flux's defaults)")
    p.add_argument("--components-extra", type=_components, default=[],
                   help="more controllers to check, comma-separated")
    p.add_argument("--poll-interval", type=duration_arg, default=5.0,
                   help="how often to read a controller Deployment that is not ready yet "
                        "again, until --timeout (default 5s)")
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


def _is_local(dep: dict[str, Any]) -> bool:
    annotations = (dep.get("metadata") or {}).get("annotations") or {}
    return annotations.get(LOCAL_DEPLOYMENT_ANNOTATION) == "true"


def controller_status(ctx: Context, name: str) -> tuple[bool, str, list[str], bool]:
    """(running, message, images, in-cluster) of one controller: its Deployment, or the
    Lease of a local one (no Deployment, or the zero-replica Deployment of a `--local`
    install); in-cluster: judged by a Deployment, whose rollout may still complete."""
    dep = ctx.kube.get_or_none(DEPLOYMENTS, name, ctx.namespace)
    if dep is not None and not _is_local(dep):
        healthy, message = deployment_health(dep)
        images = [str(c.get("image", "")) for c in ((dep.get("spec") or {}).get(
            "template") or {}).get("spec", {}).get("containers") or []]
        return healthy, message, images, True
    lease = ctx.kube.get_or_none(LEASES, instance_lease(name, dep), ctx.namespace)
    if lease is not None:
        healthy, message = lease_health(lease, datetime.now(UTC))
        return healthy, message, [], False
    if dep is not None:
        return False, (f"runs locally (its Deployment is annotated {LOCAL_DEPLOYMENT_ANNOTATION})"
                       f" but holds no leader-election Lease in the {ctx.namespace} namespace: "
                       "is it running (`afflux dev up`)?"), [], False
    return False, (f"not found (no Deployment and no leader-election Lease in the "
                   f"{ctx.namespace} namespace)"), [], False


def controller_health(ctx: Context, name: str) -> tuple[bool, str, list[str]]:
    """(running, message, images) of one controller now (`controller_status`)."""
    return controller_status(ctx, name)[:3]


def await_controller(ctx: Context, name: str, poll_interval: float, deadline: float, *,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep
                     ) -> tuple[bool, str, list[str]]:
    """`controller_health`, read again every `poll_interval` while an in-cluster Deployment
    is not ready and `deadline` (of `clock`) has not passed."""
    healthy, message, images, in_cluster = controller_status(ctx, name)
    if healthy or not in_cluster or clock() >= deadline:
        return healthy, message, images
    ctx.printer.waiting(f"{name}: {message}; waiting for it to be ready (polling every "
                        f"{format_duration(poll_interval)})")
    while clock() < deadline:
        sleep(max(0.0, min(poll_interval, deadline - clock())))
        healthy, message, images, in_cluster = controller_status(ctx, name)
        if healthy or not in_cluster:
            return healthy, message, images
    return healthy, f"{message} (timed out waiting for it to be ready)", images


def shard_deployments(ctx: Context, controllers: Sequence[str]) -> list[str]:
    """The shard Deployments of `controllers` in the namespace (`install --shards`'s,
    labelled `sharding.fluxcd.io/role: shard`), by name."""
    found = ctx.kube.list(DEPLOYMENTS, ctx.namespace,
                          label_selector=f"{SHARD_ROLE_LABEL}=shard")
    return sorted(str(d["metadata"]["name"]) for d in found
                  if ((d["metadata"].get("labels") or {}).get(COMPONENT_LABEL) in controllers))


def check_controllers(ctx: Context, controllers: Sequence[str], poll_interval: float = 5.0
                      ) -> tuple[bool, dict[str, bool]]:
    """Check `controllers`, waiting up to --timeout for the Deployments still rolling out;
    return (all healthy, controller -> running)."""
    printer = ctx.printer
    printer.action("checking controllers")
    ok = True
    running: dict[str, bool] = {}
    deadline = time.monotonic() + ctx.timeout
    for name in controllers:
        healthy, message, images = await_controller(ctx, name, poll_interval, deadline)
        running[name] = healthy
        (printer.success if healthy else printer.failure)(f"{name}: {message}")
        for image in images:
            printer.action(image)
        ok = ok and healthy
    return ok, running


def installed_components(ctx: Context) -> list[str]:
    """The operators a `bootstrap --local` recorded on the namespace, else the defaults."""
    ns = ctx.kube.get_or_none(NAMESPACES, ctx.namespace)
    recorded = (((ns or {}).get("metadata") or {}).get("annotations") or {}).get(LOCAL_ANNOTATION)
    return _components(recorded) if recorded else list(DEFAULT_COMPONENTS)


def check_objects(ctx: Context, running: dict[str, bool], installed: set[str]) -> bool:
    """Fail for every kind that has objects (in any namespace) and no running operator."""
    printer = ctx.printer
    printer.action("checking objects")
    objects: dict[str, list[str]] = {}
    for kind in KINDS:
        if f"{kind.PLURAL}.{kind.GROUP}" not in installed:
            continue
        rt = ResourceType(kind.GROUP, kind.VERSION, kind.KIND, kind.PLURAL)
        objects[kind.KIND] = [
            f"{(o.get('metadata') or {}).get('namespace')}/{(o.get('metadata') or {}).get('name')}"
            for o in ctx.kube.list(rt)
        ]
    for controller in {controller_for(k) for k, names in objects.items() if names}:
        if controller not in running and controller in CONTROLLERS:
            running[controller] = controller_health(ctx, controller)[0]
    problems = unserved_kinds(objects, running, controller_for)
    for problem in problems:
        printer.failure(problem)
    if not problems:
        total = sum(len(v) for v in objects.values())
        printer.success(f"{total} objects, each kind's operator running" if total
                        else "no objects yet")
    return not problems


def check_crds(ctx: Context) -> tuple[bool, set[str]]:
    """Check the CRDs; return (all established, the names of those installed)."""
    printer = ctx.printer
    printer.action("checking crds")
    ok = True
    installed: set[str] = set()
    for kind in KINDS:
        name = f"{kind.PLURAL}.{kind.GROUP}"
        crd = ctx.kube.get_or_none(CRDS, name)
        if crd is None:
            printer.failure(f"{name}: not installed")
            ok = False
            continue
        installed.add(name)
        if kind.KIND == "GitRepository":
            printer.success(distribution_text(distribution_of(crd)))
        established, text = crd_health(crd)
        if established:
            printer.success(text)
        else:
            printer.failure(f"{text}: not established")
            ok = False
    return ok, installed


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    printer = ctx.printer
    if not check_prerequisites(ctx):
        printer.failure("prerequisites checks failed")
        return EXIT_FAILURE
    printer.success("prerequisites checks passed")
    if args.pre:
        return 0
    try:
        components = args.components or installed_components(ctx)
        controllers = list(dict.fromkeys([*components, *args.components_extra]))
        ok, running = check_controllers(ctx, [*controllers, *shard_deployments(ctx, controllers)],
                                        args.poll_interval)
        crds_ok, installed = check_crds(ctx)
        ok = check_objects(ctx, running, installed) and crds_ok and ok
    except KubeError as err:
        printer.failure(f"cannot check: {err.message}")
        return EXIT_FAILURE
    if not ok:
        printer.failure("check failed")
        return EXIT_FAILURE
    printer.success("all checks passed")
    return 0
