"""image-reflector-controller's reconcile decisions (pure), and the ImagePolicy reconcile run
over an in-memory Kubernetes and a tag store in a temporary directory."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from runtime.fakes import FakeKube

from afflux.api import ImageRepository
from afflux.controllers.image_reflector._reconcile_policy import (
    IMAGE_POLICY,
    NAMESPACES,
    compose_ready_message,
    namespace_selected,
    policies_for_repository,
    policy_interval,
    policy_reconciler,
)
from afflux.controllers.image_reflector._reconcile_registry import (
    SECRETS,
    SERVICE_ACCOUNTS,
    proxy_url,
    registry_access,
)
from afflux.controllers.image_reflector._reconcile_repository import (
    IMAGE_REPOSITORY,
    repository_reconciler,
    scan_change_key,
    scan_due,
)
from afflux.controllers.image_reflector._tagstore import TagStore
from afflux.controllers.runtime import (
    Environment,
    EventRecorder,
    GenericError,
    ObjectRef,
    Options,
    OutcomeKind,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
HOUR = 3600.0

# --- scan_due ------------------------------------------------------------------------------------

SCANNED = {"tagCount": 3, "scanTime": "2025-01-02T02:34:05Z"}  # 30 minutes before NOW
BASE: dict[str, Any] = {
    "generation": 2,
    "observed_generation": 2,
    "requested_at": None,
    "last_handled": None,
    "last_ready": True,
    "last_scan": SCANNED,
    "tags_stored": True,
    "canonical": "ghcr.io/org/app",
    "observed_canonical": "ghcr.io/org/app",
    "exclusion_list": ["^.*\\.sig$"],
    "observed_exclusion_list": ["^.*\\.sig$"],
    "interval": HOUR,
    "now": NOW,
}

SCAN_CASES = [
    pytest.param({}, False, "scanned recently", id="scanned-30m-ago-with-1h-interval-waits"),
    pytest.param({"generation": 3}, True, "new generation", id="spec-changed"),
    pytest.param({"requested_at": "r1"}, True, "reconcile requested", id="requested"),
    pytest.param(
        {"requested_at": "r1", "last_handled": "r1"},
        False,
        "scanned recently",
        id="request-already-handled",
    ),
    pytest.param({"last_scan": None}, True, "never scanned", id="never-scanned"),
    pytest.param({"last_ready": False}, True, "last attempt failed", id="retry-after-failure"),
    pytest.param(
        {"tags_stored": False}, True, "tags missing from the store", id="store-lost-the-tags"
    ),
    pytest.param(
        {"observed_canonical": "ghcr.io/org/old"}, True, "image changed", id="image-changed"
    ),
    pytest.param(
        {"exclusion_list": ["^.*\\.sig$", "^dev-"]},
        True,
        "exclusion list changed",
        id="exclusion-list-changed",
    ),
    pytest.param({"interval": 1200.0}, True, "interval elapsed", id="interval-elapsed"),
    pytest.param(
        {"interval": 1850.0, "tolerance": 0.05},
        True,
        "interval elapsed",
        id="jitter-brought-the-run-forward",
    ),
    pytest.param(
        {"last_scan": {"tagCount": 1, "scanTime": "garbage"}},
        True,
        "scan time unknown",
        id="unreadable-scan-time",
    ),
    pytest.param(
        {"now": NOW - timedelta(hours=2)}, True, "interval elapsed", id="clock-went-backwards"
    ),
]


@pytest.mark.parametrize(("changes", "scan", "why"), SCAN_CASES)
def test_scan_due(changes: dict[str, Any], scan: bool, why: str) -> None:
    decision = scan_due(**{**BASE, **changes})
    assert (decision.scan, decision.why) == (scan, why)


def test_a_skipped_scan_waits_for_the_rest_of_the_interval() -> None:
    assert scan_due(**BASE).wait == pytest.approx(1800.0)


def test_scan_change_key_follows_scan_result_and_image_only() -> None:
    body = {
        "metadata": {"name": "app", "generation": 1},
        "status": {"canonicalImageName": "x/y", "lastScanResult": dict(SCANNED)},
    }
    moved = {**body, "metadata": {"name": "app", "generation": 2}}
    rescanned = {
        **body,
        "status": {"canonicalImageName": "x/y", "lastScanResult": {**SCANNED, "tagCount": 4}},
    }
    assert scan_change_key(body) == scan_change_key(moved)
    assert scan_change_key(body) != scan_change_key(rescanned)


# --- small pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        pytest.param(None, "Latest image tag for 'ghcr.io/a' resolved to 1.1.0", id="first"),
        pytest.param("1.1.0", "Latest image tag for 'ghcr.io/a' resolved to 1.1.0", id="same"),
        pytest.param(
            "1.0.0", "Latest image tag for 'ghcr.io/a' updated from 1.0.0 to 1.1.0", id="updated"
        ),
    ],
)
def test_ready_message(previous: str | None, message: str) -> None:
    assert compose_ready_message("ghcr.io/a", "1.1.0", previous) == message


@pytest.mark.parametrize(
    ("selectors", "labels", "selected"),
    [
        pytest.param([], {"team": "a"}, False, id="no-selectors"),
        pytest.param([{"matchLabels": {}}], {"team": "a"}, True, id="empty-selects-all"),
        pytest.param([{}], {}, True, id="selector-without-matchLabels"),
        pytest.param([{"matchLabels": {"team": "a"}}], {"team": "a", "x": "y"}, True, id="match"),
        pytest.param([{"matchLabels": {"team": "b"}}], {"team": "a"}, False, id="other-value"),
        pytest.param(
            [{"matchLabels": {"team": "b"}}, {"matchLabels": {"env": "prod"}}],
            {"env": "prod"},
            True,
            id="any-selector",
        ),
    ],
)
def test_namespace_selected(
    selectors: list[dict[str, Any]], labels: dict[str, str], selected: bool
) -> None:
    assert namespace_selected(selectors, labels) is selected


def _policy_body(ns: str, name: str, repo: str, repo_ns: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": repo}
    if repo_ns:
        ref["namespace"] = repo_ns
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"imageRepositoryRef": ref}}


def test_policies_for_repository_follow_the_reference_namespace() -> None:
    policies = [
        _policy_body("apps", "a", "podinfo"),
        _policy_body("apps", "b", "other"),
        _policy_body("team", "c", "podinfo", "apps"),
        _policy_body("team", "d", "podinfo"),
    ]
    assert policies_for_repository("apps", "podinfo", policies) == [("apps", "a"), ("team", "c")]


@pytest.mark.parametrize(
    ("spec", "seconds"),
    [
        pytest.param({}, 600.0, id="default"),
        pytest.param({"digestReflectionPolicy": "IfNotPresent"}, 600.0, id="if-not-present"),
        pytest.param(
            {"digestReflectionPolicy": "Always", "interval": "1m"}, 60.0, id="always-interval"
        ),
        pytest.param({"digestReflectionPolicy": "Always"}, 600.0, id="always-default"),
    ],
)
def test_policy_interval(spec: dict[str, Any], seconds: float) -> None:
    assert policy_interval({"spec": spec}) == seconds


def _b64(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


@pytest.mark.parametrize(
    ("data", "url"),
    [
        ({"address": "http://proxy:3128"}, "http://proxy:3128"),
        ({"address": "http://proxy:3128", "username": "u", "password": "p@ss"},
         "http://u:p%40ss@proxy:3128"),
        ({"address": "https://old:x@proxy", "username": "u"}, "https://u@proxy"),
    ],
    ids=["address-only", "with-credentials", "replaces-userinfo"],
)
def test_proxy_url(data: dict[str, str], url: str) -> None:
    assert proxy_url(_b64(data)) == url


def test_proxy_url_needs_an_http_address_and_never_quotes_it() -> None:
    with pytest.raises(GenericError, match="invalid proxy address") as err:
        proxy_url(_b64({"address": "socks5://u:hunter2@proxy:1080"}))
    assert "hunter2" not in str(err.value)


# --- the ImagePolicy reconcile over fakes ---------------------------------------------------------

IMAGE = "registry.example.test/org/app"


class World:
    """A fake cluster with one scanned ImageRepository and a tag store."""

    def __init__(self, root: Path, tags: list[str] | None) -> None:
        self.kube = FakeKube()
        self.store = TagStore(root)
        self.scans: list[tuple[str, str]] = []
        self.kube.put(
            IMAGE_REPOSITORY,
            {
                "metadata": {"name": "app", "namespace": "apps"},
                "spec": {"image": IMAGE, "interval": "1h"},
                "status": {
                    "canonicalImageName": IMAGE,
                    "lastScanResult": {
                        "tagCount": len(tags or []),
                        "scanTime": "2025-01-01T00:00:00Z",
                    },
                },
            },
        )
        if tags is not None:
            self.store.set_tags("apps", "app", IMAGE, tags)
        self.kube.put(NAMESPACES, {"metadata": {"name": "team", "labels": {"tenant": "team"}}})

    def run(self, policy: dict[str, Any], **options: Any) -> tuple[Any, dict[str, Any]]:
        body = self.kube.put(IMAGE_POLICY, policy)
        env = Environment(
            kube=self.kube,
            recorder=EventRecorder(self.kube, "image-reflector-controller"),
            options=Options(name="image-reflector-controller", **options),
            now=lambda: datetime(2025, 1, 1, tzinfo=UTC),
        )
        reconciler = policy_reconciler(self.store, lambda ns, n: self.scans.append((ns, n)))
        result = asyncio.run(reconciler.reconcile(body, env))
        meta = body["metadata"]
        return result, self.kube.body(ObjectRef(IMAGE_POLICY, meta["namespace"], meta["name"]))

    def events(self) -> list[dict[str, Any]]:
        return [c[2] for c in self.kube.calls if c[0] == "create" and c[1].endswith("/events")]


def policy(
    rule: dict[str, Any] | None = None,
    namespace: str = "apps",
    status: dict[str, Any] | None = None,
    repo_ns: str | None = None,
) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": "app"}
    if repo_ns:
        ref["namespace"] = repo_ns
    body: dict[str, Any] = {
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"imageRepositoryRef": ref, "policy": rule or {"semver": {"range": "1.x"}}},
    }
    if status:
        body["status"] = status
    return body


def ready(body: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == "Ready")


def test_policy_reports_the_latest_tag_and_records_an_event(tmp_path: Path) -> None:
    world = World(tmp_path, ["1.0.0", "1.1.0", "2.0.0"])
    result, body = world.run(policy())
    assert result.kind is OutcomeKind.SUCCESS
    assert body["status"]["latestRef"] == {"name": IMAGE, "tag": "1.1.0"}
    assert body["status"]["latestImage"] == f"{IMAGE}:1.1.0"
    assert ready(body)["message"] == f"Latest image tag for '{IMAGE}' resolved to 1.1.0"
    assert [e["reason"] for e in world.events()] == ["Succeeded"]


def test_a_new_tag_moves_the_old_one_to_observed_previous(tmp_path: Path) -> None:
    world = World(tmp_path, ["1.0.0", "1.2.0"])
    old = {"latestRef": {"name": IMAGE, "tag": "1.0.0"}, "latestImage": f"{IMAGE}:1.0.0"}
    _, body = world.run(policy(status=old))
    status = body["status"]
    assert status["latestRef"]["tag"] == "1.2.0"
    assert status["observedPreviousRef"] == {"name": IMAGE, "tag": "1.0.0"}
    assert status["observedPreviousImage"] == f"{IMAGE}:1.0.0"
    assert ready(body)["message"] == f"Latest image tag for '{IMAGE}' updated from 1.0.0 to 1.2.0"


def test_a_later_reconcile_of_the_same_tag_says_resolved_not_updated(tmp_path: Path) -> None:
    world = World(tmp_path, ["6.0.0", "6.0.1"])
    old = {"latestRef": {"name": IMAGE, "tag": "6.0.0"}, "latestImage": f"{IMAGE}:6.0.0"}
    _, body = world.run(policy({"semver": {"range": "6.x"}}, status=old))
    assert ready(body)["message"] == f"Latest image tag for '{IMAGE}' updated from 6.0.0 to 6.0.1"
    events = len(world.events())
    _, again = world.run(policy({"semver": {"range": "6.x"}}, status=body["status"]))
    assert again["status"]["observedPreviousRef"] == {"name": IMAGE, "tag": "6.0.0"}  # kept
    assert ready(again)["message"] == f"Latest image tag for '{IMAGE}' resolved to 6.0.1"
    assert len(world.events()) == events  # nothing changed: no new event


def test_no_matching_tag_clears_the_latest_image(tmp_path: Path) -> None:
    world = World(tmp_path, ["1.0.0"])
    old = {"latestRef": {"name": IMAGE, "tag": "1.0.0"}, "latestImage": f"{IMAGE}:1.0.0"}
    result, body = world.run(policy({"semver": {"range": ">=5.0.0"}}, status=old))
    assert (result.kind, result.reason) == (OutcomeKind.FAILED, "Failure")
    assert "latestRef" not in body["status"] and "latestImage" not in body["status"]


def test_invalid_range_stalls(tmp_path: Path) -> None:
    result, _ = World(tmp_path, ["1.0.0"]).run(policy({"semver": {"range": "not a range"}}))
    assert (result.kind, result.reason) == (OutcomeKind.STALLED, "InvalidPolicy")


def test_tags_missing_from_the_store_ask_for_a_scan(tmp_path: Path) -> None:
    world = World(tmp_path, None)
    result, _ = world.run(policy())
    assert (result.kind, result.reason) == (OutcomeKind.WAITING, "DependencyNotReady")
    assert world.scans == [("apps", "app")]


def test_an_unscanned_repository_is_waited_for(tmp_path: Path) -> None:
    world = World(tmp_path, ["1.0.0"])
    repo = world.kube.body(ObjectRef(IMAGE_REPOSITORY, "apps", "app"))
    repo["status"] = {}
    world.kube.put(IMAGE_REPOSITORY, repo)
    result, _ = world.run(policy())
    assert (result.kind, result.reason) == (OutcomeKind.WAITING, "DependencyNotReady")
    assert "has not been scanned yet" in result.message


def test_cross_namespace_needs_access_from(tmp_path: Path) -> None:
    world = World(tmp_path, ["1.0.0"])
    result, _ = world.run(policy(namespace="team", repo_ns="apps"))
    assert (result.kind, result.reason) == (OutcomeKind.FAILED, "AccessDenied")
    assert "spec.accessFrom.namespaceSelectors" in result.message

    repo = world.kube.body(ObjectRef(IMAGE_REPOSITORY, "apps", "app"))
    repo["spec"]["accessFrom"] = {"namespaceSelectors": [{"matchLabels": {"tenant": "team"}}]}
    world.kube.put(IMAGE_REPOSITORY, repo)
    result, body = world.run(policy(namespace="team", repo_ns="apps"))
    assert result.kind is OutcomeKind.SUCCESS
    assert body["status"]["latestRef"]["tag"] == "1.0.0"

    result, _ = world.run(policy(namespace="team", repo_ns="apps"), no_cross_namespace_refs=True)
    assert (result.kind, result.reason) == (OutcomeKind.FAILED, "AccessDenied")
    assert "cross-namespace references have been blocked" in result.message


# --- registry access from Secrets -------------------------------------------------------------


def _dockerconfig(host: str, user: str, password: str) -> dict[str, str]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = json.dumps({"auths": {host: {"auth": auth}}}).encode()
    return {".dockerconfigjson": base64.b64encode(config).decode()}


def test_service_account_pull_secrets_give_credentials_when_secret_ref_is_absent() -> None:
    kube = FakeKube()
    kube.put(
        SERVICE_ACCOUNTS,
        {
            "metadata": {"name": "puller", "namespace": "apps"},
            "imagePullSecrets": [{"name": "missing"}, {"name": "other"}, {"name": "pull"}],
        },
    )
    kube.put(
        SECRETS,
        {
            "metadata": {"name": "other", "namespace": "apps"},
            "data": _dockerconfig("elsewhere.test", "x", "y"),
        },
    )
    kube.put(
        SECRETS,
        {
            "metadata": {"name": "pull", "namespace": "apps"},
            "data": _dockerconfig("registry.example.test", "bot", "s3cret"),
        },
    )
    repo = ImageRepository.from_dict(
        {
            "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"image": IMAGE, "interval": "5m", "serviceAccountName": "puller"},
        }
    )
    access = asyncio.run(registry_access(SimpleNamespace(kube=kube), repo))  # type: ignore[arg-type]
    assert access.credentials is not None
    assert (access.credentials.username, access.credentials.password) == ("bot", "s3cret")
    assert access.timeout == 300.0


def test_a_cloud_provider_stalls_with_what_to_do(tmp_path: Path) -> None:
    kube = FakeKube()
    body = kube.put(
        IMAGE_REPOSITORY,
        {
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"image": IMAGE, "interval": "1h", "provider": "aws"},
        },
    )
    env = Environment(
        kube=kube,
        recorder=EventRecorder(kube, "image-reflector-controller"),
        options=Options(name="image-reflector-controller"),
    )
    result = asyncio.run(repository_reconciler(TagStore(tmp_path)).reconcile(body, env))
    assert (result.kind, result.reason) == (OutcomeKind.STALLED, "AuthenticationFailed")
    assert "spec.provider 'aws' is not supported" in result.message
