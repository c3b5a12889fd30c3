"""`spec.verify` of OCIRepository and HelmChart: find an artifact's signatures in its
registry and verify them with cosign public keys or a notation trust policy.

- `verification_config(...)` (pure) reads the `spec.verify.secretRef` Secret as Flux does:
  cosign takes every `*.pub` entry as a trusted public key; notation takes
  `trustpolicy.json` and every `*.crt` / `*.pem` certificate. Keyless cosign against a
  private Sigstore (OCIRepository's `spec.verify.trustedRootSecretRef`, no secretRef)
  takes the Secret's `trusted_root.json` and the `matchOIDCIdentity` entries, and checks
  each signature with `_sigstore.verify_keyless`, offline: the layer's Rekor bundle is
  the proof of logging, and a signature without one is refused (afflux never looks it up
  in the Rekor the trusted root names). Keyless against the public Sigstore (neither
  Secret) is refused: it needs the public Sigstore services (Fulcio, Rekor, the TUF root),
  which an afflux installation is not expected to reach.
- cosign (key-based and keyless) reads the signatures in Flux's order (source-controller
  #1961): the artifact's Sigstore bundles (cosign v3's default, OCI referrers whose one
  layer is a bundle; `_bundle`), and only when it has none, its cosign v2 signatures (the
  `sha256-<hex>.sig` tag, and referrers of the v2 signature artifactType). A bundle that
  cannot be read or parsed is skipped (and named in the message); when bundles are found
  and none verifies, the v2 signatures are not looked at, as in Flux.
- `must_verify(...)` (pure) is Flux's rule for when to verify again: a new revision, a
  new generation, or a last verification that failed. A digest that was verified stays
  verified, so an unchanged digest costs no registry round-trips.
- `verify_artifact(client, url, digest, config)` (blocking I/O through `RegistryClient`,
  with the object's credentials and TLS) returns a `Verification` or raises
  `VerificationFailed` with a message that says what is wrong and what to do. Everything
  read from the registry is bounded (manifests, referrer lists, payloads, envelopes, and
  the number of referrers and signatures looked at).

The crypto is in `_cosign`, `_bundle`, `_sigstore` and `_notation`, done in-process with `cryptography`: no cosign
or notation binary runs in the controller. Not done: online Rekor look-ups and RFC 3161
timestamps (cosign), certificate revocation and RFC 3161 timestamps (notation),
verification plugins.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from afflux.api._meta import SOURCE_VERIFIED, SUCCEEDED, VERIFICATION_ERROR
from afflux.controllers.runtime import GenericError, ReconcileContext, StallingError

from ._bundle import (
    BUNDLE_MEDIA_TYPE_PREFIX,
    MAX_BUNDLE_SIZE,
    BundleError,
    SigstoreBundle,
    parse_bundle,
    verify_with_keys,
)
from ._common_phases import read_secret
from ._cosign import (
    COSIGN_SIG_ARTIFACT_TYPE,
    COSIGN_SIGNATURE_ANNOTATION,
    MAX_PAYLOAD_SIZE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    CosignError,
    PublicKey,
    load_public_keys,
    parse_simple_signing,
    signature_tag,
    verify_payload_signature,
)
from ._notation import (
    ARTIFACT_TYPE as NOTATION_ARTIFACT_TYPE,
)
from ._notation import (
    COSE_MEDIA_TYPE,
    JWS_MEDIA_TYPE,
    MAX_ENVELOPE_SIZE,
    TRUST_POLICY_KEY,
    NotationError,
    TrustPolicy,
    check_signature,
    load_certificates,
    parse_envelope,
    parse_trust_policy,
    select_policy,
)
from ._oci import OCIURL, RegistryClient, RegistryError
from ._remote import run_blocking
from ._sigstore import (
    TRUSTED_ROOT_KEY,
    Identity,
    SigstoreError,
    TrustedRoot,
    parse_trusted_root,
    read_keyless_signature,
    verify_keyless,
    verify_keyless_bundle,
)

__all__ = [
    "COSIGN",
    "KEYLESS",
    "NOTATION",
    "Verification",
    "VerificationFailed",
    "VerifyConfig",
    "must_verify",
    "verification_config",
    "verified_message",
    "verify_artifact",
    "verify_source",
]

COSIGN, NOTATION = "cosign", "notation"
#: Signatures tried per artifact before giving up (notation's CLI tries 100, Flux 3).
MAX_SIGNATURES = 10
#: Referrers of an artifact looked at (other kinds of referrers included).
MAX_REFERRERS = 50
#: Largest signature manifest or referrers list read.
MAX_SIGNATURE_MANIFEST = 1 << 20
#: Layers of one cosign signature manifest looked at (one per signature).
MAX_COSIGN_LAYERS = 32

KEYLESS_MESSAGE = (
    "keyless verification (spec.verify without secretRef) needs the public Sigstore "
    "services (Fulcio, Rekor and the TUF root), which this installation cannot reach, so "
    "afflux does not support it: sign with a key (`cosign sign --key`) and set "
    "spec.verify.secretRef to a Secret holding the public key as <name>.pub")
KEYLESS = "cosign keyless"


class VerificationFailed(Exception):
    """The artifact is not verified; `message` says why and what to change. `stalling`:
    only a change of the spec can help (keyless, an unknown provider)."""

    def __init__(self, message: str, *, stalling: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.stalling = stalling


@dataclass(frozen=True)
class VerifyConfig:
    """What to verify with: the provider and the Secret's keys or trust material."""

    provider: str
    secret: str
    keys: list[PublicKey] = field(default_factory=list)
    policies: list[TrustPolicy] = field(default_factory=list)
    certificates: list[x509.Certificate] = field(default_factory=list, repr=False)
    #: Keyless cosign: the private Sigstore's trusted root and the identities to accept.
    trusted_root: TrustedRoot | None = field(default=None, repr=False)
    identities: tuple[Identity, ...] = ()


