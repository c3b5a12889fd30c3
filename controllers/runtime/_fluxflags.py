"""Every flag of Flux's controllers (Flux 2.9: source-controller v1.9, kustomize-controller
v1.9, helm-controller v1.6, notification-controller v1.9, image-reflector- and
image-automation-controller v1.2), and what afflux does with each. Pure data.

A Deployment written for Flux (or patched the way Flux documents, e.g. the multi-tenancy
lockdown's `--no-cross-namespace-refs=true --no-remote-bases=true
--default-service-account=default`) must start an afflux operator, never crash-loop it. So
`parse_options` gives every operator all of its controller's Flux flags: those afflux
implements are the operator's own (same name, same meaning), and each one it does not
implement is still accepted, parsed with Flux's type, and named in a start-up log line when
it is given a value other than Flux's default (`warn`: the feature is missing; `info`: the
flag is not needed in afflux, e.g. `--events-addr`, since notification-controller reads the
Kubernetes Events the operators record). docs/flux-compatibility.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["FLUX_FLAGS", "FluxFlag", "flux_flags", "ignored_notes"]

Kind = Literal["bool", "duration", "int", "float", "str", "list", "addr"]


@dataclass(frozen=True)
class FluxFlag:
    """One flag: Flux's name, type and default (as text), an example value, and, for a flag
    afflux accepts without acting on it, why (`level` warn: missing feature; info: not
    needed)."""

    name: str
    kind: Kind
    default: str
    example: str
    ignored: str = ""  # empty: implemented by afflux with Flux's meaning
    level: Literal["warn", "info"] = "warn"


def _f(name: str, kind: Kind, default: str, example: str, ignored: str = "",
       level: Literal["warn", "info"] = "warn") -> FluxFlag:
    return FluxFlag(name, kind, default, example, ignored, level)


_NO_CLOUD = "afflux has no cloud workload identity (no token cache)"
_NO_EVENTS = ("not needed: notification-controller reads the Kubernetes Events the operators "
              "record")

#: the flags of Flux's runtime (fluxcd/pkg/runtime) every controller has
_COMMON: Final = (
    _f("metrics-addr", "addr", ":8080", ":8080"),
    _f("health-addr", "addr", ":9440", ":9440"),
    _f("events-addr", "str", "", "http://notification-controller.flux-system.svc/",
       _NO_EVENTS, "info"),
    _f("concurrent", "int", "4", "4"),
    _f("log-level", "str", "info", "debug"),
    _f("log-encoding", "str", "json", "console"),
    _f("enable-leader-election", "bool", "false", "true"),
    _f("leader-election-lease-duration", "duration", "35s", "35s"),
    _f("leader-election-renew-deadline", "duration", "30s", "30s"),
    _f("leader-election-retry-period", "duration", "5s", "5s"),
    _f("leader-election-release-on-cancel", "bool", "true", "true",
       "afflux always releases its Lease when it stops", "info"),
    _f("kube-api-qps", "float", "50", "100"),
    _f("kube-api-burst", "int", "300", "600"),
    _f("min-retry-delay", "duration", "750ms", "1s"),
    _f("max-retry-delay", "duration", "15m", "10m"),
    _f("watch-all-namespaces", "bool", "true", "false"),
    _f("watch-label-selector", "str", "", "sharding.fluxcd.io/key in (shard1)"),
    _f("watch-configs-label-selector", "str", "reconcile.fluxcd.io/watch=Enabled",
       "owner!=helm"),
    _f("feature-gates", "str", "", "ObjectLevelWorkloadIdentity=true",
       "afflux has none of Flux's feature gates but kustomize-controller's "
       "StrictPostBuildSubstitutions and DisableFailFastBehavior, kustomize- and "
       "helm-controller's ObjectLevelWorkloadIdentity and AdditiveCELDependencyCheck and helm-controller's "
       "UseHelm3Defaults"),
    _f("token-cache-max-size", "int", "100", "0", _NO_CLOUD),
    _f("token-cache-max-duration", "duration", "1h", "30m", _NO_CLOUD),
    _f("default-service-account", "str", "", "default"),
)
_ACL = (_f("no-cross-namespace-refs", "bool", "false", "true"),)
_JITTER = (_f("interval-jitter-percentage", "int", "5", "10"),)
# kustomize- and helm-controller: remote clusters of kubeConfig.configMapRef (provider
# generic) take ServiceAccount tokens (runtime._workload), so these flags act there
_KUBECONFIG = (
    _f("insecure-kubeconfig-exec", "bool", "false", "true"),
    _f("insecure-kubeconfig-tls", "bool", "false", "true"),
    _f("default-kubeconfig-service-account", "str", "", "flux-remote"),
    _f("feature-gates", "str", "", "ObjectLevelWorkloadIdentity=true"),
    _f("token-cache-max-size", "int", "100", "0"),
    _f("token-cache-max-duration", "duration", "1h", "30m"),
)
_REQUEUE = (_f("requeue-dependency", "duration", "30s", "5s"),)
# the controllers with no watch of ConfigMaps or Secrets (they read theirs at each reconcile)
_NO_CONFIG_WATCH = (
    _f("watch-configs-label-selector", "str", "reconcile.fluxcd.io/watch=Enabled",
       "owner!=helm", "not needed: this controller watches no ConfigMaps or Secrets (it "
       "reads those it uses at each reconcile)", "info"),
)
_SSH = (
    _f("ssh-kex-algos", "list", "", "curve25519-sha256",
       "afflux uses its SSH library's key-exchange algorithms"),
    _f("ssh-hostkey-algos", "list", "", "ssh-ed25519",
       "afflux uses its SSH library's host-key algorithms"),
)

_PER_CONTROLLER: Final[dict[str, tuple[FluxFlag, ...]]] = {
    "source-controller": (
        *_JITTER, *_REQUEUE, *_SSH, *_NO_CONFIG_WATCH,
        _f("storage-path", "str", "/data", "/data"),
        _f("storage-addr", "addr", ":9090", ":9090"),
        _f("storage-adv-addr", "str", "", "source-controller.flux-system.svc.cluster.local."),
        _f("artifact-retention-ttl", "duration", "1m", "60s"),
        _f("artifact-retention-records", "int", "2", "2"),
        _f("artifact-digest-algo", "str", "sha256", "sha512"),
        _f("helm-index-max-size", "int", "52428800", "1048576"),
        _f("helm-chart-max-size", "int", "10485760", "1048576"),
        _f("helm-chart-file-max-size", "int", "5242880", "1048576"),
        _f("helm-cache-max-size", "int", "0", "10"),
        _f("helm-cache-ttl", "str", "15m", "60m"),
        _f("helm-cache-purge-interval", "str", "1m", "5m"),
    ),
    "kustomize-controller": (
        *_ACL, *_JITTER, *_KUBECONFIG, *_REQUEUE,
        _f("no-remote-bases", "bool", "false", "true"),
        _f("concurrent-ssa", "int", "4", "4"),
        _f("http-retry", "int", "9", "9"),
        _f("sops-age-secret", "str", "", "sops-age"),
        _f("sops-vault-configmap", "str", "", "sops-vault",
           "SOPS decryption through Vault is not implemented"),
        _f("override-manager", "list", "", "kubectl"),
        _f("custom-apply-stage-kinds", "str", "", "gateway.networking.k8s.io/Gateway"),
        _f("default-decryption-service-account", "str", "", "sops", _NO_CLOUD),
    ),
    "helm-controller": (
        *_ACL, *_JITTER, *_KUBECONFIG, *_REQUEUE,
        _f("graceful-shutdown-timeout", "duration", "10m", "1m"),
        _f("http-retry", "int", "9", "9"),
        _f("http-timeout", "duration", "30s", "1m"),
        _f("oom-watch-memory-threshold", "int", "95", "90"),
        _f("oom-watch-interval", "duration", "500ms", "1s"),
        _f("oom-watch-max-memory-path", "str", "", "/sys/fs/cgroup/memory.max"),
        _f("oom-watch-current-memory-path", "str", "", "/sys/fs/cgroup/memory.current"),
        _f("snapshot-digest-algo", "str", "sha256", "sha512"),
        _f("override-manager", "list", "", "kubectl"),
    ),
    "notification-controller": (
        *_ACL,
        _f("events-addr", "addr", ":9090", ":9090"),  # where it listens for Flux's events
        _f("receiverAddr", "addr", ":9292", ":9292"),
        _f("rate-limit-interval", "duration", "5m", "1m"),
        _f("export-http-path-metrics", "bool", "false", "true",
           "afflux does not export per-path HTTP metrics"),
    ),
    "image-reflector-controller": (
        *_ACL, *_REQUEUE, *_NO_CONFIG_WATCH,
        _f("storage-path", "str", "/data", "/data"),
        _f("storage-value-log-file-size", "int", "268435456", "268435456",
           "afflux's tag store is not Badger"),
        _f("storage-compression-threshold", "int", "64", "64",
           "afflux's tag store is not Badger"),
        _f("gc-interval", "int", "10", "10", "afflux's tag store is not Badger"),
    ),
    "image-automation-controller": (*_ACL, *_SSH, *_NO_CONFIG_WATCH),
}

#: controller -> its Flux flags, the runtime's first
FLUX_FLAGS: Final[dict[str, tuple[FluxFlag, ...]]] = {
    controller: tuple({f.name: f for f in (*_COMMON, *own)}.values())
    for controller, own in _PER_CONTROLLER.items()
}
# Flux's notification-controller has no --watch-label-selector
FLUX_FLAGS["notification-controller"] = tuple(
    f for f in FLUX_FLAGS["notification-controller"] if f.name != "watch-label-selector")


def flux_flags(controller: str) -> tuple[FluxFlag, ...]:
    """The Flux flags of `controller` (none for a name Flux does not have)."""
    return FLUX_FLAGS.get(controller, ())


def ignored_notes(controller: str, given: dict[str, str]) -> list[tuple[str, str]]:
    """(level, message) for each flag afflux does not act on that was given a value other
    than Flux's default (`given`: flag name -> the text it was given)."""
    out = []
    for flag in flux_flags(controller):
        if not flag.ignored or flag.name not in given:
            continue
        value = given[flag.name]
        if value.strip().lower() == flag.default.strip().lower():
            continue
        out.append((flag.level, f"--{flag.name}={value} has no effect in afflux: {flag.ignored}"))
    return out
