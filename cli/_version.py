"""`afflux version`: the CLI's version (from the installed distribution's metadata) and,
unless `--client`, what the cluster runs: the operators' images and the Flux CRDs' versions."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from afflux.api import KINDS

from ._context import Context
from ._errors import CLIError
from ._format import dump_json, dump_yaml
from ._kinds import CONTROLLERS
from ._kube import CRDS, DEPLOYMENTS, KubeError

__all__ = ["client_line", "register", "run", "version"]


def version() -> str:
    try:
        return metadata.version("afflux")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def client_line() -> str:
    """What `afflux version --client` (and `afflux --version`) prints."""
    return f"afflux: v{version()}"


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("version", parents=list(parents),
                       help="print the version of afflux (client, and what the cluster runs)")
    p.add_argument("--client", action="store_true", help="only the CLI's version")
    p.add_argument("-o", "--output", choices=("text", "yaml", "json"), default="text")
    p.set_defaults(func=run)


def server_versions(ctx: Context) -> dict[str, Any]:
    """{controller: image} of the operators' Deployments and {crd: [served versions]}."""
    controllers: dict[str, str] = {}
    for name in CONTROLLERS:
        dep = ctx.kube.get_or_none(DEPLOYMENTS, name, ctx.namespace)
        if dep is None:
            continue
        containers = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers") or [{}]
        controllers[name] = str(containers[0].get("image", ""))
    crds: dict[str, list[str]] = {}
    for kind in KINDS:
        crd = ctx.kube.get_or_none(CRDS, f"{kind.PLURAL}.{kind.GROUP}")
        if crd is not None:
            crds[crd["metadata"]["name"]] = [
                v["name"] for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served")
            ]
    return {"controllers": controllers, "crds": crds}


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    info: dict[str, Any] = {"afflux": f"v{version()}"}
    if not args.client:
        try:
            info.update(server_versions(ctx))
        except (CLIError, KubeError) as err:
            ctx.printer.warning(f"cannot read the server versions: {err.message}")
    if args.output == "json":
        ctx.printer.result(dump_json(info), end="")
    elif args.output == "yaml":
        ctx.printer.result(dump_yaml([info], separator=False), end="")
    else:
        ctx.printer.result(client_line())
        for name, image in (info.get("controllers") or {}).items():
            ctx.printer.result(f"{name}: {image}")
        for name, versions in (info.get("crds") or {}).items():
            ctx.printer.result(f"{name}: {', '.join(versions)}")
    return 0
