"""Argument parsing and dispatch for `afflux`; each command lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _version
from ._errors import EXIT_OK, CLIError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="afflux", description="afflux: GitOps for Kubernetes, speaking the Flux v2 APIs."
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    _version.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except CLIError as err:
        print(f"✗ {err}", file=sys.stderr)
        if err.hint:
            print(f"  hint: {err.hint}", file=sys.stderr)
        return err.exit_code
