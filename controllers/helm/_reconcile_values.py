"""The values phase: read `spec.valuesFrom`, compose the release's values, digest them.

Each ConfigMap or Secret is read from the HelmRelease's namespace (with the controller's own
client, as Flux does); its `valuesKey` (`values.yaml` by default) from `data` (Secrets:
base64-decoded) or `binaryData`, each object read once. A missing object or key is skipped
when `optional: true` (as Flux); otherwise the run fails with InitFailed and a message
naming what to create (`_values.values_sources`). The composition itself is
`_values.compose_values`; the digest of the result (`sha256:`, Flux's) becomes
`lastAttemptedConfigDigest` and the event token. Nothing read from a Secret is logged or put
in a message.
"""

from __future__ import annotations

from typing import Any

from afflux.api import HelmRelease
from afflux.api._helm_v2 import INIT_FAILED
from afflux.controllers.runtime import (
    ApiError,
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    StallingError,
)

from ._state import CONFIGMAPS, SECRETS, run_of
from ._values import (
    ValuesError,
    compose_values,
    config_digest,
    values_sources,
    values_text,
)

__all__ = ["values_phase", "values_text"]


async def values_phase(ctx: ReconcileContext[HelmRelease]) -> PhaseResult | None:
    state = run_of(ctx)
    hr = ctx.obj
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    for ref in hr.spec.values_from or []:
        if (ref.kind, ref.name) in found:  # one read per object, as Flux
            continue
        resource = SECRETS if ref.kind == "Secret" else CONFIGMAPS
        try:
            found[(ref.kind, ref.name)] = await ctx.kube.get(
                ObjectRef(resource, hr.namespace, ref.name))
        except ApiError as err:
            raise GenericError(INIT_FAILED, f"could not get {ref.kind} '{hr.namespace}/"
                               f"{ref.name}': {err}") from None
    try:
        sources = values_sources(hr.spec.values_from or [], hr.namespace, found)
    except ValuesError as err:
        raise GenericError(INIT_FAILED, f"could not resolve values: {err}") from None
    if hr.spec.values is not None and not isinstance(hr.spec.values, dict):
        raise StallingError(INIT_FAILED, "spec.values must be a map of values (key: value), "
                            f"not a {type(hr.spec.values).__name__}")
    try:
        state.values = compose_values(sources, hr.spec.values)
    except ValuesError as err:
        raise GenericError(INIT_FAILED, f"could not resolve values: {err}") from None
    state.config_digest = config_digest(state.values)
    ctx.status["lastAttemptedConfigDigest"] = state.config_digest
    return None