@dataclass(frozen=True)
class Verification:
    """A verification that passed. `verified` is False when the trust policy let the
    artifact through without an authentic signature (level `skip`, or `audit` with only
    logged failures): Flux then leaves SourceVerified unset. `detail` says by what."""

    verified: bool
    detail: str
    warnings: tuple[str, ...] = ()


def _failed(provider: str, message: str, *, stalling: bool = False) -> VerificationFailed:
    return VerificationFailed(f"failed to verify the signature using provider '{provider}': "
                              f"{message}", stalling=stalling)


def verification_config(provider: str | None, secret_ref: str | None, namespace: str,
                        data: Mapping[str, bytes] | None, *,
                        trusted_root_ref: str | None = None,
                        trusted_root_data: Mapping[str, bytes] | None = None,
                        identities: Sequence[Identity] = ()) -> VerifyConfig:
    """The keys (cosign) or trust policy and certificates (notation) of the Secret `data`
    (None when there is no secretRef). Without it, cosign is keyless: against the trusted
    root of the Secret `trusted_root_data` (named `trusted_root_ref`), accepting
    `identities`; with neither Secret it is refused (the public Sigstore). Pure;
    VerificationFailed says what to fix."""
    provider = provider or COSIGN
    secret = f"{namespace}/{secret_ref}" if secret_ref else ""
    if provider == COSIGN:
        if data is None:
            if trusted_root_ref is None:
                raise _failed(KEYLESS, KEYLESS_MESSAGE, stalling=True)
            return _keyless_config(f"{namespace}/{trusted_root_ref}", trusted_root_data or {},
                                   identities)
        try:
            keys = load_public_keys(data)
        except CosignError as err:
            raise _failed(provider, f"secret '{secret}': {err}") from None
        if not keys:
            raise _failed(provider, f"no public keys found in secret '{secret}': add the "
                          "cosign public key as an entry named <name>.pub")
        return VerifyConfig(provider, secret, keys=keys)
    if provider == NOTATION:
        if data is None:
            raise _failed(provider, "spec.verify.secretRef is required for notation: a Secret "
                          f"with {TRUST_POLICY_KEY} and the CA certificates (*.crt or *.pem)")
        raw = data.get(TRUST_POLICY_KEY)
        if raw is None:
            raise _failed(provider, f"'{TRUST_POLICY_KEY}' not found in secret '{secret}'")
        try:
            policies = parse_trust_policy(raw)
            certificates = load_certificates(data)
        except NotationError as err:
            raise _failed(provider, f"secret '{secret}': {err}") from None
        if not certificates:
            raise _failed(provider, f"no certificates found in secret '{secret}': add the "
                          "root CA certificates as entries named <name>.crt or <name>.pem")
        return VerifyConfig(provider, secret, policies=policies, certificates=certificates)
    raise _failed(provider, f"unsupported verification provider '{provider}' (cosign or "
                  "notation)", stalling=True)


