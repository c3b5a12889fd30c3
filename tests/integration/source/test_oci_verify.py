"""OCIRepository `spec.verify` end to end: artifacts pushed to the real registry (TLS,
htpasswd) with oras-py, signed here by the real `cosign` and `notation` binaries, and a
real source-controller process verifying them (in Python, without those binaries).

cosign: `generate-key-pair` + `sign --key --tlog-upload=false` (the `.sig` tag form that
cosign v2 writes by default). Keyless cosign against a private Sigstore: the harness's
(tests/harness/sigstore.py) certifies a key and logs the signature, and the real cosign
attaches signature, certificate, chain and Rekor bundle (`attach signature
--rekor-response`); the real `cosign verify --trusted-root` is shown to accept it offline
before the operator is asked to. notation: `cert generate-test` + `sign`, JWS (its
default) and COSE; the registry has no referrers API, so notation writes the referrers
tag.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from source_env import SourceEnv, obj_name, start_source_env
from test_ocirepository import Pusher, pusher, registry_secrets, repo_name

from afflux.cli.devenv import Registry
from afflux.controllers.runtime import RegistryCredentials
from afflux.controllers.source._bundle import MAX_BUNDLE_SIZE, BundleError, parse_bundle
from afflux.controllers.source._cosign import (
    COSIGN_SIGNATURE_ANNOTATION,
    MAX_PAYLOAD_SIZE,
    parse_simple_signing,
    signature_tag,
)
from afflux.controllers.source._oci import RegistryClient
from afflux.controllers.source._sigstore import (
    Identity,
    SigstoreError,
    check_identity,
    parse_trusted_root,
    read_keyless_signature,
    verify_embedded_sct,
    verify_keyless,
    verify_keyless_bundle,
    verify_leaf,
)
from afflux.controllers.source._transport import TLSMaterial
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import HelmTool
from harness.leaks import remember
from harness.signing import Cosign, Cosign3, Notation
from harness.sigstore import (
    EMAIL,
    ISSUER,
    Leaf,
    Sigstore,
    b64,
    issue,
    pem,
    rekor_response,
    sigstore_bundle,
)

pytestmark = pytest.mark.integration

KIND = "OCIRepository"
__all__ = ["pusher"]  # the fixture, shared with test_ocirepository


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "ociverify")


@pytest.fixture(scope="module")
def cosign(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Cosign:
    return Cosign(tmp_path_factory.mktemp("cosign"), registry)


@pytest.fixture(scope="module")
def cosign3(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Cosign3:
    return Cosign3(tmp_path_factory.mktemp("cosign3"), registry)


@pytest.fixture(scope="module")
def notation(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Notation:
    return Notation(tmp_path_factory.mktemp("notation"), registry)


def trust_policy(*, level: str = "strict", scopes: list[str] | None = None,
                 identities: list[str] | None = None) -> str:
    statement: dict[str, Any] = {
        "name": "afflux-test", "registryScopes": scopes or ["*"],
        "signatureVerification": {"level": level},
        "trustStores": ["ca:afflux-test"], "trustedIdentities": identities or ["*"]}
    return json.dumps({"version": "1.0", "trustPolicies": [statement]})


def oci_spec(env: SourceEnv, registry: Registry, repo: str, tag: str,
             verify: dict[str, Any]) -> dict[str, Any]:
    return {"url": f"oci://{registry.host}/{repo}", "ref": {"tag": tag}, "verify": verify,
            **registry_secrets(env, registry)}


def create_verified(env: SourceEnv, registry: Registry, repo: str, provider: str,
                    secret_data: dict[str, str | bytes]) -> str:
    """A Secret with `secret_data`, and an OCIRepository of `repo:v1` verified with it."""
    secret = env.secret(obj_name(provider), secret_data)
    return env.create(KIND, obj_name(), oci_spec(env, registry, repo, "v1", {
        "provider": provider, "secretRef": {"name": secret}}))


def verified(env: SourceEnv, obj: dict[str, Any]) -> dict[str, Any]:
    cond = env.condition(obj, "SourceVerified")
    assert cond is not None, obj["status"]
    return cond


def wait_unverified(env: SourceEnv, name: str, *words: str, after: str | None = None,
                    stalled: bool = False) -> dict[str, Any]:
    """The object once SourceVerified=False (VerificationError) and Ready=False, with
    `words` in the message (once it handled the requestedAt `after`); Stalled only when
    `stalled`."""
    obj = env.wait_failed(KIND, name, "VerificationError", after=after, stalled=stalled)
    cond = verified(env, obj)
    assert cond["status"] == "False" and cond["reason"] == "VerificationError", cond
    for word in words:
        assert word in cond["message"], cond
    return obj


# --- cosign ----------------------------------------------------------------------------


@pytest.mark.flux_fields("OCIRepository", "spec.verify.provider", "spec.verify.secretRef.name")
def test_cosign_signed_artifact_is_verified_and_stored(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "signed\n"})
    public = cosign.generate_key_pair("good")
    cosign.sign(f"{registry.host}/{repo}@{digest}", "good")
    name = create_verified(env, registry, repo, "cosign", {
        "other.pub": cosign.generate_key_pair("unused"), "good.pub": public,
        "README": "not a key"})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    cond = verified(env, obj)
    assert cond["status"] == "True" and cond["reason"] == "Succeeded", cond
    assert f"verified signature of revision v1@{digest}" in cond["message"]
    assert "good.pub" in cond["message"]
    assert env.members(obj["status"]["artifact"]) == {"app.yaml": b"signed\n"}

    # spec.verify removed: the condition goes
    env.patch(KIND, name, {"spec": {"verify": None}})
    env.wait_ready(KIND, name, f"v1@{digest}",
                   check=lambda o: env.condition(o, "SourceVerified") is None)


def test_cosign_unsigned_artifact_is_refused(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "unsigned\n"})
    name = create_verified(env, registry, repo, "cosign",
                           {"cosign.pub": cosign.generate_key_pair("k-unsigned")})
    obj = wait_unverified(env, name, "no cosign signature found", digest)
    assert "artifact" not in obj["status"]
    assert env.stored_files(KIND, name) == []


def test_cosign_signature_by_another_key_is_refused(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "mallory\n"})
    cosign.generate_key_pair("mallory")
    cosign.sign(f"{registry.host}/{repo}@{digest}", "mallory")
    name = create_verified(env, registry, repo, "cosign",
                           {"trusted.pub": cosign.generate_key_pair("trusted")})
    obj = wait_unverified(env, name, "no matching signatures", "trusted.pub")
    assert "artifact" not in obj["status"]


def test_a_retagged_unsigned_artifact_keeps_the_last_verified_one(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign) -> None:
    repo = repo_name()
    good = pusher.push(repo, "v1", {"app.yaml": "good\n"})
    public = cosign.generate_key_pair("release")
    cosign.sign(f"{registry.host}/{repo}@{good}", "release")
    name = create_verified(env, registry, repo, "cosign", {"release.pub": public})
    first = env.wait_ready(KIND, name, f"v1@{good}")
    artifact = first["status"]["artifact"]

    evil = pusher.push(repo, "v1", {"app.yaml": "evil\n"})  # the tag moved, not re-signed
    assert evil != good
    obj = wait_unverified(env, name, evil, after=env.request_reconcile(KIND, name))
    assert obj["status"]["artifact"] == artifact  # the last good artifact stays
    assert env.members(obj["status"]["artifact"]) == {"app.yaml": b"good\n"}

    cosign.sign(f"{registry.host}/{repo}@{evil}", "release")  # now signed: taken
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, f"v1@{evil}")
    assert verified(env, obj)["status"] == "True"


def test_cosign_keyless_against_the_public_sigstore_is_refused_with_a_reason(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    """No secretRef and no trustedRootSecretRef: the public Sigstore, which afflux does
    not reach; Stalled before anything is pulled."""
    repo = repo_name()
    pusher.push(repo, "v1", {"a": "1"})
    public = env.create(KIND, obj_name(), oci_spec(env, registry, repo, "v1", {
        "provider": "cosign", "matchOIDCIdentity": [{"issuer": ".*", "subject": ".*"}]}))
    obj = wait_unverified(env, public, "keyless", "public Sigstore services", "secretRef",
                          stalled=True)
    assert "artifact" not in obj["status"]


def test_keyless_checks_read_what_the_real_cosign_writes(
        registry: Registry, pusher: Pusher, cosign: Cosign, tmp_path: Path) -> None:
    """The keyless checks of controllers/source/_sigstore.py on a signature the real
    `cosign sign --certificate --certificate-chain` made with a certificate of a private
    CA (as keyless signing does with Fulcio's answer), read back from the real registry:
    the annotations are where cosign puts them, the chain, SCT and identity checks hold,
    another CA or identity is refused, and without a Rekor bundle (`--tlog-upload=false`)
    `verify_keyless` refuses, afflux not looking signatures up in Rekor online."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "keyless\n"})
    public = serialization.load_pem_public_key(cosign.generate_key_pair("fulcio-like"))
    store = Sigstore()
    leaf = issue(store, public_key=public)
    (tmp_path / "cert.pem").write_text(pem(leaf.cert))
    (tmp_path / "chain.pem").write_text(pem(store.inter) + pem(store.root))
    cosign.sign_with_certificate(f"{registry.host}/{repo}@{digest}", "fulcio-like",
                                 tmp_path / "cert.pem", tmp_path / "chain.pem")

    with RegistryClient(registry.host,
                        credentials=RegistryCredentials(registry.username, registry.password),
                        tls=TLSMaterial(ca=registry.ca_cert.read_bytes())) as client:
        layer = client.any_manifest(repo, signature_tag(digest)).data["layers"][0]
        payload = client.blob_bytes(repo, layer, MAX_PAYLOAD_SIZE)
    annotations = layer["annotations"]
    signature = read_keyless_signature(annotations)
    assert signature.certificate == leaf.cert
    assert signature.chain == (store.inter, store.root)
    assert signature.bundle is None and not signature.has_timestamp
    assert parse_simple_signing(payload).digest == digest

    root = parse_trusted_root(json.dumps(store.trusted_root()).encode())
    chain = verify_leaf(signature.certificate, root)
    assert chain == [leaf.cert, store.inter, store.root]
    verify_embedded_sct(chain, root)
    check_identity(signature.certificate, [Identity(f"^{ISSUER}$", f"^{EMAIL}$")])
    with pytest.raises(SigstoreError, match="none of the expected identities"):
        check_identity(signature.certificate, [Identity(ISSUER, "^someone-else@")])
    stranger = parse_trusted_root(json.dumps(Sigstore().trusted_root()).encode())
    with pytest.raises(SigstoreError, match="does not chain to a certificate authority"):
        verify_leaf(signature.certificate, stranger)
    with pytest.raises(SigstoreError, match="has no Rekor bundle"):
        verify_keyless(root, [], signature, annotations[COSIGN_SIGNATURE_ANNOTATION], payload)


def keyless_sign(cosign: Cosign, image: str, store: Sigstore, directory: Path, *,
                 sans: list[x509.GeneralName] | None = None, with_bundle: bool = True) -> Leaf:
    """Sign `image` as keyless cosign does, with `store` as Fulcio, CT log and Rekor: the
    real cosign makes the payload (`cosign generate`), a new key signs it, `store` issues
    its certificate (with an embedded SCT) and logs the entry (a SET by its Rekor key),
    and the real cosign attaches signature, certificate, chain and Rekor bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = cosign.generate(image)
    leaf = issue(store, sans=sans)
    remember(pem(leaf.cert).splitlines()[1])  # a line of the certificate, never to be said
    signature = b64(leaf.key.sign(payload, ec.ECDSA(hashes.SHA256())))
    files = {"payload.json": payload, "sig.b64": signature.encode(),
             "cert.pem": pem(leaf.cert).encode(),
             "chain.pem": (pem(store.inter) + pem(store.root)).encode(),
             "rekor.json": rekor_response(store, leaf.cert, signature, payload).encode()}
    for file, content in files.items():
        (directory / file).write_bytes(content)
    cosign.attach_signature(image, directory / "payload.json", directory / "sig.b64",
                            directory / "cert.pem", directory / "chain.pem",
                            directory / "rekor.json" if with_bundle else None)
    return leaf


def test_the_real_cosign_accepts_the_private_sigstore_keyless_signature(
        registry: Registry, pusher: Pusher, cosign: Cosign, tmp_path: Path) -> None:
    """The harness's private Sigstore is what real Sigstore tooling accepts: `cosign
    verify --trusted-root` passes offline on its keyless signature, and refuses it with
    another trusted root (another Rekor key; or the same logs but another CA), another
    identity, or without the Rekor bundle, where the online Rekor look-up it then tries
    fails on the unreachable address (so a network access would show)."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "keyless\n"})
    image = f"{registry.host}/{repo}@{digest}"
    store = Sigstore()
    keyless_sign(cosign, image, store, tmp_path / "sign")
    roots = {"root": store, "stranger": Sigstore(),
             "other-ca": Sigstore(ct_key=store.ct_key, rekor_key=store.rekor_key)}
    for file, other in roots.items():
        (tmp_path / f"{file}.json").write_text(json.dumps(other.trusted_root()))

    def verify(image: str, root: str, identity: str = f"^{EMAIL}$", *, ok: bool = False
               ) -> str:
        done = cosign.verify_keyless(image, tmp_path / f"{root}.json", identity, f"^{ISSUER}$")
        assert (done.returncode == 0) == ok, done.stderr
        return done.stderr

    out = verify(image, "root", ok=True)
    assert "Existence of the claims in the transparency log was verified offline" in out
    assert "code-signing certificate was verified using trusted certificate authority" in out
    assert "rekor log public key not found" in verify(image, "stranger")
    assert "leaf certificate verification failed" in verify(image, "other-ca")
    assert "none of the expected identities matched" in verify(image, "root", "^someone@")

    unlogged = pusher.push(repo, "v2", {"app.yaml": "no bundle\n"})
    keyless_sign(cosign, f"{registry.host}/{repo}@{unlogged}", store, tmp_path / "unlogged",
                 with_bundle=False)
    out = verify(f"{registry.host}/{repo}@{unlogged}", "root")
    assert "127.0.0.1:9" in out and "connection refused" in out, out


def keyless_spec(env: SourceEnv, registry: Registry, repo: str, store: Sigstore,
                 subject: str = f"^{EMAIL}$") -> dict[str, Any]:
    """An OCIRepository spec of `repo:v1` verified keyless against `store`'s trusted root
    (a new Secret), accepting `subject` from the harness's OIDC issuer. The root's
    certificates and keys join the values the operators must never say (harness.leaks)."""
    root = store.trusted_root()
    remember(*[entry["publicKey"]["rawBytes"] for entry in root["tlogs"] + root["ctlogs"]],
             *[cert["rawBytes"] for ca in root["certificateAuthorities"]
               for cert in ca["certChain"]["certificates"]])
    secret = env.secret(obj_name("sigstore"), {"trusted_root.json": json.dumps(root)})
    return oci_spec(env, registry, repo, "v1", {
        "provider": "cosign", "trustedRootSecretRef": {"name": secret},
        "matchOIDCIdentity": [{"issuer": "^https://unused\\.example$", "subject": ".*"},
                              {"issuer": f"^{re.escape(ISSUER)}$", "subject": subject}]})


def cosign_agrees(cosign: Cosign, image: str, store: Sigstore, directory: Path, *,
                  ok: bool, subject: str = f"^{EMAIL}$") -> None:
    """The real `cosign verify --trusted-root` (offline) of `image` with `store`'s trusted
    root passes when `ok`, and fails otherwise, as the operator decided."""
    root = directory / f"root-{uuid.uuid4().hex[:6]}.json"
    root.write_text(json.dumps(store.trusted_root()))
    done = cosign.verify_keyless(image, root, subject, f"^{re.escape(ISSUER)}$")
    assert (done.returncode == 0) is ok, done.stderr


def said_about(env: SourceEnv, name: str) -> str:
    """The object's status and Events, as text."""
    return json.dumps(env.get(KIND, name)["status"]) + "".join(
        str(e.message) for e in env.events(name))


@pytest.mark.flux_fields("OCIRepository", "spec.verify.provider",
                         "spec.verify.trustedRootSecretRef.name",
                         "spec.verify.matchOIDCIdentity[].issuer",
                         "spec.verify.matchOIDCIdentity[].subject")
def test_cosign_keyless_signed_artifact_is_verified_with_a_private_trusted_root(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign,
        tmp_path: Path) -> None:
    """Signed by the private Sigstore, verified by the operator with its trusted root: a
    wrong identity is refused first (nothing stored, the message says what to change),
    the right one verifies and stores it; a later tag signed without a Rekor bundle is
    refused and the last verified artifact stays."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "keyless\n"})
    store = Sigstore()
    leaf = keyless_sign(cosign, f"{registry.host}/{repo}@{digest}", store, tmp_path / "v1")
    spec = keyless_spec(env, registry, repo, store, subject="^someone-else@")
    name = env.create(KIND, obj_name(), spec)
    obj = wait_unverified(env, name, "no matching signatures were found", digest,
                          "none of the expected identities", EMAIL,
                          "spec.verify.matchOIDCIdentity")
    assert "artifact" not in obj["status"] and env.stored_files(KIND, name) == []
    image = f"{registry.host}/{repo}@{digest}"
    cosign_agrees(cosign, image, store, tmp_path, ok=False, subject="^someone-else@")

    spec["verify"]["matchOIDCIdentity"][1]["subject"] = f"^{re.escape(EMAIL)}$"
    env.patch_spec(KIND, name, {"verify": spec["verify"]})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    cond = verified(env, obj)
    assert cond["status"] == "True" and cond["reason"] == "Succeeded", cond
    assert f"verified signature of revision v1@{digest}" in cond["message"]
    assert f"keyless identity '{EMAIL}' issued by '{ISSUER}'" in cond["message"]
    assert env.members(obj["status"]["artifact"]) == {"app.yaml": b"keyless\n"}
    artifact = obj["status"]["artifact"]
    cosign_agrees(cosign, image, store, tmp_path, ok=True)

    unlogged = pusher.push(repo, "v1", {"app.yaml": "not logged\n"})
    keyless_sign(cosign, f"{registry.host}/{repo}@{unlogged}", store, tmp_path / "v1b",
                 with_bundle=False)
    obj = wait_unverified(env, name, unlogged, "has no Rekor bundle",
                          "online Rekor look-up is not supported",
                          after=env.request_reconcile(KIND, name))
    assert obj["status"]["artifact"] == artifact
    cosign_agrees(cosign, f"{registry.host}/{repo}@{unlogged}", store, tmp_path, ok=False)
    said = said_about(env, name)
    for secret in (pem(leaf.cert).splitlines()[1], b64(store.root.public_bytes(
            serialization.Encoding.DER))[:40], "BEGIN CERTIFICATE"):
        assert secret not in said


def test_cosign_keyless_signature_of_another_private_sigstore_is_refused(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign,
        tmp_path: Path) -> None:
    """Signed by one private Sigstore, verified with another's trusted root: refused
    (another Rekor key; or the same logs but another CA), nothing stored, retried."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "stranger\n"})
    signer = Sigstore()
    image = f"{registry.host}/{repo}@{digest}"
    keyless_sign(cosign, image, signer, tmp_path / "s")
    stranger = Sigstore()
    same_logs = Sigstore(ct_key=signer.ct_key, rekor_key=signer.rekor_key)
    other = env.create(KIND, obj_name(), keyless_spec(env, registry, repo, stranger))
    other_ca = env.create(KIND, obj_name(), keyless_spec(env, registry, repo, same_logs))
    obj = wait_unverified(env, other, "rekor log public key not found")
    assert "artifact" not in obj["status"] and env.stored_files(KIND, other) == []
    obj = wait_unverified(env, other_ca, "does not chain to a certificate authority of the "
                          "trusted root")
    assert "artifact" not in obj["status"] and env.stored_files(KIND, other_ca) == []
    for root in (stranger, same_logs):
        cosign_agrees(cosign, image, root, tmp_path, ok=False)
    cosign_agrees(cosign, image, signer, tmp_path, ok=True)


@pytest.mark.flux_fields("OCIRepository", "spec.verify.trustedRootSecretRef.name")
def test_cosign_keyless_trusted_root_secret_errors_are_clear(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign,
        tmp_path: Path) -> None:
    """A missing Secret, a Secret without trusted_root.json, one that is not JSON, and one
    too large each give a message naming the Secret and what is wrong (retried, not
    stalled); fixing the Secret verifies the artifact."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "root\n"})
    store = Sigstore()
    keyless_sign(cosign, f"{registry.host}/{repo}@{digest}", store, tmp_path / "s")
    spec = keyless_spec(env, registry, repo, store)
    secret = obj_name("missing")
    spec["verify"]["trustedRootSecretRef"]["name"] = secret
    name = env.create(KIND, obj_name(), spec)
    wait_unverified(env, name, f"secret '{env.namespace}/{secret}'", "not found",
                    "spec.verify.trustedRootSecretRef")
    root = json.dumps(store.trusted_root())
    for data, words in [
            ({"root.json": root}, ["'trusted_root.json' not found in secret"]),
            ({"trusted_root.json": "{not json"}, ["trusted_root.json of secret", "not JSON"]),
            ({"trusted_root.json": root + " " * (256 << 10)},
             ["trusted_root.json of secret", "larger than 262144 bytes"])]:
        env.secret(secret, data)
        obj = wait_unverified(env, name, *words, after=env.request_reconcile(KIND, name))
        assert "artifact" not in obj["status"]
    env.secret(secret, {"trusted_root.json": root})
    env.request_reconcile(KIND, name)
    env.wait_ready(KIND, name, f"v1@{digest}")


# --- cosign v3: Sigstore bundles --------------------------------------------------------


def cosign3_agrees(cosign3: Cosign3, image: str, public_key: bytes, directory: Path, *,
                   ok: bool) -> str:
    """The real `cosign3 verify --key` (offline, no transparency log, as Flux with a key)
    of `image` passes when `ok`, fails otherwise, as the operator decided; its output."""
    key = directory / f"key-{uuid.uuid4().hex[:6]}.pub"
    key.write_bytes(public_key)
    done = cosign3.verify_key(image, key)
    assert (done.returncode == 0) is ok, done.stderr
    return done.stderr


def _registry_put(registry: Registry, path: str, data: bytes, media_type: str) -> None:
    """PUT `data` at /v2/`path` of the registry (a manifest), or, for a path ending in
    `blobs/uploads/`, upload it as a blob (POST, then PUT with its digest)."""
    auth = {"auth": (registry.username, registry.password), "verify": str(registry.ca_cert),
            "timeout": 30}
    url = f"https://{registry.host}/v2/{path}"
    if path.endswith("blobs/uploads/"):
        started = requests.post(url, **auth)
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        url = location if "://" in location else f"https://{registry.host}{location}"
        url += ("&" if "?" in url else "?") + \
            f"digest=sha256:{hashlib.sha256(data).hexdigest()}"
    response = requests.put(url, data=data, headers={"Content-Type": media_type}, **auth)
    assert response.status_code == 201, response.text


def replace_bundle(registry: Registry, repo: str, digest: str, content: bytes) -> None:
    """Replace the layer of the Sigstore bundle referrer cosign v3 wrote for `digest` with
    `content` (a malformed or oversized bundle): a new blob, a new manifest, and the
    referrers tag `sha256-<hex>` rewritten to name it instead, as a registry without the
    referrers API keeps them."""
    tag = digest.replace(":", "-", 1)
    with RegistryClient(registry.host,
                        credentials=RegistryCredentials(registry.username, registry.password),
                        tls=TLSMaterial(ca=registry.ca_cert.read_bytes())) as client:
        index = client.any_manifest(repo, tag).data
        (old,) = [d for d in index["manifests"]
                  if d.get("artifactType", "").startswith("application/vnd.dev.sigstore")]
        manifest = client.any_manifest(repo, old["digest"]).data
    blob = "sha256:" + hashlib.sha256(content).hexdigest()
    _registry_put(registry, f"{repo}/blobs/uploads/", content, "application/octet-stream")
    manifest["layers"][0].update(digest=blob, size=len(content))
    raw = json.dumps(manifest).encode()
    new = "sha256:" + hashlib.sha256(raw).hexdigest()
    _registry_put(registry, f"{repo}/manifests/{new}", raw, manifest["mediaType"])
    index["manifests"] = [d for d in index["manifests"] if d is not old] + [
        {**old, "digest": new, "size": len(raw)}]
    _registry_put(registry, f"{repo}/manifests/{tag}", json.dumps(index).encode(),
                  index["mediaType"])


@pytest.mark.flux_fields("OCIRepository", "spec.verify.provider", "spec.verify.secretRef.name")
def test_cosign_v3_bundle_signed_artifact_is_verified_and_stored(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign3: Cosign3,
        tmp_path: Path) -> None:
    """Signed by the real cosign v3 with its defaults (a Sigstore bundle as an OCI
    referrer, through the referrers tag here): verified with the Secret's key and stored,
    as the real `cosign verify --key` agrees; an artifact whose bundle another key made is
    refused, nothing stored."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "v3 signed\n"})
    public = cosign3.generate_key_pair("v3good")
    image = f"{registry.host}/{repo}@{digest}"
    cosign3.sign(image, "v3good")
    name = create_verified(env, registry, repo, "cosign", {
        "other.pub": cosign3.generate_key_pair("v3unused"), "v3good.pub": public})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    cond = verified(env, obj)
    assert cond["status"] == "True" and cond["reason"] == "Succeeded", cond
    assert f"verified signature of revision v1@{digest}" in cond["message"]
    assert "v3good.pub" in cond["message"] and "Sigstore bundle" in cond["message"]
    assert env.members(obj["status"]["artifact"]) == {"app.yaml": b"v3 signed\n"}
    cosign3_agrees(cosign3, image, public, tmp_path, ok=True)

    other_repo = repo_name()
    other = pusher.push(other_repo, "v1", {"app.yaml": "mallory\n"})
    cosign3.generate_key_pair("v3mallory")
    cosign3.sign(f"{registry.host}/{other_repo}@{other}", "v3mallory")
    refused = create_verified(env, registry, other_repo, "cosign", {"v3good.pub": public})
    obj = wait_unverified(env, refused, "no matching signatures were found", other,
                          "bundle 1: not made by any of the keys", "v3good.pub")
    assert "artifact" not in obj["status"] and env.stored_files(KIND, refused) == []
    cosign3_agrees(cosign3, f"{registry.host}/{other_repo}@{other}", public, tmp_path,
                   ok=False)


@pytest.mark.flux_fields("OCIRepository", "spec.verify.secretRef.name")
def test_cosign_v3_bundles_are_verified_instead_of_v2_signatures_as_flux_does(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign: Cosign,
        cosign3: Cosign3, tmp_path: Path) -> None:
    """An artifact with both forms: Flux (and the cosign CLI) verify only the Sigstore
    bundles when there are any. A v2 signature by an untrusted key beside a v3 bundle by
    the trusted key is verified; a v2 signature by the trusted key beside a v3 bundle by
    another key is refused (the message says the v2 signatures were not looked at);
    cosign v3 asked for v2's form (`--new-bundle-format=false`) is verified as v2."""
    repo = repo_name()
    trusted = cosign3.generate_key_pair("mix-trusted")
    (cosign.directory / "mix-trusted.key").write_bytes(
        (cosign3.directory / "mix-trusted.key").read_bytes())
    cosign3.generate_key_pair("mix-other")
    (cosign.directory / "mix-other.key").write_bytes(
        (cosign3.directory / "mix-other.key").read_bytes())

    good = pusher.push(repo, "v1", {"app.yaml": "bundle trusted\n"})
    cosign.sign(f"{registry.host}/{repo}@{good}", "mix-other")
    cosign3.sign(f"{registry.host}/{repo}@{good}", "mix-trusted")
    name = create_verified(env, registry, repo, "cosign", {"trusted.pub": trusted})
    obj = env.wait_ready(KIND, name, f"v1@{good}")
    assert "Sigstore bundle" in verified(env, obj)["message"]
    cosign3_agrees(cosign3, f"{registry.host}/{repo}@{good}", trusted, tmp_path, ok=True)

    bad = pusher.push(repo, "v1", {"app.yaml": "v2 trusted only\n"})
    cosign.sign(f"{registry.host}/{repo}@{bad}", "mix-trusted")
    cosign3.sign(f"{registry.host}/{repo}@{bad}", "mix-other")
    obj = wait_unverified(env, name, bad, "bundle 1: not made by any of the keys",
                          "'.sig' signatures are not looked at",
                          after=env.request_reconcile(KIND, name))
    assert obj["status"]["artifact"]["revision"] == f"v1@{good}"
    cosign3_agrees(cosign3, f"{registry.host}/{repo}@{bad}", trusted, tmp_path, ok=False)

    legacy = pusher.push(repo, "v1", {"app.yaml": "v3 in v2 form\n"})
    cosign3.sign_legacy(f"{registry.host}/{repo}@{legacy}", "mix-trusted")
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, f"v1@{legacy}")
    assert "Sigstore bundle" not in verified(env, obj)["message"]
    cosign3_agrees(cosign3, f"{registry.host}/{repo}@{legacy}", trusted, tmp_path, ok=True)


def test_cosign_v3_malformed_or_oversized_bundle_keeps_the_last_verified_artifact(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign3: Cosign3,
        tmp_path: Path) -> None:
    """A bundle that is not JSON, or larger than afflux reads (256 KiB), is skipped as
    cosign skips a bundle it cannot read; with no other signature the artifact is refused
    with a message naming the bundle and why, and the last verified one stays. The real
    cosign refuses them too."""
    repo = repo_name()
    public = cosign3.generate_key_pair("v3keep")
    first = pusher.push(repo, "v1", {"app.yaml": "first\n"})
    cosign3.sign(f"{registry.host}/{repo}@{first}", "v3keep")
    name = create_verified(env, registry, repo, "cosign", {"v3keep.pub": public})
    artifact = env.wait_ready(KIND, name, f"v1@{first}")["status"]["artifact"]

    for content, words in [
            (b"{not json", ["the bundle is not JSON"]),
            (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
             ["verificationMaterial is missing"]),
            (b" " * (256 << 10) + b"{}", ["larger than 262144 bytes"])]:
        digest = pusher.push(repo, "v1", {"app.yaml": f"{len(content)}\n"})
        cosign3.sign(f"{registry.host}/{repo}@{digest}", "v3keep")
        replace_bundle(registry, repo, digest, content)
        obj = wait_unverified(env, name, digest, "no cosign signature found",
                              "Sigstore bundle sha256:", "skipped", *words,
                              after=env.request_reconcile(KIND, name))
        assert obj["status"]["artifact"] == artifact
        cosign3_agrees(cosign3, f"{registry.host}/{repo}@{digest}", public, tmp_path,
                       ok=False)


def keyless_bundle(cosign3: Cosign3, image: str, digest: str, store: Sigstore,
                   directory: Path, **entry: Any) -> Leaf:
    """Sign `image` as keyless cosign v3 does, with `store` as Fulcio, CT log and Rekor: a
    Sigstore bundle (DSSE envelope of the statement about `digest`, the certificate, a
    Rekor dsse entry with its SET and inclusion proof; `entry` changes it, see
    harness.sigstore.dsse_entry) attached by the real `cosign attach signature --bundle`,
    which writes it as cosign v3's signing does: an OCI referrer of the artifact."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = issue(store)
    remember(pem(leaf.cert).splitlines()[1])
    path = directory / f"bundle-{uuid.uuid4().hex[:6]}.sigstore.json"
    path.write_text(json.dumps(sigstore_bundle(leaf.key, digest, cert=leaf.cert, store=store,
                                               **entry)))
    cosign3.attach_bundle(image, path)
    return leaf


@pytest.mark.flux_fields("OCIRepository", "spec.verify.trustedRootSecretRef.name",
                         "spec.verify.matchOIDCIdentity[].issuer",
                         "spec.verify.matchOIDCIdentity[].subject")
def test_cosign_v3_keyless_bundle_is_verified_with_a_private_trusted_root(
        env: SourceEnv, registry: Registry, pusher: Pusher, cosign3: Cosign3,
        tmp_path: Path) -> None:
    """A keyless Sigstore bundle of the private Sigstore, attached by the real cosign v3:
    the real `cosign verify --trusted-root` accepts it offline. The operator, as Flux,
    verifies bundles against one matchOIDCIdentity entry (two are refused with cosign's
    message), then verifies and stores it; a later tag whose bundle another Rekor key
    logged is refused by both, and the last verified artifact stays."""
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "v3 keyless\n"})
    image = f"{registry.host}/{repo}@{digest}"
    store = Sigstore()
    keyless_bundle(cosign3, image, digest, store, tmp_path)
    cosign_agrees(cosign3, image, store, tmp_path, ok=True)

    spec = keyless_spec(env, registry, repo, store)  # two identities
    name = env.create(KIND, obj_name(), spec)
    wait_unverified(env, name, "multiple identities are not supported",
                    "keep one", "Sigstore bundles")
    spec["verify"]["matchOIDCIdentity"] = spec["verify"]["matchOIDCIdentity"][1:]
    env.patch_spec(KIND, name, {"verify": spec["verify"]})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    cond = verified(env, obj)
    assert cond["status"] == "True" and cond["reason"] == "Succeeded", cond
    assert f"keyless identity '{EMAIL}' issued by '{ISSUER}'" in cond["message"]
    assert "Sigstore bundle" in cond["message"]
    assert env.members(obj["status"]["artifact"]) == {"app.yaml": b"v3 keyless\n"}
    artifact = obj["status"]["artifact"]

    other = pusher.push(repo, "v1", {"app.yaml": "logged elsewhere\n"})
    keyless_bundle(cosign3, f"{registry.host}/{repo}@{other}", other, store, tmp_path,
                   rekor_key=Sigstore().rekor_key)
    obj = wait_unverified(env, name, other, "not enough verified log entries",
                          after=env.request_reconcile(KIND, name))
    assert obj["status"]["artifact"] == artifact
    cosign_agrees(cosign3, f"{registry.host}/{repo}@{other}", store, tmp_path, ok=False)


KEYLESS_BUNDLE_VARIANTS: dict[str, dict[str, Any]] = {
    "as cosign v3 writes it": {},
    "a tree of one entry": {"tree": 1, "index": 0},
    "no inclusion promise (SET)": {"promise": False},
    "a checkpoint signed by another key": {"checkpoint_key": "stranger"},
    "logged by another Rekor key": {"rekor_key": "stranger"},
    "logged after the certificate expired": {"later": True},
    "another identity expected": {"subject": "^someone-else@"},
    "verified with another CA's root": {"root": "other-ca"},
}


@pytest.mark.parametrize("variant", list(KEYLESS_BUNDLE_VARIANTS))
def test_keyless_bundle_decisions_agree_with_the_real_cosign3(
        registry: Registry, pusher: Pusher, cosign3: Cosign3, tmp_path: Path,
        variant: str) -> None:
    """Each keyless bundle variant, attached by the real cosign v3 and read back from the
    registry: afflux's `verify_keyless_bundle` and the real `cosign verify --trusted-root`
    (offline) decide the same."""
    changes = dict(KEYLESS_BUNDLE_VARIANTS[variant])
    stranger = Sigstore().rekor_key
    for key in ("checkpoint_key", "rekor_key"):
        if changes.get(key) == "stranger":
            changes[key] = stranger
    if changes.pop("later", False):
        changes["integrated"] = datetime.now(UTC) + timedelta(hours=1)
    subject = changes.pop("subject", f"^{EMAIL}$")
    other_ca = changes.pop("root", None) == "other-ca"
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": f"{variant}\n"})
    image = f"{registry.host}/{repo}@{digest}"
    store = Sigstore()
    keyless_bundle(cosign3, image, digest, store, tmp_path, **changes)
    with RegistryClient(registry.host,
                        credentials=RegistryCredentials(registry.username, registry.password),
                        tls=TLSMaterial(ca=registry.ca_cert.read_bytes())) as client:
        (descriptor,) = client.referrers(repo, digest)
        layer = client.any_manifest(repo, descriptor["digest"]).data["layers"][0]
        raw = client.blob_bytes(repo, layer, MAX_BUNDLE_SIZE)
    verifying = Sigstore(ct_key=store.ct_key, rekor_key=store.rekor_key) if other_ca \
        else store
    root = parse_trusted_root(json.dumps(verifying.trusted_root()).encode())
    try:
        verify_keyless_bundle(root, [Identity(f"^{re.escape(ISSUER)}$", subject)],
                              parse_bundle(raw), digest)
        ours = True
    except (SigstoreError, BundleError):
        ours = False
    assert ours is (variant in ("as cosign v3 writes it", "a tree of one entry"))
    cosign_agrees(cosign3, image, verifying, tmp_path, ok=ours, subject=subject)


# --- notation --------------------------------------------------------------------------


@pytest.mark.parametrize("signature_format", ["jws", "cose"])
@pytest.mark.flux_fields("OCIRepository", "spec.verify.provider", "spec.verify.secretRef.name")
def test_notation_signed_artifact_is_verified(
        env: SourceEnv, registry: Registry, pusher: Pusher, notation: Notation,
        signature_format: str) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": f"{signature_format}\n"})
    cert = notation.generate_test_key(f"signer-{signature_format}")
    notation.sign(f"{registry.host}/{repo}@{digest}", f"signer-{signature_format}",
                  signature_format)
    name = create_verified(env, registry, repo, "notation", {
        "trustpolicy.json": trust_policy(
            scopes=[f"{registry.host}/{repo}"],
            identities=[f"x509.subject: C=US, ST=WA, O=Notary, CN=signer-{signature_format}"]),
        "signer.crt": cert})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    cond = verified(env, obj)
    assert cond["status"] == "True", cond
    assert f"verified signature of revision v1@{digest}" in cond["message"]


def test_notation_refuses_untrusted_certificates_and_identities(
        env: SourceEnv, registry: Registry, pusher: Pusher, notation: Notation) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "n\n"})
    notation.generate_test_key("n-signer")
    notation.sign(f"{registry.host}/{repo}@{digest}", "n-signer")
    stranger = notation.generate_test_key("n-stranger")

    name = create_verified(env, registry, repo, "notation",
                           {"trustpolicy.json": trust_policy(), "ca.pem": stranger})
    secret = env.get(KIND, name)["spec"]["verify"]["secretRef"]["name"]
    obj = wait_unverified(env, name, "does not end in a certificate of the verification secret")
    assert "artifact" not in obj["status"]

    # the right certificate, but an identity the policy does not trust
    env.secret(secret, {
        "trustpolicy.json": trust_policy(identities=["x509.subject: C=US, ST=WA, O=Other"]),
        "ca.pem": (Path(notation.directory) / "notation/localkeys/n-signer.crt").read_bytes()})
    wait_unverified(env, name, "trustedIdentities", after=env.request_reconcile(KIND, name))

    # audit only logs a failed authenticity: the artifact is used, not marked verified
    env.secret(secret, {"trustpolicy.json": trust_policy(level="audit"), "ca.pem": stranger})
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    assert env.condition(obj, "SourceVerified") is None


def test_notation_unsigned_and_missing_trust_policy(
        env: SourceEnv, registry: Registry, pusher: Pusher, notation: Notation) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"app.yaml": "u\n"})
    cert = notation.generate_test_key("u-signer")
    name = create_verified(env, registry, repo, "notation", {"ca.crt": cert})
    secret = env.get(KIND, name)["spec"]["verify"]["secretRef"]["name"]
    wait_unverified(env, name, "'trustpolicy.json' not found")

    env.secret(secret, {"ca.crt": cert, "trustpolicy.json": trust_policy()})
    obj = wait_unverified(env, name, "no notation signature found", digest,
                          after=env.request_reconcile(KIND, name))
    assert "artifact" not in obj["status"]


# --- HelmChart from an OCI HelmRepository ---------------------------------------------


def oci_helmchart(env: SourceEnv, registry: Registry, base: str, verify: dict[str, Any]
                  ) -> str:
    """An OCI HelmRepository of `oci://<registry>/<base>` and a HelmChart of its chart
    `app`, verified as `verify` says; returns the HelmChart's name."""
    registry_secrets(env, registry)
    repo = env.create("HelmRepository", obj_name("oci"), {
        "type": "oci", "url": f"oci://{registry.host}/{base}",
        "secretRef": {"name": "regcred"}, "certSecretRef": {"name": "registry-ca"}})
    return env.create("HelmChart", obj_name(), {
        "chart": "app", "sourceRef": {"kind": "HelmRepository", "name": repo},
        "verify": verify})


@pytest.mark.flux_fields("HelmChart", "spec.verify.provider", "spec.verify.secretRef.name")
def test_helmchart_from_an_oci_repository_verifies_the_chart(
        env: SourceEnv, registry: Registry, helm_tool: HelmTool, cosign: Cosign,
        tmp_path: Path) -> None:
    base = f"charts-{uuid.uuid4().hex[:8]}"
    packages = {v: helm_tool.package(helm_tool.make_chart(tmp_path / v, "app", v),
                                     tmp_path / "pkg") for v in ("1.0.0", "1.1.0")}
    signed = helm_tool.push(registry, packages["1.0.0"], base)
    public = cosign.generate_key_pair("charts")
    cosign.sign(f"{registry.host}/{base}/app@{signed}", "charts")
    secret = env.secret(obj_name("cosign"), {"charts.pub": public})
    name = oci_helmchart(env, registry, base, {"provider": "cosign",
                                               "secretRef": {"name": secret}})
    obj = env.wait_ready("HelmChart", name, "1.0.0")
    cond = verified(env, obj)
    assert cond["status"] == "True" and "verified signature of version 1.0.0" in cond["message"]
    assert env.download(obj["status"]["artifact"]) == packages["1.0.0"].read_bytes()

    helm_tool.push(registry, packages["1.1.0"], base)  # a newer version nobody signed
    stamp = env.request_reconcile("HelmChart", name)
    obj = env.wait_failed("HelmChart", name, "ChartVerificationError", after=stamp)
    cond = verified(env, obj)
    assert cond["status"] == "False" and cond["reason"] == "VerificationError", cond
    assert "no cosign signature found" in cond["message"]
    assert env.condition(obj, "BuildFailed")["reason"] == "ChartVerificationError"
    assert obj["status"]["artifact"]["revision"] == "1.0.0"  # the last good chart stays


@pytest.mark.flux_fields("HelmChart", "spec.verify.provider", "spec.verify.secretRef.name")
def test_helmchart_from_an_oci_repository_verifies_a_cosign_v3_bundle(
        env: SourceEnv, registry: Registry, helm_tool: HelmTool, cosign3: Cosign3,
        tmp_path: Path) -> None:
    """A chart signed by the real cosign v3 (its Sigstore bundle as a referrer of the
    chart's manifest) is verified with the key and served; with another key it is
    refused, as the real `cosign verify --key` decides."""
    base = f"charts-{uuid.uuid4().hex[:8]}"
    package = helm_tool.package(helm_tool.make_chart(tmp_path / "c", "app", "1.0.0"),
                                tmp_path / "pkg")
    signed = helm_tool.push(registry, package, base)
    public = cosign3.generate_key_pair("charts3")
    cosign3.sign(f"{registry.host}/{base}/app@{signed}", "charts3")
    secret = env.secret(obj_name("cosign3"), {"charts3.pub": public})
    name = oci_helmchart(env, registry, base, {"provider": "cosign",
                                               "secretRef": {"name": secret}})
    obj = env.wait_ready("HelmChart", name, "1.0.0")
    cond = verified(env, obj)
    assert cond["status"] == "True", cond
    assert "verified signature of version 1.0.0" in cond["message"]
    assert "Sigstore bundle" in cond["message"]
    assert env.download(obj["status"]["artifact"]) == package.read_bytes()
    cosign3_agrees(cosign3, f"{registry.host}/{base}/app@{signed}", public, tmp_path, ok=True)

    other = cosign3.generate_key_pair("charts3-other")
    refused = oci_helmchart(env, registry, base, {"provider": "cosign", "secretRef": {
        "name": env.secret(obj_name("cosign3"), {"other.pub": other})}})
    obj = env.wait_failed("HelmChart", refused, "ChartVerificationError")
    assert "artifact" not in obj["status"]
    cond = verified(env, obj)
    assert "bundle 1: not made by any of the keys" in cond["message"], cond
    cosign3_agrees(cosign3, f"{registry.host}/{base}/app@{signed}", other, tmp_path,
                   ok=False)


def test_helmchart_keyless_is_refused_with_a_reason(
        env: SourceEnv, registry: Registry, helm_tool: HelmTool, tmp_path: Path) -> None:
    """A HelmChart has matchOIDCIdentity but no trustedRootSecretRef (Flux 2.9): keyless
    means the public Sigstore, refused (Stalled) before the chart is pulled."""
    base = f"charts-{uuid.uuid4().hex[:8]}"
    package = helm_tool.package(helm_tool.make_chart(tmp_path / "c", "app", "1.0.0"),
                                tmp_path / "pkg")
    helm_tool.push(registry, package, base)
    name = oci_helmchart(env, registry, base, {
        "provider": "cosign", "matchOIDCIdentity": [{"issuer": ".*", "subject": ".*"}]})
    obj = env.wait_failed("HelmChart", name, "ChartVerificationError", stalled=True)
    cond = verified(env, obj)
    assert cond["status"] == "False" and cond["reason"] == "VerificationError", cond
    assert "keyless" in cond["message"] and "public Sigstore services" in cond["message"]
    assert "artifact" not in obj["status"]
