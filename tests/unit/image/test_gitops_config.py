"""The automation's Git settings that need no repository: refs, push specs, refspecs,
push rejections."""

from __future__ import annotations

import pytest

from afflux.api._image_v1 import PushSpec as PushSpecModel
from afflux.api._source_v1 import GitRepositoryRef
from afflux.controllers.image_automation._gitops import (
    CheckoutRef,
    CommitAuthor,
    InvalidSourceConfiguration,
    PushSpec,
    SigningKey,
    _is_rejection,
    _validate_refspec,
)
from afflux.controllers.runtime._gitauth import GitError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, CheckoutRef()),
        ({"branch": "main"}, CheckoutRef(branch="main")),
        ({"tag": "v1", "branch": ""}, CheckoutRef(tag="v1")),
        (GitRepositoryRef.from_dict({"semver": ">=1.0.0"}), CheckoutRef(semver=">=1.0.0")),
    ],
    ids=["default", "branch", "tag-empty-branch", "api-model"],
)
def test_checkout_ref_from_spec(spec: object, expected: CheckoutRef) -> None:
    assert CheckoutRef.from_spec(spec) == expected


def test_push_spec_from_spec() -> None:
    model = PushSpecModel.from_dict({"branch": "auto", "options": {"ci.skip": ""}})
    assert PushSpec.from_spec(model) == PushSpec("auto", None, {"ci.skip": ""})
    assert PushSpec.from_spec(None) == PushSpec()


@pytest.mark.parametrize(
    ("refspec", "expected"),
    [
        ("refs/heads/main:refs/heads/auto", ("refs/heads/main", "refs/heads/auto")),
        ("HEAD:refs/for/main", ("HEAD", "refs/for/main")),
    ],
    ids=["branch-to-branch", "gerrit-style"],
)
def test_valid_refspecs(refspec: str, expected: tuple[str, str]) -> None:
    assert _validate_refspec(refspec) == expected


@pytest.mark.parametrize(
    ("refspec", "message"),
    [
        ("+refs/heads/main:refs/heads/auto", "forced updates"),
        (":refs/heads/auto", "deletions are not supported"),
        ("refs/heads/main", "must be '<source>:<destination>'"),
    ],
    ids=["force", "delete", "no-destination"],
)
def test_refused_refspecs_stall(refspec: str, message: str) -> None:
    with pytest.raises(InvalidSourceConfiguration, match=message):
        _validate_refspec(refspec)


@pytest.mark.parametrize(
    ("message", "rejected"),
    [
        ("git operation on https://x failed: cannot push non-fastforwardable reference", True),
        ("the server rejected the push of refs/heads/main: fetch first", True),
        ("the server rejected the push of refs/heads/main: failed to update ref", True),
        ("authentication to https://x failed: 401", False),
        ("cannot reach https://x: connection refused", False),
    ],
    ids=["libgit2-non-ff", "server-fetch-first", "server-update-failed", "auth", "network"],
)
def test_push_rejection_detection(message: str, rejected: bool) -> None:
    assert _is_rejection(GitError(message)) is rejected


def test_author_without_name_uses_the_email() -> None:
    signature = CommitAuthor(email="bot@example.test").signature()
    assert (signature.name, signature.email) == ("bot@example.test", "bot@example.test")


def test_signing_key_repr_hides_the_key() -> None:
    assert "PRIVATE" not in repr(SigningKey(b"-----BEGIN PGP PRIVATE KEY BLOCK-----", "pw"))
