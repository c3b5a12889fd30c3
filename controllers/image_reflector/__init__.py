"""image-reflector-controller: scans image registries and picks the latest tags.

Two kinds of image.toolkit.fluxcd.io/v1 (v1beta2 served too):

- ImageRepository (`_reconcile_repository`): lists the tags of `spec.image` with the
  registry credentials, CA and proxy of its Secrets (`_reconcile_registry`), keeps them
  in the tag store (`_tagstore`, under `--storage-path`) and reports a summary in
  `status.lastScanResult`;
- ImagePolicy (`_reconcile_policy`): picks the latest tag of an ImageRepository by a
  semver, alphabetical or numerical rule (`_policy`), optionally with its digest, and
  reports it in `status.latestRef` / `status.latestImage`.

`handlers.setup` wires both into one operator: a new scan result of a repository
re-evaluates the policies that refer to it at once. Run it with
`python -m afflux.controllers.image_reflector`. The pure building blocks (image names,
Go regexps, the registry client, the tag store, the policies) are the other modules here.
"""
