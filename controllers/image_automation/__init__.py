"""image-automation-controller: writes the latest images into Git.

ImageUpdateAutomation (image.toolkit.fluxcd.io/v1, v1beta2 served too) checks out the
repository of a GitRepository, rewrites the values marked with
`# {"$imagepolicy": "<ns>:<policy>[:name|:tag|:digest]"}` to the images the selected
ImagePolicies chose, commits with a templated message and pushes (`_reconcile`). The
pieces: `_setters` (the rewrite), `_template` and `_gotemplate` (Go templates for the
commit message), `_gitops` (clone, commit, sign, push), `_sshsig` (SSH commit
signatures). `handlers.setup` wires the kind
and re-runs an automation when a policy's latest image or its GitRepository changes. Run
it with `python -m afflux.controllers.image_automation`.
"""
