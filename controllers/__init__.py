"""The six operators (one package each: source, kustomize, helm, image_reflector,
image_automation, notification) and `runtime`, the reconcile machinery they share; run one
with `python -m afflux.controllers.<name>`."""
