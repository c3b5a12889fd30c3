"""Helm release records, history snapshots, status messages and helm command lines."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest

from afflux.controllers.helm._args import (
    install_args,
    rollback_args,
    uninstall_args,
    upgrade_args,
)
from afflux.controllers.helm._args import (
    test_args as helm_test_args,
)
from afflux.controllers.helm._release import (
    RecordError,
    ReleaseInfo,
    decode_record,
    encode_record,
    snapshot,
    truncate_history,
    wait_failure_description,
    wait_failure_statuses,
)
from afflux.controllers.helm._status import (
    counters_reset,
    failure_message,
    record_snapshot,
    refresh_statuses,
    rollback_message,
    success_message,
    uninstall_message,
)
from afflux.controllers.helm._status import (
    test_message as helm_test_message,
)

from .objects import helm_release

RELEASE = {
    "name": "web", "namespace": "apps", "version": 3,
    "info": {"status": "deployed", "first_deployed": "2024-05-01T10:00:00.123456789Z",
             "last_deployed": "2024-05-02T11:30:00.5+02:00", "deleted": "",
             "description": "Upgrade complete"},
    "chart": {"metadata": {"name": "podinfo", "version": "6.5.0", "appVersion": "6.5.0"}},
    "config": {"replicas": 2},
    "hooks": [
        {"name": "web-test", "events": ["test"],
         "last_run": {"started_at": "2024-05-02T11:31:00.1Z", "completed_at":
                      "2024-05-02T11:31:05.2Z", "phase": "Succeeded"}},
        {"name": "web-pre", "events": ["pre-upgrade"], "last_run": {"phase": "Succeeded"}},
    ],
}


def secret(release: dict[str, Any], *, zipped: bool = True) -> dict[str, Any]:
    raw = json.dumps(release).encode()
    helm = base64.b64encode(gzip.compress(raw) if zipped else raw)
    return {"data": {"release": base64.b64encode(helm).decode()}}


@pytest.mark.parametrize("zipped", [True, False], ids=["gzipped", "plain json"])
def test_decode_record_and_digest(zipped: bool) -> None:
    release, raw = decode_record(secret(RELEASE, zipped=zipped))
    assert release == RELEASE
    info = ReleaseInfo.from_record(release, raw)
    assert info.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (info.ref, info.chart, info.status, info.tests_ran, info.tests_failed) == (
        "apps/web.v3", "podinfo@6.5.0", "deployed", True, False)
    assert list(info.test_hooks) == ["web-test"]


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "blake3"])
def test_snapshot_digest_algorithm(algorithm: str) -> None:
    """--snapshot-digest-algo: the snapshot's digest is of that algorithm; a snapshot written
    with another one still matches the record (and a different record does not)."""
    import blake3

    release, raw = decode_record(secret(RELEASE))
    info = ReleaseInfo.from_record(release, raw, algorithm)
    h = blake3.blake3(raw) if algorithm == "blake3" else hashlib.new(algorithm, raw)
    assert info.digest == f"{algorithm}:{h.hexdigest()}"
    assert snapshot(info)["digest"] == info.digest
    for other in ("sha256", "sha512", "blake3"):
        assert info.has_digest(ReleaseInfo.from_record(release, raw, other).digest)
    changed = dict(RELEASE, version=4)
    _, raw4 = decode_record(secret(changed))
    assert not info.has_digest(ReleaseInfo.from_record(changed, raw4, "sha512").digest)
    assert not info.has_digest("md5:" + "0" * 32) and not info.has_digest(None)


def test_encode_record_round_trips() -> None:
    release, _ = decode_record({"data": {"release": encode_record(RELEASE)}})
    assert release == RELEASE


@pytest.mark.parametrize("body", [{}, {"data": {"release": "bm90IGJhc2U2NA=="}}],
                         ids=["no data", "not a record"])
def test_decode_record_errors(body: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        decode_record(body)


def info(version: int = 3, status: str = "deployed") -> ReleaseInfo:
    release = {**RELEASE, "version": version, "info": {**RELEASE["info"], "status": status}}
    return ReleaseInfo.from_record(release, json.dumps(release).encode())


def test_snapshot_is_fluxs_format() -> None:
    snap = snapshot(info(), oci_digest="sha256:abc")
    assert snap == {
        "apiVersion": "v2", "name": "web", "namespace": "apps", "version": 3,
        "status": "deployed", "chartName": "podinfo", "chartVersion": "6.5.0",
        "appVersion": "6.5.0", "configDigest": snap["configDigest"], "digest": info().digest,
        "firstDeployed": "2024-05-01T10:00:00Z", "lastDeployed": "2024-05-02T11:30:00+02:00",
        "testHooks": {"web-test": {"lastStarted": "2024-05-02T11:31:00Z",
                                   "lastCompleted": "2024-05-02T11:31:05Z",
                                   "phase": "Succeeded"}},
        "ociDigest": "sha256:abc"}


def snaps(*statuses: str) -> list[dict[str, Any]]:
    return [{"version": 10 - i, "status": s} for i, s in enumerate(statuses)]


TRUNCATE_CASES = [
    ("latest only", snaps("deployed"), 5, ["deployed"]),
    ("back to the previous success", snaps("deployed", "superseded", "superseded"), 5,
     ["deployed", "superseded"]),
    ("failures kept until a success", snaps("failed", "failed", "superseded", "superseded"), 5,
     ["failed", "failed", "superseded"]),
    ("capped by maxHistory", snaps("failed", "failed", "failed", "deployed"), 2,
     ["failed", "failed"]),
    ("maxHistory 0 is no cap", snaps("failed", "failed", "failed", "deployed"), 0,
     ["failed", "failed", "failed", "deployed"]),
]


@pytest.mark.parametrize(("history", "max_history", "expected"),
                         [c[1:] for c in TRUNCATE_CASES], ids=[c[0] for c in TRUNCATE_CASES])
def test_truncate_history(history: list[dict[str, Any]], max_history: int,
                          expected: list[str]) -> None:
    assert [s["status"] for s in truncate_history(history, max_history)] == expected


def test_record_snapshot_replaces_the_same_revision_and_prepends_a_new_one() -> None:
    first = record_snapshot([], info(1), 5)
    again = record_snapshot(first, info(1, "failed"), 5)
    assert [(s["version"], s["status"]) for s in again] == [(1, "failed")]
    newer = record_snapshot(record_snapshot([], info(1), 5), info(2), 5)
    assert [s["version"] for s in newer] == [2, 1]
    refreshed = refresh_statuses(newer, [info(1, "superseded"), info(2)])
    assert [s["status"] for s in refreshed] == ["deployed", "superseded"]


def test_record_snapshot_keeps_the_mark_of_a_test_run_that_ran_no_test() -> None:
    one, two = (replace(info(v), test_hooks={"web-test": {}}) for v in (1, 2))  # none ran
    assert "testHooks" not in record_snapshot([], one, 5)[0]
    tested = [{**record_snapshot([], one, 5)[0], "testHooks": {}}]
    assert record_snapshot(tested, one, 5)[0]["testHooks"] == {}
    assert "testHooks" not in record_snapshot(tested, two, 5)[0]


def records(*statuses: str) -> list[ReleaseInfo]:
    """Revisions 1.. with `statuses`."""
    return [info(v, s) for v, s in enumerate(statuses, start=1)]


WAIT_FAILURE_CASES = [
    # (id, statuses before the action, records after helm ran it, its revision, expected)
    ("upgrade: the deployed release it superseded is deployed again",
     {1: "superseded", 2: "deployed"}, records("superseded", "superseded", "deployed"), 3,
     {2: "deployed"}),
    ("upgrade of a failed release: it is failed again", {1: "failed"},
     records("superseded", "deployed"), 2, {1: "failed"}),
    ("rollback: every deployed release it superseded is deployed again",
     {1: "superseded", 2: "deployed", 3: "failed"},
     records("superseded", "superseded", "failed", "deployed"), 4, {2: "deployed"}),
    ("install: nothing before it", {}, records("deployed"), 1, {}),
    ("install replacing an uninstalled release: left as it is", {1: "uninstalled"},
     records("uninstalled", "deployed"), 2, {}),
    ("nothing superseded: nothing to give back", {1: "deployed"},
     records("deployed", "deployed"), 2, {}),
]


@pytest.mark.parametrize(("before", "after", "failed", "expected"),
                         [c[1:] for c in WAIT_FAILURE_CASES],
                         ids=[c[0] for c in WAIT_FAILURE_CASES])
def test_wait_failure_statuses_are_the_ones_before_the_action(
        before: dict[int, str], after: list[ReleaseInfo], failed: int,
        expected: dict[int, str]) -> None:
    assert wait_failure_statuses(before, after, failed) == expected


@pytest.mark.parametrize(("verb", "expected"), [
    ("upgrade", 'Upgrade "web" failed: context deadline exceeded'),
    ("install", 'Release "web" failed: context deadline exceeded'),
    ("rollback", 'Release "web" failed: context deadline exceeded'),
], ids=["upgrade", "install", "rollback"])
def test_wait_failure_description_is_helms(verb: str, expected: str) -> None:
    assert wait_failure_description(verb, "web", "context deadline exceeded") == expected


MESSAGE_CASES = [
    ("install succeeded", success_message("install", info(1)),
     "Helm install succeeded for release apps/web.v1 with chart podinfo@6.5.0"),
    ("upgrade failed", failure_message("upgrade", "apps", "web", "podinfo@6.5.0", "boom"),
     "Helm upgrade failed for release apps/web with chart podinfo@6.5.0: boom"),
    ("test succeeded", helm_test_message(info()),
     "Helm test succeeded for release apps/web.v3 with chart podinfo@6.5.0: "
     "1 test hook completed successfully"),
    ("test failed", helm_test_message(info(), "pod web-test failed"),
     "Helm test failed for release apps/web.v3 with chart podinfo@6.5.0: pod web-test failed"),
    ("rollback succeeded", rollback_message(info(4)),
     "Helm rollback to previous release apps/web.v4 with chart podinfo@6.5.0 succeeded"),
    ("uninstall succeeded", uninstall_message(info()),
     "Helm uninstall succeeded for release apps/web.v3 with chart podinfo@6.5.0"),
]


@pytest.mark.parametrize(("message", "expected"), [c[1:] for c in MESSAGE_CASES],
                         ids=[c[0] for c in MESSAGE_CASES])
def test_messages(message: str, expected: str) -> None:
    assert message == expected


LAST = {"lastAttemptedGeneration": 2, "lastAttemptedRevision": "1.0.0",
        "lastAttemptedConfigDigest": "sha256:a"}
RESET_CASES = [
    ("same attempt keeps counting", dict(generation=2, revision="1.0.0",
                                          config_digest="sha256:a", reset_requested=False), False),
    ("new generation", dict(generation=3, revision="1.0.0", config_digest="sha256:a",
                            reset_requested=False), True),
    ("new chart version", dict(generation=2, revision="1.1.0", config_digest="sha256:a",
                               reset_requested=False), True),
    ("new values", dict(generation=2, revision="1.0.0", config_digest="sha256:b",
                        reset_requested=False), True),
    ("resetAt", dict(generation=2, revision="1.0.0", config_digest="sha256:a",
                     reset_requested=True), True),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in RESET_CASES],
                         ids=[c[0] for c in RESET_CASES])
def test_counters_reset(kwargs: dict[str, Any], expected: bool) -> None:
    assert counters_reset(LAST, **kwargs) is expected


ARGS_CASES = [
    ("install defaults", install_args(helm_release({}), "/c", "/v"),
     (["install", "web", "/c", "--values", "/v", "--timeout", "300s", "--wait",
       "--wait-for-jobs", "--take-ownership"], 300.0)),
    ("install options", install_args(helm_release({"timeout": "1m", "install": {
        "disableWaitForJobs": True, "createNamespace": True, "crds": "Skip",
        "disableHooks": True, "replace": True}}), "/c", "/v", ["--post-renderer", "/p"]),
     (["install", "web", "/c", "--values", "/v", "--timeout", "60s", "--wait", "--no-hooks",
       "--take-ownership", "--post-renderer", "/p", "--create-namespace", "--replace",
       "--skip-crds"], 60.0)),
    ("upgrade options", upgrade_args(helm_release({"maxHistory": 0, "targetNamespace": "t", "upgrade": {
        "timeout": "2m", "disableWait": True, "force": True, "preserveValues": True,
        "cleanupOnFail": True}}), "/c", "/v"),
     (["upgrade", "t-web", "/c", "--values", "/v", "--timeout", "120s", "--history-max", "0",
       "--take-ownership", "--reuse-values", "--force", "--cleanup-on-fail"], 120.0)),
    ("schema validation off, ownership not taken",
     upgrade_args(helm_release({"upgrade": {"disableSchemaValidation": True,
                                            "disableTakeOwnership": True}}), "/c", "/v"),
     (["upgrade", "web", "/c", "--values", "/v", "--timeout", "300s", "--history-max", "5",
       "--wait", "--wait-for-jobs", "--skip-schema-validation", "--reset-values"], 300.0)),
    ("the poller leaves waiting to the release phase",
     install_args(helm_release({"waitStrategy": {"name": "poller"}}), "/c", "/v"),
     (["install", "web", "/c", "--values", "/v", "--timeout", "300s", "--take-ownership"],
      300.0)),
    ("install without schema validation",
     install_args(helm_release({"install": {"disableSchemaValidation": True}}), "/c", "/v"),
     (["install", "web", "/c", "--values", "/v", "--timeout", "300s", "--wait",
       "--wait-for-jobs", "--skip-schema-validation", "--take-ownership"], 300.0)),
    ("rollback", rollback_args(helm_release({"rollback": {"recreate": True}}), 2),
     (["rollback", "web", "2", "--timeout", "300s", "--history-max", "5", "--wait",
       "--wait-for-jobs", "--recreate-pods"], 300.0)),
    ("uninstall", uninstall_args(helm_release({"uninstall": {"keepHistory": True,
                                                   "deletionPropagation": "foreground"}})),
     (["uninstall", "web", "--timeout", "300s", "--cascade", "foreground", "--wait",
       "--keep-history"], 300.0)),
    ("test filters", helm_test_args(helm_release({"test": {"enable": True, "filters": [
        {"name": "a"}, {"name": "b", "exclude": True}]}})),
     (["test", "web", "--timeout", "300s", "--filter", "name=a", "--filter", "!name=b"],
      300.0)),
]


@pytest.mark.parametrize(("got", "expected"), [c[1:] for c in ARGS_CASES],
                         ids=[c[0] for c in ARGS_CASES])
def test_helm_command_lines(got: tuple[list[str], float],
                            expected: tuple[list[str], float]) -> None:
    assert got == expected