def _keyless_config(secret: str, data: Mapping[str, bytes], identities: Sequence[Identity]
                    ) -> VerifyConfig:
    raw = data.get(TRUSTED_ROOT_KEY)
    if raw is None:
        raise _failed(KEYLESS, f"'{TRUSTED_ROOT_KEY}' not found in secret '{secret}' "
                      "(spec.verify.trustedRootSecretRef): add the private Sigstore's trusted "
                      f"root as {TRUSTED_ROOT_KEY} (`cosign trusted-root create`)")
    try:
        root = parse_trusted_root(raw)
        root.rekor_url()
    except SigstoreError as err:
        raise _failed(KEYLESS, f"{TRUSTED_ROOT_KEY} of secret '{secret}': {err}") from None
    for number, identity in enumerate(identities):
        for what, pattern in (("issuer", identity.issuer), ("subject", identity.subject)):
            try:
                re.compile(pattern)
            except re.error as err:
                raise _failed(KEYLESS, f"spec.verify.matchOIDCIdentity[{number}].{what} is "
                              f"not a valid regular expression: {err}", stalling=True
                              ) from None
    return VerifyConfig(KEYLESS, secret, trusted_root=root, identities=tuple(identities))


def must_verify(*, artifact_revision: str | None, revision: str,
                condition: Mapping[str, Any] | None, generation: int | None) -> bool:
    """Whether `revision` must be verified (again). Pure. Not when the stored artifact is
    at that revision and SourceVerified is True for this generation."""
    if artifact_revision != revision or condition is None:
        return True
    if condition.get("status") != "True":
        return True
    return condition.get("observedGeneration") != generation


def verified_message(what: str, result: Verification) -> str:
    """SourceVerified's message: Flux's "verified signature of <what>", and by what."""
    return f"verified signature of {what} ({result.detail})"


# --- the registry half ------------------------------------------------------------------------


def verify_artifact(client: RegistryClient, url: OCIURL, digest: str, config: VerifyConfig
                    ) -> Verification:
    """Verify the artifact `url@digest` (blocking). See the module docstring."""
    try:
        if config.provider == KEYLESS:
            return _verify_keyless(client, url, digest, config)
        if config.provider == COSIGN:
            return _verify_cosign(client, url, digest, config)
        return _verify_notation(client, url, digest, config)
    except RegistryError as err:
        raise _failed(config.provider, f"reading the signatures of {url}@{digest}: "
                      f"{err.message}") from None


def _cosign_manifests(client: RegistryClient, url: OCIURL, digest: str,
                      referrers: list[dict[str, Any]]) -> list[Any]:
    """The cosign v2 signature manifests of `digest`: the `.sig` tag, then OCI referrers."""
    found = []
    try:
        found.append(client.any_manifest(url.repository, signature_tag(digest),
                                         max_size=MAX_SIGNATURE_MANIFEST))
    except RegistryError as err:
        if err.kind != "not_found":
            raise
    for descriptor in referrers:
        if descriptor.get("artifactType") == COSIGN_SIG_ARTIFACT_TYPE and \
                len(found) < MAX_SIGNATURES:
            found.append(client.any_manifest(url.repository, str(descriptor.get("digest")),
                                             max_size=MAX_SIGNATURE_MANIFEST))
    return found


