"""Helm repository indexes: parsing, stable order, digest, version selection, URLs."""

from __future__ import annotations

import json

import pytest
import yaml

from afflux.controllers.source._helmindex import (
    HelmIndex,
    HelmIndexError,
    index_url,
    parse_index,
    resolve_url,
)

INDEX = """\
apiVersion: v1
generated: "2024-05-01T10:00:00Z"
entries:
  zeta:
    - name: zeta
      version: 0.1.0
      urls: [zeta-0.1.0.tgz]
  podinfo:
    - name: podinfo
      version: 6.0.0
      created: 2024-04-01T10:00:00.123456789Z
      digest: abc
      urls: [https://charts.example.com/podinfo-6.0.0.tgz]
    - name: podinfo
      version: 6.10.1
      urls: [charts/podinfo-6.10.1.tgz]
    - name: podinfo
      version: not-semver
      urls: [x.tgz]
    - name: podinfo
      version: 7.0.0-rc.1
      urls: [podinfo-7.0.0-rc.1.tgz]
    - name: podinfo
      version: 6.2.0
      urls: [podinfo-6.2.0.tgz]
  empty: []
"""


def test_entries_sorted_by_name_and_versions_newest_first() -> None:
    index = parse_index(INDEX)
    assert index.chart_names() == ["empty", "podinfo", "zeta"]
    assert [v["version"] for v in index.entries["podinfo"]] == [
        "7.0.0-rc.1",
        "6.10.1",
        "6.2.0",
        "6.0.0",
        "not-semver",
    ]


def test_timestamps_stay_strings() -> None:
    index = parse_index(INDEX)
    created = index.entries["podinfo"][3]["created"]
    assert created == "2024-04-01T10:00:00.123456789Z"
    assert index.data["generated"] == "2024-05-01T10:00:00Z"


def test_digest_ignores_source_order_and_formatting() -> None:
    raw = yaml.safe_load(
        INDEX.replace("2024-04-01T10:00:00.123456789Z", '"2024-04-01T10:00:00.123456789Z"')
    )
    raw["entries"]["podinfo"].reverse()
    reordered = json.dumps(dict(reversed(list(raw.items()))), indent=4)
    assert parse_index(reordered).digest == parse_index(INDEX).digest
    assert parse_index(INDEX).digest.startswith("sha256:") and len(parse_index(INDEX).digest) == 71


def test_digest_changes_with_content() -> None:
    assert parse_index(INDEX.replace("6.2.0", "6.2.1")).digest != parse_index(INDEX).digest


def test_to_bytes_is_loadable_and_digested() -> None:
    import hashlib

    index = parse_index(INDEX)
    data = index.to_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == index.digest
    assert HelmIndex(yaml.safe_load(data)).digest == index.digest
    assert parse_index(data).digest == index.digest


# (id, chart, version, expected version)
SELECT = [
    ("default-star-skips-prerelease", "podinfo", None, "6.10.1"),
    ("explicit-star", "podinfo", "*", "6.10.1"),
    ("empty-is-star", "podinfo", "", "6.10.1"),
    ("range", "podinfo", ">=6.0.0 <6.5.0", "6.2.0"),
    ("caret", "podinfo", "^6.0", "6.10.1"),
    ("tilde", "podinfo", "~6.0", "6.0.0"),
    ("prerelease-range", "podinfo", ">=7.0.0-0", "7.0.0-rc.1"),
    ("exact", "podinfo", "6.0.0", "6.0.0"),
    ("exact-non-semver-string", "podinfo", "not-semver", "not-semver"),
    ("other-chart", "zeta", "*", "0.1.0"),
]


@pytest.mark.parametrize(
    ("chart", "version", "want"), [s[1:] for s in SELECT], ids=[s[0] for s in SELECT]
)
def test_get(chart: str, version: str | None, want: str) -> None:
    assert parse_index(INDEX).get(chart, version).version == want


def test_get_returns_urls_and_digest() -> None:
    found = parse_index(INDEX).get("podinfo", "6.0.0")
    assert found.urls == ("https://charts.example.com/podinfo-6.0.0.tgz",)
    assert found.digest == "abc" and found.name == "podinfo"


# (id, chart, version, message fragment)
SELECT_ERRORS = [
    ("unknown-chart", "nginx", "*", "chart 'nginx' is not in the repository index"),
    ("no-versions", "empty", "*", "chart 'empty' has no versions"),
    ("no-match", "podinfo", ">=8.0.0", "no chart version found for podinfo->=8.0.0"),
    ("bad-range", "podinfo", ">>1", "invalid chart version '>>1'"),
]


@pytest.mark.parametrize(
    ("chart", "version", "fragment"),
    [s[1:] for s in SELECT_ERRORS],
    ids=[s[0] for s in SELECT_ERRORS],
)
def test_get_errors(chart: str, version: str, fragment: str) -> None:
    with pytest.raises(HelmIndexError) as info:
        parse_index(INDEX).get(chart, version)
    assert fragment in str(info.value)
    assert info.value.reason == "IndexationFailed"


INVALID = [
    ("not-yaml", "entries: [unclosed", "not YAML"),
    ("empty", "", "empty"),
    ("list", "- a\n- b\n", "not a mapping"),
    ("no-api-version", "entries: {}\n", "no apiVersion"),
    ("entries-not-mapping", "apiVersion: v1\nentries: [1]\n", "not a mapping of chart names"),
    ("versions-not-list", "apiVersion: v1\nentries: {a: 1}\n", "not a list of chart versions"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID]
)
def test_invalid_indexes(text: str, fragment: str) -> None:
    with pytest.raises(HelmIndexError, match=fragment):
        parse_index(text)


def test_size_limit() -> None:
    with pytest.raises(HelmIndexError, match="larger than the limit of 10 bytes"):
        parse_index(INDEX, max_size=10)


URLS = [
    (
        "relative",
        "https://charts.example.com",
        "podinfo-1.0.0.tgz",
        "https://charts.example.com/podinfo-1.0.0.tgz",
    ),
    (
        "relative-trailing-slash",
        "https://charts.example.com/",
        "podinfo-1.0.0.tgz",
        "https://charts.example.com/podinfo-1.0.0.tgz",
    ),
    (
        "relative-subpath",
        "https://example.com/helm/stable",
        "charts/a-1.tgz",
        "https://example.com/helm/stable/charts/a-1.tgz",
    ),
    (
        "absolute",
        "https://example.com/helm",
        "https://cdn.example.org/a-1.tgz",
        "https://cdn.example.org/a-1.tgz",
    ),
    (
        "root-relative",
        "https://example.com/helm",
        "/other/a-1.tgz",
        "https://example.com/other/a-1.tgz",
    ),
    (
        "keeps-query",
        "https://example.com/helm?token=s3cr3t",
        "a-1.tgz",
        "https://example.com/helm/a-1.tgz?token=s3cr3t",
    ),
]


@pytest.mark.parametrize(("repo", "ref", "want"), [u[1:] for u in URLS], ids=[u[0] for u in URLS])
def test_resolve_url(repo: str, ref: str, want: str) -> None:
    assert resolve_url(repo, ref) == want


def test_index_url() -> None:
    assert (
        index_url("https://charts.example.com/stable/")
        == "https://charts.example.com/stable/index.yaml"
    )
    assert index_url("http://h:8080") == "http://h:8080/index.yaml"
