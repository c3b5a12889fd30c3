"""`afflux install` with Flux's install options against the real API server: the objects the
flags shape (operator args, tolerations, image pull Secret, NetworkPolicies) are accepted by
a server-side dry run, `--registry-creds` makes a dockerconfigjson Secret, `--version`
refuses what this CLI cannot install, and an existing install managed by another tool (or
bootstrapped) is overridden only as Flux does."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import yaml
from cli_harness import Run

from afflux.cli._errors import EXIT_CANCELLED
from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

CRD = "crd/gitrepositories.source.toolkit.fluxcd.io"
FLAGS = ("--components=source-controller,kustomize-controller,notification-controller",
         "--watch-all-namespaces=false", "--log-level=debug", "--cluster-domain=corp.example",
         "--toleration-keys=dedicated,gpu", "--image-pull-secret=regcred")


def test_install_options_shape_objects_the_api_server_accepts(
        afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    res = afflux("install", "--export", "-n", namespace, *FLAGS)
    assert res.code == 0, res.err
    docs = [d for d in yaml.safe_load_all(res.out) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    kustomize = deployments["kustomize-controller"]["spec"]["template"]["spec"]
    assert {"--watch-all-namespaces=false", "--log-level=debug",
            "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc."
            "corp.example./"} <= set(kustomize["containers"][0]["args"])
    source = deployments["source-controller"]["spec"]["template"]["spec"]
    assert "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.corp.example." \
        in source["containers"][0]["args"]
    for dep in deployments.values():
        pod = dep["spec"]["template"]["spec"]
        assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"},
                                      {"key": "gpu", "operator": "Exists"}]
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert sorted(p["metadata"]["name"] for p in policies) == [
        "allow-egress", "allow-scraping", "allow-webhooks"]
    # the API server takes them as they are
    workloads = [d for d in docs if d["kind"] in ("Deployment", "NetworkPolicy")]
    done = flux_crds.kubectl("apply", "--server-side", "--dry-run=server",
                             "--field-manager=afflux", "-f", "-",
                             input=yaml.safe_dump_all(workloads), check=False)
    assert done.returncode == 0, done.stderr
    assert "networkpolicy.networking.k8s.io/allow-webhooks serverside-applied (server dry " \
        "run)" in done.stdout

    without = afflux("install", "--export", "-n", namespace, "--network-policy=false")
    assert not [d for d in yaml.safe_load_all(without.out) if d and d["kind"] == "NetworkPolicy"]


def test_install_registry_creds_apply_a_pull_secret(afflux: Run, namespace: str) -> None:
    res = afflux("install", "--dry-run", "-n", namespace, *FLAGS,
                 "--registry=registry.example/mirror", "--registry-creds=robot:pull-token")
    assert res.code == 0, res.err
    lines = res.err.splitlines()
    assert f"✔ Secret/{namespace}/regcred applied (dry run)" in lines
    assert f"✔ NetworkPolicy/{namespace}/allow-scraping applied (dry run)" in lines
    assert "pull-token" not in res.err

    bad = afflux("install", "--dry-run", "-n", namespace, "--registry-creds=robot")
    assert bad.code != 0
    assert "✗ --registry-creds requires --image-pull-secret to be set" in bad.err


def test_install_version(afflux: Run, namespace: str) -> None:
    ok = afflux("install", "--export", "-n", namespace, "--version=latest")
    assert ok.code == 0, ok.err
    images = {c["image"] for d in yaml.safe_load_all(ok.out) if d and d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    own = afflux("version", "--client").out.split()[-1]
    assert images == {f"ghcr.io/afflux/afflux:{own}"}
    res = afflux("install", "--export", "-n", namespace, "--version=v2.9.0")
    assert res.code != 0
    assert f"✗ targeted version 'v2.9.0' is not available: this afflux CLI installs its own " \
        f"operators, afflux {own}" in res.err


@pytest.fixture
def crd_label(flux_crds: Cluster) -> Iterator[Callable[[str, str], None]]:
    """`crd_label(key, value)` labels the GitRepository CRD for the test (removed after)."""
    keys: list[str] = []

    def label(key: str, value: str) -> None:
        keys.append(key)
        flux_crds.kubectl("label", "--overwrite", CRD, f"{key}={value}")

    yield label
    for key in keys:
        flux_crds.kubectl("label", CRD, f"{key}-", check=False)


def test_install_over_another_tool_needs_force(
        afflux: Run, namespace: str, crd_label: Callable[[str, str], None]) -> None:
    crd_label("app.kubernetes.io/managed-by", "Helm")
    res = afflux("install", "--dry-run", "-n", namespace)
    assert res.code == EXIT_CANCELLED, res.err
    assert "has been installed on this cluster with Helm" in res.err
    assert "✗ install cancelled" in res.err
    assert "hint: pass --force to override the Helm installation" in res.err
    forced = afflux("install", "--dry-run", "--force", "-n", namespace)
    assert forced.code == 0, forced.err
    assert forced.err.splitlines()[-1] == "✔ install finished (dry run)"


def test_install_refuses_a_bootstrapped_cluster(
        afflux: Run, namespace: str, crd_label: Callable[[str, str], None]) -> None:
    crd_label("kustomize.toolkit.fluxcd.io/name", "flux-system")
    res = afflux("install", "--force", "-n", namespace)
    assert res.code != 0
    assert "✗ this cluster has already been bootstrapped" in res.err
    assert "hint: run `afflux bootstrap git` to upgrade it" in res.err
    assert "applied" not in res.err