def _cosign_referrers(client: RegistryClient, url: OCIURL, digest: str, notes: list[str]
                      ) -> list[dict[str, Any]]:
    """The OCI referrers of `digest` (the first MAX_REFERRERS); a registry that fails to
    list them is noted and counts as none (cosign then looks at the `.sig` tag only)."""
    try:
        return client.referrers(url.repository, digest,
                                max_size=MAX_SIGNATURE_MANIFEST)[:MAX_REFERRERS]
    except RegistryError as err:
        notes.append(f"the OCI referrers could not be listed: {err.message}")
        return []


def _is_bundle_type(media_type: Any) -> bool:
    return isinstance(media_type, str) and media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX)


def _sigstore_bundles(client: RegistryClient, url: OCIURL, referrers: list[dict[str, Any]],
                      notes: list[str]) -> list[SigstoreBundle]:
    """The Sigstore bundles among the referrers (cosign v3's signatures), as cosign reads
    them: a referrer whose one layer is of a bundle media type, parsed and at least v0.3.
    One that cannot be read or parsed is skipped and noted in `notes`; at most
    MAX_SIGNATURES are read."""
    found: list[SigstoreBundle] = []
    for descriptor in referrers:
        artifact_type = descriptor.get("artifactType")
        if artifact_type and not _is_bundle_type(artifact_type):
            continue  # a signature of another kind, an SBOM, ...
        if len(found) >= MAX_SIGNATURES:
            notes.append(f"more than {MAX_SIGNATURES} Sigstore bundles: the rest are not read")
            break
        where = f"Sigstore bundle {str(descriptor.get('digest'))[:71]}"
        try:
            manifest = client.any_manifest(url.repository, str(descriptor.get("digest")),
                                           max_size=MAX_SIGNATURE_MANIFEST).data
            layers = manifest.get("layers")
            if not isinstance(layers, list) or len(layers) != 1 or \
                    not isinstance(layers[0], Mapping) or \
                    not _is_bundle_type(layers[0].get("mediaType")):
                if artifact_type:
                    notes.append(f"{where} skipped: expected exactly one layer of a bundle "
                                 "media type")
                continue
            found.append(parse_bundle(client.blob_bytes(url.repository, layers[0],
                                                        MAX_BUNDLE_SIZE)))
        except (RegistryError, BundleError) as err:
            notes.append(f"{where} skipped: {getattr(err, 'message', err)}")
    return found


def _cosign_layers(client: RegistryClient, url: OCIURL, digest: str, provider: str,
                   how: str, referrers: list[dict[str, Any]], notes: list[str]
                   ) -> list[Mapping[str, Any]]:
    """The simple signing layers of the cosign v2 signatures of `digest` (at least one,
    or VerificationFailed saying to sign it `how`, with the `notes` on the bundles)."""
    manifests = _cosign_manifests(client, url, digest, referrers)
    layers = [layer for m in manifests for layer in (m.data.get("layers") or [])
              if isinstance(layer, Mapping) and layer.get("mediaType") ==
              SIMPLE_SIGNING_MEDIA_TYPE][:MAX_COSIGN_LAYERS]
    if not layers:
        noted = f"{'; '.join(notes)}; " if notes else ""
        raise _failed(provider, f"no cosign signature found for '{url}@{digest}' (looked for "
                      "Sigstore bundles among its OCI referrers, and for cosign v2 signatures "
                      f"in the tag '{signature_tag(digest)}' and its referrers): {noted}sign "
                      f"it with {how}")
    return layers


def _signed_layers(client: RegistryClient, url: OCIURL, layers: list[Mapping[str, Any]],
                   problems: list[str]) -> Iterator[tuple[int, Mapping[str, Any], str, bytes]]:
    """(number, annotations, base64 signature, payload) of each layer that has a signature
    annotation; the others are noted in `problems`."""
    for number, layer in enumerate(layers, 1):
        annotations = layer.get("annotations") or {}
        signature = annotations.get(COSIGN_SIGNATURE_ANNOTATION) \
            if isinstance(annotations, Mapping) else None
        if not isinstance(signature, str):
            problems.append(f"signature {number} has no {COSIGN_SIGNATURE_ANNOTATION} "
                            "annotation")
            continue
        yield number, annotations, signature, client.blob_bytes(url.repository, layer,
                                                                 MAX_PAYLOAD_SIZE)


