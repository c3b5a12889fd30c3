"""Image repository names: parse `ImageRepository.spec.image` into its canonical form.

Pure logic, no I/O. The rules are those of Docker image references (the ones Flux applies
through go-containerregistry):

- the first path component is a registry host when it contains a `.` or a `:` or is
  `localhost`; otherwise the image is on Docker Hub (`alpine`, `org/app`);
- Docker Hub names are written `index.docker.io/<repo>` (what Flux reports in
  `status.canonicalImageName`; `docker.io` and `registry-1.docker.io` are aliases), and a
  single-component Docker Hub repository lives under `library/`;
- the repository path is lowercase components of `[a-z0-9]` joined by `.`, `_`, `__` or
  runs of `-`, separated by `/`;
- `spec.image` names a repository, so a scheme (`https://`), a tag (`:1.0`) or a digest
  (`@sha256:...`) is an error (reason `ImageURLInvalid`) that says what to remove.

The registry API itself is reached at `registry-1.docker.io` for Docker Hub, and at the
registry host otherwise, over https unless `insecure` is set.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from afflux.api._meta import IMAGE_URL_INVALID
from afflux.controllers.runtime import StallingError

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "DOCKER_HUB_ALIASES",
    "ImageName",
    "ImageURLInvalid",
    "normalize_registry",
    "parse_image",
]

#: How a Docker Hub repository is named in canonical image names.
DOCKER_HUB = "index.docker.io"
#: Where Docker Hub's registry API answers.
DOCKER_HUB_API = "registry-1.docker.io"
#: Host names that all mean Docker Hub.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_DIGEST = re.compile(r"@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$")
_MAX_NAME = 255


class ImageURLInvalid(StallingError):
    """`spec.image` is not an image repository name; only a spec change can fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(IMAGE_URL_INVALID, message)


@dataclass(frozen=True)
class ImageName:
    """A parsed image repository name.

    `registry` is the canonical registry host (with port, if any), `repository` the path
    inside it; `canonical` is `<registry>/<repository>`.
    """

    registry: str
    repository: str

    @property
    def canonical(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host (and port) the registry API answers on."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def api_base(self, insecure: bool = False) -> str:
        """The registry API's base URL: `https://<host>` (`http://` when `insecure`)."""
        return f"{'http' if insecure else 'https'}://{self.api_host}"

    def with_tag(self, tag: str) -> str:
        return f"{self.canonical}:{tag}"

    def __str__(self) -> str:
        return self.canonical


def normalize_registry(host: str) -> str:
    """The canonical form of a registry host: Docker Hub's aliases become `index.docker.io`,
    the rest is lowercased."""
    host = host.strip().lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def parse_image(image: str) -> ImageName:
    """Parse `spec.image` (`alpine`, `ghcr.io/org/app`, `localhost:5000/app`) into an
    `ImageName`; raise `ImageURLInvalid` with a message that says what to change."""
    text = image.strip() if isinstance(image, str) else ""
    if not text:
        raise ImageURLInvalid(
            "spec.image is empty: set it to an image repository, e.g. ghcr.io/org/app"
        )
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ImageURLInvalid(
            f"image '{text}' should not include a URL scheme; remove '{scheme}://'"
        )
    if "@" in text:
        digest = text.split("@", 1)[1]
        kind = "digest" if _DIGEST.search("@" + digest) else "'@' part"
        raise ImageURLInvalid(
            f"image '{text}' should not include a {kind}; remove '@{digest}' "
            "(spec.image names a repository, the policy picks the tag)"
        )
    if any(ch.isspace() for ch in text):
        raise ImageURLInvalid(f"image '{text}' contains whitespace")

    registry, path = _split_registry(text)
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        raise ImageURLInvalid(
            f"image '{text}' should not include a tag; remove ':{tag}' "
            "(spec.image names a repository, the policy picks the tag)"
        )
    if registry is None:
        registry = DOCKER_HUB
    else:
        _check_registry(text, registry)
        registry = normalize_registry(registry)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    _check_repository(text, path)
    if len(registry) + 1 + len(path) > _MAX_NAME:
        raise ImageURLInvalid(f"image '{text}' is longer than {_MAX_NAME} characters")
    return ImageName(registry=registry, repository=path)


def _split_registry(text: str) -> tuple[str | None, str]:
    first, sep, rest = text.partition("/")
    if sep and (("." in first) or (":" in first) or first == "localhost" or first.startswith("[")):
        if not rest:
            raise ImageURLInvalid(
                f"image '{text}' names a registry but no repository: add the repository path"
            )
        return first, rest
    return None, text


def _check_registry(text: str, registry: str) -> None:
    host, port = registry, None
    if registry.startswith("["):
        end = registry.find("]")
        if end < 0:
            raise ImageURLInvalid(f"image '{text}': registry '{registry}' is not a valid host")
        host, rest = registry[1:end], registry[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as err:
            raise ImageURLInvalid(
                f"image '{text}': registry '{registry}' is not a valid IPv6 address"
            ) from err
        if rest:
            if not rest.startswith(":"):
                raise ImageURLInvalid(f"image '{text}': registry '{registry}' is not a valid host")
            port = rest[1:]
    elif ":" in registry:
        host, port = registry.rsplit(":", 1)
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ImageURLInvalid(f"image '{text}': registry port '{port}' is not a valid port number")
    if not registry.startswith("["):
        labels = host.split(".")
        if not all(_HOST_LABEL.fullmatch(label) for label in labels):
            raise ImageURLInvalid(f"image '{text}': registry '{registry}' is not a valid host name")


def _check_repository(text: str, path: str) -> None:
    for component in path.split("/"):
        if not component:
            raise ImageURLInvalid(
                f"image '{text}' has an empty path component ('//' or a trailing '/')"
            )
        if _COMPONENT.fullmatch(component):
            continue
        if _COMPONENT.fullmatch(component.lower()):
            raise ImageURLInvalid(
                f"image '{text}': repository names must be lowercase ('{component}')"
            )
        raise ImageURLInvalid(
            f"image '{text}': '{component}' is not a valid repository path component "
            "(lowercase letters and digits, separated by '.', '_', '__' or '-')"
        )
