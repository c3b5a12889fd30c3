"""SSH signing keys made by the real `ssh-keygen`, and the real `git verify-commit`
(`gpg.format=ssh`, an allowed-signers file) to check commits signed with them."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SSHKey", "garble", "new_ssh_key", "verify_commit"]


@dataclass(frozen=True)
class SSHKey:
    private: bytes  # the OpenSSH private key file
    public: str  # `<type> <base64>` of the .pub file, without the comment
    passphrase: str


def new_ssh_key(directory: Path, name: str, key_type: str, passphrase: str = "") -> SSHKey:
    """`ssh-keygen -t <key_type>` (e.g. `ed25519`, `ecdsa -b 384`, `rsa -b 3072`) into
    `directory/name`, encrypted with `passphrase` when it is not empty."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", *key_type.split(), "-N", passphrase, "-C", name,
         "-f", str(path)],
        check=True, capture_output=True, timeout=60,
    )
    public = " ".join(Path(f"{path}.pub").read_text().split()[:2])
    return SSHKey(path.read_bytes(), public, passphrase)


def verify_commit(
    git_dir: Path, commit: str, signers: dict[str, SSHKey], tmp: Path
) -> subprocess.CompletedProcess[str]:
    """`git verify-commit <commit>` in `git_dir` (a bare repository works) trusting the
    public keys of `signers` (principal -> key); returncode 0 means a good signature."""
    allowed = tmp / f"allowed-signers-{commit[:12]}"
    allowed.write_text("".join(f"{who} {key.public}\n" for who, key in signers.items()))
    return subprocess.run(
        ["git", "-C", str(git_dir), "-c", "gpg.format=ssh",
         "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "--raw", commit],
        capture_output=True, text=True, timeout=60, check=False,
    )


def garble(pem: bytes, offset: int) -> bytes:
    """`pem` (an armored key) with the byte at `offset` of its decoded content flipped:
    the armor stays valid, the key does not (offset 64 of an OpenSSH ed25519 key is in
    its public half, which then disagrees with the private half)."""
    lines = pem.strip().splitlines()
    raw = bytearray(base64.b64decode(b"".join(lines[1:-1])))
    raw[offset] ^= 0x55
    text = base64.b64encode(bytes(raw))
    body = [text[i : i + 70] for i in range(0, len(text), 70)]
    return b"\n".join([lines[0], *body, lines[-1]]) + b"\n"
