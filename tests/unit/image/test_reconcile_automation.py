"""image-automation-controller's reconcile decisions, pure and table-driven: whether an
automation runs, which policies it selects, what it reports."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from runtime.fakes import FakeKube

from afflux.api import ImageUpdateAutomation
from afflux.controllers.image_automation._gitops import (
    AutomationOutcome,
    CheckoutRef,
    PushSpec,
    SSHSigningKey,
)
from afflux.controllers.image_automation._reconcile import (
    GIT_REPOSITORY,
    SECRETS,
    AutomationReconcile,
    RunState,
    automations_for_policy,
    automations_for_source,
    checkout_revision,
    latest_image_of,
    observed_policies,
    observed_revision,
    policy_change_key,
    push_message,
    run_decision,
    selector_matches,
    setter_policies,
    switches_branch,
)
from afflux.controllers.image_automation._sshsig import public_key_blob
from afflux.controllers.runtime import GenericError, StallingError, WaitingError

APP = {"name": "ghcr.io/org/app", "tag": "1.1.0"}
REV = "main@sha1:" + "a" * 40

# --- should this automation run? -------------------------------------------------------------

SETTLED = RunState(
    generation=3,
    observed_generation=3,
    requested_at="t1",
    last_handled="t1",
    last_ready=True,
    policies={"app": APP},
    observed_policies={"app": APP},
    switches_branch=False,
    source_revision=REV,
    observed_source_revision=REV,
)

RUN_CASES = [
    pytest.param({}, False, "no change since last reconciliation", id="nothing-changed-skips"),
    pytest.param({"generation": 4}, True, "new generation", id="spec-changed"),
    pytest.param({"requested_at": "t2"}, True, "reconcile requested", id="reconcile-requested"),
    pytest.param(
        {"requested_at": None, "last_handled": None},
        False,
        "no change since last reconciliation",
        id="never-requested-skips",
    ),
    pytest.param({"last_ready": False}, True, "last run did not succeed", id="retry-after-failure"),
    pytest.param({"observed_source_revision": None}, True, "never ran", id="first-run"),
    pytest.param(
        {"policies": {"app": {**APP, "tag": "1.2.0"}}},
        True,
        "image policies changed",
        id="a-policy-chose-a-new-tag",
    ),
    pytest.param(
        {"policies": {"app": {**APP, "digest": "sha256:" + "b" * 64}}},
        True,
        "image policies changed",
        id="a-digest-appeared",
    ),
    pytest.param(
        {"policies": {"app": APP, "web": APP}},
        True,
        "image policies changed",
        id="a-policy-was-added",
    ),
    pytest.param({"policies": {}}, True, "image policies changed", id="a-policy-was-removed"),
    pytest.param(
        {"switches_branch": True},
        True,
        "pushes to another branch or a refspec",
        id="push-branch-differs-always-runs",
    ),
    pytest.param(
        {"source_revision": "main@sha1:" + "c" * 40},
        True,
        "source revision changed",
        id="someone-pushed-to-the-branch",
    ),
    pytest.param(
        {"source_revision": None},
        True,
        "source revision unknown",
        id="checkout-by-commit-or-semver-always-runs",
    ),
]


@pytest.mark.parametrize(("changes", "run", "why"), RUN_CASES)
def test_run_decision(changes: dict[str, Any], run: bool, why: str) -> None:
    decision = run_decision(replace(SETTLED, **changes))
    assert (decision.run, decision.why) == (run, why)


# --- which branch, which revision -------------------------------------------------------------


@pytest.mark.parametrize(
    ("checkout", "push", "switched"),
    [
        pytest.param(CheckoutRef(branch="main"), PushSpec(), False, id="same-branch"),
        pytest.param(CheckoutRef(branch="main"), PushSpec(branch="main"), False, id="explicit"),
        pytest.param(CheckoutRef(), PushSpec(branch="master"), False, id="default-branch"),
        pytest.param(CheckoutRef(branch="main"), PushSpec(branch="auto"), True, id="other-branch"),
        pytest.param(
            CheckoutRef(branch="main"),
            PushSpec(refspec="refs/heads/main:refs/heads/release"),
            True,
            id="refspec",
        ),
        pytest.param(CheckoutRef(tag="v1"), PushSpec(branch="v1-updates"), True, id="from-tag"),
    ],
)
def test_switches_branch(checkout: CheckoutRef, push: PushSpec, switched: bool) -> None:
    assert switches_branch(checkout, push) is switched


REFS = {
    "HEAD": "1" * 40,
    "refs/heads/main": "1" * 40,
    "refs/heads/master": "2" * 40,
    "refs/tags/v1.0.0": "3" * 40,
    "refs/tags/v1.0.0^{}": "4" * 40,
    "refs/pull/7/head": "5" * 40,
}


@pytest.mark.parametrize(
    ("checkout", "revision"),
    [
        pytest.param(CheckoutRef(branch="main"), "main@sha1:" + "1" * 40, id="branch"),
        pytest.param(CheckoutRef(), "master@sha1:" + "2" * 40, id="default-master"),
        pytest.param(CheckoutRef(branch="gone"), None, id="missing-branch"),
        pytest.param(CheckoutRef(tag="v1.0.0"), "v1.0.0@sha1:" + "4" * 40, id="tag-peeled"),
        pytest.param(
            CheckoutRef(name="refs/pull/7/head"), "refs/pull/7/head@sha1:" + "5" * 40, id="name"
        ),
        pytest.param(CheckoutRef(semver="1.x"), None, id="semver-needs-a-fetch"),
        pytest.param(CheckoutRef(branch="main", commit="abc"), None, id="commit-needs-a-fetch"),
    ],
)
def test_checkout_revision(checkout: CheckoutRef, revision: str | None) -> None:
    assert checkout_revision(REFS, checkout) == revision


def outcome(**kwargs: Any) -> AutomationOutcome[Any]:
    base: dict[str, Any] = {"source_revision": "main@sha1:" + "1" * 40, "push_branch": "main"}
    base.update(kwargs)
    return AutomationOutcome(**base)


@pytest.mark.parametrize(
    ("result", "switched", "revision"),
    [
        pytest.param(
            outcome(commit="9" * 40), False, "main@sha1:" + "9" * 40, id="pushed-to-checkout"
        ),
        pytest.param(outcome(), False, "main@sha1:" + "1" * 40, id="nothing-pushed"),
        pytest.param(
            outcome(commit="9" * 40, push_branch="auto"),
            True,
            "main@sha1:" + "1" * 40,
            id="pushed-elsewhere",
        ),
    ],
)
def test_observed_revision(result: AutomationOutcome[Any], switched: bool, revision: str) -> None:
    assert observed_revision(result, switched) == revision


def test_push_message_names_commit_branch_and_refspec_then_the_commit_message() -> None:
    pushed = outcome(commit="0123456789" + "0" * 30, message="Update app\n\n- a -> b\n")
    assert (
        push_message(pushed) == "pushed commit '0123456' to branch 'main'\nUpdate app\n\n- a -> b\n"
    )
    both = outcome(commit="abcdef1" + "0" * 33, refspecs=["refs/heads/main:refs/for/main"])
    assert push_message(both) == (
        "pushed commit 'abcdef1' to branch 'main' and refspec 'refs/heads/main:refs/for/main'"
    )


# --- policies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param(None, {}, True, id="no-selector-selects-all"),
        pytest.param({}, {"a": "1"}, True, id="empty-selector-selects-all"),
        pytest.param({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True, id="labels"),
        pytest.param({"matchLabels": {"app": "web"}}, {"app": "db"}, False, id="other-label"),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            {"tier": "b"},
            True,
            id="in",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]},
            {},
            False,
            id="in-without-the-label",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]},
            {},
            True,
            id="notin-without-the-label",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            {"tier": ""},
            True,
            id="exists",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
            {"tier": "a"},
            False,
            id="does-not-exist",
        ),
    ],
)
def test_selector_matches(
    selector: dict[str, Any] | None, labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(selector, labels) is matches


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param({"key": "a", "operator": "Equals", "values": ["x"]}, id="unknown-operator"),
        pytest.param({"key": "a", "operator": "In"}, id="in-without-values"),
        pytest.param({"key": "a", "operator": "Exists", "values": ["x"]}, id="exists-with-values"),
    ],
)
def test_invalid_selectors_are_refused(expression: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="matchExpressions"):
        selector_matches({"matchExpressions": [expression]}, {})


def policy(name: str, status: dict[str, Any] | None, labels: dict[str, str] | None = None):
    return {
        "metadata": {"name": name, "namespace": "apps", "labels": labels or {}},
        "status": status or {},
    }


def test_latest_image_prefers_latest_ref_and_reads_v1beta2_latest_image() -> None:
    digest = "sha256:" + "d" * 64
    assert latest_image_of(policy("a", {"latestRef": {**APP, "digest": digest}})) == {
        **APP,
        "digest": digest,
    }
    assert latest_image_of(policy("b", {"latestImage": "localhost:5000/app:2.0"})) == {
        "name": "localhost:5000/app",
        "tag": "2.0",
    }
    assert latest_image_of(policy("c", {"latestImage": "localhost:5000/app"})) is None
    assert latest_image_of(policy("d", {})) is None


def test_observed_policies_leave_out_policies_without_an_image() -> None:
    observed = observed_policies([policy("app", {"latestRef": APP}), policy("broken", {})])
    assert observed == {"app": APP}
    assert setter_policies("apps", observed) == {"apps:app": APP}


def test_policy_change_key_follows_latest_image_and_labels() -> None:
    base = policy("app", {"latestRef": APP, "conditions": []}, {"team": "a"})
    same = policy("app", {"latestRef": APP, "conditions": [{"type": "Ready"}]}, {"team": "a"})
    new_tag = policy("app", {"latestRef": {**APP, "tag": "2.0.0"}}, {"team": "a"})
    relabelled = policy("app", {"latestRef": APP}, {"team": "b"})
    assert policy_change_key(base) == policy_change_key(same)
    assert policy_change_key(base) != policy_change_key(new_tag)
    assert policy_change_key(base) != policy_change_key(relabelled)


def automation(ns: str, name: str, source: str, source_ns: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"kind": "GitRepository", "name": source}
    if source_ns:
        ref["namespace"] = source_ns
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"sourceRef": ref}}


def test_which_automations_a_change_concerns() -> None:
    autos = [
        automation("apps", "a", "repo"),
        automation("apps", "b", "other"),
        automation("team", "c", "repo", "apps"),
    ]
    assert automations_for_policy(policy("app", {}), autos) == [("apps", "a"), ("apps", "b")]
    repo = {"metadata": {"namespace": "apps", "name": "repo"}}
    assert automations_for_source(repo, autos) == [("apps", "a"), ("team", "c")]


# --- reading the GitRepository and the Secrets (in-memory Kubernetes) ---------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _automation(**git: Any) -> ImageUpdateAutomation:
    return ImageUpdateAutomation.from_dict(
        {
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "auto", "namespace": "apps", "generation": 1},
            "spec": {
                "interval": "5m",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "git": {"commit": {"author": {"email": "bot@example.test"}}, **git},
            },
        }
    )


def _kube(**repo_spec: Any) -> FakeKube:
    kube = FakeKube()
    kube.put(
        GIT_REPOSITORY,
        {
            "metadata": {"name": "repo", "namespace": "apps"},
            "spec": {
                "url": "https://git.example.test/org/repo.git",
                "interval": "1m",
                "ref": {"branch": "main"},
                **repo_spec,
            },
        },
    )
    return kube


def _ctx(kube: FakeKube, auto: ImageUpdateAutomation) -> Any:
    return SimpleNamespace(kube=kube, obj=auto)


def test_source_reads_url_credentials_timeout_and_checkout() -> None:
    kube = _kube(secretRef={"name": "git-auth"}, timeout="2m")
    kube.put(
        SECRETS,
        {
            "metadata": {"name": "git-auth", "namespace": "apps"},
            "data": {"username": _b64("bot"), "password": _b64("s3cret")},
        },
    )
    source = asyncio.run(AutomationReconcile()._source(_ctx(kube, _automation())))
    assert source.url == "https://git.example.test/org/repo.git"
    assert source.credentials is not None
    assert (source.credentials.username, source.credentials.password) == ("bot", "s3cret")
    assert source.timeout == 120.0
    assert source.checkout == CheckoutRef(branch="main")

    override = _automation(checkout={"ref": {"tag": "v1"}})
    assert asyncio.run(AutomationReconcile()._source(_ctx(kube, override))).checkout == (
        CheckoutRef(tag="v1")
    )


def test_source_that_does_not_exist_is_waited_for() -> None:
    with pytest.raises(WaitingError, match="GitRepository 'apps/repo' not found"):
        asyncio.run(AutomationReconcile()._source(_ctx(FakeKube(), _automation())))


def test_git_proxy_is_refused_with_a_clear_message() -> None:
    kube = _kube(proxySecretRef={"name": "proxy"})
    with pytest.raises(StallingError, match="proxySecretRef"):
        asyncio.run(AutomationReconcile()._source(_ctx(kube, _automation())))


def test_missing_git_secret_names_the_field() -> None:
    kube = _kube(secretRef={"name": "absent"})
    with pytest.raises(GenericError, match="Secret 'apps/absent' of spec.secretRef"):
        asyncio.run(AutomationReconcile()._source(_ctx(kube, _automation())))


def test_signing_key_comes_from_git_asc_and_passphrase() -> None:
    kube = FakeKube()
    kube.put(
        SECRETS,
        {
            "metadata": {"name": "signing", "namespace": "apps"},
            "data": {"git.asc": _b64("-----BEGIN PGP..."), "passphrase": _b64("pw")},
        },
    )
    auto = _automation(
        commit={"author": {"email": "b@x"}, "signingKey": {"secretRef": {"name": "signing"}}}
    )
    key = asyncio.run(AutomationReconcile()._signing_key(_ctx(kube, auto)))
    assert key is not None and (key.armored, key.passphrase) == (b"-----BEGIN PGP...", "pw")

    kube.put(SECRETS, {"metadata": {"name": "signing", "namespace": "apps"}, "data": {}})
    with pytest.raises(GenericError, match="no 'git.asc' key"):
        asyncio.run(AutomationReconcile()._signing_key(_ctx(kube, auto)))


_SSH_KEY = ed25519.Ed25519PrivateKey.generate()
_SSH_IDENTITY = _SSH_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.OpenSSH,
    serialization.BestAvailableEncryption(b"pw"),
)


@pytest.mark.parametrize(
    ("data", "outcome"),
    [
        pytest.param({"identity": _SSH_IDENTITY, "password": b"pw"}, None, id="identity-and-password"),
        pytest.param({"git.asc": b"-----BEGIN PGP..."}, "has no 'identity' key", id="gpg-secret"),
        pytest.param({"identity": _SSH_IDENTITY}, "put its passphrase", id="no-password"),
        pytest.param({"identity": b"garbled"}, "does not hold an SSH private key", id="garbled"),
    ],
)
def test_ssh_signing_key_comes_from_identity_and_password(
    data: dict[str, bytes], outcome: str | None
) -> None:
    kube = FakeKube()
    kube.put(
        SECRETS,
        {
            "metadata": {"name": "signing", "namespace": "apps"},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        },
    )
    auto = _automation(
        commit={
            "author": {"email": "b@x"},
            "signingKey": {"type": "ssh", "secretRef": {"name": "signing"}},
        }
    )
    if outcome is None:
        key = asyncio.run(AutomationReconcile()._signing_key(_ctx(kube, auto)))
        assert isinstance(key, SSHSigningKey)
        assert public_key_blob(key.key) == public_key_blob(_SSH_KEY)
        return
    with pytest.raises(StallingError) as caught:
        asyncio.run(AutomationReconcile()._signing_key(_ctx(kube, auto)))
    assert caught.value.reason == "SourceManagerFailed"
    assert outcome in caught.value.message
    assert "Secret 'apps/signing' of spec.git.commit.signingKey.secretRef" in caught.value.message
