"""kustomize-controller: reconciles Kustomizations (kustomize.toolkit.fluxcd.io/v1).

Run it with `python -m afflux.controllers.kustomize`. The package holds:

- the building blocks, each usable and tested alone: `_build` (kustomize build with Flux's
  spec overlay), `_generate` (kustomization.yaml for plain manifests), `_substitute`
  (postBuild variables), `_sops` (decryption), `_objects` (object YAML and metadata),
  `_inventory` (inventory ids, stale objects, prune protections);
- the reconciler: `_reconcile` (the phases in order), one module per phase group
  (`_reconcile_source`, `_reconcile_deps`, `_reconcile_build`, `_reconcile_apply`,
  `_reconcile_health`, `_reconcile_status`, `_reconcile_finalize`), `_history`, and
  `handlers` (the kopf wiring: the reconciler and the watches of sources and dependencies).

Applying uses the runtime's server-side apply engine (`afflux.controllers.runtime._ssa`).
"""
