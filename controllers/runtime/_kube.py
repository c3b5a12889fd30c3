"""Kubernetes I/O behind one small interface.

`KubeClient` is the Protocol every piece of the runtime (and every phase, via `ctx.kube`)
talks to. The operators use `_kubeaio.AioKubeClient` (aiohttp, on the event loop);
`KubernetesClient` implements it over the official `kubernetes` package, for the
connections that one cannot make (`_kubeaio.client_for` chooses) and for tests. The
generated client is synchronous, so each call runs in a thread pool of its own; its
requests are made by REST path (`Resource.path`), which serves custom and core kinds the
same way and returns plain dicts. Errors come back as `ApiError` (`NotFoundError`,
`ConflictError`), so no caller imports `kubernetes`. Tests use in-memory fakes. Every
request goes through `KubernetesClient._call`, which first waits for a token of the
client's `limiter` (`--kube-api-qps`, `--kube-api-burst`, as client-go's rate limiter).

The helpers below the client (`patch_status`, `add_finalizer`, `remove_finalizer`,
`create_event`) are the writes the runtime makes; they are the only writers of status,
finalizers and Events, which is what lets the tests count them.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from ._object import ObjectRef, Resource
from ._ratelimit import TokenBucket

PatchType = Literal["merge", "json", "strategic", "apply"]

_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

EVENTS = Resource("", "v1", "Event", "events")

#: Seconds a request may take (connect and read): a frozen API server or a half-open
#: connection ends in an error the caller retries, never in a call that hangs for ever.
REQUEST_TIMEOUT = 60.0


class ApiError(Exception):
    """An error answer of the API server."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


def api_error(status: int, body: str | bytes | None) -> ApiError:
    """Build the right `ApiError` from a status code and a (JSON Status) body."""
    reason, message = "", ""
    if body:
        try:
            data = json.loads(body)
            reason, message = str(data.get("reason", "")), str(data.get("message", ""))
        except (ValueError, AttributeError):
            message = body.decode(errors="replace") if isinstance(body, bytes) else body
    cls = {404: NotFoundError, 409: ConflictError}.get(status, ApiError)
    return cls(status, reason or "Error", message)


