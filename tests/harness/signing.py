"""The real `cosign` (v2 and v3) and `notation`, signing artifacts in a test registry.

They are the pinned binaries from the tool cache (`hack/tools.sh cosign cosign3 notation`); a
missing one raises `ToolMissing` (a test failure, never a skip). Each instance keeps its
keys and configuration in its own directory: `HOME`, `DOCKER_CONFIG` and the notation
configuration directory point there, so no test reads or writes the user's.

- `Cosign(directory, registry)`: `generate_key_pair(name)` (an encrypted `<name>.key`
  and `<name>.pub`, password from COSIGN_PASSWORD) and `sign(image_ref, key)`, with
  `--tlog-upload=false` (no Rekor), `--yes` (no prompt) and the registry's credentials.
  cosign v2 writes the legacy form: the `sha256-<hex>.sig` tag with a simple signing
  layer.
  `sign_with_certificate(image_ref, key, certificate, chain)` adds the
  `dev.sigstore.cosign/certificate` and `.../chain` annotations, as keyless signing does.
  `generate(image_ref)` is the simple signing payload cosign would sign;
  `attach_signature(image_ref, payload, signature, certificate, chain, rekor_response)`
  attaches a signature made elsewhere (by a key of the test's private Sigstore) with its
  certificate, chain and Rekor bundle, as `cosign sign` does after Fulcio and Rekor
  answered; `verify_keyless(image_ref, trusted_root, identity, issuer)` is the real
  `cosign verify --trusted-root` of it, offline (see `OFFLINE`).
- `Cosign3(directory, registry)`: the real cosign v3 (`cosign3`), the same methods, but
  `sign` writes cosign v3's default form, a Sigstore bundle as an OCI referrer
  (`--tlog-upload=false` needs `--use-signing-config=false` in v3); `sign_legacy` asks
  it for v2's `.sig` form, `attach_bundle` attaches a bundle made elsewhere (`attach
  signature --bundle`) and `verify_key` is `cosign verify --key --insecure-ignore-tlog`.
- `Notation(directory, registry)`: `generate_test_key(name)` (`notation cert
  generate-test`: an RSA-2048 self-signed code-signing certificate, returned as PEM) and
  `sign(image_ref, key, signature_format="jws"|"cose")`. The registry (distribution 2.8)
  has no referrers API, so notation stores the referrers tag `sha256-<hex>`.

The registry's TLS certificate is trusted through SSL_CERT_FILE (Go reads it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from afflux.cli.devenv import Registry
from afflux.cli.devenv._tools import tool_path

__all__ = ["Cosign", "Cosign3", "Notation"]

COSIGN_PASSWORD = "afflux-test-cosign"
#: Nothing listens there (the discard port): a Rekor or TUF look-up fails loudly.
UNREACHABLE = "http://127.0.0.1:9"


class _Tool:
    name = ""

    def __init__(self, directory: Path, registry: Registry) -> None:
        self.binary = str(tool_path(self.name))
        self.directory = directory
        self.registry = registry
        directory.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "HOME": str(directory),
            "DOCKER_CONFIG": str(directory / "docker"),
            "XDG_CONFIG_HOME": str(directory / "xdg"),
            "NOTATION_CONFIG": str(directory / "notation"),
            "SSL_CERT_FILE": str(registry.ca_cert),
            "COSIGN_PASSWORD": COSIGN_PASSWORD,
        }

    def run(self, *args: str, env: dict[str, str] | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.binary, *args], env={**self.env, **(env or {})},
                              cwd=self.directory, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args[:2])} exited {done.returncode}:\n"
                                 f"{done.stderr}{done.stdout}")
        return done


class Cosign(_Tool):
    name = "cosign"

    def registry_flags(self) -> list[str]:
        return ["--registry-username", self.registry.username,
                "--registry-password", self.registry.password]

    def generate_key_pair(self, name: str) -> bytes:
        """A new key pair `<name>.key` / `<name>.pub`; returns the public key (PEM)."""
        self.run("generate-key-pair", f"--output-key-prefix={name}")
        return (self.directory / f"{name}.pub").read_bytes()

    def sign(self, image: str, key: str) -> None:
        """Sign `host/repo@sha256:...` with the private key `<key>.key`."""
        self.run("sign", "--key", f"{key}.key", "--tlog-upload=false", "--yes",
                 *self.registry_flags(), image)


    def sign_with_certificate(self, image: str, key: str, certificate: Path, chain: Path
                              ) -> None:
        """Sign with `<key>.key` and attach `certificate` (PEM, for that key) and its
        `chain` (PEM, up to the root), as keyless signing does with Fulcio's answer; no
        Rekor upload (cosign checks the chain itself before signing)."""
        self.run("sign", "--key", f"{key}.key", "--certificate", str(certificate),
                 "--certificate-chain", str(chain), "--tlog-upload=false", "--yes",
                 *self.registry_flags(), image)


    def generate(self, image: str) -> bytes:
        """The simple signing payload `cosign sign` would sign for `host/repo@sha256:...`."""
        return self.run("generate", *self.registry_flags(), image).stdout.encode()

    def attach_signature(self, image: str, payload: Path, signature: Path, certificate: Path,
                         chain: Path, rekor_response: Path | None = None) -> None:
        """Attach the base64 signature (file `signature`) of the `payload` file, with its
        `certificate` and `chain` (PEM) and the Rekor bundle of the `rekor_response` file
        (cosign's LocalSignedPayload JSON; None: no bundle)."""
        bundle = ["--rekor-response", str(rekor_response)] if rekor_response else []
        self.run("attach", "signature", "--payload", str(payload), "--signature",
                 str(signature), "--certificate", str(certificate), "--certificate-chain",
                 str(chain), *bundle, *self.registry_flags(), image)

    #: What keeps `verify_keyless` offline: no TUF root is fetched (a trusted root is
    #: given), the Rekor URL and any proxied request go nowhere, and cosign's TUF cache
    #: is an empty directory of this instance.
    OFFLINE = {"HTTPS_PROXY": UNREACHABLE, "HTTP_PROXY": UNREACHABLE,
               "https_proxy": UNREACHABLE, "http_proxy": UNREACHABLE}

    def verify_keyless(self, image: str, trusted_root: Path, identity: str, issuer: str
                       ) -> subprocess.CompletedProcess[str]:
        """`cosign verify --trusted-root` of `image`'s keyless signatures, the identity and
        issuer as Go regular expressions; offline: the Rekor URL is unreachable and every
        other request but the registry's goes through an unreachable proxy, so a look-up
        that cosign tried would fail the verification rather than pass unseen. Returns
        the finished process (the caller checks its exit code)."""
        host = self.registry.host.rsplit(":", 1)[0]
        env = {**self.OFFLINE, "NO_PROXY": host, "no_proxy": host,
               "TUF_ROOT": str(self.directory / "tuf")}
        return self.run("verify", "--trusted-root", str(trusted_root),
                        "--certificate-identity-regexp", identity,
                        "--certificate-oidc-issuer-regexp", issuer,
                        "--rekor-url", UNREACHABLE, *self.registry_flags(), image,
                        env=env, check=False)


class Cosign3(Cosign):
    """The real cosign v3 (`cosign3` in the tool cache), with its defaults: `sign` writes a
    Sigstore bundle v0.3 (a DSSE envelope of an in-toto statement about the artifact) as
    an OCI 1.1 referrer of it, here through the referrers tag `sha256-<hex>` (the
    registry has no referrers API); `--tlog-upload=false` and no signing config, so
    nothing but the registry is reached. `attach_bundle(image, bundle)` attaches a bundle
    made elsewhere (`cosign attach signature --bundle`), as the same referrer;
    `verify_keyless` (inherited) is `cosign verify --trusted-root`, which reads bundles
    first in v3."""

    name = "cosign3"

    def sign(self, image: str, key: str) -> None:
        self.run("sign", "--key", f"{key}.key", "--tlog-upload=false",
                 "--use-signing-config=false", "--yes", *self.registry_flags(), image)

    def sign_legacy(self, image: str, key: str) -> None:
        """cosign v3 asked for cosign v2's form (`--new-bundle-format=false`): the `.sig`
        tag."""
        self.run("sign", "--key", f"{key}.key", "--tlog-upload=false",
                 "--use-signing-config=false", "--new-bundle-format=false", "--yes",
                 *self.registry_flags(), image)

    def attach_bundle(self, image: str, bundle: Path) -> None:
        self.run("attach", "signature", "--bundle", str(bundle), *self.registry_flags(),
                 image)

    def verify_key(self, image: str, public_key: Path) -> subprocess.CompletedProcess[str]:
        """`cosign verify --key` of `image`, offline (no transparency log), as Flux does
        with a key; the finished process."""
        return self.run("verify", "--key", str(public_key), "--insecure-ignore-tlog=true",
                        *self.registry_flags(), image, env=self.OFFLINE, check=False)


class Notation(_Tool):
    name = "notation"

    def generate_test_key(self, name: str) -> bytes:
        """A new self-signed test key and certificate `name`; returns the certificate."""
        self.run("cert", "generate-test", name)
        return (self.directory / "notation" / "localkeys" / f"{name}.crt").read_bytes()

    def sign(self, image: str, key: str, signature_format: str = "jws") -> None:
        self.run("sign", "--key", key, "--signature-format", signature_format,
                 "-u", self.registry.username, "-p", self.registry.password, image)
