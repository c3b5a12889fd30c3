"""Status bookkeeping of a HelmRelease: messages, history upkeep, failure counters. Pure.

- Messages are Flux's (`flux get hr` users know them): "Helm install succeeded for release
  <ns>/<name>.v<N> with chart <chart>@<version>", "Helm upgrade failed for release
  <ns>/<name> with chart <chart>@<version>: <helm's error>", "Helm rollback to previous
  release <ns>/<name>.v<N> with chart <chart>@<version> succeeded", ...
- `record_snapshot` puts the snapshot of the latest release first in `status.history` (the
  same revision is replaced: a test run or an unlock changes a record in place; the
  snapshot says which action made it, Flux's `action`: install, upgrade, rollback,
  uninstall or uninstall-remediation) and keeps
  what `truncate_history` keeps; `refresh_statuses` copies the statuses Helm changed since
  (deployed -> superseded) into older snapshots.
- `counters_reset` says when `failures`, `installFailures` and `upgradeFailures` start from
  zero: a new generation, chart version or values digest than the last attempt's, or a
  `resetAt` request not handled yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._release import ReleaseInfo, snapshot, truncate_history

__all__ = [
    "counters_reset",
    "failure_message",
    "record_snapshot",
    "refresh_statuses",
    "rollback_message",
    "success_message",
    "test_message",
    "uninstall_message",
]


def success_message(verb: str, release: ReleaseInfo) -> str:
    """`verb` is install or upgrade."""
    return f"Helm {verb} succeeded for release {release.ref} with chart {release.chart}"


def failure_message(verb: str, namespace: str, name: str, chart: str, error: str) -> str:
    return f"Helm {verb} failed for release {namespace}/{name} with chart {chart}: {error}"


def test_message(release: ReleaseInfo, error: str | None = None) -> str:
    if error is not None:
        return (f"Helm test failed for release {release.ref} with chart {release.chart}: "
                f"{error}")
    count = len(release.test_hooks)
    detail = (f"{count} test hook{'s' if count != 1 else ''} completed successfully" if count
              else "no test hooks")
    return f"Helm test succeeded for release {release.ref} with chart {release.chart}: {detail}"


def rollback_message(release: ReleaseInfo, error: str | None = None) -> str:
    if error is not None:
        return (f"Helm rollback to previous release {release.namespace}/{release.name} failed: "
                f"{error}")
    return (f"Helm rollback to previous release {release.ref} with chart {release.chart} "
            "succeeded")


def uninstall_message(release: ReleaseInfo, error: str | None = None) -> str:
    if error is not None:
        return f"Helm uninstall failed for release {release.ref}: {error}"
    return f"Helm uninstall succeeded for release {release.ref} with chart {release.chart}"


def record_snapshot(history: Sequence[Mapping[str, Any]], release: ReleaseInfo,
                    max_history: int, *, oci_digest: str | None = None,
                    action: str | None = None) -> list[dict[str, Any]]:
    """`history` with the snapshot of `release` first (module docstring); `action` is the
    action that made it (None: the same revision's snapshot keeps its own)."""
    snap = snapshot(release, oci_digest=oci_digest)
    if action:
        snap["action"] = action
    rest = [dict(h) for h in history]
    if rest and (rest[0].get("name"), rest[0].get("namespace"), rest[0].get("version")) == (
            release.name, release.namespace, release.version):
        if oci_digest is None and rest[0].get("ociDigest"):
            snap["ociDigest"] = rest[0]["ociDigest"]
        if action is None and rest[0].get("action"):
            snap["action"] = rest[0]["action"]
        if "testHooks" not in snap and "testHooks" in rest[0]:
            snap["testHooks"] = rest[0]["testHooks"]  # tested, with no test run
        rest = rest[1:]
    return truncate_history([snap, *rest], max_history)


def refresh_statuses(history: Sequence[Mapping[str, Any]], records: Sequence[ReleaseInfo]
                     ) -> list[dict[str, Any]]:
    """`history` with each snapshot's status as its record says now (pure)."""
    by_key = {(r.name, r.namespace, r.version): r for r in records}
    result = []
    for snap in history:
        snap = dict(snap)
        record = by_key.get((snap.get("name"), snap.get("namespace"), snap.get("version")))
        if record is not None:
            snap["status"] = record.status
        result.append(snap)
    return result


def counters_reset(last: Mapping[str, Any], *, generation: int | None, revision: str,
                   config_digest: str, reset_requested: bool) -> bool:
    """Whether the failure counters start again (module docstring). `last` is the status
    as the run found it."""
    return (reset_requested
            or last.get("lastAttemptedGeneration") != generation
            or last.get("lastAttemptedRevision") != revision
            or last.get("lastAttemptedConfigDigest") != config_digest)
