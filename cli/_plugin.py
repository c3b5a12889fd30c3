"""`afflux plugin install|list|search|uninstall|update` (Flux 2.9's `flux plugin`), and running
an installed plugin: `afflux <name> [args...]` replaces afflux with `flux-<name> [args...]`
from the plugin directory, as `flux <name>` does. Only that one directory is looked in (never
$PATH), only for a first argument that is no afflux command, and only an executable the
user put there (by `afflux plugin install`, `flux plugin install`, or by hand).

The sub-commands live in `_plugininstall`, `_pluginlist`, `_pluginsearch`,
`_pluginuninstall` and `_pluginupdate`; the catalog logic in `_plugincatalog` (pure) and the
directory, downloads and installs in `_pluginstore`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from . import _plugininstall, _pluginlist, _pluginsearch, _pluginuninstall, _pluginupdate
from ._errors import CLIError
from ._pluginstore import PluginDir, local_dir, local_platform

__all__ = ["exec_plugin", "find_plugin", "help_epilog", "register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plugin", parents=list(parents), help="manage Flux CLI plugins",
                       description="Install, list, search, update and uninstall Flux CLI "
                       "plugins (flux-<name> executables in $FLUXCD_PLUGINS, default "
                       "~/.fluxcd/plugins); `afflux <name>` runs an installed plugin.")
    nouns = p.add_subparsers(dest="plugin_command", metavar="<command>")
    nouns.required = True
    for module in (_plugininstall, _pluginlist, _pluginsearch, _pluginuninstall,
                   _pluginupdate):
        module.register(nouns, parents)


def find_plugin(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Path | None:
    """The installed plugin `argv` asks for (`<name> args...`, name first), or None. The
    plugin directory is looked at only when the first argument is no option; afflux's own
    commands are checked by the caller."""
    if not argv or not argv[0] or argv[0].startswith("-"):
        return None
    return PluginDir.from_env(os.environ if env is None else env, Path.home(),
                              local_platform()[0]).find(argv[0], ())


def help_epilog(builtins: Collection[str]) -> str | None:
    """The root help's line naming the installed plugins (flux's "Plugin Commands"), if any."""
    names = [p.name for p in local_dir().discover(builtins)]
    if not names:
        return None
    return f"plugin commands (`afflux <name> --help` for a plugin's help): {', '.join(names)}"


def exec_plugin(path: Path, args: Sequence[str]) -> int:
    """Run the plugin in afflux's place (POSIX exec: its exit code and signals are the
    command's); on Windows as a child whose exit code is returned."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if os.name == "nt":
            return subprocess.call([str(path), *args])
        os.execv(path, [str(path), *args])
    except OSError as err:
        raise CLIError(f"cannot run plugin {path}: {err.strerror or err}",
                       "a script needs a #! line; `afflux plugin list` shows the plugins") \
            from None
    raise AssertionError("unreachable")  # pragma: no cover
