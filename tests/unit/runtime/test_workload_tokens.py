"""ServiceAccount tokens for remote clusters (`_workload`): reuse, renewal before expiry,
the cache bounds, the controller's own identity, and how a ConfigMap is resolved (an
in-memory API; the TokenRequest API itself is exercised by the integration tests)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from afflux.controllers.runtime._kube import ApiError
from afflux.controllers.runtime._kubeconfig import RemoteConfigError, remote_cluster_config
from afflux.controllers.runtime._workload import (
    CONFIGMAPS,
    IssuedToken,
    RemoteAccess,
    RemoteConfigUnavailable,
    ServiceAccountTokens,
    WorkloadIdentity,
    controller_service_account,
    resolve_remote_access,
)

from .fakes import FakeKube


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """Issues `t1`, `t2`, ... valid for `lifetime` seconds; records each request."""

    def __init__(self, clock: Clock, lifetime: float = 3600.0,
                 fail: ApiError | None = None) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.fail = fail
        self.requests: list[tuple[str, str, tuple[str, ...]]] = []

    def __call__(self, namespace: str, name: str, audiences: tuple[str, ...]) -> IssuedToken:
        if self.fail is not None:
            raise self.fail
        self.requests.append((namespace, name, audiences))
        return IssuedToken(f"t{len(self.requests)}", self.clock.now + self.lifetime)


AUD = ("https://remote:6443",)


@pytest.mark.parametrize(("lifetime", "max_duration", "min_valid", "advance", "expected"), [
    pytest.param(3600, 3600, 0, 0, ["t1", "t1"], id="reused"),
    pytest.param(3600, 3600, 0, 2879, ["t1", "t1"], id="reused-before-80-percent"),
    pytest.param(3600, 3600, 0, 2880, ["t1", "t2"], id="renewed-at-80-percent"),
    pytest.param(3600, 600, 0, 480, ["t1", "t2"], id="capped-by-max-duration"),
    pytest.param(3600, 3600, 1800, 1801, ["t1", "t2"], id="renewed-when-too-short-for-caller"),
    pytest.param(600, 3600, 0, 481, ["t1", "t2"], id="short-lived-server-tokens"),
])
def test_tokens_are_reused_then_renewed(lifetime: float, max_duration: float,
                                        min_valid: float, advance: float,
                                        expected: list[str]) -> None:
    clock = Clock()
    tokens = ServiceAccountTokens(Issuer(clock, lifetime), max_duration=max_duration,
                                  clock=clock)
    got = [tokens.get("apps", "deployer", AUD, min_valid=min_valid)]
    clock.now += advance
    got.append(tokens.get("apps", "deployer", AUD, min_valid=min_valid))
    assert got == expected


@pytest.mark.parametrize(("first", "second"), [
    pytest.param(("apps", "deployer", AUD), ("apps", "other", AUD), id="account"),
    pytest.param(("apps", "deployer", AUD), ("team", "deployer", AUD), id="namespace"),
    pytest.param(("apps", "deployer", AUD), ("apps", "deployer", ("aud2",)), id="audiences"),
])
def test_tokens_are_kept_per_account_and_audiences(first: tuple[str, str, tuple[str, ...]],
                                                    second: tuple[str, str, tuple[str, ...]]
                                                    ) -> None:
    clock = Clock()
    tokens = ServiceAccountTokens(Issuer(clock), clock=clock)
    assert [tokens.get(*first), tokens.get(*second), tokens.get(*first)] == ["t1", "t2", "t1"]


@pytest.mark.parametrize(("max_size", "held", "requests"), [
    pytest.param(2, 2, 4, id="least-recently-used-dropped"),
    pytest.param(0, 0, 4, id="no-cache-a-token-per-request"),
])
def test_cache_is_bounded(max_size: int, held: int, requests: int) -> None:
    clock = Clock()
    issuer = Issuer(clock)
    tokens = ServiceAccountTokens(issuer, max_size=max_size, clock=clock)
    for name in ("a", "b", "c", "a"):
        tokens.get("apps", name, AUD)
    assert len(tokens) == held
    assert len(issuer.requests) == requests


def test_issued_token_repr_hides_the_token() -> None:
    assert "s3cret" not in repr(IssuedToken("s3cret", 1.0))


def _jwt(claims: dict[str, object]) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(("content", "expected"), [
    pytest.param(_jwt({"sub": "system:serviceaccount:flux-system:kustomize-controller"}),
                 ("flux-system", "kustomize-controller"), id="pod-token"),
    pytest.param(_jwt({"sub": "admin"}), None, id="not-a-service-account"),
    pytest.param("garbage", None, id="not-a-jwt"),
    pytest.param("a.!!!.c", None, id="bad-base64"),
    pytest.param(None, None, id="no-file-outside-a-pod"),
])
def test_controller_service_account(tmp_path: Path, content: str | None,
                                    expected: tuple[str, str] | None) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    assert controller_service_account(str(path)) == expected


def _resolve(kube: FakeKube, identity: WorkloadIdentity, issuer: Issuer) -> object:
    tokens = ServiceAccountTokens(issuer, clock=issuer.clock)
    return asyncio.run(resolve_remote_access(kube, "apps", "remote", identity, tokens))


def _kube_with(data: dict[str, str] | None) -> FakeKube:
    kube = FakeKube()
    if data is not None:
        kube.put(CONFIGMAPS, {"metadata": {"name": "remote", "namespace": "apps"},
                              "data": data})
    return kube


GENERIC = {"provider": "generic", "address": "https://remote:6443", "audiences": "aud"}


def test_resolve_issues_a_token_for_the_named_account() -> None:
    issuer = Issuer(Clock())
    access = _resolve(_kube_with({**GENERIC, "serviceAccountName": "deployer"}),
                      WorkloadIdentity(object_level=True), issuer)
    assert issuer.requests == [("apps", "deployer", ("aud",))]
    assert access.subject == "ServiceAccount 'apps/deployer'"  # type: ignore[attr-defined]


def test_resolve_uses_the_controllers_own_account(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(_jwt({"sub": "system:serviceaccount:flux-system:helm-controller"}))
    issuer = Issuer(Clock())
    _resolve(_kube_with(GENERIC), WorkloadIdentity(token_file=str(token)), issuer)
    assert issuer.requests == [("flux-system", "helm-controller", ("aud",))]


@pytest.mark.parametrize(("data", "identity", "fail", "error", "message"), [
    pytest.param(None, WorkloadIdentity(), None, RemoteConfigUnavailable,
                 "kubeConfig ConfigMap 'apps/remote' not found", id="missing-configmap"),
    pytest.param(GENERIC, WorkloadIdentity(token_file="/nonexistent/token"), None,
                 RemoteConfigError, "names no serviceAccountName and this controller does not "
                 "run as a ServiceAccount", id="no-identity-outside-a-pod"),
    pytest.param({**GENERIC, "serviceAccountName": "ghost"},
                 WorkloadIdentity(object_level=True),
                 ApiError(404, "NotFound", 'serviceaccounts "ghost" not found'),
                 RemoteConfigUnavailable, "could not get a token of ServiceAccount "
                 "'apps/ghost' for kubeConfig ConfigMap 'apps/remote'", id="account-missing"),
    pytest.param({"provider": "gcp"}, WorkloadIdentity(), None, RemoteConfigError,
                 "provider 'gcp' needs", id="cloud-provider"),
])
def test_resolve_errors(data: dict[str, str] | None, identity: WorkloadIdentity,
                        fail: ApiError | None, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as err:
        _resolve(_kube_with(data), identity, Issuer(Clock(), fail=fail))
    assert message in str(err.value)


class _Configuration:
    def __init__(self) -> None:
        self.api_key = {"authorization": "Bearer s3cret-old"}


def _access(issuer: Issuer) -> RemoteAccess:
    config = remote_cluster_config(GENERIC, "ConfigMap 'apps/remote'")
    return RemoteAccess(config, "apps", "deployer",
                        ServiceAccountTokens(issuer, clock=issuer.clock))


def test_refresh_hook_sets_a_current_token_before_each_request() -> None:
    configuration = _Configuration()
    _access(Issuer(Clock())).refresh_hook()(configuration)
    assert configuration.api_key["authorization"] == "Bearer t1"


def test_refresh_hook_keeps_the_last_token_when_none_can_be_had(
        caplog: pytest.LogCaptureFixture) -> None:
    configuration = _Configuration()
    failing = Issuer(Clock(), fail=ApiError(403, "Forbidden",
                                            "cannot create serviceaccounts/token"))
    _access(failing).refresh_hook()(configuration)
    assert configuration.api_key["authorization"] == "Bearer s3cret-old"
    assert "cannot create serviceaccounts/token" in caplog.text
    assert "s3cret" not in caplog.text
