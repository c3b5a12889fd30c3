"""A certificate authority for the local servers, made with the `openssl` command.

One CA signs the serving certificates of the Git server, the OCI registry and the local
cluster, and the client certificates the cluster's users present (with O= groups, e.g.
`system:masters`). Files are PEM under the CA's directory: `ca.pem` / `ca-key.pem` for
the CA, `<name>.pem` / `<name>-key.pem` for what it issues. An existing CA in the
directory is reused, so clients that trust it keep trusting it across restarts.
Keys are ECDSA P-256 unless `key_type="rsa"` (2048 bits).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from ._procs import DevEnvError

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")

_OPENSSL_CNF = """\
# Written by afflux devenv: only what `openssl req` needs, so the system's
# openssl.cnf cannot change what is issued.
[ req ]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes
[ req_dn ]
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
"""


class CertPair(NamedTuple):
    """Paths of an issued certificate and its private key (unpacks as `cert, key`)."""

    cert: Path
    key: Path

    @property
    def cert_pem(self) -> str:
        return self.cert.read_text()

    @property
    def key_pem(self) -> str:
        return self.key.read_text()


def subject_string(common_name: str, organizations: Sequence[str] = ()) -> str:
    """An `openssl -subj` value: `/O=a/O=b/CN=name`, with `/` and `\\` escaped."""
    if not common_name:
        raise ValueError("a certificate needs a common name")

    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace("/", "\\/")

    parts = [f"/O={esc(org)}" for org in organizations]
    parts.append(f"/CN={esc(common_name)}")
    return "".join(parts)


def san_entries(hosts: Iterable[str]) -> list[str]:
    """subjectAltName entries for host names and IP addresses, in order, without repeats."""
    entries: list[str] = []
    for host in hosts:
        host = host.strip()
        if not host:
            continue
        try:
            entry = f"IP:{ipaddress.ip_address(host)}"
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?", host):
                raise ValueError(f"not a host name or IP address: {host!r}") from None
            entry = f"DNS:{host}"
        if entry not in entries:
            entries.append(entry)
    return entries


def file_stem(name: str) -> str:
    """A file name stem for a certificate name (`system:admin` -> `system_admin`)."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._")
    if not stem:
        raise ValueError(f"cannot make a file name from {name!r}")
    if stem in ("ca", "ca-key", "openssl"):
        stem = f"{stem}-leaf"
    return stem


def leaf_extensions(sans: Sequence[str], usages: Sequence[str], key_type: str = "ec") -> str:
    """The openssl extension section `[ leaf ]` for an end-entity certificate."""
    key_usage = "digitalSignature, keyEncipherment" if key_type == "rsa" else "digitalSignature"
    lines = [
        "[ leaf ]",
        "basicConstraints = critical, CA:FALSE",
        f"keyUsage = critical, {key_usage}",
        f"extendedKeyUsage = {', '.join(usages)}",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
    ]
    if sans:
        lines.append(f"subjectAltName = {', '.join(sans)}")
    return "\n".join(lines) + "\n"


class TestCA:
    """The local certificate authority; see the module docstring.

    `start()` creates the CA (or loads the one already in the directory); the issue
    methods call it when needed. There is no process, so `stop()` does nothing.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        directory: Path | str,
        *,
        name: str = "afflux test CA",
        key_type: str = "ec",
        days: int = 3650,
    ) -> None:
        if key_type not in ("ec", "rsa"):
            raise ValueError(f"key_type must be 'ec' or 'rsa', not {key_type!r}")
        self.directory = Path(directory)
        self.name = name
        self.key_type = key_type
        self.days = days
        self.ca_cert = self.directory / "ca.pem"
        self.ca_key = self.directory / "ca-key.pem"
        self._cnf = self.directory / "openssl.cnf"
        self._openssl = shutil.which("openssl") or "openssl"

    @property
    def ca_pem(self) -> str:
        self.start()
        return self.ca_cert.read_text()

    def start(self) -> TestCA:
        if self.ca_cert.is_file() and self.ca_key.is_file():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        self._cnf.write_text(_OPENSSL_CNF)
        self._genkey(self.ca_key)
        self._run(
            "req", "-x509", "-new", "-key", self.ca_key, "-subj", subject_string(self.name),
            "-days", str(self.days), "-sha256", "-config", self._cnf, "-extensions", "v3_ca",
            "-out", self.ca_cert,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        """Nothing runs; present so every devenv part has the same shape."""

    def __enter__(self) -> TestCA:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def issue_server(
        self,
        name: str,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        *,
        days: int = 825,
        directory: Path | str | None = None,
    ) -> CertPair:
        """A serving certificate (serverAuth) for `hosts`; CN is `name`.

        Files go to the CA's directory, or to `directory` if given.
        """
        sans = san_entries(hosts)
        if not sans:
            raise ValueError("a server certificate needs at least one host")
        return self._issue(
            file_stem(name), subject_string(name), sans, ["serverAuth"], days, directory
        )

    def issue_client(
        self,
        common_name: str,
        organizations: Sequence[str] = (),
        *,
        days: int = 825,
        file_name: str | None = None,
        directory: Path | str | None = None,
    ) -> CertPair:
        """A client certificate (clientAuth): CN=`common_name`, one O= per organization.

        Kubernetes reads CN as the user name and each O as a group. Files are named
        `client-<common name>` unless `file_name` is given.
        """
        stem = file_stem(file_name or f"client-{common_name}")
        return self._issue(
            stem, subject_string(common_name, organizations), [], ["clientAuth"], days, directory
        )

    def issue_peer(
        self,
        name: str,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        *,
        days: int = 825,
        directory: Path | str | None = None,
    ) -> CertPair:
        """A certificate good for serving and as a client (etcd peers, webhooks)."""
        return self._issue(
            file_stem(name), subject_string(name), san_entries(hosts),
            ["serverAuth", "clientAuth"], days, directory,
        )  # fmt: skip

    def _issue(
        self,
        stem: str,
        subject: str,
        sans: Sequence[str],
        usages: Sequence[str],
        days: int,
        directory: Path | str | None,
    ) -> CertPair:
        self.start()
        out = Path(directory) if directory is not None else self.directory
        out.mkdir(parents=True, exist_ok=True)
        pair = CertPair(out / f"{stem}.pem", out / f"{stem}-key.pem")
        csr = out / f"{stem}.csr"
        ext = out / f"{stem}.ext"
        ext.write_text(leaf_extensions(sans, usages, self.key_type))
        self._genkey(pair.key)
        try:
            self._run(
                "req", "-new", "-key", pair.key, "-subj", subject, "-config", self._cnf,
                "-out", csr,
            )  # fmt: skip
            self._run(
                "x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(days), "-sha256",
                "-extfile", ext, "-extensions", "leaf", "-out", pair.cert,
            )  # fmt: skip
        finally:
            csr.unlink(missing_ok=True)
            ext.unlink(missing_ok=True)
        return pair

    def _genkey(self, path: Path) -> None:
        if self.key_type == "rsa":
            algo = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        else:
            algo = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        path.unlink(missing_ok=True)
        self._run("genpkey", *algo, "-out", path)
        path.chmod(0o600)

    def _run(self, *args: str | Path) -> None:
        argv = [self._openssl, *map(str, args)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DevEnvError(f"test CA: cannot run {' '.join(argv)}: {err}") from err
        if done.returncode != 0:
            raise DevEnvError(
                f"test CA: `openssl {args[0]}` failed (status {done.returncode}):\n"
                f"{(done.stderr or done.stdout).strip()}"
            )
