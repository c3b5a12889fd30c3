"""`afflux version`: the CLI's version, from the installed distribution's metadata."""

from __future__ import annotations

import argparse
from importlib import metadata


def version() -> str:
    try:
        return metadata.version("afflux")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def run(args: argparse.Namespace) -> int:
    print(f"afflux: v{version()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="print the version of afflux")
    p.set_defaults(func=run)
