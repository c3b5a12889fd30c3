"""`check --pre` and `check` against the test cluster, `install --export` accepted by the API
server (dry run), with `--shards` too, `uninstall --dry-run` leaving everything in place, and `version`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cli_harness import Run

from afflux.api import KINDS
from afflux.api._sharding import MAIN_SELECTOR, SHARD_KEY, leader_lease_name
from afflux.cli import main
from afflux.cli._bootstrapgen import LOCAL_DEPLOYMENT_ANNOTATION
from afflux.cli._errors import EXIT_UNREACHABLE
from harness.fixtures_cluster import Cluster
from harness.fixtures_controllers import conversion

pytestmark = pytest.mark.integration


def test_check_pre(afflux: Run, flux_crds: Cluster) -> None:
    res = afflux("check", "--pre")
    assert res.code == 0, res.err
    version = json.loads(flux_crds.kubectl("version", "-o", "json").stdout)["serverVersion"]
    lines = res.err.splitlines()
    assert lines[0] == "► checking prerequisites"
    assert lines[1].startswith(f"✔ Kubernetes {version['major']}.{version['minor']}")
    assert lines[1].endswith(">=1.28.0-0")
    assert lines[-1] == "✔ prerequisites checks passed"


def test_check_reports_crds_and_missing_controllers(afflux: Run, namespace: str) -> None:
    # in a namespace without operators: the CRDs pass, the controllers fail
    res = afflux("check", "-n", namespace, "--components", "source-controller")
    assert res.code == 1
    assert (f"✗ source-controller: not found (no Deployment and no leader-election Lease in "
            f"the {namespace} namespace)") in res.err
    for kind in KINDS:
        assert f"✔ {kind.PLURAL}.{kind.GROUP}/{kind.VERSION}" in res.err
    assert res.err.splitlines()[-1] == "✗ check failed"


def test_check_sees_a_local_controller_by_its_lease(afflux: Run, flux_crds: Cluster,
                                                    namespace: str) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "source-controller-leader-election", "namespace": namespace},
             "spec": {"holderIdentity": "laptop_1234", "leaseDurationSeconds": 3600,
                      "renewTime": now, "acquireTime": now}}
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(lease))
    git = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "repo", "namespace": namespace},
           "spec": {"interval": "1h", "url": "https://example.com/repo.git", "suspend": True}}
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(git))
    res = afflux("check", "-n", namespace, "--components", "source-controller")
    assert "✔ source-controller: running (leader lease held by laptop_1234" in res.err
    assert "✔ distribution: afflux-v0.1.0" in res.err
    # the GitRepositories have their operator; other kinds (the shared cluster may hold
    # objects of other tests) are judged by their own operators
    assert "✗ GitRepository:" not in res.err
    if res.code == 0:
        assert res.err.splitlines()[-1] == "✔ all checks passed"


def test_check_names_kinds_with_objects_and_no_operator(afflux: Run, flux_crds: Cluster,
                                                        namespace: str) -> None:
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": "orphan", "namespace": namespace},
          "spec": {"interval": "1h", "path": "./", "prune": False,
                   "sourceRef": {"kind": "GitRepository", "name": "repo"}}}
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(ks))
    res = afflux("check", "-n", namespace, "--components", "source-controller")
    assert res.code == 1
    assert re.search(r"^✗ Kustomization: \d+ objects? \(.*\) and kustomize-controller is "
                     r"not running: nothing reconciles them$", res.err, re.M), res.err
    assert res.err.splitlines()[-1] == "✗ check failed"


def test_install_export_applies_with_server_dry_run(afflux: Run, flux_crds: Cluster,
                                                    namespace: str) -> None:
    # into an existing namespace: a dry run creates no namespace for the objects after it
    res = afflux("install", "--export", "-n", namespace)
    assert res.code == 0, res.err
    docs = [d for d in yaml.safe_load_all(res.out) if d]
    kinds = [d["kind"] for d in docs]
    # the default components: flux's (source, kustomize, helm and notification)
    assert kinds[0] == "Namespace"
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert crds == {f"{k.PLURAL}.{k.GROUP}" for k in KINDS if not k.GROUP.startswith("image.")}
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        "source-controller", "kustomize-controller", "helm-controller",
        "notification-controller"}
    assert kinds.index("Deployment") > kinds.index("ClusterRoleBinding")
    # The export names the operators' Services as conversion webhooks; this cluster's CRDs
    # name the test session's loopback URLs, and a CRD may name only one of the two: point
    # the export's CRDs where the cluster's are, as `afflux install` does when it applies.
    docs = [next(iter(conversion().crds([d]))) if d["kind"] == "CustomResourceDefinition"
            else d for d in docs]
    done = flux_crds.kubectl("apply", "--server-side", "--dry-run=server",
                             "--field-manager=afflux", "--force-conflicts", "-f", "-",
                             input=yaml.safe_dump_all(docs), check=False)
    assert done.returncode == 0, done.stderr


def test_install_export_components_and_namespace(afflux: Run) -> None:
    res = afflux("install", "--export", "--components", "source-controller,kustomize-controller",
                 "-n", "gitops")
    docs = [d for d in yaml.safe_load_all(res.out) if d]
    deployments = [d["metadata"] for d in docs if d["kind"] == "Deployment"]
    assert sorted(m["name"] for m in deployments) == ["kustomize-controller",
                                                     "source-controller"]
    assert {m["namespace"] for m in deployments} == {"gitops"}
    assert docs[0] == {**docs[0], "kind": "Namespace"} and docs[0]["metadata"]["name"] == "gitops"
    crds = [d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert "helmreleases.helm.toolkit.fluxcd.io" not in crds
    assert "kustomizations.kustomize.toolkit.fluxcd.io" in crds


def test_uninstall_dry_run_changes_nothing(afflux: Run, flux_crds: Cluster) -> None:
    res = afflux("uninstall", "--dry-run")
    assert res.code == 0, res.err
    assert "► deleting toolkit.fluxcd.io custom resource definitions (dry run)" in res.err
    assert "✔ CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io deleted" \
        in res.err
    assert res.err.splitlines()[-1] == "✔ uninstall finished (dry run)"
    still = flux_crds.kubectl("get", "crd", "gitrepositories.source.toolkit.fluxcd.io")
    assert still.returncode == 0


def test_version(afflux: Run) -> None:
    res = afflux("version", "-o", "json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["afflux"].startswith("v")
    # v1beta2 is served through the conversion webhook
    assert info["crds"]["kustomizations.kustomize.toolkit.fluxcd.io"] == ["v1", "v1beta2"]
    assert set(info["crds"]["imagepolicies.image.toolkit.fluxcd.io"]) == {"v1", "v1beta2"}
    client = afflux("version", "--client")
    assert client.out == f"afflux: {info['afflux']}\n"


def test_an_unreachable_cluster_has_its_own_exit_code(
        flux_crds: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(flux_crds.kubeconfig).read_text()
    bad = tmp_path / "kubeconfig"
    bad.write_text(re.sub(r"https://127\.0\.0\.1:\d+", "https://127.0.0.1:1", text))
    assert main(["--kubeconfig", str(bad), "get", "ks"]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert "✗ cannot reach the Kubernetes API at https://127.0.0.1:1" in err
    assert "hint: is the cluster running?" in err


def test_install_dry_run_applies_every_object(afflux: Run, namespace: str) -> None:
    res = afflux("install", "--dry-run", "-n", namespace)
    assert res.code == 0, res.err
    lines = res.err.splitlines()
    assert lines[0] == f"► installing components in {namespace} namespace (dry run)"
    assert f"✔ Deployment/{namespace}/source-controller applied (dry run)" in lines
    assert "✔ CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io applied " \
        "(dry run)" in lines
    assert lines[-1] == "✔ install finished (dry run)"


def test_install_export_shards_apply_and_check_finds_a_sharded_local_operator(
        afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    res = afflux("install", "--export", "--shards", "2", "-n", namespace,
                 "--components", "source-controller,kustomize-controller")
    assert res.code == 0, res.err
    docs = [d for d in yaml.safe_load_all(res.out) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {f"{c}{s}" for c in ("source-controller", "kustomize-controller")
                                for s in ("", "-shard1", "-shard2")}
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Service"} >= {
        "source-controller-shard1", "source-controller-shard2"}
    # the API server takes the sharded Deployments and Services as they are
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Service", "ServiceAccount")]
    done = flux_crds.kubectl("apply", "--server-side", "--dry-run=server",
                             "--field-manager=afflux", "-f", "-",
                             input=yaml.safe_dump_all(workloads), check=False)
    assert done.returncode == 0, done.stderr
    # a local install of it: the main kustomize-controller takes the Lease of its selector
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    applied = []
    for name, selector, holder in (
            ("kustomize-controller", MAIN_SELECTOR, "laptop_main"),
            ("kustomize-controller-shard1", f"{SHARD_KEY} in (shard1)", "laptop_shard1")):
        dep = deployments[name]
        dep["metadata"].setdefault("annotations", {})[LOCAL_DEPLOYMENT_ANNOTATION] = "true"
        dep["spec"]["replicas"] = 0
        applied += [dep, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": leader_lease_name("kustomize-controller", selector),
                         "namespace": namespace},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3600,
                     "renewTime": now, "acquireTime": now}}]
    # shard 2's Deployment is there, but nothing runs it
    shard2 = deployments["kustomize-controller-shard2"]
    shard2["metadata"].setdefault("annotations", {})[LOCAL_DEPLOYMENT_ANNOTATION] = "true"
    shard2["spec"]["replicas"] = 0
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*applied, shard2]))
    res = afflux("check", "-n", namespace, "--components", "kustomize-controller")
    assert "✔ kustomize-controller: running (leader lease held by laptop_main" in res.err
    assert "✔ kustomize-controller-shard1: running (leader lease held by laptop_shard1" \
        in res.err
    assert "✗ kustomize-controller-shard2: runs locally" in res.err
    assert res.code == 1
