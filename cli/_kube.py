"""The CLI's Kubernetes access: a small synchronous client over the `kubernetes` package's
ApiClient, by REST path, returning plain dicts.

`Kube.connect(kubeconfig, context)` finds the cluster (flag, $KUBECONFIG, ~/.kube/config,
then in-cluster); `get`, `list`, `merge_patch`, `apply` (server-side), `delete`, `watch`,
`stream` (pod logs) and discovery (`resource_for`, `find_resource`) are all the commands
use. API errors become `KubeError` (a `CLIError`): `KubeNotFound`, `KubeConflict`, and
`Unreachable` for a cluster that does not answer.

As client-go (and so flux): every request waits for a token of the client-side rate limit
(`--kube-api-qps`, `--kube-api-burst`, the runtime's `TokenBucket`), asks for a gzip-compressed answer
(`Accept-Encoding: gzip`, decoded on the way in) unless `--disable-compression` (then
`identity`), and
`--tls-server-name` names the server for SNI and the certificate check (as the kubeconfig
cluster's `tls-server-name`). Discovery is kept in memory for one command; there is no
discovery cache on disk (`--cache-dir` is taken and nothing is written there).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afflux.api import Resource as ApiKind
from afflux.controllers.runtime import DEFAULT_BURST, DEFAULT_QPS, TokenBucket, limiter_for

from ._errors import EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_UNREACHABLE, CLIError

__all__ = [
    "Kube",
    "KubeOverrides",
    "KubeConflict",
    "KubeError",
    "KubeNotFound",
    "ResourceType",
    "Unreachable",
    "apply_overrides",
    "impersonation_headers",
    "merge_kubeconfigs",
    "request_headers",
    "resource_of",
]

_CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "merge": "application/merge-patch+json",
    "jsonpatch": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


class KubeError(CLIError):
    """An error answer of the API server."""

    def __init__(self, status: int, reason: str, message: str, hint: str = "") -> None:
        code = EXIT_NOT_FOUND if status == 404 else EXIT_FAILURE
        super().__init__(message or f"{status} {reason}", hint, code)
        self.status = status
        self.reason = reason


class KubeNotFound(KubeError):
    pass


class KubeConflict(KubeError):
    pass


class Unreachable(CLIError):
    """The API server did not answer (or there is no kubeconfig)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(
            message,
            hint or "is the cluster running? check --kubeconfig / --context "
            "(a local one starts with `make cluster-up`)",
            EXIT_UNREACHABLE,
        )


def _api_error(status: int, body: bytes | str | None) -> KubeError:
    reason, message = "", ""
    if body:
        try:
            data = json.loads(body)
            reason, message = str(data.get("reason", "")), str(data.get("message", ""))
        except (ValueError, AttributeError):
            message = body.decode(errors="replace") if isinstance(body, bytes) else body
    cls = {404: KubeNotFound, 409: KubeConflict}.get(status, KubeError)
    return cls(status, reason or "Error", message)


@dataclass(frozen=True)
class KubeOverrides:
    """kubectl's (and flux's) connection flags, applied over the kubeconfig."""

    server: str | None = None
    token: str | None = None
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    as_uid: str | None = None
    as_user_extra: tuple[tuple[str, str], ...] = ()
    insecure_skip_tls_verify: bool = False
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    cluster: str | None = None
    user: str | None = None
    tls_server_name: str | None = None
    #: the client-side rate limit and compression (not kubeconfig settings)
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST
    disable_compression: bool = False

    @property
    def changes_config(self) -> bool:
        """Whether any flag changes the kubeconfig (impersonation is a header only)."""
        return any((self.server, self.token, self.insecure_skip_tls_verify,
                    self.certificate_authority, self.client_certificate, self.client_key,
                    self.cluster, self.user, self.tls_server_name))


