"""Argument parsing and dispatch for `afflux`; each command lives in its own module with a
`register(sub, parents)` that adds its parser and sets `func`."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from . import (
    _artifact,
    _bootstrap,
    _buildks,
    _check,
    _completion,
    _create,
    _debug,
    _delete,
    _dev,
    _diff,
    _envsubst,
    _events,
    _export,
    _get,
    _install,
    _logs,
    _migrate,
    _plugin,
    _pluginstore,
    _preview,
    _reconcile,
    _report,
    _stats,
    _suspend,
    _trace,
    _tree,
    _trigger,
    _version,
    ui,
)
from ._argparse import FluxArgumentParser
from ._context import add_global_flags, fill_global_defaults
from ._errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, CLIError
from ._kinds import normalize_argv
from ._output import styled, use_color

_COMMANDS = (
    _get,
    _reconcile,
    _suspend,
    _delete,
    _export,
    _create,
    _events,
    _logs,
    _tree,
    _trace,
    _stats,
    _check,
    _install,
    _version,
    _bootstrap,
    _debug,
    _diff,
    _buildks,
    _artifact,
    _envsubst,
    _dev,
    _trigger,
    _completion,
    _migrate,
    _preview,
    _report,
    _plugin,
    ui,
)


def build_parser() -> argparse.ArgumentParser:
    common = FluxArgumentParser(add_help=False)
    add_global_flags(common)
    parser = FluxArgumentParser(
        prog="afflux",
        description="afflux: GitOps for Kubernetes, speaking the Flux v2 APIs.",
        parents=[common],
    )
    # flux's root `--version` (only the root's: `install --version` is install's own)
    parser.add_argument("--version", action="version", version=_version.client_line(),
                        help="print the version of afflux (as `afflux version --client`)")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for module in _COMMANDS:
        module.register(sub, [common])
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line (after rewriting generic kind names, see `normalize_argv`)."""
    parser = build_parser()
    if list(argv[:1]) in (["-h"], ["--help"]):  # the root's help lists the installed plugins
        parser.epilog = _plugin.help_epilog(_pluginstore.builtin_commands(parser))
    args = parser.parse_args(normalize_argv(argv))
    return fill_global_defaults(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    plugin = _plugin.find_plugin(argv)
    if plugin is not None and argv[0] not in _pluginstore.builtin_commands(build_parser()):
        try:  # `afflux <plugin> args...` becomes the plugin (on POSIX this does not return)
            return _plugin.exec_plugin(plugin, argv[1:])
        except CLIError as err:
            print(styled("failure", err.message, use_color(sys.stderr)), file=sys.stderr)
            print(f"  hint: {err.hint}", file=sys.stderr)
            return err.exit_code
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return int(exit_.code or 0) if isinstance(exit_.code, int) else EXIT_FAILURE
    color = use_color(sys.stderr)
    try:
        return int(args.func(args) or EXIT_OK)
    except CLIError as err:
        print(styled("failure", err.message, color), file=sys.stderr)
        if err.hint:
            print(f"  hint: {err.hint}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        print(styled("failure", "interrupted", color), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `afflux get ... | head`
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 - the last line of defence shows a useful line
        if args.verbose:
            traceback.print_exc()
        print(styled("failure", f"unexpected error: {type(err).__name__}: {err}", color),
              file=sys.stderr)
        if not args.verbose:
            print("  hint: run again with -v to see the traceback", file=sys.stderr)
        return EXIT_FAILURE
