"""A throw-away GnuPG keyring for tests that sign Git commits and tags (real `gpg`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["Signer"]


class Signer:
    """A throw-away GnuPG home with one signing key per name."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(mode=0o700)
        self.keys: dict[str, str] = {}

    def gpg(self, *args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--no-tty", *args],
            input=stdin, capture_output=True, timeout=60, check=True,
        )
        return done.stdout

    def new_key(self, name: str) -> str:
        uid = f"{name} <{name}@afflux.invalid>"
        self.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
        listing = self.gpg("--with-colons", "--list-keys", uid).decode()
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        self.keys[name] = fpr
        return fpr

    def public(self, name: str) -> bytes:
        return self.gpg("--export", "--armor", self.keys[name])

    def sign(self, name: str, data: bytes) -> bytes:
        return self.gpg("--local-user", self.keys[name], "--detach-sign", "--armor", stdin=data)

    def close(self) -> None:
        if shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], check=False)
