"""Helm's release records as helm-controller reads them, and the status snapshots of them. Pure.

Helm (the `secret` storage driver, its default) keeps each revision of a release in a Secret
`sh.helm.release.v1.<name>.v<revision>` of type `helm.sh/release.v1` in the storage
namespace, labelled `owner=helm`, `name=<name>`, `status=<status>`, `version=<revision>`.
Its `data.release` is base64 (Helm's own, inside the Secret's) of the gzipped JSON of the
release: name, namespace, version, info (status, first/last deployed, deleted, description),
chart (metadata, templates, values), config (the values given), manifest and hooks. Helm 4
writes the same records, with one more field, `apply_method` (`ssa` or `csa`), and reads
Helm 3's (no `apply_method`: client-side), so each engine takes over the other's releases.

`decode_record` and `encode_record` turn that into a dict and back; `ReleaseInfo` is what the
planner and the status need of one record; its `digest` is the `<algorithm>:<hex>` of the
release JSON (sha256 unless `--snapshot-digest-algo` says sha384, sha512 or blake3), what
Flux writes as a snapshot's digest and compares to tell whether the latest release is still
the one it made (`has_digest`: with the algorithm the snapshot's digest names, so snapshots
written before the algorithm changed still match). `snapshot` makes a `status.history[]` entry, `truncate_history` keeps
the latest snapshot and the ones back to the previous successful release.

When a wait fails, Helm leaves the records as they were before the action but for the new
one, `failed` (upgrade: `Upgrade "<name>" failed: <error>`; install and rollback:
`Release "<name>" failed: <error>`): it supersedes the previous release (an upgrade) or
every deployed one (a rollback) only once the wait and the post-* hooks passed. Under the
poller helm has finished, and superseded them, before afflux's poll fails:
`wait_failure_statuses` says which records to give back their status, and
`wait_failure_description` what Helm writes on the failed one.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from afflux.api import digest_bytes, parse_digest

from ._values import config_digest

__all__ = [
    "PENDING_STATUSES",
    "RECORD_TYPE",
    "SUCCESSFUL_STATUSES",
    "ReleaseInfo",
    "decode_record",
    "encode_record",
    "latest_release",
    "record_selector",
    "snapshot",
    "truncate_history",
    "wait_failure_description",
    "wait_failure_statuses",
]

RECORD_TYPE = "helm.sh/release.v1"
_GZIP_MAGIC = b"\x1f\x8b\x08"
#: A release record is at most 1 MiB (a Secret's limit); unzipped, this is plenty.
MAX_RECORD_BYTES = 32 << 20

PENDING_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
SUCCESSFUL_STATUSES = frozenset({"deployed", "superseded"})
ABSENT_STATUSES = frozenset({"uninstalled", "uninstalling"})


class RecordError(ValueError):
    """A release record that cannot be read."""


def record_selector(release_name: str) -> str:
    """The label selector of every record of one release."""
    return f"owner=helm,name={release_name}"


def decode_record(secret: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """(release dict, its JSON bytes) from a storage Secret body."""
    data = (secret.get("data") or {}).get("release")
    if not data:
        raise RecordError("the release record has no data.release")
    try:
        raw = base64.b64decode(base64.b64decode(data))
        if raw[:3] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
                raw = unzipped.read(MAX_RECORD_BYTES + 1)
            if len(raw) > MAX_RECORD_BYTES:
                raise RecordError("the release record is too large")
        release = json.loads(raw)
    except (ValueError, OSError, EOFError) as err:
        raise RecordError(f"the release record cannot be decoded: {err}") from None
    if not isinstance(release, dict):
        raise RecordError("the release record is not a JSON object")
    return release, raw


def encode_record(release: Mapping[str, Any]) -> str:
    """The `data.release` value (Kubernetes base64 of Helm's base64 of gzipped JSON)."""
    raw = json.dumps(release, separators=(",", ":")).encode()
    helm_b64 = base64.b64encode(gzip.compress(raw))
    return base64.b64encode(helm_b64).decode()


@dataclass(frozen=True)
class ReleaseInfo:
    """One release revision, as read from its record."""

    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    config: Mapping[str, Any]
    digest: str
    first_deployed: str = ""
    last_deployed: str = ""
    deleted: str = ""
    description: str = ""
    test_hooks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    manifest: str = field(default="", repr=False)  # the rendered (post-rendered) objects
    apply_method: str = ""  # Helm 4's: "ssa" (server-side) or "csa"; "" from Helm 3
    raw: bytes = field(default=b"", repr=False, compare=False)  # the release JSON

    @classmethod
    def from_record(cls, release: Mapping[str, Any], raw: bytes,
                    algorithm: str = "sha256") -> ReleaseInfo:
        info = release.get("info") or {}
        meta = (release.get("chart") or {}).get("metadata") or {}
        tests: dict[str, dict[str, str]] = {}
        for hook in release.get("hooks") or ():
            if "test" not in (hook.get("events") or ()):
                continue
            run = hook.get("last_run") or {}
            entry = {k: v for k, v in (("lastStarted", run.get("started_at")),
                                       ("lastCompleted", run.get("completed_at")),
                                       ("phase", run.get("phase"))) if v and not
                     str(v).startswith("0001-")}
            tests[str(hook.get("name"))] = entry
        return cls(
            name=str(release.get("name") or ""),
            namespace=str(release.get("namespace") or ""),
            version=int(release.get("version") or 0),
            status=str(info.get("status") or "unknown"),
            chart_name=str(meta.get("name") or ""),
            chart_version=str(meta.get("version") or ""),
            app_version=str(meta.get("appVersion") or ""),
            config=release.get("config") or {},
            digest=digest_bytes(raw, algorithm),
            first_deployed=str(info.get("first_deployed") or ""),
            last_deployed=str(info.get("last_deployed") or ""),
            deleted=str(info.get("deleted") or ""),
            description=str(info.get("description") or ""),
            test_hooks=tests,
            manifest=str(release.get("manifest") or ""),
            apply_method=str(release.get("apply_method") or ""),
            raw=raw,
        )

    def has_digest(self, digest: object) -> bool:
        """Whether `digest` (a snapshot's) is this record's, in the algorithm it names."""
        if not isinstance(digest, str) or not digest:
            return False
        if digest == self.digest:
            return True
        try:
            algorithm = parse_digest(digest)[0]
        except ValueError:
            return False
        return bool(self.raw) and digest_bytes(self.raw, algorithm) == digest.lower()

    @property
    def config_digest(self) -> str:
        return config_digest(self.config)

    @property
    def ref(self) -> str:
        """`<namespace>/<name>.v<version>`, as Flux's messages name a release."""
        return f"{self.namespace}/{self.name}.v{self.version}"

    @property
    def chart(self) -> str:
        return f"{self.chart_name}@{self.chart_version}"

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def absent(self) -> bool:
        return self.status in ABSENT_STATUSES

    @property
    def tests_ran(self) -> bool:
        return any(t.get("phase") for t in self.test_hooks.values())

    @property
    def tests_failed(self) -> bool:
        return any(t.get("phase") == "Failed" for t in self.test_hooks.values())


def latest_release(records: Sequence[ReleaseInfo]) -> ReleaseInfo | None:
    """The highest revision."""
    return max(records, key=lambda r: r.version, default=None)


def _go_time(text: str) -> str:
    """Helm's RFC 3339 with nanoseconds -> the seconds precision Kubernetes date-times use."""
    if not text or text.startswith("0001-"):
        return ""
    head, _, rest = text.partition(".")
    if not rest:
        return text
    zone = rest.lstrip("0123456789")
    return head + (zone if zone else "Z")


def snapshot(release: ReleaseInfo, *, oci_digest: str | None = None) -> dict[str, Any]:
    """The `status.history[]` entry (Flux's Snapshot) of a release."""
    snap: dict[str, Any] = {
        "apiVersion": "v2",
        "name": release.name,
        "namespace": release.namespace,
        "version": release.version,
        "status": release.status,
        "chartName": release.chart_name,
        "chartVersion": release.chart_version,
        "configDigest": release.config_digest,
        "digest": release.digest,
        "firstDeployed": _go_time(release.first_deployed),
        "lastDeployed": _go_time(release.last_deployed),
    }
    if release.app_version:
        snap["appVersion"] = release.app_version
    if _go_time(release.deleted):
        snap["deleted"] = _go_time(release.deleted)
    ran = {name: hook for name, hook in release.test_hooks.items() if hook.get("phase")}
    if ran:  # the tests that ran (none: not tested, or tested with every test filtered out)
        snap["testHooks"] = {name: {k: (_go_time(v) if k != "phase" else v)
                                    for k, v in hook.items()}
                             for name, hook in ran.items()}
    if oci_digest:
        snap["ociDigest"] = oci_digest
    return snap


def truncate_history(history: Sequence[Mapping[str, Any]], max_history: int
                     ) -> list[dict[str, Any]]:
    """The latest snapshot and the ones back to (and with) the previous successful one,
    at most `max_history` (0: no cap) entries."""
    kept: list[dict[str, Any]] = []
    for i, snap in enumerate(history):
        kept.append(dict(snap))
        if i > 0 and snap.get("status") in SUCCESSFUL_STATUSES:
            break
    if max_history > 0:
        kept = kept[:max(max_history, 1)]
    return kept


def wait_failure_statuses(before: Mapping[int, str], after: Sequence[ReleaseInfo],
                          failed: int) -> dict[int, str]:
    """{revision: status} of the records that the action of revision `failed` superseded
    (`before`: each revision's status before it; `after`: the records once it ran), to be
    given back their status because its wait failed (module docstring)."""
    return {r.version: before[r.version] for r in after
            if r.version != failed and r.status == "superseded"
            and before.get(r.version, "superseded") != "superseded"}


def wait_failure_description(verb: str, name: str, error: str) -> str:
    """What Helm writes in `info.description` of a release whose wait failed; `verb` is
    install, upgrade or rollback."""
    what = "Upgrade" if verb == "upgrade" else "Release"
    return f'{what} "{name}" failed: {error}'
