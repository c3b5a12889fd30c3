"""OpenPGP signature verification of Git commits and annotated tags (`spec.verify`).

Modes (FLUX-API §1; `head` is accepted as the old spelling of `HEAD`):

- `HEAD`: the checked-out commit must carry a valid signature;
- `Tag`: the annotated tag the ref resolved to must carry one (a ref that is not a tag
  is a spec error: `InvalidVerificationMode`, Stalled);
- `TagAndHEAD`: both.

The public keys are the values of the `spec.verify.secretRef` Secret (Flux reads every
value as a key ring; the `*.asc` naming is a convention). Verification runs the real
`gpg` in a fresh temporary GNUPGHOME per call, so keys of one object never meet those
of another, and nothing is left behind.

Success returns the message Flux records on `SourceVerified` (`verified signature of
- commit '<sha>' with key '<key id>'`), the key id being the signing key's primary key
id (16 upper-case hex digits). Failures raise `SignatureError` with Flux's reasons:
`InvalidCommitSignature`, `InvalidTagSignature`, `InvalidGitObject` (an unsigned tag),
`VerificationError` (no usable key in the Secret).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import pygit2
from pygit2.enums import ObjectType

from afflux.api._meta import VERIFICATION_ERROR
from afflux.controllers.runtime import GenericError, StallingError

__all__ = [
    "INVALID_COMMIT_SIGNATURE",
    "INVALID_GIT_OBJECT",
    "INVALID_TAG_SIGNATURE",
    "INVALID_VERIFICATION_MODE",
    "MODE_HEAD",
    "MODE_TAG",
    "MODE_TAG_AND_HEAD",
    "Keyring",
    "SignatureError",
    "VerificationModeError",
    "commit_signature",
    "normalize_mode",
    "tag_signature",
    "verify_commit",
    "verify_revision",
    "verify_tag",
]

MODE_HEAD = "HEAD"
MODE_TAG = "Tag"
MODE_TAG_AND_HEAD = "TagAndHEAD"

INVALID_COMMIT_SIGNATURE = "InvalidCommitSignature"
INVALID_TAG_SIGNATURE = "InvalidTagSignature"
INVALID_GIT_OBJECT = "InvalidGitObject"
INVALID_VERIFICATION_MODE = "InvalidVerificationMode"

GPG_TIMEOUT = 30.0
_SIGNATURE_MARKERS = (
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN SSH SIGNATURE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
)


class SignatureError(GenericError):
    """A signature is missing, invalid, or made by a key the Secret does not hold."""


class VerificationModeError(StallingError):
    """`spec.verify.mode` cannot apply to this ref (e.g. `Tag` without a tag)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_VERIFICATION_MODE, message)


def normalize_mode(mode: str | None) -> str:
    """`HEAD`, `Tag` or `TagAndHEAD` (default and legacy `head`: `HEAD`)."""
    if not mode or mode in ("HEAD", "head"):
        return MODE_HEAD
    if mode in (MODE_TAG, MODE_TAG_AND_HEAD):
        return mode
    raise VerificationModeError(f"spec.verify.mode {mode!r} is not one of HEAD, Tag, TagAndHEAD")


# --- signed payloads --------------------------------------------------------------------


def commit_signature(repo: pygit2.Repository, commit_id: str) -> tuple[bytes | None, bytes]:
    """The (signature, signed payload) of a commit; signature None when unsigned."""
    commit = repo[commit_id].peel(pygit2.Commit)
    signature, payload = commit.gpg_signature
    if not signature:
        _, raw = repo.odb.read(commit.id)
        return None, bytes(raw)
    return bytes(signature), bytes(payload)