#: Said when bundles were found and failed: the v2 signatures were not considered.
BUNDLES_ONLY = ("the artifact has Sigstore bundles (cosign v3), so its cosign v2 '.sig' "
                "signatures are not looked at, as in Flux")


def _verify_cosign(client: RegistryClient, url: OCIURL, digest: str, config: VerifyConfig
                   ) -> Verification:
    """Flux's order: the Sigstore bundles of the artifact when it has any (the first
    that one of the keys verifies wins), else its cosign v2 signatures."""
    reference = f"{url}@{digest}"
    names = ", ".join(k.name for k in config.keys)
    notes: list[str] = []
    referrers = _cosign_referrers(client, url, digest, notes)
    problems: list[str] = []
    bundles = _sigstore_bundles(client, url, referrers, notes)
    for number, bundle in enumerate(bundles, 1):
        try:
            key = verify_with_keys(bundle, config.keys, digest)
        except BundleError as err:
            problems.append(f"bundle {number}: {err}")
            continue
        return Verification(True, f"cosign key '{key.name}' of secret '{config.secret}', "
                            "Sigstore bundle")
    if bundles:
        raise _failed(COSIGN, f"no matching signatures were found for '{reference}' with the "
                      f"keys of secret '{config.secret}' ({names}): "
                      f"{'; '.join(problems + notes)} ({BUNDLES_ONLY})")
    layers = _cosign_layers(client, url, digest, COSIGN,
                            "`cosign sign --key <key> <image>@<digest>`", referrers, notes)
    for number, _, signature, payload in _signed_layers(client, url, layers, problems):
        try:
            key = verify_payload_signature(config.keys, signature, payload)
            if key is None:
                problems.append(f"signature {number} is not made by any of the keys")
                continue
            claims = parse_simple_signing(payload)
        except CosignError as err:
            problems.append(f"signature {number}: {err}")
            continue
        if claims.digest != digest:
            problems.append(f"signature {number} (key '{key.name}') signs {claims.digest}, "
                            "not this artifact")
            continue
        return Verification(True, f"cosign key '{key.name}' of secret '{config.secret}'")
    raise _failed(COSIGN, f"no matching signatures were found for '{reference}' with the "
                  f"keys of secret '{config.secret}' ({names}): "
                  f"{'; '.join(problems + notes)}")


def _verify_keyless(client: RegistryClient, url: OCIURL, digest: str, config: VerifyConfig
                    ) -> Verification:
    """Each cosign signature layer checked against the private Sigstore's trusted root
    (`_sigstore.verify_keyless`: Rekor bundle, chain, identity, SCT, signature, validity),
    then its payload against `digest`; the first that holds verifies the artifact."""
    assert config.trusted_root is not None
    reference = f"{url}@{digest}"
    notes: list[str] = []
    referrers = _cosign_referrers(client, url, digest, notes)
    bundles = _sigstore_bundles(client, url, referrers, notes)
    if bundles:
        return _verify_keyless_bundles(url, digest, config, bundles, notes)
    layers = _cosign_layers(client, url, digest, KEYLESS,
                            "`cosign sign <image>@<digest>` against the private Sigstore",
                            referrers, notes)
    problems: list[str] = []
    for number, layer_notes, signature, payload in _signed_layers(client, url, layers,
                                                                  problems):
        try:
            keyless = read_keyless_signature(layer_notes)
            result = verify_keyless(config.trusted_root, config.identities, keyless,
                                    signature, payload)
            claims = parse_simple_signing(payload)
        except (SigstoreError, CosignError) as err:
            problems.append(f"signature {number}: {err}")
            continue
        if claims.digest != digest:
            problems.append(f"signature {number} ({result.describe()}) signs "
                            f"{claims.digest}, not this artifact")
            continue
        return Verification(True, f"{result.describe()}, trusted root of secret "
                            f"'{config.secret}'")
    raise _failed(KEYLESS, f"no matching signatures were found for '{reference}' with the "
                  f"trusted root of secret '{config.secret}': {'; '.join(problems + notes)}")


