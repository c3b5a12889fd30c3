"""helm-controller: HelmRelease (helm.toolkit.fluxcd.io/v2) with the real `helm` as its engine.

`python -m afflux.controllers.helm` runs it. The reconciler's phases are listed in
`_reconcile`; why the `helm` binary is the engine is in `_helm`; the pure parts are the
action planner (`_planner`), the values composition and digest (`_values`), the release
records and snapshots (`_release`), the status messages and history upkeep (`_status`),
the command lines (`_args`), the drift of a release's objects (`_drift`) and the CRD
policies (`_crds`). Around them: drift detection and correction (`_reconcile_drift`) and the
storage namespace, for which the records are staged around each helm action (`_storage`).
"""
