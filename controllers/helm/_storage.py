"""`spec.storageNamespace`: Helm's release records kept apart from the release's objects.

Flux keeps a release's records (the Secrets `sh.helm.release.v1.<name>.v<N>`) in the storage
namespace, `spec.storageNamespace` or else the HelmRelease's own namespace, while the
release's objects go to the release namespace (`targetNamespace`, else the HelmRelease's).
The `helm` CLI has one `--namespace` for both (`_helm`). helm-controller honours the storage
namespace by staging, around every helm action whose two namespaces differ:

1. before: the release's records are copied from the storage namespace into the release
   namespace (nothing is written when there are none, e.g. before a first install into a
   namespace that does not exist yet);
2. helm runs with `--namespace <release namespace>`, so `.Release.Namespace`, the objects'
   namespace and the records it reads and writes are all where Helm expects them;
3. after (also when helm failed): the storage namespace's records are made equal to the
   release namespace's (new and changed ones written, pruned or uninstalled ones deleted),
   and the copies in the release namespace are deleted.

So between actions, which is where a user's `helm list/history/get -n <storage namespace>`
looks, the records are only in the storage namespace, as with Flux. A controller killed
during an action leaves the records in the release namespace: `recover` (at the start of
every reconcile and before a deletion's uninstall) moves them back first; a release whose
records afflux kept in the release namespace before it honoured storageNamespace is moved
the same way. The moves copy a record whole (type, labels, annotations, data) and never
read or log its content.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from afflux.controllers.runtime import ObjectRef

from ._release import record_selector
from ._state import SECRETS

__all__ = ["recover", "record_copy", "staged", "sync_plan", "sync_records"]


def record_copy(secret: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """A record Secret to write in `namespace` (no server-set fields). Pure."""
    meta = secret.get("metadata") or {}
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": meta.get("name"), "namespace": namespace,
                     **{k: dict(meta[k]) for k in ("labels", "annotations") if meta.get(k)}},
        "type": secret.get("type"),
        "data": dict(secret.get("data") or {}),
    }
    if secret.get("immutable") is not None:
        body["immutable"] = secret["immutable"]
    return body


def sync_plan(source: Sequence[Mapping[str, Any]], dest: Sequence[Mapping[str, Any]]
              ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], list[str]]:
    """What makes `dest` equal `source`, by Secret name: (to create, to replace (source
    bodies whose data or labels differ), names to delete). Pure."""
    def name(s: Mapping[str, Any]) -> str:
        return str((s.get("metadata") or {}).get("name"))

    def same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return (a.get("data") == b.get("data")
                and (a.get("metadata") or {}).get("labels") == (b.get("metadata") or {}).get(
                    "labels"))

    have = {name(s): s for s in dest}
    want = {name(s): s for s in source}
    create = [s for n, s in sorted(want.items()) if n not in have]
    replace = [s for n, s in sorted(want.items()) if n in have and not same(s, have[n])]
    delete = sorted(n for n in have if n not in want)
    return create, replace, delete


async def _records(kube: Any, namespace: str, release: str) -> list[dict[str, Any]]:
    return await kube.list(SECRETS, namespace, label_selector=record_selector(release))


async def sync_records(kube: Any, release: str, source: str, dest: str, *,
                       delete_source: bool) -> int:
    """Make the records of `release` in `dest` equal those in `source`; with
    `delete_source`, delete them from `source` afterwards. Returns how many there were."""
    found = await _records(kube, source, release)
    create, replace, delete = sync_plan(found, await _records(kube, dest, release))
    for secret in create:
        await kube.create(SECRETS, dest, record_copy(secret, dest))
    for secret in replace:
        ref = ObjectRef(SECRETS, dest, str(secret["metadata"]["name"]))
        await kube.replace(ref, record_copy(secret, dest))
    for name in delete:
        await kube.delete(ObjectRef(SECRETS, dest, name))
    if delete_source:
        for secret in found:
            await kube.delete(ObjectRef(SECRETS, source, str(secret["metadata"]["name"])))
    return len(found)


async def recover(kube: Any, release: str, storage: str, namespace: str) -> bool:
    """Move records left in the release namespace to the storage namespace (module
    docstring); whether there were any."""
    if storage == namespace or not await _records(kube, namespace, release):
        return False
    await sync_records(kube, release, namespace, storage, delete_source=True)
    return True


@contextlib.asynccontextmanager
async def staged(kube: Any, release: str, storage: str, namespace: str) -> AsyncIterator[None]:
    """The records of `release` in the release namespace for the duration of a helm action
    (module docstring); nothing to do when both namespaces are the same."""
    if storage == namespace:
        yield
        return
    await sync_records(kube, release, storage, namespace, delete_source=False)
    try:
        yield
    finally:
        await sync_records(kube, release, namespace, storage, delete_source=True)
