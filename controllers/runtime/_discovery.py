"""A REST mapper: from `apiVersion` + `kind` to the `Resource` (plural, scope) that serves it.

Objects read from manifests name their kind (`apps/v1`, `Deployment`), but the API is
addressed by resource (`/apis/apps/v1/namespaces/<ns>/deployments`) and only the server
knows the plural and whether the kind is namespaced. `RESTMapper` asks the discovery
endpoint of one group version (`/api/v1`, `/apis/<group>/<version>`) the first time it
needs it and keeps the answer. A kind it does not find is looked up again from the server
before it gives up, so a CustomResourceDefinition applied a moment ago (in the same
Kustomization, say) is found as soon as the server serves it; `UnknownKindError` says
`no matches for kind "X" in version "Y"`, as kubectl does.

`preferred_version(group)` answers the version the server prefers for a group, for
references that name a kind without a version (a health check with no `apiVersion`).

The mapper goes through `KubeClient.get_path`, so it works on any cluster the client talks
to (impersonated or remote): use one mapper per client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ._kube import KubeClient
from ._object import Resource

__all__ = ["RESTMapper", "UnknownKindError", "split_api_version"]


class UnknownKindError(LookupError):
    """The server serves no such kind in that group version (yet)."""

    def __init__(self, api_version: str, kind: str) -> None:
        self.api_version = api_version
        self.kind = kind
        super().__init__(f'no matches for kind "{kind}" in version "{api_version}"')


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def _discovery_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def resources_of(group: str, version: str, data: Mapping[str, Any]) -> dict[str, Resource]:
    """The kinds of an `APIResourceList` (subresources like `pods/log` left out)."""
    found: dict[str, Resource] = {}
    for item in data.get("resources") or ():
        name = str(item.get("name") or "")
        kind = str(item.get("kind") or "")
        if not name or not kind or "/" in name:
            continue
        found.setdefault(kind, Resource(group, version, kind, name,
                                        namespaced=bool(item.get("namespaced"))))
    return found


class RESTMapper:
    """Maps kinds to resources through the discovery API of one cluster (cached)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._kinds: dict[str, dict[str, Resource]] = {}
        self._preferred: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def _fetch(self, group: str, version: str) -> dict[str, Resource]:
        data = await self.kube.get_path(_discovery_path(group, version))
        kinds = resources_of(group, version, data or {})
        self._kinds[f"{group}/{version}"] = kinds
        return kinds

    async def resource_for(self, api_version: str, kind: str) -> Resource:
        """The resource serving `kind` in `api_version`; UnknownKindError if none."""
        group, version = split_api_version(api_version)
        if not version or not kind:
            raise UnknownKindError(api_version, kind)
        key = f"{group}/{version}"
        cached = self._kinds.get(key)
        if cached is not None and kind in cached:
            return cached[kind]
        async with self._lock:
            kinds = await self._fetch(group, version)
        if kind not in kinds:
            raise UnknownKindError(api_version, kind)
        return kinds[kind]

    async def is_namespaced(self, api_version: str, kind: str) -> bool:
        return (await self.resource_for(api_version, kind)).namespaced

    async def preferred_version(self, group: str) -> str:
        """The version the server prefers for `group` (`v1` for the core group)."""
        if not group:
            return "v1"
        if group in self._preferred:
            return self._preferred[group]
        data = await self.kube.get_path(f"/apis/{group}")
        preferred = ((data or {}).get("preferredVersion") or {}).get("version")
        if not preferred:
            raise UnknownKindError(f"{group}/", "")
        self._preferred[group] = str(preferred)
        return str(preferred)

    def invalidate(self) -> None:
        """Forget everything (the next lookups ask the server again)."""
        self._kinds.clear()
        self._preferred.clear()