def tag_signature(repo: pygit2.Repository, tag_id: str) -> tuple[bytes | None, bytes]:
    """The (signature, signed payload) of an annotated tag object (signature None when
    unsigned): the signature block ends the tag's message."""
    obj_type, raw = repo.odb.read(pygit2.Oid(hex=tag_id))
    if obj_type != ObjectType.TAG:
        raise SignatureError(INVALID_GIT_OBJECT, f"object {tag_id} is not an annotated tag")
    data = bytes(raw)
    starts = [i for marker in _SIGNATURE_MARKERS if (i := data.rfind(marker)) > 0]
    if not starts:
        return None, data
    start = max(starts)
    return data[start:], data[:start]


# --- gpg ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GpgResult:
    good: bool
    key_id: str | None
    problem: str


class Keyring(contextlib.AbstractContextManager["Keyring"]):
    """A throw-away GnuPG home holding the public keys of a Secret.

    Use as a context manager; `verify()` checks a detached signature against it.
    """

    def __init__(self, keys: Mapping[str, bytes | str], gpg: str | None = None) -> None:
        self._keys = keys
        self._gpg = gpg or shutil.which("gpg") or "gpg"
        self._home: str | None = None
        self.fingerprints: list[str] = []

    def __enter__(self) -> Keyring:
        self._home = tempfile.mkdtemp(prefix="afx-gpg-")
        os.chmod(self._home, 0o700)
        try:
            self._import()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._home is None:
            return
        gpgconf = shutil.which("gpgconf")
        if gpgconf:  # stop an agent gpg may have started for this home (ours only)
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [gpgconf, "--homedir", self._home, "--kill", "all"],
                    capture_output=True,
                    timeout=GPG_TIMEOUT,
                    check=False,
                )
        shutil.rmtree(self._home, ignore_errors=True)
        self._home = None

    def _run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        assert self._home is not None
        argv = [self._gpg, "--homedir", self._home, "--batch", "--no-tty", "--no-autostart", *args]
        try:
            return subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                timeout=GPG_TIMEOUT,
                check=False,
                env={**os.environ, "GNUPGHOME": self._home, "LC_ALL": "C"},
            )
        except FileNotFoundError as err:
            raise SignatureError(
                VERIFICATION_ERROR, f"gpg is not installed ({self._gpg}): cannot verify signatures"
            ) from err
        except subprocess.TimeoutExpired as err:
            raise SignatureError(VERIFICATION_ERROR, "gpg did not answer in time") from err

    def _import(self) -> None:
        for name in sorted(self._keys):
            value = self._keys[name]
            data = value.encode() if isinstance(value, str) else value
            if not data.strip():
                continue
            done = self._run("--status-fd", "1", "--import", stdin=data)
            for line in done.stdout.decode("utf-8", "replace").splitlines():
                fields = line.split()
                if len(fields) >= 4 and fields[:2] == ["[GNUPG:]", "IMPORT_OK"]:
                    self.fingerprints.append(fields[3])
        if not self.fingerprints:
            raise SignatureError(
                VERIFICATION_ERROR,
                "the verification secret holds no OpenPGP public key (armored keys, e.g. "
                "`gpg --export --armor <id>` saved as <name>.asc)",
            )

    def verify(self, signature: bytes, payload: bytes) -> _GpgResult:
        if self._home is None:
            raise RuntimeError("Keyring used outside its context")
        if not signature.lstrip().startswith(b"-----BEGIN PGP SIGNATURE-----"):
            kind = "SSH" if b"SSH SIGNATURE" in signature[:64] else "non-OpenPGP"
            return _GpgResult(False, None, f"it has an {kind} signature; only OpenPGP is supported")
        with tempfile.NamedTemporaryFile(dir=self._home, suffix=".sig", delete=False) as f:
            f.write(signature)
            sig_path = f.name
        try:
            done = self._run("--status-fd", "1", "--verify", sig_path, "-", stdin=payload)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(sig_path)
        return _parse_status(done.stdout.decode("utf-8", "replace"))