class KubeClient(Protocol):
    """The Kubernetes operations the runtime and the phases need. All bodies are dicts."""

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        ...

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...

    async def create(
        self, resource: Resource, namespace: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def replace(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self,
        ref: ObjectRef,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...

    async def delete(self, ref: ObjectRef, *, propagation_policy: str | None = None) -> None:
        """Delete (absent is fine); `propagation_policy`: Background, Foreground, Orphan."""
        ...

    async def get_path(self, path: str) -> dict[str, Any] | None:
        """GET any API path (discovery: `/api/v1`, `/apis/apps`); None on 404."""
        ...


def _encoded_apply(body: Any) -> Any:
    """An apply patch as compact JSON bytes (JSON is YAML: the API server reads it as the
    apply content type says), so that the client sends it as it is instead of walking it
    (`sanitize_for_serialization`) and encoding it again; the body itself when it holds
    something JSON cannot encode (e.g. a date from YAML), which the client's walk converts."""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return body


class RestVerbs(abc.ABC):
    """The `KubeClient` operations as REST requests, all made by one method, `_call`, which
    a client provides (every request goes through it: metrics, limits, auth in one place)."""

    @abc.abstractmethod
    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """One request; the answer's JSON body (None when empty). ApiError on an error."""

    def _patch_body(self, patch: Any, patch_type: PatchType) -> Any:
        """The body `_call` is given for a patch (the patch itself unless overridden)."""
        return patch

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return await self._call("GET", ref.path())
        except NotFoundError:
            return None

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        data = await self._call("GET", resource.collection_path(namespace), query=query)
        items: list[dict[str, Any]] = (data or {}).get("items") or []
        for item in items:  # list items carry no apiVersion/kind; give them back
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        return items

    async def create(
        self, resource: Resource, namespace: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        data = await self._call("POST", resource.collection_path(namespace), body=dict(body))
        return data or {}

    async def replace(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        data = await self._call("PUT", ref.path(), body=dict(body))
        return data or {}

    async def patch(
        self,
        ref: ObjectRef,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        query: list[tuple[str, str]] = []
        if field_manager:
            query.append(("fieldManager", field_manager))
        if force is not None:
            query.append(("force", "true" if force else "false"))
        if dry_run:
            query.append(("dryRun", "All"))
        data = await self._call(
            "PATCH",
            ref.path(subresource),
            body=self._patch_body(patch, patch_type),
            content_type=_CONTENT_TYPES[patch_type],
            query=query,
        )
        return data or {}

    async def delete(self, ref: ObjectRef, *, propagation_policy: str | None = None) -> None:
        body = ({"kind": "DeleteOptions", "apiVersion": "v1",
                 "propagationPolicy": propagation_policy} if propagation_policy else None)
        try:
            await self._call("DELETE", ref.path(), body=body)
        except NotFoundError:
            pass

    async def get_path(self, path: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", path)
        except NotFoundError:
            return None


class KubernetesClient(RestVerbs):
    """`KubeClient` over `kubernetes.client.ApiClient` (sync calls in worker threads)."""

    def __init__(self, api_client: Any, *, max_workers: int = 8,
                 request_timeout: float = REQUEST_TIMEOUT,
                 on_request: Callable[[str, str], None] | None = None,
                 limiter: TokenBucket | None = None) -> None:
        """`on_request(method, code)` is called after every request, from a worker thread
        (`code`: the HTTP status, or `<error>` when no response came). `limiter` paces
        every request (`--kube-api-qps`, `--kube-api-burst`); None: no limit."""
        self.api_client = api_client
        self.limiter = limiter
        self.request_timeout = request_timeout
        self._on_request = on_request
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="kube"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call_sync(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        headers: dict[str, str] = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        code = "<error>"
        try:
            response = self.api_client.call_api(*params, _request_timeout=self.request_timeout)
            code = str(response.status)
        finally:
            if self._on_request is not None:
                self._on_request(method, code)
        response.read()
        data = response.data
        if not 200 <= response.status <= 299:
            raise api_error(response.status, data)
        if not data:
            return None
        result: dict[str, Any] = json.loads(data)
        return result

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        if self.limiter is not None:
            await self.limiter.wait()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self._call_sync(method, path, **kwargs)
        )

    def _patch_body(self, patch: Any, patch_type: PatchType) -> Any:
        return _encoded_apply(patch) if patch_type == "apply" else patch


# --- the runtime's writes ----------------------------------------------------------------


async def patch_status(kube: KubeClient, ref: ObjectRef, status_patch: Mapping[str, Any]) -> None:
    """One merge patch of the status subresource (the summary's only write)."""
    await kube.patch(ref, {"status": dict(status_patch)}, subresource="status")


async def add_finalizer(
    kube: KubeClient, ref: ObjectRef, body: Mapping[str, Any], finalizer: str
) -> dict[str, Any]:
    """Add `finalizer` unless present; return the patched body (or `body` unchanged).

    An existing list is appended to (JSON patch); a missing one is created with a merge
    patch that carries resourceVersion, so a concurrent writer makes it fail (409) rather
    than lose its own finalizer.
    """
    meta = body.get("metadata") or {}
    current = list(meta.get("finalizers") or [])
    if finalizer in current:
        return dict(body)
    if current:
        ops = [{"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}]
        return await kube.patch(ref, ops, patch_type="json")
    merge = {"metadata": {"finalizers": [finalizer], "resourceVersion": meta["resourceVersion"]}}
    return await kube.patch(ref, merge)


async def remove_finalizer(
    kube: KubeClient, ref: ObjectRef, body: Mapping[str, Any], finalizer: str
) -> None:
    """Remove `finalizer` (JSON patch guarded by a test of the entry being removed)."""
    current = list((body.get("metadata") or {}).get("finalizers") or [])
    if finalizer not in current:
        return
    index = current.index(finalizer)
    ops = [
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]
    try:
        await kube.patch(ref, ops, patch_type="json")
    except NotFoundError:
        pass


async def create_event(kube: KubeClient, namespace: str, event: Mapping[str, Any]) -> dict[str, Any]:
    return await kube.create(EVENTS, namespace, event)


# --- connecting ---------------------------------------------------------------------------


def load_api_client(kubeconfig: str | os.PathLike[str] | None = None) -> Any:
    """A `kubernetes.client.ApiClient` for `kubeconfig`, else $KUBECONFIG, else the
    in-cluster service account, else ~/.kube/config."""
    from kubernetes import client, config  # noqa: PLC0415 - keep import cost off pure users

    path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
    if path:
        return config.new_client_from_config(config_file=path.split(os.pathsep)[0])
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except config.ConfigException:
        default = Path.home() / ".kube" / "config"
        return config.new_client_from_config(config_file=str(default))
