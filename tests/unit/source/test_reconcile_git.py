"""Pure decisions of the GitRepository reconciler: must we clone, content configuration,
proxy URLs, which repositories include which, commit subjects, include paths."""

from __future__ import annotations

import pytest

from afflux.api import Artifact
from afflux.controllers.runtime import StallingError
from afflux.controllers.source._reconcile_git import (
    ContentConfig,
    _clean_relpath,
    commit_subject,
    desired_config,
    must_clone,
    observed_config,
    proxy_url,
)

REV = "main@sha1:" + "a" * 40
NEW = "main@sha1:" + "b" * 40
SAME = ContentConfig()


def art(revision: str, digest: str = "sha256:" + "1" * 64) -> Artifact:
    return Artifact(path="gitrepository/ns/x/a.tar.gz", url="http://h/x", revision=revision,
                    last_update_time="2024-01-01T00:00:00Z", digest=digest)


# (id, kwargs overriding the "all the same" baseline, clone?)
CASES = [
    ("unchanged-no-clone", {}, False),
    ("no-artifact-yet", {"artifact_revision": None}, True),
    ("artifact-missing-from-storage", {"artifact_stored": False}, True),
    ("new-commit", {"remote_revision": NEW}, True),
    ("ignore-changed", {"desired": ContentConfig(ignore="*.md")}, True),
    ("ignore-removed", {"observed": ContentConfig(ignore="*.md")}, True),
    ("submodules-turned-on", {"desired": ContentConfig(recurse_submodules=True)}, True),
    ("sparse-changed", {"desired": ContentConfig(sparse_checkout=("apps",))}, True),
    ("include-added", {"desired": ContentConfig(include='[{"repository":{"name":"b"}}]')},
     True),
    ("included-artifact-moved", {
        "observed": ContentConfig(included=(("r1", "d1"),)),
        "desired": ContentConfig(included=(("r2", "d2"),))}, True),
    ("included-repo-lost-its-artifact", {
        "observed": ContentConfig(included=(("r1", "d1"),)),
        "desired": ContentConfig(included=((None, None),))}, True),
    ("verify-requested-never-verified", {"verify_mode": "HEAD"}, True),
    ("verify-mode-changed", {"verify_mode": "TagAndHEAD", "verified_mode": "HEAD",
                             "source_verified": True}, True),
    ("verify-failed-before", {"verify_mode": "HEAD", "verified_mode": "HEAD",
                              "source_verified": False}, True),
    ("verified-same-mode-no-clone", {"verify_mode": "HEAD", "verified_mode": "HEAD",
                                     "source_verified": True}, False),
    ("verify-dropped-no-clone", {"verify_mode": None, "verified_mode": "HEAD"}, False),
]


@pytest.mark.parametrize(("overrides", "clone"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_must_clone(overrides: dict, clone: bool) -> None:
    kwargs = {
        "artifact_revision": REV,
        "artifact_stored": True,
        "remote_revision": REV,
        "observed": SAME,
        "desired": SAME,
        **overrides,
    }
    decision = must_clone(**kwargs)
    assert decision.clone is clone, decision.why
    assert decision.why


def test_observed_and_desired_agree_after_a_build() -> None:
    """What the artifact phase writes to the status reads back as the same config."""
    spec = {
        "url": "https://h/r", "interval": "1m", "ignore": "*.md\n",
        "recurseSubmodules": True, "sparseCheckout": ["apps", "infra"],
        "include": [{"repository": {"name": "b"}, "toPath": "lib"}],
    }
    included = art("main@sha1:" + "c" * 40)
    status = {
        "observedIgnore": "*.md\n",
        "observedRecurseSubmodules": True,
        "observedSparseCheckout": ["apps", "infra"],
        "observedInclude": [{"toPath": "lib", "repository": {"name": "b"}}],
        "includedArtifacts": [included.to_dict()],
    }
    assert observed_config(status) == desired_config(spec, [included])


def test_empty_status_is_the_default_config() -> None:
    assert observed_config({}) == desired_config({"url": "x", "interval": "1m"})
    assert observed_config({"observedRecurseSubmodules": False}) == ContentConfig()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"address": b"http://proxy:3128"}, "http://proxy:3128"),
        ({"address": b"https://proxy:3128", "username": b"u", "password": b"p@ss"},
         "https://u:p%40ss@proxy:3128"),
        ({"address": b"socks5://proxy", "username": b"u"}, "socks5://u@proxy"),
    ],
    ids=["address-only", "with-credentials-escaped", "socks5-user-only"],
)
def test_proxy_url(data: dict, expected: str) -> None:
    assert proxy_url(data) == expected


@pytest.mark.parametrize("data", [{}, {"address": b""}, {"address": b"ftp://proxy"},
                                  {"address": b"proxy:3128"}],
                         ids=["missing", "empty", "ftp-scheme", "no-scheme"])
def test_proxy_url_invalid_is_stalling(data: dict) -> None:
    with pytest.raises(StallingError, match="address"):
        proxy_url(data)


@pytest.mark.parametrize(
    ("message", "subject"),
    [("fix: the thing\n\nbody\n", "fix: the thing"), ("", ""), ("\n  one  \n", "one")],
    ids=["subject-and-body", "empty", "surrounding-blanks"],
)
def test_commit_subject(message: str, subject: str) -> None:
    assert commit_subject(message) == subject


@pytest.mark.parametrize(
    ("value", "expected"),
    [("lib", "lib"), ("./deploy/x/", "deploy/x"), ("", ""), (".", "")],
    ids=["plain", "dot-and-slashes", "empty-is-root", "dot-is-root"],
)
def test_clean_relpath(value: str, expected: str) -> None:
    assert _clean_relpath(value, "toPath") == expected


@pytest.mark.parametrize("value", ["../up", "a/../../b", "/abs"],
                         ids=["parent", "nested-parent", "absolute"])
def test_clean_relpath_refuses_escapes(value: str) -> None:
    with pytest.raises(StallingError, match="relative path inside the artifact"):
        _clean_relpath(value, "toPath")