def _named(entries: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for entry in entries:
        if entry.get("name") == name:
            body: dict[str, Any] = entry.setdefault(what, {})
            return body
    raise Unreachable(f"the kubeconfig has no {what} {name!r}",
                      f"check --{what} and the kubeconfig (`kubectl config view`)")


def apply_overrides(config: Mapping[str, Any], context: str | None, o: KubeOverrides
                    ) -> dict[str, Any]:
    """A copy of a kubeconfig (as a dict) with the flags applied to the context in use
    (`context`, else current-context), the way kubectl applies them: `--cluster`/`--user`
    pick other entries; `--server`, `--insecure-skip-tls-verify` (which drops the CA, as
    client-go does when no CA flag comes with it) and `--certificate-authority` change the
    cluster, and so does `--tls-server-name`; `--token`, `--client-certificate` and
    `--client-key` the user (a token replaces an exec or auth-provider plugin)."""
    cfg: dict[str, Any] = json.loads(json.dumps(dict(config)))
    name = context or cfg.get("current-context") or ""
    contexts = cfg.setdefault("contexts", [])
    ctx_body = next((c.setdefault("context", {}) for c in contexts if c.get("name") == name),
                    None)
    if ctx_body is None:
        if not name:
            raise Unreachable("the kubeconfig has no current context",
                              "pass --context, or set one with `kubectl config use-context`")
        raise Unreachable(f"the kubeconfig has no context {name!r}", "check --context")
    if o.cluster:
        ctx_body["cluster"] = o.cluster
    if o.user:
        ctx_body["user"] = o.user
    cluster = _named(cfg.setdefault("clusters", []), str(ctx_body.get("cluster", "")),
                     "cluster")
    if o.server:
        cluster["server"] = o.server
    if o.tls_server_name:
        cluster["tls-server-name"] = o.tls_server_name
    if o.certificate_authority:
        cluster.pop("certificate-authority-data", None)
        cluster["certificate-authority"] = o.certificate_authority
    if o.insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
        if not o.certificate_authority:
            cluster.pop("certificate-authority-data", None)
            cluster.pop("certificate-authority", None)
    users = cfg.setdefault("users", [])
    if o.token or o.client_certificate or o.client_key:
        user_name = str(ctx_body.get("user") or "")
        if not user_name or not any(u.get("name") == user_name for u in users):
            user_name = ctx_body["user"] = user_name or "afflux-flags"
            users.append({"name": user_name, "user": {}})
        user = _named(users, user_name, "user")
        if o.token:
            for key in ("exec", "auth-provider", "username", "password", "tokenFile"):
                user.pop(key, None)
            user["token"] = o.token
        if o.client_certificate:
            user.pop("client-certificate-data", None)
            user["client-certificate"] = o.client_certificate
        if o.client_key:
            user.pop("client-key-data", None)
            user["client-key"] = o.client_key
    return cfg


_PATH_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


def merge_kubeconfigs(files: Sequence[Path]) -> dict[str, Any]:
    """Several kubeconfig files merged as kubectl merges $KUBECONFIG: the first file that
    names a cluster, context or user (or sets current-context) wins; relative file paths
    are made absolute against the file that holds them."""
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": []}
    for file in files:
        if not file.exists():
            continue
        import yaml  # noqa: PLC0415

        data = yaml.safe_load(file.read_text()) or {}
        for section, inner in (("clusters", "cluster"), ("contexts", "context"),
                               ("users", "user")):
            known = {e.get("name") for e in merged[section]}
            for entry in data.get(section) or []:
                if entry.get("name") in known:
                    continue
                body = entry.get(inner) or {}
                for key in _PATH_KEYS:
                    if isinstance(body.get(key), str) and not os.path.isabs(body[key]):
                        body[key] = str(file.parent / body[key])
                merged[section].append(entry)
        if not merged.get("current-context") and data.get("current-context"):
            merged["current-context"] = data["current-context"]
    return merged


def context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace the kubeconfig's context (`context`, else current-context) names
    (the files as `connect` finds them: the flag, $KUBECONFIG, ~/.kube/config); None when
    it names none or the kubeconfig cannot be read (connecting reports that)."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    import yaml  # noqa: PLC0415

    files = [Path(p).expanduser() for p in path.split(os.pathsep) if p]
    try:
        merged = merge_kubeconfigs([f for f in files if f.is_file()])
    except (OSError, ValueError, AttributeError, yaml.YAMLError, CLIError):
        return None
    name = context or merged.get("current-context") or ""
    for entry in merged.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            namespace = (entry.get("context") or {}).get("namespace")
            return str(namespace) if namespace else None
    return None


def impersonation_headers(o: KubeOverrides) -> list[tuple[str, str]]:
    """The Impersonate-* headers of `--as`, `--as-group` (one header each), `--as-uid` and
    `--as-user-extra key=value` (`Impersonate-Extra-<key>`, the key percent-encoded as
    Kubernetes wants it; one header per value)."""
    from urllib.parse import quote  # noqa: PLC0415

    headers: list[tuple[str, str]] = []
    if o.as_user:
        headers.append(("Impersonate-User", o.as_user))
    headers.extend(("Impersonate-Group", g) for g in o.as_groups)
    if o.as_uid:
        headers.append(("Impersonate-Uid", o.as_uid))
    headers.extend((f"Impersonate-Extra-{quote(key, safe='')}", value)
                   for key, value in o.as_user_extra)
    return headers


@dataclass(frozen=True)
class ResourceType:
    """Where a kind lives in the API: group, version, kind, plural and scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, name: str, namespace: str | None = None, subresource: str = "") -> str:
        path = f"{self.collection_path(namespace)}/{name}"
        return f"{path}/{subresource}" if subresource else path


def resource_of(kind: type[ApiKind]) -> ResourceType:
    """The ResourceType of an afflux kind (its storage version)."""
    return ResourceType(kind.GROUP, kind.VERSION, kind.KIND, kind.PLURAL, True)


#: A few core kinds the CLI uses directly.
EVENTS = ResourceType("", "v1", "Event", "events")
SECRETS = ResourceType("", "v1", "Secret", "secrets")
PODS = ResourceType("", "v1", "Pod", "pods")
NAMESPACES = ResourceType("", "v1", "Namespace", "namespaces", namespaced=False)
DEPLOYMENTS = ResourceType("apps", "v1", "Deployment", "deployments")
LEASES = ResourceType("coordination.k8s.io", "v1", "Lease", "leases")
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
    namespaced=False,
)


class Kube:
    """A synchronous client for the commands. `debug` (a callable) sees every request;
    `limiter` (None: no limit) paces them; `compression` asks for gzip answers."""

    def __init__(self, api_client: Any, debug: Callable[[str], None] | None = None,
                 impersonate: Sequence[tuple[str, str]] = (), *,
                 limiter: TokenBucket | None = None, compression: bool = True) -> None:
        self.api_client = api_client
        self._debug = debug
        self._impersonate = list(impersonate)
        self._limiter = limiter
        self._compression = compression
        self._discovered: dict[str, list[dict[str, Any]]] = {}
        self._groups: list[tuple[str, str]] | None = None

    # --- connecting ----------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        debug: Callable[[str], None] | None = None,
        overrides: KubeOverrides | None = None,
    ) -> Kube:
        """Load a kubeconfig (the flag, else $KUBECONFIG, else ~/.kube/config, else the
        in-cluster service account) and return a client for its (or `context`'s) cluster,
        with the connection flags (`overrides`) applied."""
        from kubernetes import client, config  # noqa: PLC0415 - keep import cost off --help

        o = overrides or KubeOverrides()
        path = kubeconfig or os.environ.get("KUBECONFIG") or ""
        default = Path.home() / ".kube" / "config"
        if o.changes_config:
            api = cls._with_overrides(path or (str(default) if default.exists() else ""),
                                      context, o)
            return cls._of(api, debug, o)
        try:
            if path:
                first = path.split(os.pathsep)[0]
                if not Path(first).expanduser().exists():
                    raise Unreachable(
                        f"kubeconfig {first} does not exist",
                        "pass --kubeconfig <file> or set KUBECONFIG",
                    )
                # several files in $KUBECONFIG are merged by the kubernetes package
                api = config.new_client_from_config(
                    config_file=os.path.expanduser(path), context=context
                )
            elif default.exists():
                api = config.new_client_from_config(config_file=str(default), context=context)
            else:
                configuration = client.Configuration()
                try:
                    config.load_incluster_config(client_configuration=configuration)
                except config.ConfigException:
                    raise Unreachable(
                        "no kubeconfig found (no --kubeconfig, no KUBECONFIG, no ~/.kube/config,"
                        " not in a cluster)",
                        "pass --kubeconfig <file> or set KUBECONFIG",
                    ) from None
                api = client.ApiClient(configuration)
        except config.ConfigException as err:
            raise Unreachable(f"cannot load the kubeconfig: {err}",
                              "check --kubeconfig and --context") from None
        return cls._of(api, debug, o)

    @classmethod
    def _of(cls, api: Any, debug: Callable[[str], None] | None, o: KubeOverrides) -> Kube:
        return cls(api, debug, impersonation_headers(o), limiter=limiter_for(o.qps, o.burst),
                   compression=not o.disable_compression)

    @staticmethod
    def _with_overrides(path: str, context: str | None, o: KubeOverrides) -> Any:
        """An ApiClient from the kubeconfig at `path` (several, merged, as $KUBECONFIG) with
        the flags applied; with no kubeconfig, from the flags alone (in a pod: its service
        account's CA and token unless given)."""
        from kubernetes import client, config  # noqa: PLC0415

        try:
            if path:
                files = [Path(p).expanduser() for p in path.split(os.pathsep) if p]
                if not files[0].exists():
                    raise Unreachable(f"kubeconfig {files[0]} does not exist",
                                      "pass --kubeconfig <file> or set KUBECONFIG")
                cfg = apply_overrides(merge_kubeconfigs(files), context, o)
                return config.new_client_from_config_dict(cfg, context=context)
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                if not o.server:
                    raise Unreachable("no kubeconfig found and no --server given",
                                      "pass --kubeconfig <file> or --server") from None
            if o.server:
                configuration.host = o.server
            if o.token:
                configuration.api_key = {"authorization": f"Bearer {o.token}"}
            if o.insecure_skip_tls_verify:
                configuration.verify_ssl = False
            if o.tls_server_name:
                configuration.tls_server_name = o.tls_server_name
            for attr, value in (("ssl_ca_cert", o.certificate_authority),
                                ("cert_file", o.client_certificate),
                                ("key_file", o.client_key)):
                if value:
                    setattr(configuration, attr, value)
            return client.ApiClient(configuration)
        except config.ConfigException as err:
            raise Unreachable(f"cannot load the kubeconfig: {err}",
                              "check --kubeconfig, --context and the connection flags") \
                from None

    # --- raw requests ---------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "json",
        query: list[tuple[str, str]] | None = None,
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        import urllib3  # noqa: PLC0415

        headers = request_headers(compression=self._compression)
        if body is not None:
            headers["Content-Type"] = _CONTENT_TYPES[content_type]
        if self._debug:
            q = "&".join(f"{k}={v}" for k, v in query or [])
            self._debug(f"{method} {path}{'?' + q if q else ''}")
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        if self._impersonate:  # repeated headers (one per group): urllib3's header dict
            params = list(params)
            sent = urllib3.HTTPHeaderDict(params[2])
            for key, value in self._impersonate:
                sent.add(key, value)
            params[2] = sent
        if self._limiter is not None:
            self._limiter.acquire()
        try:
            return self.api_client.call_api(*params, _request_timeout=timeout or (10, 60))
        except (urllib3.exceptions.HTTPError, OSError) as err:
            host = self.api_client.configuration.host
            reason = _short(err)
            raise Unreachable(
                f"cannot reach the Kubernetes API at {host}: {reason}",
                "the server's certificate must match the server's name (or "
                "--tls-server-name) and be signed by the kubeconfig's CA (or "
                "--certificate-authority)" if reason.startswith("TLS ") else "") from None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "json",
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """One request; the decoded JSON answer (None when empty); KubeError on non-2xx."""
        import urllib3  # noqa: PLC0415

        resp = self._send(method, path, body=body, content_type=content_type, query=query)
        try:
            data = resp.read()
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise Unreachable(f"lost the connection to the Kubernetes API: {_short(err)}") \
                from None
        if not 200 <= resp.status <= 299:
            raise _api_error(resp.status, data)
        if not data:
            return None
        result: dict[str, Any] = json.loads(data)
        return result

    # --- objects ---------------------------------------------------------------------------------
    def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object; KubeNotFound when it is not there."""
        data = self.request("GET", rt.path(name, namespace)) or {}
        return data

    def get_or_none(
        self, rt: ResourceType, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.get(rt, name, namespace)
        except KubeNotFound:
            return None

    def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """The objects in `namespace` (every namespace when None), with apiVersion and kind."""
        return self.list_with_version(
            rt, namespace, label_selector=label_selector, field_selector=field_selector
        )[0]

    def list_with_version(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """`list` and the list's resourceVersion (to watch from)."""
        query: list[tuple[str, str]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        data = self.request("GET", rt.collection_path(namespace), query=query) or {}
        items: list[dict[str, Any]] = data.get("items") or []
        for item in items:  # list items carry no apiVersion/kind; give them back
            item.setdefault("apiVersion", rt.api_version)
            item.setdefault("kind", rt.kind)
        return items, str((data.get("metadata") or {}).get("resourceVersion", ""))

    def merge_patch(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any],
        *,
        field_manager: str | None = None,
        subresource: str = "",
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386)."""
        query = [("fieldManager", field_manager)] if field_manager else []
        return self.request(
            "PATCH", rt.path(name, namespace, subresource), body=dict(patch),
            content_type="merge", query=query,
        ) or {}

    def apply(
        self,
        rt: ResourceType,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of a whole object (its own apiVersion, kind, name, namespace)."""
        meta = body.get("metadata") or {}
        query = [("fieldManager", field_manager), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH", rt.path(meta["name"], meta.get("namespace")), body=dict(body),
            content_type="apply", query=query,
        ) or {}

    def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = "Background",
        dry_run: bool = False,
    ) -> None:
        """Delete; KubeNotFound when it is not there."""
        query: list[tuple[str, str]] = []
        if propagation:
            query.append(("propagationPolicy", propagation))
        if dry_run:
            query.append(("dryRun", "All"))
        self.request("DELETE", rt.path(name, namespace), query=query)

    def server_version(self) -> dict[str, Any]:
        """The API server's /version answer."""
        return self.request("GET", "/version") or {}

    # --- streaming ------------------------------------------------------------------------------
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) for each change after `resource_version`, until the server ends the
        watch (after `timeout_seconds`). An expired resourceVersion yields ("ERROR", status)."""
        query = [("watch", "true"), ("timeoutSeconds", str(max(1, int(timeout_seconds))))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if label_selector:
            query.append(("labelSelector", label_selector))
        for line in self.stream_lines(
            rt.collection_path(namespace), query, read_timeout=timeout_seconds + 15
        ):
            if not line.strip():
                continue
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") != "ERROR":
                obj.setdefault("apiVersion", rt.api_version)
                obj.setdefault("kind", rt.kind)
            yield str(event.get("type", "")), obj

    def stream_lines(
        self, path: str, query: list[tuple[str, str]], *, read_timeout: float | None = None
    ) -> Iterator[str]:
        """The lines of a streamed (chunked) answer, as they arrive."""
        import urllib3  # noqa: PLC0415

        resp = self._send("GET", path, query=query, timeout=(10, read_timeout or 3600))
        raw = resp.response
        try:
            if not 200 <= resp.status <= 299:
                raise _api_error(resp.status, resp.read())
            buf = b""
            try:
                for chunk in raw.stream(4096, decode_content=True):
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        yield line.decode("utf-8", errors="replace")
            except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
                pass  # the server or the network ended the stream; callers start a new one
            if buf.strip():
                yield buf.decode("utf-8", errors="replace")
        finally:
            raw.release_conn()

    # --- discovery -------------------------------------------------------------------------------
    def _resources(self, group_version: str) -> list[dict[str, Any]]:
        if group_version not in self._discovered:
            path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
            try:
                data = self.request("GET", path) or {}
            except KubeNotFound:
                data = {}
            self._discovered[group_version] = [
                r for r in data.get("resources") or [] if "/" not in str(r.get("name", ""))
            ]
        return self._discovered[group_version]

    def _preferred_group_versions(self) -> list[tuple[str, str]]:
        if self._groups is None:
            data = self.request("GET", "/apis") or {}
            groups = [("", "v1")]
            for g in data.get("groups") or []:
                pv = (g.get("preferredVersion") or {}).get("version")
                if pv:
                    groups.append((str(g["name"]), str(pv)))
            self._groups = groups
        return self._groups

    def resource_for(self, api_version: str, kind: str) -> ResourceType:
        """The resource of an apiVersion and kind; KubeNotFound when the server lacks it."""
        group, _, version = api_version.rpartition("/")
        gv = f"{group}/{version}" if group else version
        for r in self._resources(gv):
            if r.get("kind") == kind:
                return ResourceType(group, version, kind, str(r["name"]), bool(r.get("namespaced")))
        raise KubeNotFound(
            404, "NotFound", f"the server has no kind {kind} in {api_version}",
            hint="check the kind and --api-version (`kubectl api-resources` lists them)",
        )

    def find_resource(self, name: str) -> ResourceType:
        """The resource a kubectl-style name means: `deployment`, `deploy`, `deployments.apps`,
        `cm`, `Kustomization`, ... (core group first, then every group's preferred version)."""
        word, _, group_hint = name.strip().lower().partition(".")
        for group, version in self._preferred_group_versions():
            if group_hint and group != group_hint:
                continue
            gv = f"{group}/{version}" if group else version
            for r in self._resources(gv):
                names = {
                    str(r.get("name", "")).lower(),
                    str(r.get("singularName", "")).lower(),
                    str(r.get("kind", "")).lower(),
                    *(s.lower() for s in r.get("shortNames") or []),
                }
                if word in names:
                    return ResourceType(
                        group, version, str(r["kind"]), str(r["name"]), bool(r.get("namespaced"))
                    )
        raise KubeNotFound(
            404, "NotFound", f"the server has no resource type {name!r}",
            hint="`kubectl api-resources` lists them",
        )


def request_headers(*, compression: bool = True) -> dict[str, str]:
    """The headers of every request: JSON, and gzip, or with compression off
    (`--disable-compression`) `identity` (what http.client would send without one)."""
    return {"Accept": "application/json",
            "Accept-Encoding": "gzip" if compression else "identity"}


def _short(err: BaseException) -> str:
    text = str(err)
    failed = re.search(r"certificate verify failed: (.*?)\.? \(_ssl\.c", text) or \
        re.search(r"certificate verify failed: ([^'\")]*)", text)
    if failed:
        return f"TLS certificate verify failed: {failed[1].strip()}"
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:200] if text else type(err).__name__
