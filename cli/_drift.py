"""`afflux get kustomization NAME --drift`: what kustomize-controller put back on the objects
of a Kustomization after someone else changed them, newest first.

Where it comes from: the `DriftCorrected` Events kustomize-controller records about the
Kustomization (`_driftfmt`). They are Events rather than a status field or an annotation on
the Kustomization because afflux adds no fields to Flux's API, and an annotation written
by the controller on an object that is itself applied from Git (by a parent Kustomization)
would be drift of that parent; the price is the Events' lifetime (the API server's
`--event-ttl`, one hour by default): older corrections are gone.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._context import Context
from ._driftfmt import drift_records, render_drift
from ._errors import CLIError
from ._format import dump_json, dump_yaml
from ._kube import EVENTS

__all__ = ["run_drift"]


def run_drift(ctx: Context, args: argparse.Namespace, name: str | None,
              found: list[dict[str, Any]]) -> int:
    """Print the drift corrections of Kustomization `name` (`found`: the objects of that
    name, in the namespace or, with -A, in all)."""
    if not name:
        raise CLIError("--drift needs the name of a Kustomization",
                       "e.g. `afflux get ks podinfo --drift`")
    namespaces = sorted({str((o.get("metadata") or {}).get("namespace") or "") for o in found})
    if len(namespaces) != 1:
        raise CLIError(f"Kustomizations named '{name}' in {len(namespaces)} namespaces: "
                       f"{', '.join(namespaces)}", "name one with -n NAMESPACE")
    namespace = namespaces[0]
    events = ctx.kube.list(EVENTS, namespace, field_selector=(
        f"involvedObject.kind=Kustomization,involvedObject.name={name}"))
    records = drift_records(events)
    doc = {"kustomization": f"{namespace}/{name}", "corrections": records}
    if args.output == "json":
        ctx.printer.result(dump_json(doc), end="")
    elif args.output == "yaml":
        ctx.printer.result(dump_yaml([doc], separator=False), end="")
    else:
        ctx.printer.result(render_drift(name, records), end="")
    return 0