def _verify_keyless_bundles(url: OCIURL, digest: str, config: VerifyConfig,
                            bundles: list[SigstoreBundle], notes: list[str]) -> Verification:
    """The artifact's Sigstore bundles against the private Sigstore's trusted root
    (`_sigstore.verify_keyless_bundle`); the first that holds verifies it."""
    assert config.trusted_root is not None
    reference = f"{url}@{digest}"
    if len(config.identities) > 1:  # cosign's bundle verifier takes one identity
        raise _failed(KEYLESS, f"no matching signatures were found for '{reference}': "
                      "unsupported: multiple identities are not supported at this time "
                      "(the artifact is signed with Sigstore bundles, cosign v3's format, "
                      "which Flux verifies against one spec.verify.matchOIDCIdentity entry: "
                      "keep one)")
    problems: list[str] = []
    for number, bundle in enumerate(bundles, 1):
        try:
            result = verify_keyless_bundle(config.trusted_root, config.identities, bundle,
                                           digest)
        except (SigstoreError, BundleError) as err:
            problems.append(f"bundle {number}: {err}")
            continue
        return Verification(True, f"{result.describe()}, trusted root of secret "
                            f"'{config.secret}', Sigstore bundle")
    raise _failed(KEYLESS, f"no matching signatures were found for '{reference}' with the "
                  f"trusted root of secret '{config.secret}': {'; '.join(problems + notes)} "
                  f"({BUNDLES_ONLY})")


def _notation_signatures(client: RegistryClient, url: OCIURL, digest: str
                         ) -> list[dict[str, Any]]:
    found = []
    for descriptor in client.referrers(url.repository, digest,
                                       max_size=MAX_SIGNATURE_MANIFEST)[:MAX_REFERRERS]:
        artifact_type = descriptor.get("artifactType")
        if artifact_type in (None, NOTATION_ARTIFACT_TYPE):
            found.append(descriptor)
    return found


def _verify_notation(client: RegistryClient, url: OCIURL, digest: str, config: VerifyConfig
                     ) -> Verification:
    reference = f"{url}@{digest}"
    scope = f"{url.host}/{url.repository}"
    try:
        policy = select_policy(config.policies, scope)
    except NotationError as err:
        raise _failed(NOTATION, f"{TRUST_POLICY_KEY} of secret '{config.secret}': {err}"
                      ) from None
    if policy.level == "skip":
        return Verification(False, f"trust policy statement '{policy.name}' skips "
                            f"verification for '{scope}'")
    descriptors = _notation_signatures(client, url, digest)
    if not descriptors:
        raise _failed(NOTATION, f"no notation signature found for '{reference}' (OCI "
                      "referrers API and referrers tag): sign it with `notation sign`")
    problems: list[str] = []
    tried = 0
    for descriptor in descriptors:
        if tried >= MAX_SIGNATURES:
            problems.append(f"{len(descriptors) - tried} more signature(s) not tried")
            break
        manifest = client.any_manifest(url.repository, str(descriptor.get("digest")),
                                       max_size=MAX_SIGNATURE_MANIFEST).data
        config_type = (manifest.get("config") or {}).get("mediaType")
        if (manifest.get("artifactType") or config_type) != NOTATION_ARTIFACT_TYPE:
            continue  # another kind of referrer
        tried += 1
        subject = manifest.get("subject") or {}
        layers = manifest.get("layers") or []
        if isinstance(subject, Mapping) and subject.get("digest") not in (None, digest):
            problems.append(f"signature {tried} refers to {subject.get('digest')}")
            continue
        if not isinstance(layers, list) or len(layers) != 1 or \
                not isinstance(layers[0], Mapping):
            problems.append(f"signature {tried} does not have exactly one envelope layer")
            continue
        layer = layers[0]
        media_type = str(layer.get("mediaType") or "")
        if media_type not in (JWS_MEDIA_TYPE, COSE_MEDIA_TYPE):
            problems.append(f"signature {tried}: unsupported envelope type '{media_type}'")
            continue
        raw = client.blob_bytes(url.repository, layer, MAX_ENVELOPE_SIZE)
        try:
            envelope = parse_envelope(media_type, raw)
            outcome = check_signature(envelope, policy=policy, trusted=config.certificates,
                                      digest=digest)
        except NotationError as err:
            problems.append(f"signature {tried}: {err}")
            continue
        if outcome.authentic:
            return Verification(True, f"notation trust policy '{policy.name}', identity "
                                f"'{outcome.identity}'", outcome.warnings)
        return Verification(False, f"trust policy statement '{policy.name}' (level "
                            f"{policy.level}) only logs: {'; '.join(outcome.warnings)}",
                            outcome.warnings)
    if not tried:
        raise _failed(NOTATION, f"no notation signature found for '{reference}'")
    raise _failed(NOTATION, f"signature verification failed for all the signatures of "
                  f"'{reference}' (trust policy '{policy.name}', secret '{config.secret}'): "
                  f"{'; '.join(problems)}")


