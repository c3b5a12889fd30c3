"""`run_operator`: what each operator's `__main__.py` calls.

    # controllers/source/__main__.py
    from afflux.controllers.runtime import run_operator
    from .handlers import setup

    run_operator(name="source-controller", setup=setup)

It parses the common flags (plus the operator's own, via `add_flags`), sets up logging,
connects to the cluster, lets `setup(operator)` register the kinds, and runs until
SIGINT/SIGTERM. The process exits 0 after a clean stop and 1 if the operator failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from ._logging import configure_logging
from ._operator import Operator
from ._options import parse_options


def run_operator(
    *,
    name: str,
    setup: Callable[[Operator], None],
    argv: Sequence[str] | None = None,
    add_flags: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Parse flags, configure logging, build the `Operator`, `setup` it, run it, exit."""
    options = parse_options(name, argv, add_flags)
    configure_logging(name, level=options.log_level, encoding=options.log_encoding)
    log = logging.getLogger("afflux.runtime")
    for level, note in options.notes:
        (log.warning if level == "warn" else log.info)(note)
    try:
        operator = Operator(name, options)
        setup(operator)
        asyncio.run(operator.run())
    except KeyboardInterrupt:
        pass
    except Exception:
        log.exception("operator failed")
        sys.exit(1)
    sys.exit(0)
