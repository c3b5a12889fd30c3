"""Registry credentials from a `kubernetes.io/dockerconfigjson` Secret.

Pure logic, no I/O: the caller reads the Secret and passes its `data` (base64 values, as
the API returns them) or decoded bytes/strings. Used by image-reflector-controller
(ImageRepository `secretRef`) and source-controller (OCIRepository, HelmRepository of type
oci).

The Secret holds a Docker `config.json` under `.dockerconfigjson` (or the legacy
`.dockercfg`, which is the `auths` map on its own). Each `auths` entry is keyed by a
registry: a bare host (`ghcr.io`, `127.0.0.1:5000`), a URL (`https://ghcr.io`), or Docker
Hub's historical `https://index.docker.io/v1/`. An entry has `auth` (base64 of
`user:password`) or `username` + `password`, or an `identitytoken` / `registrytoken`.

`credentials_for(config, host)` finds the entry for a registry host: scheme and path are
dropped from the keys, hosts compare case-insensitively, and Docker Hub's aliases
(`docker.io`, `index.docker.io`, `registry-1.docker.io`) all match each other.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DOCKER_CONFIG_JSON_KEY",
    "DOCKER_CFG_KEY",
    "DockerConfig",
    "DockerConfigError",
    "RegistryCredentials",
    "credentials_for",
    "normalize_registry_key",
    "parse_docker_config",
    "parse_docker_config_secret",
]

DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson"
DOCKER_CFG_KEY = ".dockercfg"
DOCKER_CONFIG_JSON_TYPE = "kubernetes.io/dockerconfigjson"

_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_DOCKER_HUB = "index.docker.io"


class DockerConfigError(ValueError):
    """The Secret is not a usable Docker config; the message says what is wrong with it."""


@dataclass(frozen=True)
class RegistryCredentials:
    """What to authenticate to one registry with. `username`/`password` for basic auth and
    for the token endpoint of the bearer flow; `identity_token` is an OAuth2 refresh token
    (sent to the token endpoint with grant_type=refresh_token); `registry_token` is a
    bearer token used as is."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __repr__(self) -> str:  # never print secrets
        return f"RegistryCredentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class DockerConfig:
    """The `auths` of a Docker config, keyed by normalized registry host."""

    auths: Mapping[str, RegistryCredentials]

    def for_host(self, host: str) -> RegistryCredentials | None:
        return credentials_for(self, host)


def normalize_registry_key(key: str) -> str:
    """`https://index.docker.io/v1/` -> `index.docker.io`; `http://Reg:5000/x` -> `reg:5000`;
    Docker Hub's aliases all become `index.docker.io`."""
    text = key.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].lower()
    return _DOCKER_HUB if text in _DOCKER_HUB_ALIASES else text


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DockerConfigError("the Docker config is not UTF-8 text") from err
    return value


def _entry(key: str, raw: object) -> RegistryCredentials:
    if not isinstance(raw, Mapping):
        raise DockerConfigError(f"auths entry {key!r} is not an object")
    username = raw.get("username") or None
    password = raw.get("password") or None
    auth = raw.get("auth") or None
    if auth:
        if not isinstance(auth, str):
            raise DockerConfigError(f"auths entry {key!r}: 'auth' is not a string")
        try:
            decoded = base64.b64decode(auth.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as err:
            raise DockerConfigError(
                f"auths entry {key!r}: 'auth' is not base64 of 'username:password'"
            ) from err
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise DockerConfigError(
                f"auths entry {key!r}: 'auth' must decode to 'username:password' (no ':' found)"
            )
        username = username or user
        password = password or secret
    return RegistryCredentials(
        username=str(username) if username else None,
        password=str(password) if password else None,
        identity_token=str(raw.get("identitytoken") or "") or None,
        registry_token=str(raw.get("registrytoken") or "") or None,
    )


def parse_docker_config(content: str | bytes, *, legacy: bool = False) -> DockerConfig:
    """Parse a Docker config.json (`{"auths": {...}}`); `legacy` for `.dockercfg` (the auths
    map itself). Raise `DockerConfigError` when it is not JSON or not the expected shape."""
    try:
        doc = json.loads(_text(content))
    except json.JSONDecodeError as err:
        raise DockerConfigError(f"the Docker config is not valid JSON: {err}") from err
    if not isinstance(doc, Mapping):
        raise DockerConfigError("the Docker config is not a JSON object")
    auths = doc if legacy else doc.get("auths", {})
    if not isinstance(auths, Mapping):
        raise DockerConfigError("'auths' in the Docker config is not an object")
    parsed: dict[str, RegistryCredentials] = {}
    for key, raw in auths.items():
        parsed[normalize_registry_key(str(key))] = _entry(str(key), raw)
    return DockerConfig(parsed)


def parse_docker_config_secret(
    data: Mapping[str, str | bytes], *, base64_values: bool = True
) -> DockerConfig:
    """Parse the `data` of a dockerconfigjson (or dockercfg) Secret. With `base64_values`
    the values are base64 as the Kubernetes API returns them; otherwise decoded."""
    for key, legacy in ((DOCKER_CONFIG_JSON_KEY, False), (DOCKER_CFG_KEY, True)):
        if key not in data:
            continue
        value = data[key]
        if base64_values:
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as err:
                raise DockerConfigError(f"Secret key {key!r} is not base64") from err
        return parse_docker_config(value, legacy=legacy)
    raise DockerConfigError(
        f"the Secret has neither {DOCKER_CONFIG_JSON_KEY!r} nor {DOCKER_CFG_KEY!r}: create it "
        "with 'kubectl create secret docker-registry' (type kubernetes.io/dockerconfigjson)"
    )


def credentials_for(config: DockerConfig, host: str) -> RegistryCredentials | None:
    """The credentials for registry `host` (`ghcr.io`, `127.0.0.1:5000`, `docker.io`), or
    None when the config has no entry for it."""
    return config.auths.get(normalize_registry_key(host))
