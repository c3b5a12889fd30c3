"""The values phase: read `spec.valuesFrom`, compose the release's values, digest them.

Each ConfigMap or Secret is read from the HelmRelease's namespace (with the controller's
own client, as Flux does); its `valuesKey` (`values.yaml` by default) from `data` (Secrets:
base64-decoded) or `binaryData`. A missing object is skipped when `optional: true` (a
missing key never is); otherwise the run fails with InitFailed and a message naming what
to create. The composition itself is `_values.compose_values`; the digest of the result
(`sha256:`, Flux's) becomes `lastAttemptedConfigDigest` and the event token. Nothing read
from a Secret is logged or put in a message.
"""

from __future__ import annotations

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
    DEFAULT_VALUES_KEY,
    ValuesError,
    ValuesSource,
    compose_values,
    config_digest,
    values_text,
)

__all__ = ["values_phase", "values_text"]


async def values_phase(ctx: ReconcileContext[HelmRelease]) -> PhaseResult | None:
    state = run_of(ctx)
    hr = ctx.obj
    sources: list[ValuesSource] = []
    for ref in hr.spec.values_from or []:
        resource = SECRETS if ref.kind == "Secret" else CONFIGMAPS
        where = f"{ref.kind} '{hr.namespace}/{ref.name}'"
        key = ref.values_key or DEFAULT_VALUES_KEY
        try:
            obj = await ctx.kube.get(ObjectRef(resource, hr.namespace, ref.name))
        except ApiError as err:
            raise GenericError(INIT_FAILED, f"could not get {where}: {err}") from None
        if obj is None:
            if ref.optional:
                continue
            raise GenericError(INIT_FAILED, f"could not resolve values: {where} not found; "
                               "create it, or set optional: true in spec.valuesFrom")
        text = values_text(obj, ref.kind, key)
        if text is None:
            raise GenericError(INIT_FAILED, f"could not resolve values: {where} has no key "
                               f"'{key}' (set valuesKey to the key holding the values)")
        sources.append(ValuesSource(text, f"key '{key}' of {where}", ref.target_path,
                                    bool(getattr(ref, "literal", False))))
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
