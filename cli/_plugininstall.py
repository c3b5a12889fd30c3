"""`afflux plugin install <name>[@<version>|@sha256:<hex>]`: fetch the plugin's manifest from
the catalog, choose the version (the newest, the one named, or the one whose binary for this
os/arch has the digest) and install its binary for this os/arch, checked against the
catalog's sha256 first (`_pluginstore.PluginDir.install`). Installing again overwrites.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ._context import Context
from ._errors import CLIError
from ._plugincatalog import CatalogError, parse_ref, resolve
from ._pluginstore import CatalogClient, Fetcher, afflux_commands, local_dir, local_platform

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "install", parents=list(parents), help="install a plugin from the catalog",
        description="Download and install a plugin from the Flux plugin catalog "
        "($FLUXCD_PLUGIN_CATALOG, default the latest release of github.com/fluxcd/plugins), "
        "its sha256 checked against the catalog's.",
        epilog="examples: afflux plugin install operator; afflux plugin install "
        "operator@0.45.0; afflux plugin install operator@sha256:<hex>")
    p.add_argument("plugin", metavar="<name>[@<version>|@<digest>]",
                   help="the plugin, optionally a version or the sha256 digest of its binary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    try:
        ref = parse_ref(args.plugin)
    except CatalogError as err:
        raise CLIError(str(err)) from None
    fetcher = Fetcher(warn=ctx.printer.warning)
    manifest = CatalogClient.from_env(os.environ, fetcher).manifest(ref.name)
    os_, arch = local_platform()
    try:
        version, platform = resolve(manifest, ref, os_, arch)
    except CatalogError as err:
        raise CLIError(str(err)) from None
    ctx.printer.action(f"installing {ref.name} v{version.version}")
    local_dir().install(manifest, version, platform, fetcher)
    ctx.printer.success(f"installed {ref.name} v{version.version}")
    if ref.name in afflux_commands():
        ctx.printer.warning(f"afflux's own `{ref.name}` command takes precedence: "
                            f"run the plugin with flux, or as flux-{ref.name}")
    return 0
