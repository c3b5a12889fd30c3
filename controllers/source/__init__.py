"""source-controller: GitRepository, OCIRepository, HelmRepository, HelmChart and Bucket,
and the ArtifactGenerators (Flux's source-watcher API) with the ExternalArtifacts they produce.

Each kind fetches content from its origin, packs it into an artifact in the storage
directory (`_storage`) and publishes the artifact's URL, revision and digest in its
status; the artifact server (`_server`) serves that directory over HTTP.
`python -m afflux.controllers.source` runs it (`__main__`); `handlers.setup` wires the
shared `SourceContext` (`_context`) and the reconcilers of `handlers.RECONCILER_FACTORIES`.
"""
