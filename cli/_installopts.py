"""The options `install` and `bootstrap git` share with Flux (`--watch-all-namespaces`,
`--log-level`, `--cluster-domain`, `--toleration-keys`, `--image-pull-secret`,
`--registry-creds`, `--network-policy`, `--version`), as pure functions over the install
objects. `customize` does to afflux's manifests what Flux's generated kustomization does to
its own:

- every operator's Deployment gets `--watch-all-namespaces=<bool>` and `--log-level=<level>`;
  all but notification-controller get `--events-addr=http://notification-controller.
  $(RUNTIME_NAMESPACE).svc.<cluster-domain>./` when notification-controller is installed;
  source-controller (and its shards) advertise `<name>.$(RUNTIME_NAMESPACE).svc.<domain>.`;
- every Deployment gets one toleration per key (`operator: Exists`) and the image pull
  Secret in `imagePullSecrets`;
- `--network-policy` (default true) adds Flux's three NetworkPolicies: allow-egress (the
  namespace's pods may reach anything and each other), allow-scraping (metrics port 8080
  from any namespace) and allow-webhooks (notification-controller from any namespace).

`--version`: afflux has one version of its operators, the one its CLI was built with (the
manifests come from its own config/, never from a download), so `--version` accepts that
version (`v0.1.0`), `latest` and empty, and refuses any other with a hint rather than
install something other than what was asked.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from afflux.api._distribution import INSTANCE_LABEL

from ._errors import CLIError

__all__ = [
    "LOG_LEVELS",
    "InstallOptions",
    "add_install_flags",
    "bootstrapped",
    "check_version",
    "customize",
    "network_policies",
    "options_from_args",
    "other_manager",
    "pull_secret",
    "split_registry_creds",
]

LOG_LEVELS = ("debug", "info", "error")
COMPONENT_LABEL = "app.kubernetes.io/component"
NOTIFICATION = "notification-controller"
_ADV = re.compile(r"^(--storage-adv-addr=[^.]+\.\$\(RUNTIME_NAMESPACE\)\.svc\.).*$")


@dataclass(frozen=True)
class InstallOptions:
    """What the shared flags ask of the install objects (Flux's defaults)."""

    components: Sequence[str] = ()
    watch_all_namespaces: bool = True
    log_level: str = "info"
    cluster_domain: str = "cluster.local"
    toleration_keys: Sequence[str] = ()
    image_pull_secret: str = ""
    network_policy: bool = True


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def _level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level: choose from {', '.join(LOG_LEVELS)}")
    return text.lower()


def add_install_flags(p: argparse.ArgumentParser, what: str = "install") -> None:
    """The flags `install` and `bootstrap git` share with Flux (booleans take =true|false)."""
    p.add_argument("--version", dest="toolkit_version", default="", metavar="VERSION",
                   help="the afflux version to install: only this CLI's own (or latest) "
                        "is available")
    p.add_argument("--watch-all-namespaces", action="store_true", default=True,
                   help="the operators watch every namespace; =false: only the one they are "
                        "installed in (default true)")
    p.add_argument("--network-policy", action="store_true", default=True,
                   help="add NetworkPolicies that deny ingress to the operators from other "
                        "namespaces but for metrics and webhooks (default true)")
    p.add_argument("--log-level", type=_level, default="info",
                   help=f"the operators' log level: {', '.join(LOG_LEVELS)} (default info)")
    p.add_argument("--cluster-domain", default="cluster.local",
                   help="the cluster's internal domain, in the operators' Service addresses "
                        "(default cluster.local)")
    p.add_argument("--toleration-keys", type=_keys, default=[],
                   help="taint keys the operators' pods tolerate, comma-separated")
    p.add_argument("--image-pull-secret", default="",
                   help="Secret (in the install namespace) to pull the operators' image with")
    p.add_argument("--registry-creds", default="", metavar="USER:PASSWORD",
                   help="credentials of --registry, kept in the Secret --image-pull-secret "
                        "names (required with it)")
    p.add_argument("--force", action="store_true",
                   help=f"{what} over an afflux or Flux install that another tool (such as "
                        "Helm) manages, without asking")


def options_from_args(args: argparse.Namespace, components: Sequence[str]) -> InstallOptions:
    """InstallOptions of parsed flags (Flux's defaults for a command without them)."""
    return InstallOptions(
        components=tuple(components),
        watch_all_namespaces=getattr(args, "watch_all_namespaces", True),
        log_level=getattr(args, "log_level", "info"),
        cluster_domain=(getattr(args, "cluster_domain", "") or "cluster.local").strip("."),
        toleration_keys=tuple(getattr(args, "toleration_keys", ()) or ()),
        image_pull_secret=getattr(args, "image_pull_secret", "") or "",
        network_policy=getattr(args, "network_policy", True),
    )


def check_version(requested: str | None, own: str) -> str:
    """The version to install: `own` (`v0.1.0`) for empty, `latest` or `own` itself;
    CLIError otherwise (Flux's rule: a version is written with a leading `v`)."""
    text = (requested or "").strip()
    own = own if own.startswith("v") else f"v{own}"
    if text in ("", "latest", own):
        return own
    if not text.startswith("v"):
        raise CLIError(f"targeted version '{text}' must be prefixed with 'v'",
                       f"e.g. --version={own}")
    raise CLIError(f"targeted version '{text}' is not available: this afflux CLI installs "
                   f"its own operators, afflux {own}",
                   f"omit --version (or pass --version={own}), or run the afflux CLI of "
                   "the version you want")


def split_registry_creds(creds: str, image_pull_secret: str) -> tuple[str, str]:
    """`--registry-creds user:password` as (user, password); CLIError when malformed or
    when `--image-pull-secret` does not name the Secret to keep them in."""
    if not image_pull_secret:
        raise CLIError("--registry-creds requires --image-pull-secret to be set",
                       "name the Secret, e.g. --image-pull-secret=regcred")
    parts = creds.split(":")
    if len(parts) != 2 or not parts[0]:
        raise CLIError("invalid --registry-creds format, expected 'user:password'",
                       "e.g. --registry-creds=robot:s3cr3t")
    return parts[0], parts[1]


def pull_secret(name: str, namespace: str, registry: str, username: str,
                password: str) -> dict[str, Any]:
    """A `kubernetes.io/dockerconfigjson` Secret with the credentials of `registry`."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = {"auths": {registry: {"username": username, "password": password,
                                   "auth": auth}}}
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(
            json.dumps(config, sort_keys=True).encode()).decode()},
    }


def network_policies(namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Flux's three NetworkPolicies of the install namespace (see the module docstring)."""

    def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                "spec": spec}

    return [
        policy("allow-egress", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                                "ingress": [{"from": [{"podSelector": {}}]}],
                                "egress": [{}]}),
        policy("allow-scraping", {"podSelector": {}, "policyTypes": ["Ingress"],
                                  "ingress": [{"from": [{"namespaceSelector": {}}],
                                               "ports": [{"port": 8080, "protocol": "TCP"}]}]}),
        policy("allow-webhooks", {"podSelector": {"matchLabels": {"app": NOTIFICATION}},
                                  "policyTypes": ["Ingress"],
                                  "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
    ]


def _set_arg(args: list[str], flag: str, value: str) -> list[str]:
    """`args` with `flag=value` in place of the flag's first occurrence (bare or with a
    value), or added at the end."""
    out, done = [], False
    for arg in args:
        if arg == flag or arg.startswith(f"{flag}="):
            if not done:
                out.append(f"{flag}={value}")
                done = True
            continue
        out.append(arg)
    if not done:
        out.append(f"{flag}={value}")
    return out


def _operator_args(args: list[str], operator: str, opts: InstallOptions) -> list[str]:
    args = _set_arg(args, "--watch-all-namespaces", str(opts.watch_all_namespaces).lower())
    args = _set_arg(args, "--log-level", opts.log_level)
    if operator != NOTIFICATION and NOTIFICATION in opts.components:
        args = _set_arg(args, "--events-addr", f"http://{NOTIFICATION}.$(RUNTIME_NAMESPACE)"
                                               f".svc.{opts.cluster_domain}./")
    return [_ADV.sub(lambda m: f"{m.group(1)}{opts.cluster_domain}.", a) for a in args]


def customize(docs: Iterable[Mapping[str, Any]], namespace: str,
              opts: InstallOptions) -> list[dict[str, Any]]:
    """The install objects with the options applied (the module docstring says how)."""
    out: list[dict[str, Any]] = []
    for doc in docs:
        new = copy.deepcopy(dict(doc))
        if new.get("kind") == "Deployment":
            component = ((new.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)
            pod = new.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
            if str(component or "").endswith("-controller"):
                for container in pod.get("containers") or []:
                    if str(container.get("name")) == "manager":
                        container["args"] = _operator_args(list(container.get("args") or []),
                                                           str(component), opts)
            if opts.toleration_keys:
                tolerations = [t for t in pod.get("tolerations") or []
                               if t.get("key") not in opts.toleration_keys]
                pod["tolerations"] = tolerations + [{"key": k, "operator": "Exists"}
                                                    for k in opts.toleration_keys]
            if opts.image_pull_secret:
                secrets = [s for s in pod.get("imagePullSecrets") or []
                           if s.get("name") != opts.image_pull_secret]
                pod["imagePullSecrets"] = [*secrets, {"name": opts.image_pull_secret}]
        out.append(new)
    if opts.network_policy:
        out += network_policies(namespace, _namespace_labels(out, namespace))
    return out


def _namespace_labels(docs: Sequence[Mapping[str, Any]], namespace: str) -> dict[str, str]:
    """The install's own labels (part-of, version, distribution) as the Namespace has them."""
    for doc in docs:
        if doc.get("kind") == "Namespace":
            labels = (doc.get("metadata") or {}).get("labels") or {}
            return {k: str(v) for k, v in labels.items()
                    if not k.startswith("pod-security.")} | {INSTANCE_LABEL: namespace}
    return {INSTANCE_LABEL: namespace}


#: labels kustomize-controller puts on what it applies: on the CRDs, a bootstrap's sign
BOOTSTRAP_LABELS = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


def bootstrapped(crd_labels: Mapping[str, str]) -> bool:
    """Whether the GitRepository CRD's labels say a bootstrap's Kustomization applied it."""
    return any(k in crd_labels for k in BOOTSTRAP_LABELS)


def other_manager(crd_labels: Mapping[str, str]) -> str | None:
    """The tool (other than Flux or afflux) that manages the install, e.g. Helm; None when
    there is none."""
    manager = crd_labels.get(MANAGED_BY_LABEL, "")
    return None if manager in ("", "flux", "afflux") else manager
