"""The objects `afflux create ...` makes, built from flag values: sources (git, oci, helm,
bucket), Kustomization, image repository / policy / update, and Git credential Secrets.
Pure: the command module reads files and talks to the cluster; these only shape dicts in the
form `flux create ... --export` prints (durations in Go's form: `--interval 1m` -> `1m0s`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from afflux.api import (
    Bucket,
    GitRepository,
    HelmRepository,
    ImagePolicy,
    ImageRepository,
    ImageUpdateAutomation,
    Kustomization,
    OCIRepository,
    format_duration,
    parse_duration,
)

__all__ = [
    "BuildError",
    "bucket",
    "git_repository",
    "git_secret",
    "helm_repository",
    "image_policy",
    "image_repository",
    "image_update",
    "kustomization",
    "layer_selector",
    "oci_repository",
    "parse_labels",
    "parse_source_ref",
]


class BuildError(ValueError):
    """A flag combination that makes no valid object; the message says which flag to fix."""


def go_duration(text: str, flag: str = "--interval") -> str:
    """A duration flag as Go prints it (`1m` -> `1m0s`); BuildError if it is not one."""
    try:
        return format_duration(parse_duration(text))
    except ValueError as err:
        raise BuildError(f"{flag}: {err}") from None


def parse_labels(values: Sequence[str]) -> dict[str, str]:
    """`--label a=b --label c=d,e=f` -> {a: b, c: d, e: f}."""
    labels: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, val = part.partition("=")
            if not sep or not key.strip():
                raise BuildError(f"--label {part!r}: expected key=value")
            labels[key.strip()] = val.strip()
    return labels


def _metadata(name: str, namespace: str, labels: Mapping[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(sorted(labels.items()))
    return meta


def _object(kind: Any, name: str, namespace: str, labels: Mapping[str, str] | None,
            spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": kind.API_VERSION,
        "kind": kind.KIND,
        "metadata": _metadata(name, namespace, labels),
        "spec": dict(sorted(spec.items())),
    }


def _split_list(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


# --- sources ------------------------------------------------------------------------------------


def git_repository(
    name: str,
    namespace: str,
    *,
    url: str,
    branch: str | None = None,
    tag: str | None = None,
    semver: str | None = None,
    commit: str | None = None,
    ref_name: str | None = None,
    interval: str = "1m",
    secret_ref: str | None = None,
    ignore_paths: Sequence[str] | None = None,
    recurse_submodules: bool = False,
    provider: str | None = None,
    sparse_checkout_paths: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A GitRepository (--sparse-checkout-paths: only those directories are checked out). The ref is the most specific flag given: --ref-name, --commit
    (with --branch if given), --tag-semver, --tag, else --branch (default `master`)."""
    scheme = urlparse(url).scheme
    if scheme not in ("http", "https", "ssh"):
        raise BuildError(f"--url {url!r}: use an http(s):// or ssh:// URL")
    ref: dict[str, str]
    if ref_name:
        ref = {"name": ref_name}
    elif commit:
        ref = {"commit": commit, **({"branch": branch} if branch else {})}
    elif semver:
        ref = {"semver": semver}
    elif tag:
        ref = {"tag": tag}
    else:
        ref = {"branch": branch or "master"}
    spec: dict[str, Any] = {"interval": go_duration(interval), "ref": ref, "url": url}
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    paths = _split_list(ignore_paths)
    if paths:
        spec["ignore"] = "\n".join(paths)  # as flux joins them: no final newline
    if recurse_submodules:
        spec["recurseSubmodules"] = True
    sparse = _split_list(sparse_checkout_paths)
    if sparse:
        spec["sparseCheckout"] = sparse
    if provider and provider != "generic":
        spec["provider"] = provider
    return _object(GitRepository, name, namespace, labels, spec)


