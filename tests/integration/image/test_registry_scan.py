"""ImageRepository scans against the real test registry (distribution over TLS with
htpasswd auth): tags with pagination, exclusion list, digests, and every way of being
turned down."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator

import pytest
import requests

from afflux.cli.devenv import Registry
from afflux.controllers.image_reflector._imagename import parse_image
from afflux.controllers.image_reflector._policy import select_latest_tag
from afflux.controllers.image_reflector._registry import (
    AuthenticationFailed,
    ReadOperationFailed,
    RegistryClient,
    TLSConfig,
    scan_tags,
)
from afflux.controllers.image_reflector._tagstore import TagStore, scan_result
from afflux.controllers.runtime._dockerconfig import (
    RegistryCredentials,
    credentials_for,
    parse_docker_config_secret,
)

pytestmark = pytest.mark.integration

RELEASES = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0"]
BUILDS = [f"build-{i:03d}" for i in range(1, 121)]  # > 100 tags: several pages
SIGNATURE = "sha256-0f0f.sig"
REPO = "afflux/scan-app"


class Pusher:
    """Push small OCI images with the registry API (blob uploads, then manifests)."""

    def __init__(self, registry: Registry) -> None:
        self.base = registry.url
        self.session = requests.Session()
        self.session.auth = (registry.username, registry.password)
        self.verify = str(registry.ca_cert)  # per request: REQUESTS_CA_BUNDLE beats session.verify

    def blob(self, repo: str, data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = self.session.post(
            f"{self.base}/v2/{repo}/blobs/uploads/", timeout=30, verify=self.verify
        )
        assert start.status_code == 202, start.text
        location = start.headers["Location"]
        sep = "&" if "?" in location else "?"
        url = location if location.startswith("http") else self.base + location
        done = self.session.put(
            f"{url}{sep}digest={digest}", data=data, timeout=30, verify=self.verify
        )
        assert done.status_code == 201, done.text
        return {
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest,
            "size": len(data),
        }

    def image(self, repo: str, label: str) -> bytes:
        """Upload the blobs of a one-layer image and return its manifest bytes."""
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {"Labels": {"v": label}}}
        ).encode()
        config_desc = self.blob(repo, config) | {
            "mediaType": "application/vnd.oci.image.config.v1+json"
        }
        layer_desc = self.blob(repo, f"layer of {label}".encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
        return json.dumps(manifest, sort_keys=True).encode()

    def tag(self, repo: str, tag: str, manifest: bytes) -> str:
        resp = self.session.put(
            f"{self.base}/v2/{repo}/manifests/{tag}",
            data=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            timeout=30,
            verify=self.verify,
        )
        assert resp.status_code == 201, resp.text
        return resp.headers["Docker-Content-Digest"]


@pytest.fixture(scope="module")
def pushed(registry: Registry) -> Iterator[dict[str, str]]:
    """The test repository with releases, a signature and 120 build tags; tag -> digest."""
    pusher = Pusher(registry)
    digests: dict[str, str] = {}
    for tag in RELEASES:
        digests[tag] = pusher.tag(REPO, tag, pusher.image(REPO, tag))
    shared = pusher.image(REPO, "builds")
    for tag in [*BUILDS, SIGNATURE]:
        digests[tag] = pusher.tag(REPO, tag, shared)
    yield digests


def creds(registry: Registry, password: str | None = None) -> RegistryCredentials:
    """Credentials as the reconciler gets them: from a dockerconfigjson Secret."""
    auth = base64.b64encode(
        f"{registry.username}:{password or registry.password}".encode()
    ).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}})
    data = {".dockerconfigjson": base64.b64encode(config.encode()).decode()}
    found = credentials_for(parse_docker_config_secret(data), registry.host)
    assert found is not None
    return found


def tls(registry: Registry) -> TLSConfig:
    return TLSConfig(ca_pem=registry.ca_cert.read_bytes())


@pytest.mark.flux_fields("ImageRepository", "spec.exclusionList[]",
                         "status.lastScanResult.revision", "status.lastScanResult.scanTime")
def test_scan_pages_through_all_tags_and_applies_the_exclusion_list(
    registry: Registry, pushed: dict[str, str], tmp_path
) -> None:
    outcome = asyncio.run(
        scan_tags(
            f"{registry.host}/{REPO}", credentials=creds(registry), tls=tls(registry), page_size=25
        )
    )
    assert sorted(outcome.tags) == sorted(RELEASES + BUILDS)
    assert outcome.excluded == 1
    assert outcome.image.canonical == f"{registry.host}/{REPO}"

    store = TagStore(tmp_path)
    revision = store.set_tags("apps", "scan-app", outcome.image.canonical, outcome.tags)
    result = scan_result(TagStore(tmp_path).tags("apps", "scan-app") or [], revision=revision)
    assert result["tagCount"] == len(RELEASES) + len(BUILDS)
    assert result["latestTags"][:3] == ["build-120", "build-119", "build-118"]
    assert select_latest_tag(outcome.tags, {"semver": {"range": ">=1.0.0"}}) == "2.0.0"
    assert (
        select_latest_tag(outcome.tags, {"semver": {"range": ">=1.0.0-0 <2.0.0"}}) == "1.2.0-rc.1"
    )


def test_small_page_size_still_returns_every_tag(
    registry: Registry, pushed: dict[str, str]
) -> None:
    async def pages() -> tuple[int, int]:
        async with RegistryClient(
            parse_image(f"{registry.host}/{REPO}"), creds(registry), tls(registry)
        ) as client:
            small = await client.list_tags(page_size=10)
            large = await client.list_tags(page_size=1000)
        return len(small), len(large)

    # distribution 2.8 answers a tag list in one page whatever `n` says (Link-header paging
    # is covered against an in-memory registry in tests/unit/image/test_registry_protocol.py);
    # here the point is that a small page size never truncates the list.
    small, large = asyncio.run(pages())
    assert small == large == len(RELEASES) + len(BUILDS) + 1


def test_digest_of_a_tag(registry: Registry, pushed: dict[str, str]) -> None:
    async def lookup() -> list[str]:
        async with RegistryClient(
            parse_image(f"{registry.host}/{REPO}"), creds(registry), tls(registry)
        ) as client:
            return [await client.digest("2.0.0"), await client.digest("1.0.0")]

    assert asyncio.run(lookup()) == [pushed["2.0.0"], pushed["1.0.0"]]
    assert pushed["2.0.0"] != pushed["1.0.0"]


def test_wrong_password_is_an_authentication_failure(
    registry: Registry, pushed: dict[str, str]
) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        asyncio.run(
            scan_tags(
                f"{registry.host}/{REPO}", credentials=creds(registry, "wrong"), tls=tls(registry)
            )
        )
    assert info.value.reason == "AuthenticationFailed"
    assert "rejected the credentials of spec.secretRef" in info.value.message
    assert "HTTP 401" in info.value.message


def test_missing_credentials_say_to_set_a_secret(
    registry: Registry, pushed: dict[str, str]
) -> None:
    with pytest.raises(AuthenticationFailed, match="requires authentication .*set spec.secretRef"):
        asyncio.run(scan_tags(f"{registry.host}/{REPO}", tls=tls(registry)))


def test_untrusted_certificate_is_a_read_failure_pointing_at_cert_secret_ref(
    registry: Registry, pushed: dict[str, str]
) -> None:
    with pytest.raises(
        ReadOperationFailed, match="could not be verified.*spec.certSecretRef"
    ) as info:
        asyncio.run(scan_tags(f"{registry.host}/{REPO}", credentials=creds(registry)))
    assert info.value.reason == "ReadOperationFailed"


def test_unknown_repository_is_a_read_failure(registry: Registry, pushed: dict[str, str]) -> None:
    with pytest.raises(
        ReadOperationFailed, match="not found in registry .*HTTP 404.*check spec.image"
    ):
        asyncio.run(
            scan_tags(
                f"{registry.host}/afflux/never-pushed",
                credentials=creds(registry),
                tls=tls(registry),
            )
        )


@pytest.mark.flux_fields("ImageRepository", "spec.insecure")
def test_plain_http_to_a_tls_registry_fails_clearly(
    registry: Registry, pushed: dict[str, str]
) -> None:
    with pytest.raises(ReadOperationFailed, match="HTTP 400"):
        asyncio.run(
            scan_tags(f"{registry.host}/{REPO}", credentials=creds(registry), insecure=True)
        )
