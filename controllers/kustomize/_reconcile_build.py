"""The build phases: decryption keys, kustomize build, postBuild substitution, metadata.

- `decryption_phase` reads the keys of `spec.decryption` (provider `sops`; the Secret of
  `secretRef`, in the Kustomization's namespace: `*.agekey` and `*.asc` entries; without a
  `secretRef`, as in Flux, the `*.agekey` entries of the Secret `--sops-age-secret` names in
  the controller's runtime namespace, `--namespace`).
- `build_phase` builds `spec.path` of the unpacked artifact (`artifact_phase` leased it; the
  build copies what it reads to its own scratch directory) with the real kustomize
  (`_build.run_build`: generated kustomization.yaml, targetNamespace, namePrefix/Suffix,
  patches, images, components; remote bases fetched unless `--no-remote-bases=true`),
  decrypting SOPS data with the keys, in a worker thread. The build is reused from the cache
  while artifact, spec and keys are unchanged, except a build that fetched remote bases
  (their content can change under the same key): it runs every time. A failure is
  BuildFailed with a message naming the file; nothing is applied and nothing is pruned. A
  `spec.path` that is not in the artifact is ArtifactFailed, as in Flux.
- `substitute_phase` runs `spec.postBuild` (inline `substitute` over `substituteFrom`
  ConfigMaps and Secrets, later ones winning; a missing object is an error unless
  `optional`; strict mode with the `StrictPostBuildSubstitutions` feature gate), then adds
  `spec.commonMetadata` and the owner labels, in Flux's order, and computes the digest of the
  set to apply (the history key).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afflux.api import Kustomization, PostBuild
from afflux.api._meta import ARTIFACT_FAILED, BUILD_FAILED
from afflux.controllers.runtime import (
    ApiError,
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    Resource,
    StallingError,
)

from ._build import BuildOptions, BuildResult, resolve_path, run_build
from ._buildcache import build_key
from ._errors import BuildError
from ._objects import set_common_metadata, set_owner_labels
from ._reconcile_state import report_work, run_of
from ._sops import DecryptionKeys, SopsDecryptor
from ._substitute import SubstitutionError, merge_variables, substitute_objects
from ._tools import ToolNotFoundError

__all__ = [
    "CONFIGMAPS",
    "DECRYPTION_FAILED",
    "SECRETS",
    "build_phase",
    "decryption_phase",
    "set_digest",
    "substitute_phase",
    "substitution_wanted",
    "variables_of",
]

CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps")
SECRETS = Resource("", "v1", "Secret", "secrets")
DECRYPTION_FAILED = "DecryptionFailed"


def variables_of(kind: str, body: Mapping[str, Any]) -> dict[str, str]:
    """The substitution variables of a ConfigMap or Secret body (Secret values decoded)."""
    data = body.get("data") or {}
    if kind != "Secret":
        return {str(k): str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    for key, value in data.items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise GenericError(BUILD_FAILED, f"Secret key '{key}' is not valid base64") from None
    return out


def set_digest(objects: list[dict[str, Any]]) -> str:
    """`sha256:<hex>` of the set, in order, as canonical JSON (sorted keys, no spaces): the
    key of a history entry. JSON, not YAML: the same identity at a fraction of the cost."""
    canonical = json.dumps(objects, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


async def decryption_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    decryption = ks.spec.decryption
    if decryption is None:
        state.keys = None
        return None
    if decryption.provider != "sops":
        raise StallingError(DECRYPTION_FAILED, f"decryption provider '{decryption.provider}' "
                            "is not supported; use 'sops'")
    if decryption.secret_ref is None:
        state.keys = await _controller_age_keys(ctx, state.services.settings.sops_age_secret)
        return None
    name = decryption.secret_ref.name
    where = f"{ks.namespace}/{name}"
    secret = await _decryption_secret(ctx, ks.namespace, name, "decryption Secret")
    state.keys = DecryptionKeys.from_secret_data(
        secret.get("data"), base64_encoded=True, origin=f"the decryption Secret '{where}'")
    return None


async def _decryption_secret(ctx: ReconcileContext[Kustomization], namespace: str, name: str,
                             what: str) -> Mapping[str, Any]:
    try:
        secret = await ctx.kube.get(ObjectRef(SECRETS, namespace, name))
    except ApiError as err:
        raise GenericError(DECRYPTION_FAILED, f"cannot get {what} "
                           f"'{namespace}/{name}': {err}") from None
    if secret is None:
        raise GenericError(DECRYPTION_FAILED, f"cannot get {what} "
                           f"'{namespace}/{name}': not found")
    return secret


async def _controller_age_keys(ctx: ReconcileContext[Kustomization], name: str
                               ) -> DecryptionKeys:
    """The fallback of a Kustomization without `decryption.secretRef` (Flux's
    `--sops-age-secret`): the `.agekey` entries of that Secret in the controller's runtime
    namespace; no keys without the flag."""
    if not name:
        return DecryptionKeys(origin="spec.decryption.secretRef is not set and the controller "
                              "has no --sops-age-secret")
    namespace = ctx.options.namespace
    secret = await _decryption_secret(ctx, namespace, name,
                                      "SOPS age decryption Secret (--sops-age-secret)")
    return DecryptionKeys.from_secret_data(
        secret.get("data"), base64_encoded=True, age_only=True,
        origin=f"the controller's SOPS age decryption Secret '{namespace}/{name}' "
        "(--sops-age-secret)")


def _build(source: Path, spec: Mapping[str, Any], keys: DecryptionKeys | None,
           timeout: float, remote_bases: bool) -> BuildResult:
    options = BuildOptions.from_spec(spec)
    if not resolve_path(source, options.path).is_dir():  # Flux: ArtifactFailed
        raise GenericError(ARTIFACT_FAILED, f"kustomization path not found: "
                           f"{options.path!r} is not a directory in the source artifact")
    if keys is None:
        return run_build(source, options, timeout=timeout, remote_bases=remote_bases)
    with SopsDecryptor(keys) as decryptor:
        return run_build(source, options, decryptor=decryptor, timeout=timeout,
                         remote_bases=remote_bases)


async def build_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    assert state.checkout is not None
    spec = ctx.body.get("spec") or {}
    builds = state.services.builds
    key = build_key((state.artifact or {}).get("digest"), spec, state.keys)
    cached = builds.get(key)
    if cached is not None:  # same artifact bytes, spec and keys: the same build
        state.objects = cached
        state.close()
        return None
    await report_work(ctx)
    try:
        built = await asyncio.to_thread(
            _build, state.checkout.path, spec, state.keys, ctx.obj.timeout or 300.0,
            state.services.settings.remote_bases)
        state.objects = built.objects
        if not built.remote:  # remote content can change under the same key: not cached
            builds.put(key, state.objects)
    except BuildError:
        raise
    except ToolNotFoundError as err:
        raise BuildError(f"kustomize build failed: {err}") from None
    finally:
        state.close()
    return None


async def _substitute_from(ctx: ReconcileContext[Kustomization]) -> list[dict[str, str] | None]:
    ks = ctx.obj
    post = ks.spec.post_build
    found: list[dict[str, str] | None] = []
    for ref in (post.substitute_from if post else None) or []:
        resource = SECRETS if ref.kind == "Secret" else CONFIGMAPS
        what = f"{ref.kind}/{ks.namespace}/{ref.name}"
        try:
            body = await ctx.kube.get(ObjectRef(resource, ks.namespace, ref.name))
        except ApiError as err:
            raise GenericError(BUILD_FAILED, f"substitute from '{what}' failed: {err}") from None
        if body is None:
            if ref.optional:
                found.append(None)
                continue
            raise GenericError(BUILD_FAILED, f"substitute from '{what}' failed: {ref.kind} "
                               f"'{ks.namespace}/{ref.name}' not found (mark it optional to "
                               "go on without it)")
        found.append(variables_of(ref.kind, body))
    return found


def substitution_wanted(post: PostBuild | None) -> bool:
    """Whether postBuild substitution runs: with some variable or source (Flux's default
    strategy, WithVariables), or always with `substituteStrategy: Always` (so defaults like
    `${var:=x}` and escapes `$${var}` are resolved without any variable)."""
    if post is None:
        return False
    return bool(post.substitute or post.substitute_from or post.substitute_strategy == "Always")


async def substitute_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    post = ks.spec.post_build
    objects = state.objects
    if substitution_wanted(post):
        variables = merge_variables(*await _substitute_from(ctx), post.substitute)
        try:
            objects = substitute_objects(
                objects, variables, strict=state.services.settings.strict_substitution,
                force=True)
        except SubstitutionError as err:
            raise GenericError(BUILD_FAILED, f"post build substitution failed: {err}") from None
    common = ks.spec.common_metadata
    if common is not None:
        objects = set_common_metadata(objects, common.labels, common.annotations)
    state.objects = set_owner_labels(objects, ks.name, ks.namespace)
    state.digest = set_digest(state.objects)
    return None
