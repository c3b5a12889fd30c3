"""SOPS decryption for a Kustomization's `spec.decryption` (provider `sops`), with the real `sops`.

Keys come from the Secret named by `spec.decryption.secretRef`: every data key ending in
`.agekey` holds age identities, every key ending in `.asc` an armored OpenPGP secret key (other
keys are cloud KMS credentials, not supported here). A Kustomization without a `secretRef`
falls back, as in Flux, to the age keys (`.agekey` entries only) of the Secret the
controller's `--sops-age-secret` names in its own (runtime) namespace. `SopsDecryptor` puts them in a private
temporary directory (an age key file, a GnuPG home the `.asc` keys are imported into), runs
`sops decrypt` with only those keys and an environment of its own, and deletes the directory,
stopping the GnuPG agent, when closed. Plaintext only ever lives in memory, or in the build's
scratch copy of the artifact.

What is decrypted, as kustomize-controller does:

- before the build, the files the kustomizations use as secretGenerator sources (`files`,
  `envs`) and as patches (`patches[].path`), when they hold SOPS markers; their format comes
  from the file (or key) name: `.json` (and `.dockerconfigjson`), `.yaml`/`.yml`, `.env`,
  `.ini`, anything else binary (an `envs` file defaults to dotenv);
- after the build, objects with a top-level `sops` block (an encrypted Secret manifest whose
  `data`/`stringData` values are encrypted), and Secret `data` values that are themselves
  SOPS-encrypted documents (a generator source that was not decrypted before the build).

SOPS' integrity check (MAC) is not enforced, as in Flux: kustomize changes objects (namespace,
labels, name prefix) after they were encrypted. Objects annotated
`kustomize.toolkit.fluxcd.io/decrypt: disabled` are left as they are.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from afflux.api._meta import KUSTOMIZE_GROUP

from ._errors import DecryptionError
from ._generate import find_kustomization
from ._objects import describe, is_sops_encrypted
from ._paths import inside, load_kustomization, relative
from ._tools import find_tool

__all__ = [
    "AGE_KEY_SUFFIX",
    "DECRYPT_ANNOTATION",
    "MAX_FILE_SIZE",
    "PGP_KEY_SUFFIX",
    "DecryptionError",
    "DecryptionKeys",
    "SopsDecryptor",
    "detect_format",
    "format_for_path",
]

AGE_KEY_SUFFIX = ".agekey"
PGP_KEY_SUFFIX = ".asc"
DECRYPT_ANNOTATION = f"{KUSTOMIZE_GROUP}/decrypt"
#: Files larger than this are not decrypted (an error), as in Flux.
MAX_FILE_SIZE = 5 << 20

#: Bytes that only a SOPS-encrypted document of each format contains.
_MARKERS = {
    "yaml": b"mac: ENC[",
    "json": b'"mac": "ENC[',
    "dotenv": b"sops_mac=ENC[",
    "ini": b"[sops]",
    "binary": b'"mac": "ENC[',  # a binary file is stored as a JSON envelope
}
_EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".env": "dotenv", ".ini": "ini"}


def format_for_path(path: str) -> str:
    """SOPS' format for a file or Secret key name: by extension, binary otherwise; a Docker
    config (`.dockerconfigjson`) is JSON."""
    if path.endswith(".dockerconfigjson"):
        return "json"
    return _EXTENSIONS.get(os.path.splitext(path)[1], "binary")


def detect_format(data: bytes) -> str | None:
    """The format of a SOPS-encrypted document, from its markers; None if it is not one."""
    for name in ("yaml", "json", "dotenv", "ini"):
        if _MARKERS[name] in data:
            return name
    return None


@dataclasses.dataclass(frozen=True)
class DecryptionKeys:
    """Private keys by the Secret data key they came from: age identities and armored PGP keys."""

    age: tuple[tuple[str, str], ...] = ()
    pgp: tuple[tuple[str, bytes], ...] = ()
    #: where the keys came from, for messages (never the key material)
    origin: str = "the decryption Secret"

    @classmethod
    def from_secret_data(
        cls, data: Mapping[str, str | bytes] | None, *, base64_encoded: bool = False,
        origin: str = "the decryption Secret", age_only: bool = False,
    ) -> DecryptionKeys:
        """The keys in a Secret's data (`base64_encoded`: values as the API returns `data`;
        `age_only`: the `.asc` entries are left out, as for `--sops-age-secret`)."""
        age: list[tuple[str, str]] = []
        pgp: list[tuple[str, bytes]] = []
        for name in sorted(data or {}):
            value = (data or {})[name]
            raw = value.encode() if isinstance(value, str) else bytes(value)
            if base64_encoded:
                try:
                    raw = base64.b64decode(raw, validate=True)
                except binascii.Error:
                    raise DecryptionError(
                        f"decryption Secret key {name!r} is not valid base64"
                    ) from None
            if name.endswith(AGE_KEY_SUFFIX):
                age.append((name, raw.decode("utf-8", "replace")))
            elif name.endswith(PGP_KEY_SUFFIX) and not age_only:
                pgp.append((name, raw))
        return cls(tuple(age), tuple(pgp), origin)

    def __bool__(self) -> bool:
        return bool(self.age or self.pgp)


class SopsDecryptor:
    """Decrypts with the real `sops` and a private key store; use it as a context manager."""

    def __init__(
        self,
        keys: DecryptionKeys,
        *,
        sops: str | os.PathLike[str] | None = None,
        gpg: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        max_file_size: int = MAX_FILE_SIZE,
    ) -> None:
        self.keys = keys
        self.timeout = timeout
        self.max_file_size = max_file_size
        self._sops = find_tool("sops", sops)
        self._gpg = find_tool("gpg", gpg) if keys.pgp or gpg else shutil.which("gpg")
        self._home: Path | None = None

    # --- key store ----------------------------------------------------------------------------

    def __enter__(self) -> SopsDecryptor:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        """Create the private key store and load the keys into it."""
        if self._home is not None:
            return
        self._home = Path(tempfile.mkdtemp(prefix="afflux-sops-"))
        try:
            (self._home / "gnupg").mkdir(mode=0o700)
            self._load_age_keys()
            for name, key in self.keys.pgp:
                self._import_pgp_key(name, key)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the GnuPG agent and delete every key and temporary file."""
        home, self._home = self._home, None
        if home is None:
            return
        if self.keys.pgp and self._gpg:
            gpgconf = shutil.which("gpgconf", path=str(Path(self._gpg).parent)) or shutil.which(
                "gpgconf"
            )
            if gpgconf:
                subprocess.run(
                    [gpgconf, "--kill", "all"], env=self._env(home), capture_output=True,
                    timeout=self.timeout, check=False,
                )
        shutil.rmtree(home, ignore_errors=True)

    @property
    def home(self) -> Path:
        if self._home is None:
            self.open()
        assert self._home is not None
        return self._home

    def _age_file(self, home: Path) -> Path:
        return home / "age-keys.txt"

    def _load_age_keys(self) -> None:
        lines: list[str] = []
        for name, text in self.keys.age:
            identities = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if not any(ln.startswith("AGE-SECRET-KEY-") for ln in identities):
                raise DecryptionError(
                    f"key {name!r} of {self.keys.origin} holds no age identity "
                    "(AGE-SECRET-KEY-...)"
                )
            lines += identities
        if lines:
            path = self._age_file(self.home)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write("\n".join(lines) + "\n")

    def _env(self, home: Path) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join(
                p for p in (str(Path(self._gpg).parent) if self._gpg else "", "/usr/bin", "/bin")
                if p
            ),
            "HOME": str(home),
            "GNUPGHOME": str(home / "gnupg"),
            "LANG": "C.UTF-8",
        }
        if self._gpg:
            env["SOPS_GPG_EXEC"] = self._gpg
        if self._age_file(home).exists():
            env["SOPS_AGE_KEY_FILE"] = str(self._age_file(home))
        return env

    def _import_pgp_key(self, name: str, key: bytes) -> None:
        assert self._gpg is not None
        proc = subprocess.run(
            [self._gpg, "--batch", "--no-tty", "--import"],
            input=key, env=self._env(self.home), capture_output=True, timeout=self.timeout,
        )
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DecryptionError(
                f"cannot import the PGP key {name!r} of the decryption Secret: "
                f"{detail[-1] if detail else 'gpg failed'}"
            )

    # --- decryption -----------------------------------------------------------------------------

    def decrypt(self, data: bytes, input_format: str, output_format: str, *, what: str) -> bytes:
        """Decrypt one SOPS document; `what` names it in errors."""
        command = [
            self._sops, "decrypt", "--ignore-mac",
            "--input-type", input_format, "--output-type", output_format, "/dev/stdin",
        ]
        try:
            proc = subprocess.run(
                command, input=data, env=self._env(self.home), cwd=self.home,
                capture_output=True, timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            raise DecryptionError(f"decrypting {what} timed out after {self.timeout:g}s") from None
        if proc.returncode == 0:
            return proc.stdout
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        if "Failed to get the data key" in stderr or "no master key" in stderr.lower():
            if not self.keys:
                raise DecryptionError(f"cannot decrypt {what}: no decryption key: "
                                      f"{self.keys.origin}", stderr=stderr)
            have = ", ".join(n for n, _ in self.keys.age + self.keys.pgp)
            raise DecryptionError(
                f"cannot decrypt {what}: none of the keys in {self.keys.origin} can "
                f"decrypt it (keys tried: {have})",
                stderr=stderr,
            )
        first = stderr.splitlines()[0] if stderr else f"sops exited with {proc.returncode}"
        raise DecryptionError(f"cannot decrypt {what}: {first}", stderr=stderr)

    def decrypt_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `obj`, decrypted: the whole object when it has a `sops` block, else the
        SOPS-encrypted `data` values of a Secret. Other objects come back unchanged."""
        out = copy.deepcopy(dict(obj))
        annotations = (out.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get(DECRYPT_ANNOTATION, "")).lower() == "disabled":
            return out
        what = describe(out)
        if is_sops_encrypted(out):
            plain = self.decrypt(json.dumps(out).encode(), "json", "json", what=what)
            try:
                decrypted = json.loads(plain)
            except ValueError as err:
                raise DecryptionError(f"decrypted {what} is not an object: {err}") from None
            if not isinstance(decrypted, dict):
                raise DecryptionError(f"decrypted {what} is not an object")
            return decrypted
        if out.get("kind") == "Secret" and isinstance(out.get("data"), dict):
            for key, value in out["data"].items():
                if not isinstance(value, str):
                    continue
                try:
                    raw = base64.b64decode(value, validate=True)
                except binascii.Error:
                    continue  # not base64: the API server will say so
                found = detect_format(raw)
                if found is None:
                    continue
                plain = self.decrypt(
                    raw, found, format_for_path(key), what=f"{what} data key {key!r}"
                )
                out["data"][key] = base64.b64encode(plain).decode()
        return out

    def decrypt_objects(self, objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`decrypt_object` over a build."""
        return [self.decrypt_object(obj) for obj in objects]

    def decrypt_file(self, root: Path, path: Path, file_format: str) -> bool:
        """Decrypt a file of the build's scratch tree in place when it holds SOPS markers;
        returns whether it did. A path leaving `root` or too large a file is an error."""
        shown = relative(root, path)
        if not inside(root, path):
            raise DecryptionError(f"{shown!r} points outside the source artifact")
        if path.is_symlink() or not path.is_file():
            return False
        if path.stat().st_size > self.max_file_size:
            raise DecryptionError(
                f"cannot decrypt {shown}: it is larger than {self.max_file_size} bytes"
            )
        data = path.read_bytes()
        if _MARKERS[file_format] not in data:
            return False
        path.write_bytes(self.decrypt(data, file_format, file_format, what=shown))
        path.chmod(0o600)
        return True

    def decrypt_sources(self, root: Path, directory: Path) -> list[str]:
        """Decrypt, in the build's scratch tree `root`, the secretGenerator sources and patch
        files of the kustomization in `directory` and of every local kustomization it builds.
        Returns the decrypted files, relative to `root`."""
        decrypted: list[str] = []
        visited: set[Path] = set()

        def visit(current: Path) -> None:
            file = find_kustomization(current)
            if file is None or current in visited:
                return
            visited.add(current)
            content = load_kustomization(root, file)
            for generator in content.get("secretGenerator") or []:
                if not isinstance(generator, Mapping):
                    continue
                for source in _as_list(generator.get("files")):
                    key, _, target = source.partition("=")
                    self._source(root, current / (target or key), format_for_path(key),
                                 decrypted)
                for env in _as_list(generator.get("envs")) + _as_list(generator.get("env")):
                    env_format = format_for_path(env)
                    self._source(root, current / env,
                                 "dotenv" if env_format == "binary" else env_format, decrypted)
            for patch in content.get("patches") or []:
                if isinstance(patch, Mapping) and isinstance(patch.get("path"), str):
                    self._source(root, current / patch["path"], format_for_path(patch["path"]),
                                 decrypted)
            for key in ("resources", "bases", "components"):
                for ref in _as_list(content.get(key)):
                    target = Path(os.path.normpath(current / ref))
                    if target.is_dir() and inside(root, target):
                        visit(target)

        visit(Path(os.path.normpath(directory)))
        return decrypted

    def _source(self, root: Path, path: Path, file_format: str, decrypted: list[str]) -> None:
        path = Path(os.path.normpath(path))
        if relative(root, path) in decrypted:
            return
        if self.decrypt_file(root, path, file_format):
            decrypted.append(relative(root, path))


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []

