"""Names Flux derives from other names: inventory ids, artifact paths and URLs, Helm release
names, HelmChart names, Receiver webhook paths.

Other tools read these strings (the `flux` CLI reads inventories, `helm` lists releases by
name), so each follows Flux's rule exactly. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath

__all__ = [
    "HELM_RELEASE_NAME_MAX",
    "ObjectRef",
    "artifact_dir",
    "artifact_path",
    "artifact_url",
    "helm_chart_name",
    "helm_release_name",
    "inventory_id",
    "parse_inventory_id",
    "receiver_webhook_path",
    "storage_host",
]

#: Helm refuses release names longer than this.
HELM_RELEASE_NAME_MAX = 53
_RELEASE_PREFIX = 40
_RELEASE_HASH = 12


@dataclasses.dataclass(frozen=True, order=True)
class ObjectRef:
    """The identity of an applied object: namespace ('' when cluster-scoped), name, API group
    ('' for the core group) and kind. `version` is carried along but is not part of the id."""

    namespace: str
    name: str
    group: str
    kind: str
    version: str = dataclasses.field(default="", compare=False)

    @property
    def id(self) -> str:
        """The inventory id, `<namespace>_<name>_<group>_<kind>`."""
        return inventory_id(self.namespace, self.name, self.group, self.kind)

    @property
    def api_version(self) -> str:
        """`group/version`, or just the version for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def from_object(cls, obj: dict) -> ObjectRef:
        """The reference of a Kubernetes object given as a dict (apiVersion, kind, metadata)."""
        group, _, version = obj.get("apiVersion", "").rpartition("/")
        meta = obj.get("metadata") or {}
        return cls(meta.get("namespace") or "", meta["name"], group, obj["kind"], version)


def inventory_id(namespace: str | None, name: str, group: str | None, kind: str) -> str:
    """`default`, `podinfo`, `apps`, `Deployment` -> `default_podinfo_apps_Deployment`.

    The core group and cluster scope are empty fields (`default_podinfo__Service`,
    `_podinfo__Namespace`). A `:` in a name (RBAC objects such as `system:viewers`) is written
    as `__`, the way the inventory format has always encoded it.
    """
    if not name or not kind:
        raise ValueError(f"an inventory id needs a name and a kind, got {name!r}, {kind!r}")
    return "_".join((namespace or "", name.replace(":", "__"), group or "", kind))


def parse_inventory_id(entry_id: str, version: str = "") -> ObjectRef:
    """The inverse of :func:`inventory_id`; `version` is the entry's `v` field, if known."""
    parts = entry_id.split("_")
    if len(parts) < 4 or not parts[-1] or not "".join(parts[1:-2]):
        raise ValueError(f"inventory id {entry_id!r} is not '<namespace>_<name>_<group>_<kind>'")
    name = "_".join(parts[1:-2]).replace("__", ":")
    return ObjectRef(parts[0], name, parts[-2], parts[-1], version)


# --- artifacts --------------------------------------------------------------------------------


def artifact_dir(kind: str, namespace: str, name: str) -> str:
    """`GitRepository`, `flux-system`, `podinfo` -> `gitrepository/flux-system/podinfo`."""
    return posixpath.join(kind.lower(), namespace, name)


def artifact_path(kind: str, namespace: str, name: str, filename: str) -> str:
    """`<kind-lower>/<namespace>/<name>/<file>`, relative to the storage root."""
    if "/" in filename or filename in ("", ".", ".."):
        raise ValueError(f"artifact file name must be a plain file name, got {filename!r}")
    return posixpath.join(artifact_dir(kind, namespace, name), filename)


def storage_host(controller_namespace: str, service: str = "source-controller") -> str:
    """The advertised storage address inside the cluster:
    `source-controller.<ns>.svc.cluster.local.` (fully qualified, trailing dot)."""
    return f"{service}.{controller_namespace}.svc.cluster.local."


def artifact_url(host: str, path: str) -> str:
    """`http://<host>/<path>`; `host` may carry a port (`localhost:9090`)."""
    host = host.removeprefix("http://").rstrip("/")
    return f"http://{host}/{path.lstrip('/')}"


# --- helm ---------------------------------------------------------------------------------------


def helm_release_name(
    name: str, target_namespace: str | None = None, release_name: str | None = None
) -> str:
    """The Helm release name of a HelmRelease.

    `spec.releaseName` when set; otherwise `[<targetNamespace>-]<name>`. A composition longer
    than 53 characters (Helm's limit) is shortened to its first 40 characters, a dash, and the
    first 12 hex characters of the SHA-256 of the full composition.
    """
    if release_name:
        return release_name
    composed = f"{target_namespace}-{name}" if target_namespace else name
    if len(composed) <= HELM_RELEASE_NAME_MAX:
        return composed
    digest = hashlib.sha256(composed.encode()).hexdigest()
    return f"{composed[:_RELEASE_PREFIX]}-{digest[:_RELEASE_HASH]}"


def helm_chart_name(release_namespace: str, release_name: str) -> str:
    """The HelmChart helm-controller creates for a HelmRelease's `spec.chart`:
    `<HelmRelease namespace>-<HelmRelease name>` (created in the source's namespace)."""
    return f"{release_namespace}-{release_name}"


# --- notification -------------------------------------------------------------------------------


def receiver_webhook_path(token: str, name: str, namespace: str) -> str:
    """A Receiver's `status.webhookPath`: `/hook/` + hex SHA-256 of token + name + namespace."""
    return "/hook/" + hashlib.sha256((token + name + namespace).encode()).hexdigest()