def oci_repository(
    name: str,
    namespace: str,
    *,
    url: str,
    tag: str | None = None,
    semver: str | None = None,
    digest: str | None = None,
    interval: str = "1m",
    secret_ref: str | None = None,
    provider: str | None = None,
    insecure: bool = False,
    ignore_paths: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An OCIRepository; one of --tag, --tag-semver or --digest is required."""
    if not url.startswith("oci://"):
        raise BuildError(f"--url {url!r}: use an oci:// URL, e.g. oci://ghcr.io/org/manifests")
    if digest:
        ref = {"digest": digest}
    elif semver:
        ref = {"semver": semver}
    elif tag:
        ref = {"tag": tag}
    else:
        raise BuildError("one of --tag, --tag-semver or --digest is required")
    spec: dict[str, Any] = {"interval": go_duration(interval), "ref": ref, "url": url}
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if provider and provider != "generic":
        spec["provider"] = provider
    if insecure:
        spec["insecure"] = True
    paths = _split_list(ignore_paths)
    if paths:
        spec["ignore"] = "\n".join(paths)  # as flux joins them: no final newline
    return _object(OCIRepository, name, namespace, labels, spec)


def helm_repository(
    name: str,
    namespace: str,
    *,
    url: str,
    interval: str = "1m",
    secret_ref: str | None = None,
    pass_credentials: bool = False,
    provider: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A HelmRepository; an oci:// URL makes it `type: oci`."""
    scheme = urlparse(url).scheme
    if scheme not in ("http", "https", "oci"):
        raise BuildError(f"--url {url!r}: use an http(s):// or oci:// URL")
    spec: dict[str, Any] = {"interval": go_duration(interval), "url": url}
    if scheme == "oci":
        spec["type"] = "oci"
        if provider and provider != "generic":
            spec["provider"] = provider
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if pass_credentials:
        spec["passCredentials"] = True
    return _object(HelmRepository, name, namespace, labels, spec)


def bucket(
    name: str,
    namespace: str,
    *,
    bucket_name: str,
    endpoint: str,
    provider: str = "generic",
    region: str | None = None,
    insecure: bool = False,
    interval: str = "1m",
    secret_ref: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Bucket."""
    if not bucket_name:
        raise BuildError("--bucket-name is required")
    if not endpoint:
        raise BuildError("--endpoint is required")
    spec: dict[str, Any] = {
        "bucketName": bucket_name, "endpoint": endpoint, "interval": go_duration(interval),
        "provider": provider,
    }
    if region:
        spec["region"] = region
    if insecure:
        spec["insecure"] = True
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    return _object(Bucket, name, namespace, labels, spec)


# --- Kustomization ------------------------------------------------------------------------------

_SOURCE_KINDS = {"gitrepository": "GitRepository", "ocirepository": "OCIRepository",
                 "bucket": "Bucket"}


def parse_source_ref(text: str) -> dict[str, str]:
    """`[<kind>/]<name>[.<namespace>]` (kind GitRepository by default; any case) ->
    {kind, name[, namespace]}."""
    kind, sep, rest = text.partition("/")
    if not sep:
        kind, rest = "GitRepository", text
    canonical = _SOURCE_KINDS.get(kind.lower())
    if canonical is None:
        raise BuildError(
            f"--source {text!r}: the kind must be one of {', '.join(_SOURCE_KINDS.values())}"
        )
    name, dot, namespace = rest.partition(".")
    if not name:
        raise BuildError(f"--source {text!r}: a name is required, e.g. GitRepository/podinfo")
    ref = {"kind": canonical, "name": name}
    if dot and namespace:
        ref["namespace"] = namespace
    return ref


def _dependency(text: str) -> dict[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep:
        return {"name": text}
    if not name:
        raise BuildError(f"--depends-on {text!r}: expected <name> or <namespace>/<name>")
    return {"name": name, "namespace": namespace}


def _health_check(text: str) -> dict[str, str]:
    kind, sep, rest = text.partition("/")
    name, dot, namespace = rest.partition(".")
    if not sep or not name or not dot or not namespace:
        raise BuildError(f"--health-check {text!r}: expected <kind>/<name>.<namespace>")
    versions = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                "HelmRelease": "helm.toolkit.fluxcd.io/v2",
                "Kustomization": "kustomize.toolkit.fluxcd.io/v1"}
    check = {"kind": kind, "name": name, "namespace": namespace}
    if kind in versions:
        check = {"apiVersion": versions[kind], **check}
    return check


def kustomization(
    name: str,
    namespace: str,
    *,
    source: str,
    path: str = "./",
    prune: bool = False,
    interval: str = "1m",
    target_namespace: str | None = None,
    depends_on: Sequence[str] | None = None,
    timeout: str | None = None,
    retry_interval: str | None = None,
    wait: bool = False,
    service_account: str | None = None,
    health_checks: Sequence[str] | None = None,
    decryption_provider: str | None = None,
    decryption_secret: str | None = None,
    health_check_timeout: str | None = None,
    kubeconfig_secret_ref: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Kustomization of `path` in the source `source`. With --wait or --health-check,
    spec.timeout is --health-check-timeout (default 2m, as flux) unless --timeout-apply
    gives it."""
    spec: dict[str, Any] = {
        "interval": go_duration(interval),
        "path": path,
        "prune": prune,
        "sourceRef": parse_source_ref(source),
    }
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    deps = _split_list(depends_on)
    if deps:
        spec["dependsOn"] = [_dependency(d) for d in deps]
    if timeout:
        spec["timeout"] = go_duration(timeout, "--timeout")
    if retry_interval:
        spec["retryInterval"] = go_duration(retry_interval, "--retry-interval")
    if wait:
        spec["wait"] = True
    if service_account:
        spec["serviceAccountName"] = service_account
    checks = _split_list(health_checks)
    if checks:
        spec["healthChecks"] = [_health_check(c) for c in checks]
    if (checks or wait) and not timeout:
        spec["timeout"] = go_duration(health_check_timeout or "2m", "--health-check-timeout")
    if kubeconfig_secret_ref:
        spec["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret_ref}}
    if decryption_secret and not decryption_provider:
        decryption_provider = "sops"
    if decryption_provider:
        if decryption_provider != "sops":
            raise BuildError("--decryption-provider: only sops is supported")
        decryption: dict[str, Any] = {"provider": "sops"}
        if decryption_secret:
            decryption["secretRef"] = {"name": decryption_secret}
        spec["decryption"] = decryption
    return _object(Kustomization, name, namespace, labels, spec)


# --- images ---------------------------------------------------------------------------------------


def image_repository(
    name: str,
    namespace: str,
    *,
    image: str,
    interval: str = "1m",
    secret_ref: str | None = None,
    cert_secret_ref: str | None = None,
    timeout: str | None = None,
    provider: str | None = None,
    insecure: bool = False,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An ImageRepository for `image` (no scheme, no tag)."""
    if "://" in image:
        raise BuildError(f"--image {image!r}: give the repository without a scheme, "
                         "e.g. ghcr.io/stefanprodan/podinfo")
    last = image.rsplit("/", 1)[-1]
    if ":" in last or "@" in image:
        raise BuildError(f"--image {image!r}: give the repository without a tag or digest")
    spec: dict[str, Any] = {"image": image, "interval": go_duration(interval)}
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if cert_secret_ref:
        spec["certSecretRef"] = {"name": cert_secret_ref}
    if timeout:
        spec["timeout"] = go_duration(timeout, "--timeout")
    if provider and provider != "generic":
        spec["provider"] = provider
    if insecure:
        spec["insecure"] = True
    return _object(ImageRepository, name, namespace, labels, spec)


def image_policy(
    name: str,
    namespace: str,
    *,
    image_ref: str,
    select_semver: str | None = None,
    select_numeric: str | None = None,
    select_alpha: str | None = None,
    filter_regex: str | None = None,
    filter_extract: str | None = None,
    reflect_digest: str | None = None,
    interval: str = "1m",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An ImagePolicy over the ImageRepository `image_ref` (`<name>` or `<name>.<namespace>`)
    with exactly one of --select-semver, --select-numeric, --select-alpha; --reflect-digest
    sets digestReflectionPolicy (with `Always`, spec.interval, which the CRD then needs, is
    --interval)."""
    chosen = [f for f, v in (("--select-semver", select_semver),
                             ("--select-numeric", select_numeric),
                             ("--select-alpha", select_alpha)) if v]
    if len(chosen) != 1:
        raise BuildError("exactly one of --select-semver, --select-numeric and --select-alpha "
                         f"is required (got {', '.join(chosen) or 'none'})")
    policy: dict[str, Any]
    if select_semver:
        policy = {"semver": {"range": select_semver}}
    elif select_numeric:
        if select_numeric not in ("asc", "desc"):
            raise BuildError("--select-numeric: use asc or desc")
        policy = {"numerical": {"order": select_numeric}}
    else:
        if select_alpha not in ("asc", "desc"):
            raise BuildError("--select-alpha: use asc or desc")
        policy = {"alphabetical": {"order": select_alpha}}
    if filter_extract and not filter_regex:
        raise BuildError("--filter-extract needs --filter-regex")
    if filter_regex:
        try:
            re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", filter_regex))  # Go's (?<name>)
        except re.error as err:
            raise BuildError(f"--filter-regex {filter_regex!r}: {err}") from None
    repo, dot, repo_ns = image_ref.partition(".")
    ref: dict[str, str] = {"name": repo}
    if dot and repo_ns:
        ref["namespace"] = repo_ns
    spec: dict[str, Any] = {"imageRepositoryRef": ref, "policy": policy}
    if filter_regex:
        spec["filterTags"] = {"pattern": filter_regex,
                              **({"extract": filter_extract} if filter_extract else {})}
    if reflect_digest:
        if reflect_digest not in REFLECT_DIGEST:
            raise BuildError("invalid value for --reflect-digest, must be one of "
                             + ", ".join(f"'{r}'" for r in REFLECT_DIGEST))
        spec["digestReflectionPolicy"] = reflect_digest
        if reflect_digest == "Always":
            spec["interval"] = go_duration(interval)
    return _object(ImagePolicy, name, namespace, labels, dict(sorted(spec.items())))


REFLECT_DIGEST = ("Never", "IfNotPresent", "Always")
SIGNING_KEY_TYPES = ("gpg", "ssh")


def layer_selector(text: str | None) -> dict[str, str] | None:
    """`--layer-selector <media-type>:<operation>` (operation extract or copy) -> the
    OCIRepository's spec.layerSelector."""
    if not text:
        return None
    media_type, sep, operation = text.rpartition(":")
    if not sep or not media_type or not operation:
        raise BuildError(f"invalid --layer-selector {text!r}: must be in the format "
                         "'<media-type>:<operation>'")
    if operation not in ("extract", "copy"):
        raise BuildError(f"invalid --layer-selector {text!r}: operation must be "
                         "'extract' or 'copy'")
    return {"mediaType": media_type, "operation": operation}


DEFAULT_AUTHOR_NAME = "fluxcdbot"
DEFAULT_AUTHOR_EMAIL = "fluxcdbot@users.noreply.github.com"


def image_update(
    name: str,
    namespace: str,
    *,
    git_repo_ref: str,
    git_repo_namespace: str | None = None,
    git_repo_path: str | None = None,
    checkout_branch: str | None = None,
    push_branch: str | None = None,
    author_name: str = DEFAULT_AUTHOR_NAME,
    author_email: str = DEFAULT_AUTHOR_EMAIL,
    commit_template: str | None = None,
    interval: str = "1m",
    signing_key_secret: str | None = None,
    signing_key_type: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An ImageUpdateAutomation committing setter updates to the GitRepository
    `git_repo_ref`, signing the commits with the key of --signing-key-secret (of
    --signing-key-type gpg or ssh; the controller's default, gpg, when not given)."""
    if not git_repo_ref:
        raise BuildError("--git-repo-ref is required")
    if not author_email:
        raise BuildError("--author-email is required")
    source: dict[str, str] = {"kind": "GitRepository", "name": git_repo_ref}
    if git_repo_namespace:
        source["namespace"] = git_repo_namespace
    commit: dict[str, Any] = {"author": {"email": author_email, "name": author_name}}
    if commit_template:
        commit["messageTemplate"] = commit_template
    if signing_key_type and not signing_key_secret:
        raise BuildError("--signing-key-type requires --signing-key-secret")
    if signing_key_type and signing_key_type not in SIGNING_KEY_TYPES:
        raise BuildError("--signing-key-type must be one of: gpg, ssh")
    if signing_key_secret:
        commit["signingKey"] = {"secretRef": {"name": signing_key_secret},
                                **({"type": signing_key_type} if signing_key_type else {})}
    git: dict[str, Any] = {}
    if checkout_branch:
        git["checkout"] = {"ref": {"branch": checkout_branch}}
    git["commit"] = commit
    if push_branch:
        git["push"] = {"branch": push_branch}
    spec: dict[str, Any] = {
        "git": git,
        "interval": go_duration(interval),
        "sourceRef": source,
        "update": {"path": git_repo_path or "./", "strategy": "Setters"},
    }
    return _object(ImageUpdateAutomation, name, namespace, labels, spec)


# --- secrets ------------------------------------------------------------------------------------


def git_secret(
    name: str,
    namespace: str,
    *,
    url: str,
    username: str | None = None,
    password: str | None = None,
    bearer_token: str | None = None,
    ca_crt: str | None = None,
    identity: str | None = None,
    identity_pub: str | None = None,
    known_hosts: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Secret with Git credentials for a GitRepository's secretRef: `username`/`password`
    or `bearerToken` (+ `ca.crt`) for http(s); `identity` (+ `identity.pub`, `password` for an
    encrypted key) and `known_hosts` for ssh."""
    scheme = urlparse(url).scheme
    data: dict[str, str] = {}
    if scheme == "ssh":
        if not identity:
            raise BuildError("an ssh URL needs --private-key-file")
        if not known_hosts:
            raise BuildError("an ssh URL needs --known-hosts-file (or --known-hosts) with the "
                             "server's host key, e.g. from `ssh-keyscan -p <port> <host>`")
        data["identity"] = identity
        if identity_pub:
            data["identity.pub"] = identity_pub
        data["known_hosts"] = known_hosts
        if password:
            data["password"] = password
    elif scheme in ("http", "https"):
        if bearer_token:
            if username or password:
                raise BuildError("--bearer-token cannot be combined with --username/--password")
            data["bearerToken"] = bearer_token
        elif username and password:
            data["username"] = username
            data["password"] = password
        elif username or password:
            raise BuildError("basic auth needs both --username and --password")
        elif not ca_crt:
            raise BuildError("give --username and --password, --bearer-token or --ca-file")
        if ca_crt:
            data["ca.crt"] = ca_crt
    else:
        raise BuildError(f"--url {url!r}: use an http(s):// or ssh:// URL")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(name, namespace, labels),
        "stringData": dict(sorted(data.items())),
    }
