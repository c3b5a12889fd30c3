"""helm-controller: HelmRelease (helm.toolkit.fluxcd.io/v2) with the real `helm` as its engine.

`python -m afflux.controllers.helm` runs it. The reconciler's phases are listed in
`_reconcile`; why the `helm` binary is the engine is in `_helm`; the pure parts are the
action planner (`_planner`), the values composition and digest (`_values`), the release
records and snapshots (`_release`), the status messages and history upkeep (`_status`),
the command lines (`_args`), the drift of a release's objects (`_drift`), the CRD
policies (`_crds`), what cleanupOnFail deletes after a failed poll (`_cleanup`) and Flux 2.9's newer settings against the two Helm engines (`_engine`).
Around them: drift detection and correction (`_reconcile_drift`) and the storage namespace, for which the records are staged around each helm action (`_storage`).

The public surface below is what other parts of afflux (the CLI's `diff` and `debug hr`) use to
compose a release's values and post-render its manifests exactly as the controller does
(with the engine and post-render strategy the controller would use);
it imports nothing of the operator runtime, so it stays cheap to import.
"""

from ._engine import HELM3_DEFAULTS_GATE, Engine, post_render_strategy
from ._helm import HelmError, find_tool
from ._plugin import by_strategy as post_render_by_strategy
from ._postrender import origin_labels, with_common_metadata, with_release_metadata
from ._postrender import render as post_render
from ._values import (
    DEFAULT_VALUES_KEY,
    ValuesError,
    ValuesSource,
    compose_values,
    config_digest,
    values_sources,
    values_text,
)

__all__ = [
    "DEFAULT_VALUES_KEY",
    "HELM3_DEFAULTS_GATE",
    "Engine",
    "HelmError",
    "ValuesError",
    "ValuesSource",
    "compose_values",
    "config_digest",
    "find_tool",
    "origin_labels",
    "post_render",
    "post_render_by_strategy",
    "post_render_strategy",
    "values_sources",
    "values_text",
    "with_common_metadata",
    "with_release_metadata",
]
