"""`afflux envsubst [--strict]`: substitute `${VAR}` expressions in stdin from the environment
and write the result to stdout, with Flux's rules (the ones of Kustomization postBuild:
`${var:=default}`, `${var:pos:len}`, `${var/old/new}`, `$${var}` for a literal, `$var` left
alone; undefined variables become empty, or an error with `--strict`).

The expression language is implemented once, in kustomize-controller's pure substitution
library `afflux.controllers.kustomize._substitute` (no I/O, no Kubernetes): the CLI imports it
as a library so both always agree. This is the documented exception to "the CLI does not
import operators": it imports pure build libraries (`_substitute`, `_build`), never an
operator's reconcilers or handlers.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from afflux.controllers.kustomize._substitute import SubstitutionError, expand

from ._context import Context
from ._errors import CLIError

__all__ = ["envsubst", "register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("envsubst", parents=list(parents),
                       help="substitute ${VAR} expressions in stdin from the environment",
                       description="Read text on stdin, substitute environment variables with "
                       "Flux's postBuild rules, write it to stdout.")
    p.add_argument("--strict", action="store_true",
                   help="fail on a variable that is not set (and has no default)")
    p.set_defaults(func=run)


def envsubst(text: str, environ: Mapping[str, str], *, strict: bool = False) -> str:
    """`text` with `${...}` expressions substituted from `environ` (CLIError on bad input)."""
    try:
        return expand(text, dict(environ), strict=strict)
    except SubstitutionError as err:
        hint = "set the variable, or give it a default: ${VAR:=default}" if strict else \
            "write a literal ${...} as $${...}"
        raise CLIError(f"variable substitution failed: {err}", hint) from None


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ctx.printer.result(envsubst(sys.stdin.read(), os.environ, strict=args.strict), end="")
    return 0
