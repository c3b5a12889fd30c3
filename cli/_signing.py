"""Signed bootstrap commits: `--gpg-key-ring/--gpg-key-id/--gpg-passphrase` (OpenPGP, with
the `gpg` program) and `--ssh-signing-key-file/--ssh-signing-password` (SSH signatures, with
`ssh-keygen -Y sign`), as Flux signs its bootstrap commits.

A signer is a callable from the commit's text to the armored signature git keeps in the
commit's `gpgsig` header. The GPG key ring is imported into a throwaway GnuPG home (the
user's own keyring is never read or changed), whose agent is stopped when the run ends. The
passphrase reaches gpg through a pipe (`--passphrase-fd`), never an argument or a file; gpg's
own messages are shown on failure, never the passphrase. Both signers sign a probe once when
made, so a wrong passphrase or key ID fails before anything is cloned or pushed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ._errors import CLIError

__all__ = ["GPGSigner", "SSHSigner", "Signer"]

Signer = Callable[[str], str]
_TIMEOUT = 60


def _program(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CLIError(f"signing commits needs the {name} program, which is not installed",
                       f"install {package}, or bootstrap without the signing flags")
    return found


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


class GPGSigner:
    """Signs with a key of the key ring file `--gpg-key-ring` (the first secret key, or the
    one whose key ID or fingerprint ends with `--gpg-key-id`)."""

    def __init__(self, key_ring: Path, key_id: str = "", passphrase: str = "") -> None:
        self.gpg = _program("gpg", "GnuPG (gpg)")
        ring = key_ring.expanduser()
        if not ring.is_file():
            raise CLIError(f"--gpg-key-ring {ring} does not exist",
                           "export the key with `gpg --export-secret-keys --armor <id> > "
                           "ring.asc` and pass that file")
        self.passphrase = passphrase
        self.home = tempfile.mkdtemp(prefix="afflux-gpg-")
        try:
            self._run(["--import", str(ring)], "importing --gpg-key-ring")
            self.key = self._select(key_id)
            self(f"afflux signing probe {os.getpid()}\n")
        except BaseException:
            self.close()
            raise

    def _run(self, args: list[str], what: str, data: bytes = b"") -> bytes:
        read, write = os.pipe()
        try:
            os.write(write, self.passphrase.encode() + b"\n")
        finally:
            os.close(write)
        try:
            done = subprocess.run(
                [self.gpg, "--homedir", self.home, "--batch", "--no-tty", "--yes",
                 "--pinentry-mode", "loopback", "--passphrase-fd", str(read), *args],
                input=data, capture_output=True, pass_fds=(read,), timeout=_TIMEOUT,
                check=False)
        finally:
            os.close(read)
        if done.returncode != 0:
            raise CLIError(f"invalid GPG signing key: {what} failed: "
                           f"{_last_line(done.stderr.decode(errors='replace'))}",
                           "check --gpg-key-ring, --gpg-key-id and --gpg-passphrase")
        return done.stdout

    def _select(self, key_id: str) -> str:
        listing = self._run(["--with-colons", "--list-secret-keys"], "listing the keys")
        keys: list[tuple[str, str]] = []  # (key ID, fingerprint) of each secret primary key
        last_id = ""
        for line in listing.decode(errors="replace").splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                last_id = fields[4]
            elif fields[0] == "fpr" and last_id:
                keys.append((last_id, fields[9]))
                last_id = ""
        if not keys:
            raise CLIError("invalid GPG signing key: --gpg-key-ring holds no secret key",
                           "export it with `gpg --export-secret-keys`, not `--export`")
        if not key_id:
            return keys[0][1]
        wanted = key_id.upper().removeprefix("0X")
        for kid, fpr in keys:
            if fpr.upper().endswith(wanted) or kid.upper() == wanted:
                return fpr
        raise CLIError(f"invalid GPG signing key: no key with ID {key_id} in --gpg-key-ring",
                       f"the ring has {', '.join(k for k, _ in keys)}")

    def __call__(self, content: str) -> str:
        out = self._run(["--armor", "--detach-sign", "--local-user", f"{self.key}!",
                         "--output", "-"], "signing", content.encode())
        return out.decode()

    def close(self) -> None:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run([gpgconf, "--homedir", self.home, "--kill", "gpg-agent"],
                           capture_output=True, timeout=_TIMEOUT, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


class SSHSigner:
    """Signs with the SSH private key `--ssh-signing-key-file` (namespace `git`). A key with a
    passphrase is copied into the signer's private directory (0700) and its passphrase taken
    off there once, so signing never asks; the directory is removed when the run ends."""

    def __init__(self, key_file: Path, passphrase: str = "") -> None:
        self.ssh_keygen = _program("ssh-keygen", "OpenSSH (ssh-keygen)")
        key = key_file.expanduser()
        if not key.is_file():
            raise CLIError(f"--ssh-signing-key-file {key} does not exist")
        self.home = tempfile.mkdtemp(prefix="afflux-sshsig-")
        try:
            self.key = Path(self.home) / "key"
            fd = os.open(self.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key.read_bytes())
            if passphrase:
                self._decrypt(passphrase)
            self(f"afflux signing probe {os.getpid()}\n")
        except BaseException:
            self.close()
            raise

    def _decrypt(self, passphrase: str) -> None:
        """Take the passphrase off the private copy (`ssh-keygen -p`), the old passphrase
        given by an askpass helper that reads it from its environment (not an argument)."""
        askpass = Path(self.home) / "askpass"
        askpass.write_text('#!/bin/sh\nprintf \'%s\\n\' "$AFFLUX_SSH_SIGNING_PASSPHRASE"\n')
        askpass.chmod(0o700)
        env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
               "AFFLUX_SSH_SIGNING_PASSPHRASE": passphrase}
        done = subprocess.run([self.ssh_keygen, "-p", "-q", "-N", "", "-f", str(self.key)],
                              capture_output=True, stdin=subprocess.DEVNULL, env=env,
                              timeout=_TIMEOUT, check=False, start_new_session=True)
        if done.returncode != 0:
            raise CLIError("invalid SSH signing key: "
                           f"{_last_line(done.stderr.decode(errors='replace'))}",
                           "check --ssh-signing-key-file and --ssh-signing-password")

    def __call__(self, content: str) -> str:
        done = subprocess.run([self.ssh_keygen, "-Y", "sign", "-n", "git", "-f", str(self.key)],
                              input=content.encode(), capture_output=True, timeout=_TIMEOUT,
                              check=False, start_new_session=True)
        if done.returncode != 0:
            raise CLIError("signing the commit failed: "
                           f"{_last_line(done.stderr.decode(errors='replace'))}",
                           "check --ssh-signing-key-file")
        return done.stdout.decode()

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