def _parse_status(status: str) -> _GpgResult:
    good = valid = False
    key_id: str | None = None
    problem = "the signature does not verify"
    for line in status.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "[GNUPG:]":
            continue
        keyword = fields[1]
        if keyword == "GOODSIG":
            good = True
        elif keyword == "VALIDSIG" and len(fields) >= 3:
            valid = True
            primary = fields[11] if len(fields) >= 12 else fields[2]
            key_id = primary[-16:].upper()
        elif keyword == "BADSIG":
            problem = f"the signature by key {fields[2] if len(fields) > 2 else '?'} is BAD"
        elif keyword == "ERRSIG" and len(fields) >= 3:
            if fields[-1] == "9" or (len(fields) > 7 and fields[7] == "9"):
                problem = (
                    f"it is signed by key {fields[2]}, which is not in the verification secret"
                )
            else:
                problem = f"the signature by key {fields[2]} cannot be checked"
        elif keyword in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
            what = {
                "EXPKEYSIG": "expired key",
                "REVKEYSIG": "revoked key",
                "EXPSIG": "expired signature",
            }[keyword]
            return _GpgResult(
                False,
                None,
                f"it is signed with an {what} ({fields[2] if len(fields) > 2 else '?'})",
            )
    if good and valid:
        return _GpgResult(True, key_id, "")
    return _GpgResult(False, None, problem)


# --- verification -------------------------------------------------------------------------


def verify_commit(repo: pygit2.Repository, commit_id: str, keyring: Keyring) -> str:
    """The key id that signed the commit; SignatureError (InvalidCommitSignature) otherwise."""
    signature, payload = commit_signature(repo, commit_id)
    if signature is None:
        raise SignatureError(
            INVALID_COMMIT_SIGNATURE,
            f"signature verification of commit '{commit_id}' failed: the commit is not signed",
        )
    result = keyring.verify(signature, payload)
    if not result.good or result.key_id is None:
        raise SignatureError(
            INVALID_COMMIT_SIGNATURE,
            f"signature verification of commit '{commit_id}' failed: {result.problem}",
        )
    return result.key_id


def verify_tag(
    repo: pygit2.Repository, tag_id: str, keyring: Keyring, label: str | None = None
) -> str:
    """The key id that signed the annotated tag; SignatureError otherwise."""
    label = label or tag_id
    signature, payload = tag_signature(repo, tag_id)
    if signature is None:
        raise SignatureError(
            INVALID_GIT_OBJECT, f"cannot verify signature of tag '{label}' since it is not signed"
        )
    result = keyring.verify(signature, payload)
    if not result.good or result.key_id is None:
        raise SignatureError(
            INVALID_TAG_SIGNATURE,
            f"signature verification of tag '{label}' failed: {result.problem}",
        )
    return result.key_id


def verify_revision(
    repo_path: str | os.PathLike[str],
    *,
    commit: str,
    mode: str | None,
    keys: Mapping[str, bytes | str],
    tag_object: str | None = None,
    tag_label: str | None = None,
) -> str:
    """Verify a checkout as `mode` asks; return Flux's SourceVerified message.

    `tag_object` is the annotated tag the ref resolved to (`CheckoutResult.tag_object`);
    `tag_label` names it in messages (e.g. `v1.0.0@<tag sha>`).
    """
    mode = normalize_mode(mode)
    repo = pygit2.Repository(os.fspath(repo_path))
    lines: list[str] = []
    with Keyring(keys) as keyring:
        if mode in (MODE_TAG, MODE_TAG_AND_HEAD):
            if tag_object is None:
                raise VerificationModeError(
                    "cannot verify tag object's signature if a tag reference is not specified "
                    "(use spec.ref.tag or spec.ref.semver with an annotated tag, or mode HEAD)"
                )
            label = tag_label or tag_object
            key = verify_tag(repo, tag_object, keyring, label)
            lines.append(f"tag '{label}' with key '{key}'")
        if mode in (MODE_HEAD, MODE_TAG_AND_HEAD):
            key = verify_commit(repo, commit, keyring)
            lines.append(f"commit '{commit}' with key '{key}'")
    return "verified signature of\n" + "\n".join(f"\t- {line}" for line in lines)
