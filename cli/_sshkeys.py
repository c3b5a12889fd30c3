"""SSH keys for `bootstrap` and `create secret|source git` over ssh://, with OpenSSH's own
tools: generate the deploy key (`ssh-keygen`), derive a public key from a private one, and
scan a server's host keys into known_hosts lines (`ssh-keyscan`). `keyscan_types`,
`key_size` and `rsa_bits_arg` are pure."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._errors import CLIError

__all__ = ["ECDSA_CURVES", "KEY_ALGORITHMS", "generate_key", "key_args", "key_size",
           "keyscan_types", "public_key_of", "rsa_bits_arg", "scan_host_keys"]

#: `--ssh-key-algorithm` values -> ssh-keygen arguments
KEY_ALGORITHMS: dict[str, list[str]] = {
    "ed25519": ["-t", "ed25519"],
    "ecdsa": ["-t", "ecdsa", "-b", "384"],
    "rsa": ["-t", "rsa", "-b", "4096"],
}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise CLIError(f"{name} is not installed", "install OpenSSH's client tools "
                       "(Debian package openssh-client)")
    return found


def keyscan_types(algorithms: Sequence[str]) -> list[str]:
    """ssh-keyscan key types (`-t`) for host key algorithm names (`ssh-ed25519`,
    `ecdsa-sha2-nistp256`, `rsa-sha2-512`, `ssh-rsa`, or the short types themselves)."""
    out: list[str] = []
    for algo in algorithms:
        a = algo.strip().lower()
        if not a:
            continue
        if "ed25519" in a:
            kind = "ed25519"
        elif "ecdsa" in a:
            kind = "ecdsa"
        elif "rsa" in a:
            kind = "rsa"
        else:
            raise CLIError(f"unknown SSH host key algorithm {algo!r}",
                           "use e.g. ssh-ed25519, ecdsa-sha2-nistp256, rsa-sha2-512")
        if kind not in out:
            out.append(kind)
    return out


#: `--ssh-ecdsa-curve` values -> key sizes
ECDSA_CURVES: dict[str, int] = {"p256": 256, "p384": 384, "p521": 521}


def rsa_bits_arg(text: str) -> int:
    """argparse type of `--ssh-rsa-bits`: a number of bits, a multiple of 8, at least 1024
    (flux's rule)."""
    try:
        bits = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bits") from None
    if bits < 1024 or bits % 8:
        raise argparse.ArgumentTypeError(
            f"RSA key bit size {bits}: it must be a multiple of 8 and at least 1024")
    return bits


def key_size(algorithm: str, rsa_bits: int | None, ecdsa_curve: str | None) -> int | None:
    """The ssh-keygen `-b` of `--ssh-rsa-bits` for rsa, of `--ssh-ecdsa-curve` for ecdsa;
    None (the algorithm's own) otherwise or when not given."""
    if algorithm == "rsa":
        return rsa_bits
    if algorithm == "ecdsa" and ecdsa_curve:
        return ECDSA_CURVES[ecdsa_curve]
    return None


def key_args(algorithm: str, size: int | None = None) -> list[str]:
    """ssh-keygen's `-t`/`-b` for an algorithm and, when given, a key size (RSA bits, ECDSA
    curve size) in place of the default."""
    if algorithm not in KEY_ALGORITHMS:
        raise CLIError(f"unknown SSH key algorithm {algorithm!r}",
                       f"choose one of {', '.join(KEY_ALGORITHMS)}")
    args = list(KEY_ALGORITHMS[algorithm])
    if size is not None and "-b" in args:
        args[args.index("-b") + 1] = str(size)
    return args


def generate_key(algorithm: str = "ed25519", comment: str = "afflux",
                 size: int | None = None) -> tuple[str, str]:
    """A new unencrypted key pair: (private key in OpenSSH format, public key line)."""
    args = key_args(algorithm, size)
    with tempfile.TemporaryDirectory(prefix="afflux-key-") as tmp:
        key = Path(tmp) / "identity"
        done = subprocess.run(
            [_tool("ssh-keygen"), "-q", *args, "-N", "", "-C", comment,
             "-f", str(key)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=60, check=False)
        if done.returncode != 0:
            raise CLIError(f"ssh-keygen failed: {(done.stderr or done.stdout).strip()}")
        return key.read_text(), (Path(tmp) / "identity.pub").read_text().strip()


def public_key_of(private_key: Path, passphrase: str = "") -> str:
    """The public key line of a private key file (CLIError when it is not one, or the
    passphrase is wrong)."""
    done = subprocess.run(
        [_tool("ssh-keygen"), "-y", "-P", passphrase, "-f", str(private_key)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise CLIError(f"cannot read the SSH private key {private_key}: "
                       f"{reason[-1] if reason else 'ssh-keygen failed'}",
                       "check --private-key-file (and --password for its passphrase)")
    return done.stdout.strip()


def scan_host_keys(host: str, port: int, algorithms: Sequence[str] = (),
                   timeout: int = 10) -> str:
    """known_hosts lines for host:port, as `ssh-keyscan` reads them from the server."""
    argv = [_tool("ssh-keyscan"), "-T", str(timeout), "-p", str(port)]
    types = keyscan_types(algorithms)
    if types:
        argv += ["-t", ",".join(types)]
    done = subprocess.run([*argv, host], capture_output=True, text=True, timeout=timeout + 20,
                          stdin=subprocess.DEVNULL, check=False)
    lines = [line for line in done.stdout.splitlines()
             if line.strip() and not line.startswith("#")]
    if not lines:
        reason = [x for x in done.stderr.splitlines() if x.strip() and not x.startswith("#")]
        raise CLIError(
            f"cannot scan the SSH host key of {host}:{port}"
            + (f": {reason[-1].strip()}" if reason else ""),
            "check the host and port in --url and that the SSH server is running")
    return "\n".join(lines) + "\n"
