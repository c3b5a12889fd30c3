"""`afflux debug kustomization|ks <name>` and `afflux debug helmrelease|hr <name>`: what the
controller works from, as `flux debug` prints it (`_debugfmt`). Exactly one of:

- `--show-status`: the object's status as YAML;
- `--show-history`: its reconciliation history (`status.history`);
- `--show-vars` (Kustomization): the post-build variables as kustomize-controller resolves
  them, `substituteFrom` ConfigMaps and Secrets in list order (a missing optional one
  skipped), then `substitute` over them, newlines stripped; read with the CLI's build
  library (`_buildks.substitution_variables`, the one `build`/`diff kustomization` use);
- `--show-values` (HelmRelease): the values as helm-controller composes them (`valuesFrom`
  in order, `targetPath` and `literal` honoured, a missing optional one skipped, then
  `values`), with the code `diff helmrelease` uses (`_diffhr.resolve_values`).

Secret values are printed, as flux prints them: the Secrets are read with the user's own
credentials, so the command shows only what the user may already read (the help says so).

Exit codes: 0 printed; 2 not exactly one `--show-*` flag; 3 the object (or its kind) is not
in the cluster; 1 what it refers to cannot be resolved (a missing ConfigMap or Secret that
is not optional, a missing key, values that are not YAML), or `--show-vars` of a
Kustomization without `spec.postBuild`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from afflux.api import HelmRelease
from afflux.controllers.helm import ValuesError

from ._buildks import substitution_variables
from ._context import Context
from ._debugfmt import ONE_OF, chosen, history_text, status_text, values_yaml, vars_text
from ._diffhr import resolve_values
from ._errors import EXIT_USAGE, CLIError
from ._kinds import noun_for_kind
from ._objects import describe, get_object

__all__ = ["register", "run"]

_SECRET_WARNING = ("WARNING: this command prints sensitive information if Kubernetes Secrets "
                   "are referenced in {field} (read with your own credentials).")


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("debug", parents=list(parents),
                       help="troubleshoot failing Kustomization and HelmRelease reconciliations",
                       description="Print what the controller works from: status, history, "
                       "post-build variables or composed values.")
    nouns = p.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    ks = nouns.add_parser(
        "kustomization", aliases=["ks"], parents=list(parents),
        help="debug a Flux Kustomization",
        description="Print a Kustomization's status, history or final post-build variables. "
        + _SECRET_WARNING.format(field="spec.postBuild.substituteFrom"))
    ks.add_argument("name", help="the name of the Kustomization")
    ks.add_argument("--show-status", action="store_true",
                    help="print the status of the Flux Kustomization")
    ks.add_argument("--show-vars", action="store_true",
                    help="print the final vars of the Flux Kustomization in dot env format")
    ks.add_argument("--show-history", action="store_true",
                    help="print the reconciliation history of the Flux Kustomization")
    ks.set_defaults(func=run, debug_kind="Kustomization")
    hr = nouns.add_parser(
        "helmrelease", aliases=["hr"], parents=list(parents),
        help="debug a HelmRelease",
        description="Print a HelmRelease's status, history or final values. "
        + _SECRET_WARNING.format(field="spec.valuesFrom"))
    hr.add_argument("name", help="the name of the HelmRelease")
    hr.add_argument("--show-status", action="store_true",
                    help="print the status of the Helm release")
    hr.add_argument("--show-values", action="store_true",
                    help="print the final values of the Helm release")
    hr.add_argument("--show-history", action="store_true",
                    help="print the reconciliation history of the Helm release")
    hr.set_defaults(func=run, debug_kind="HelmRelease")


def _flag(args: argparse.Namespace, flag: str) -> bool:
    return bool(getattr(args, flag[2:].replace("-", "_"), False))


def run(args: argparse.Namespace) -> int:
    kind: str = args.debug_kind
    flags = ONE_OF[kind]
    flag = chosen([(f, _flag(args, f)) for f in flags])
    if flag is None:
        raise CLIError(f"exactly one of {flags[0]}, {flags[1]}, or {flags[2]} must be set",
                       f"e.g. `afflux debug {'ks' if kind == 'Kustomization' else 'hr'} "
                       f"{args.name} {flags[1]}`", exit_code=EXIT_USAGE)
    ctx = Context.from_args(args)
    noun = noun_for_kind(kind)
    obj = get_object(ctx, noun, args.name, ctx.namespace)
    if flag == "--show-status":
        text = status_text(kind, obj)
    elif flag == "--show-history":
        text = history_text(kind, obj)
    elif flag == "--show-vars":
        if (obj.get("spec") or {}).get("postBuild") is None:
            raise CLIError("no post build substitutions found: "
                           f"{describe(noun, args.name, ctx.namespace)} has no spec.postBuild",
                           "add spec.postBuild.substitute or substituteFrom to it")
        text = vars_text(substitution_variables(ctx, obj) or {})
    else:
        hr = HelmRelease.from_dict(obj)
        try:
            values = resolve_values(ctx, hr)
        except ValuesError as err:
            raise CLIError(f"could not resolve values of "
                           f"{describe(noun, args.name, ctx.namespace)}: {err}",
                           "fix spec.valuesFrom or what it names") from None
        text = values_yaml(values)
    ctx.printer.result(text, end="")
    return 0
