"""The install manifests: built from the repository's `config/default` with the kustomize
binary (or, without one, by reading the kustomization's resource files in order), then
narrowed to `--components` and moved to `--namespace`. The selection and rewriting
functions are pure; `build_install_docs` does the reading."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from afflux.api._distribution import INSTANCE_LABEL

from ._errors import CLIError

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_REGISTRY",
    "build_install_docs",
    "find_config_dir",
    "operator_image",
    "set_operator_image",
    "install_order",
    "retarget_namespace",
    "select_components",
]

DEFAULT_NAMESPACE = "flux-system"
COMPONENT_LABEL = "app.kubernetes.io/component"

#: apply order: what others depend on first
_ORDER = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
          "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Secret", "Service",
          "Deployment")


def find_config_dir(explicit: str | Path | None = None) -> Path:
    """`--manifests`, else `config/` of the checkout afflux runs from, else the copy of it
    the installed package carries (`afflux/manifests`, see setup.py)."""
    here = Path(__file__).resolve().parents[1]
    candidates = [Path(explicit)] if explicit else [
        here / "config",
        here / "manifests",
        Path.cwd() / "config",
    ]
    for c in candidates:
        if (c / "default" / "kustomization.yaml").is_file():
            return c
    raise CLIError(
        "cannot find the install manifests (config/default/kustomization.yaml)",
        "pass --manifests <dir> pointing at afflux's config/ directory",
    )


def _kustomize_binary() -> str | None:
    try:
        from afflux.cli.devenv._tools import tool_path  # noqa: PLC0415 - optional

        path = tool_path("kustomize")
        if Path(path).is_file():
            return str(path)
    except Exception:  # noqa: BLE001 - the dev tools are optional
        pass
    return shutil.which("kustomize")


def _read_kustomization(directory: Path) -> list[dict[str, Any]]:
    """A plain reading of a kustomization: its resources in order (files and directories),
    with its `namespace:` set on namespaced objects. Enough for afflux's own config."""
    kfile = directory / "kustomization.yaml"
    spec = yaml.safe_load(kfile.read_text()) or {}
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources") or []:
        path = (directory / entry).resolve()
        if path.is_dir():
            docs.extend(_read_kustomization(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    namespace = spec.get("namespace")
    if namespace:
        for doc in docs:
            if doc.get("kind") not in _CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
            for subject in doc.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace
    return docs


_CLUSTER_SCOPED = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole",
                             "ClusterRoleBinding", "PriorityClass", "StorageClass",
                             "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"})


def build_install_docs(config_dir: Path, *, use_kustomize: bool = True) -> list[dict[str, Any]]:
    """The objects of `config_dir/default`, by `kustomize build` when the binary is there."""
    default = config_dir / "default"
    binary = _kustomize_binary() if use_kustomize else None
    if binary:
        done = subprocess.run([binary, "build", str(default)], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise CLIError(f"kustomize build {default} failed: {done.stderr.strip()}")
        return [d for d in yaml.safe_load_all(done.stdout) if isinstance(d, dict)]
    return _read_kustomization(default)


def build_ui_docs(config_dir: Path) -> list[dict[str, Any]]:
    """The objects of `config_dir/ui`: the in-cluster web UI (`afflux install --with-ui`)."""
    return _read_kustomization(config_dir / "ui")


def select_components(
    docs: Iterable[Mapping[str, Any]], components: Sequence[str]
) -> list[dict[str, Any]]:
    """The objects of the chosen controllers (by their `app.kubernetes.io/component` label),
    and the ones that belong to none (the Namespace)."""
    chosen = set(components)
    out = []
    for doc in docs:
        component = ((doc.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)
        if component is None or component in chosen:
            out.append(copy.deepcopy(dict(doc)))
    return out


def retarget_namespace(docs: Iterable[Mapping[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """Move the install from flux-system to `namespace` (the Namespace object, namespaced
    objects, ServiceAccount subjects of bindings, the `app.kubernetes.io/instance` label)."""
    out = []
    for doc in docs:
        new = copy.deepcopy(dict(doc))
        meta = new.setdefault("metadata", {})
        if new.get("kind") == "Namespace" and meta.get("name") == DEFAULT_NAMESPACE:
            meta["name"] = namespace
        _retarget_instance(meta, namespace)
        template = ((new.get("spec") or {}).get("template") or {}).get("metadata")
        if isinstance(template, dict):
            _retarget_instance(template, namespace)
        if meta.get("namespace") == DEFAULT_NAMESPACE:
            meta["namespace"] = namespace
        for subject in new.get("subjects") or []:
            if subject.get("namespace") == DEFAULT_NAMESPACE:
                subject["namespace"] = namespace
        out.append(new)
    return out


def _retarget_instance(meta: dict[str, Any], namespace: str) -> None:
    labels = meta.get("labels") or {}
    if labels.get(INSTANCE_LABEL) == DEFAULT_NAMESPACE:
        labels[INSTANCE_LABEL] = namespace


def install_order(docs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Namespace, CRDs, RBAC, Services, then Deployments (stable within a kind)."""
    rank = {k: i for i, k in enumerate(_ORDER)}
    return sorted(docs, key=lambda d: rank.get(str(d.get("kind")), len(_ORDER)))


#: Where afflux's released image lives; `--registry` names another (a mirror, a dev registry).
DEFAULT_REGISTRY = "ghcr.io/afflux"
IMAGE_NAME = "afflux"


def operator_image(registry: str, version: str) -> str:
    """The operators' image of afflux `version` in `registry`: `<registry>/afflux:v<version>`."""
    tag = version if version.startswith("v") else f"v{version}"
    return f"{registry.rstrip('/')}/{IMAGE_NAME}:{tag}"


def _is_operator_image(ref: str) -> bool:
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == IMAGE_NAME and "/" in name


def set_operator_image(docs: Iterable[Mapping[str, Any]], image: str) -> list[dict[str, Any]]:
    """Every container of the Deployments that runs afflux's image runs `image` instead
    (the manifests in config/ name the image without a version)."""
    out = []
    for doc in docs:
        new = copy.deepcopy(dict(doc))
        if new.get("kind") == "Deployment":
            pod = ((new.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                if _is_operator_image(str(container.get("image") or "")):
                    container["image"] = image
        out.append(new)
    return out