# --- the reconcile step ---------------------------------------------------------------------


async def verify_source(ctx: ReconcileContext[Any], verify: Any, client: RegistryClient,
                        url: OCIURL, digest: str, what: str, timeout: float, *,
                        reason: str = VERIFICATION_ERROR) -> Verification:
    """Verify `url@digest` as `verify` (the object's `spec.verify`) asks and set
    SourceVerified: True ("verified signature of <what> (...)"), False
    (VerificationError, then GenericError(`reason`) is raised, so nothing is pulled or
    stored; StallingError when only a spec change can help), or removed when the trust
    policy lets it through unverified."""
    obj = ctx.obj
    secret_ref = verify.secret_ref.name if verify.secret_ref is not None else None
    trusted_root = getattr(verify, "trusted_root_secret_ref", None)  # OCIRepository only
    root_ref = trusted_root.name if trusted_root is not None else None
    identities = [Identity(m.issuer, m.subject) for m in verify.match_oidc_identity or []]
    try:
        data = root_data = None
        if secret_ref is not None and (verify.provider or COSIGN) in (COSIGN, NOTATION):
            data = await read_secret(ctx.kube, obj.namespace, secret_ref,
                                     "spec.verify.secretRef", VERIFICATION_ERROR)
        elif root_ref is not None and (verify.provider or COSIGN) == COSIGN:
            root_data = await read_secret(ctx.kube, obj.namespace, root_ref,
                                          "spec.verify.trustedRootSecretRef",
                                          VERIFICATION_ERROR)
        config = verification_config(verify.provider, secret_ref, obj.namespace, data,
                                     trusted_root_ref=root_ref, trusted_root_data=root_data,
                                     identities=identities)
        result: Verification = await run_blocking(
            timeout, f"verifying the signature of {url}@{digest}", verify_artifact, client,
            url, digest, config,
            on_timeout=lambda m: VerificationFailed(f"failed to verify the signature: {m}"))
    except VerificationFailed as err:
        ctx.conditions.mark_false(SOURCE_VERIFIED, VERIFICATION_ERROR, err.message)
        if err.stalling:
            raise StallingError(reason, err.message) from None
        raise GenericError(reason, err.message) from None
    except GenericError as err:  # the Secret is missing or unreadable
        ctx.conditions.mark_false(SOURCE_VERIFIED, VERIFICATION_ERROR, err.message)
        raise GenericError(reason, err.message) from None
    for warning in result.warnings:
        ctx.logger.warning("signature verification of %s: %s", what, warning)
    if result.verified:
        ctx.conditions.mark_true(SOURCE_VERIFIED, SUCCEEDED, verified_message(what, result))
    else:
        ctx.logger.warning("%s is not verified: %s", what, result.detail)
        ctx.conditions.remove(SOURCE_VERIFIED)
    return result
