"""The OCI helpers' pure parts: URLs, ref precedence, semver tags, layers, revisions, the
OCIRepository reconciler's decisions, and gzip-aware tar streams."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib

import pytest

from afflux.api import Artifact
from afflux.cli.devenv._registry import RegistryRequest, parse_access_log
from afflux.controllers.runtime import StallingError
from afflux.controllers.runtime._tarball import safe_extract
from afflux.controllers.source._oci import (
    OCIURL,
    BasicHosts,
    RegistryError,
    ResolvedRef,
    _next_link,
    _parse_challenge,
    chart_tag_version,
    chart_version_tag,
    parse_oci_url,
    resolve_ref,
    select_layer,
    select_semver_tag,
    tar_stream,
)
from afflux.controllers.source._reconcile_oci import (
    check_ref,
    layer_selector,
    must_pull,
    secret_names,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("url", "host", "repository"),
    [
        pytest.param("oci://ghcr.io/org/app", "ghcr.io", "org/app", id="two-levels"),
        pytest.param("oci://127.0.0.1:5000/manifests", "127.0.0.1:5000", "manifests", id="port"),
        pytest.param("oci://Reg.Example.com/a/b/c/", "reg.example.com", "a/b/c",
                     id="host-lowered-trailing-slash"),
    ],
)
def test_parse_oci_url(url: str, host: str, repository: str) -> None:
    assert parse_oci_url(url) == OCIURL(host, repository)
    assert str(parse_oci_url(url)) == f"oci://{host}/{repository}"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("https://ghcr.io/org/app", "oci://", id="wrong-scheme"),
        pytest.param("oci://ghcr.io", "repository", id="no-repository"),
        pytest.param("oci://ghcr.io/org/app:v1", "tag or digest", id="with-tag"),
        pytest.param(f"oci://ghcr.io/org/app@{DIGEST}", "tag or digest", id="with-digest"),
        pytest.param("oci://ghcr.io/Org/App", "not a valid repository", id="upper-case"),
    ],
)
def test_parse_oci_url_rejects(url: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message) as err:
        parse_oci_url(url)
    assert err.value.kind == "invalid"


def test_child_repository_for_charts() -> None:
    assert OCIURL("r:5000", "charts").child("podinfo") == OCIURL("r:5000", "charts/podinfo")


TAGS = ["latest", "1.0.0", "1.1.0", "1.2.0-rc.1", "v2.0.0", "2.1.0-rc.1", "nightly"]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param(None, ResolvedRef(tag="latest"), id="default-latest"),
        pytest.param({}, ResolvedRef(tag="latest"), id="empty-latest"),
        pytest.param({"tag": "1.0.0"}, ResolvedRef(tag="1.0.0"), id="tag"),
        pytest.param({"tag": "1.0.0", "semver": "1.x"}, ResolvedRef(tag="1.1.0"),
                     id="semver-beats-tag"),
        pytest.param({"tag": "1.0.0", "semver": "1.x", "digest": DIGEST},
                     ResolvedRef(digest=DIGEST), id="digest-beats-all"),
        pytest.param({"semver": ">=1.0.0"}, ResolvedRef(tag="v2.0.0"), id="v-prefixed-tag"),
        pytest.param({"semver": ">=1.0.0-0"}, ResolvedRef(tag="2.1.0-rc.1"),
                     id="prerelease-when-asked"),
        pytest.param({"semver": ">=1.0.0-0", "semverFilter": "^1\\."},
                     ResolvedRef(tag="1.2.0-rc.1"), id="filter-before-range"),
        pytest.param({"semver": ">=0.0.0-0", "semverFilter": ".*-rc.*"},
                     ResolvedRef(tag="2.1.0-rc.1"), id="filter-keeps-release-candidates"),
    ],
)
def test_resolve_ref_precedence(ref, expected: ResolvedRef) -> None:
    assert resolve_ref(ref, lambda: list(TAGS)) == expected


def test_tags_are_listed_only_for_semver() -> None:
    def boom() -> list[str]:
        raise AssertionError("listed tags for a non-semver ref")

    assert resolve_ref({"tag": "x"}, boom) == ResolvedRef(tag="x")
    assert resolve_ref({"digest": DIGEST}, boom).reference == DIGEST


@pytest.mark.parametrize(
    ("ref", "kind", "message"),
    [
        pytest.param({"digest": "sha256:abc"}, "invalid", "invalid digest", id="short-digest"),
        pytest.param({"semver": "not a range"}, "invalid", "invalid", id="bad-range"),
        pytest.param({"semver": "9.x"}, "not_found", "no tag matches", id="no-match"),
        pytest.param({"semver": "*", "semverFilter": "("}, "invalid", "regular expression",
                     id="bad-filter"),
        pytest.param({"tag": "bad tag"}, "invalid", "invalid tag", id="bad-tag"),
    ],
)
def test_resolve_ref_errors(ref, kind: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message) as err:
        resolve_ref(ref, lambda: list(TAGS))
    assert err.value.kind == kind


@pytest.mark.parametrize(
    ("resolved", "revision"),
    [
        pytest.param(ResolvedRef(tag="6.5.0"), f"6.5.0@{DIGEST}", id="tag"),
        pytest.param(ResolvedRef(digest=DIGEST), DIGEST, id="digest-alone"),
    ],
)
def test_revision(resolved: ResolvedRef, revision: str) -> None:
    assert resolved.revision(DIGEST) == revision


def test_select_semver_tag_ignores_non_versions() -> None:
    assert select_semver_tag(["latest", "main", "0.1.0"], "*") == "0.1.0"


MANIFEST = {
    "layers": [
        {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "digest": "d1"},
        {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": "d2"},
        {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": "d3"},
    ]
}


@pytest.mark.parametrize(
    ("media_type", "digest"),
    [
        pytest.param(None, "d1", id="first-by-default"),
        pytest.param("application/vnd.cncf.helm.chart.content.v1.tar+gzip", "d2",
                     id="first-of-media-type"),
    ],
)
def test_select_layer(media_type: str | None, digest: str) -> None:
    assert select_layer(MANIFEST, media_type)["digest"] == digest


@pytest.mark.parametrize(
    ("manifest", "media_type", "message"),
    [
        pytest.param({"layers": []}, None, "no layers", id="no-layers"),
        pytest.param(MANIFEST, "text/plain", "no layer of media type 'text/plain'",
                     id="no-such-media-type"),
    ],
)
def test_select_layer_errors(manifest, media_type, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        select_layer(manifest, media_type)


@pytest.mark.parametrize(
    ("version", "tag"),
    [
        pytest.param("1.0.0", "1.0.0", id="plain"),
        pytest.param("1.0.0+build.1", "1.0.0_build.1", id="build-metadata"),
    ],
)
def test_chart_tags_round_trip(version: str, tag: str) -> None:
    assert chart_version_tag(version) == tag
    assert chart_tag_version(tag) == version


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        pytest.param('Basic realm="afflux-registry"', "basic", {"realm": "afflux-registry"},
                     id="basic"),
        pytest.param('Bearer realm="https://auth.io/token",service="reg",scope="repository:a:pull"',
                     "bearer", {"realm": "https://auth.io/token", "service": "reg",
                                "scope": "repository:a:pull"}, id="bearer"),
    ],
)
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    assert _parse_challenge(header) == (scheme, params)


@pytest.mark.parametrize(
    ("header", "link"),
    [
        pytest.param('</v2/a/tags/list?n=2&last=b>; rel="next"', "/v2/a/tags/list?n=2&last=b",
                     id="next"),
        pytest.param('</x>; rel="prev"', None, id="not-next"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_next_link(header: str | None, link: str | None) -> None:
    assert _next_link(header) == link


def test_basic_hosts_remembers_the_most_recent_within_its_limit() -> None:
    hosts = BasicHosts(limit=2)
    for base in ("https://a:5000", "https://b:5000", "https://a:5000", "https://c:5000"):
        hosts.add(base)
    # b was the least recently added: it went when c came
    assert [b in hosts for b in ("https://a:5000", "https://b:5000", "https://c:5000")] == [
        True, False, True]
    assert len(hosts) == 2
    hosts.discard("https://a:5000")
    hosts.discard("https://never:1")
    assert "https://a:5000" not in hosts and len(hosts) == 1


ACCESS_LOG = """\
time="2026-12-01T19:58:53Z" level=info msg="response completed" http.request.method=HEAD
127.0.0.1 - - [01/Dec/2026:19:58:53 +0000] "HEAD /v2/a/manifests/1.0.0 HTTP/1.1" 401 87 "" "afflux-source-controller"
127.0.0.1 - - [01/Dec/2026:19:58:53 +0000] "GET /v2/a/blobs/sha256:c1 HTTP/1.1" 200 485 "" "oras-py"
"""


def test_parse_access_log_reads_the_requests_and_skips_the_rest() -> None:
    assert parse_access_log(ACCESS_LOG) == [
        RegistryRequest("HEAD", "/v2/a/manifests/1.0.0", 401, "afflux-source-controller"),
        RegistryRequest("GET", "/v2/a/blobs/sha256:c1", 200, "oras-py"),
    ]


# --- the OCIRepository reconciler's decisions ----------------------------------------------

REV = f"v1@{DIGEST}"
STORED = Artifact(path="ocirepository/ns/a/x.tar.gz", url="http://s/x", revision=REV,
                  last_update_time="2026-01-01T00:00:00Z", digest=DIGEST)
BUILT_WITH = {"observedIgnore": "*.md\n", "observedLayerSelector": {"operation": "extract"}}


@pytest.mark.parametrize(
    ("artifact", "stored", "revision", "status", "spec", "pull"),
    [
        pytest.param(None, False, REV, {}, {}, True, id="no-artifact"),
        pytest.param(STORED, False, REV, BUILT_WITH, {"ignore": "*.md\n"}, True,
                     id="missing-from-storage"),
        pytest.param(STORED, True, f"v2@{DIGEST}", BUILT_WITH, {"ignore": "*.md\n"}, True,
                     id="new-revision"),
        pytest.param(STORED, True, REV, BUILT_WITH, {"ignore": "*.txt\n"}, True,
                     id="ignore-changed"),
        pytest.param(STORED, True, REV, BUILT_WITH,
                     {"ignore": "*.md\n", "layerSelector": {"operation": "copy"}}, True,
                     id="operation-changed"),
        pytest.param(STORED, True, REV, BUILT_WITH, {"ignore": "*.md\n"}, False,
                     id="unchanged"),
        pytest.param(STORED, True, REV, BUILT_WITH,
                     {"ignore": "*.md\n", "layerSelector": {"operation": "extract"}}, False,
                     id="explicit-default-operation"),
    ],
)
def test_must_pull(artifact, stored, revision, status, spec, pull: bool) -> None:
    assert must_pull(artifact=artifact, stored=stored, revision=revision, status=status,
                     spec=spec).pull is pull


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, {"operation": "extract"}, id="default"),
        pytest.param({"layerSelector": {"mediaType": "a/b"}},
                     {"mediaType": "a/b", "operation": "extract"}, id="media-type"),
        pytest.param({"layerSelector": {"operation": "copy"}}, {"operation": "copy"},
                     id="copy"),
    ],
)
def test_layer_selector(spec, expected) -> None:
    assert layer_selector(spec) == expected


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param({"digest": "sha256:xyz"}, id="bad-digest"),
        pytest.param({"semver": ">>1"}, id="bad-range"),
        pytest.param({"semver": "1.x", "semverFilter": "(["}, id="bad-filter"),
        pytest.param({"tag": "a b"}, id="bad-tag"),
    ],
)
def test_check_ref_stalls_on_spec_errors(ref) -> None:
    with pytest.raises(StallingError) as err:
        check_ref(ref)
    assert err.value.reason == "OCIArtifactPullFailed"


@pytest.mark.parametrize("ref", [None, {}, {"tag": "v1"}, {"semver": "1.x"},
                                 {"digest": DIGEST, "tag": "bad tag ignored"}])
def test_check_ref_accepts(ref) -> None:
    check_ref(ref)


def test_tar_stream_reads_gzip_with_an_extra_field(tmp_path) -> None:
    """Helm's packages carry a gzip FEXTRA field that tarfile's stream mode rejects."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("chart/Chart.yaml")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"x: 1"))
    data = raw.getvalue()
    extra = b"+helm-extra"
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = body.compress(data) + body.flush()
    gz = (b"\x1f\x8b\x08\x04" + b"\x00" * 4 + b"\x00\xff" + struct.pack("<H", len(extra)) + extra
          + deflated + struct.pack("<II", zlib.crc32(data), len(data)))
    path = tmp_path / "chart.tgz"
    path.write_bytes(gz)
    with tar_stream(path) as stream:
        assert safe_extract(stream, tmp_path / "out") == ["chart/Chart.yaml"]
    plain = tmp_path / "plain.tar"
    plain.write_bytes(data)
    with tar_stream(plain) as stream:
        assert safe_extract(stream, tmp_path / "out2") == ["chart/Chart.yaml"]


def test_secret_names_include_the_verification_secret() -> None:
    body = {"spec": {"secretRef": {"name": "creds"}, "certSecretRef": {"name": "ca"},
                     "verify": {"provider": "cosign", "secretRef": {"name": "keys"}}}}
    assert secret_names(body) == ["creds", "ca", "keys"]
    assert secret_names({"spec": {"verify": {"provider": "cosign"}}}) == []
    keyless = {"provider": "cosign", "trustedRootSecretRef": {"name": "sigstore"}}
    assert secret_names({"spec": {"verify": keyless}}) == ["sigstore"]
