"""The real `flux` CLI (built from fluxcd/flux2 at FLUX_VERSION by hack/tools.sh) reads an
afflux install: `bootstrap --local` into the test's namespace with source- and
kustomize-controller running as local processes, then flux's own commands against it.

What the flux CLI needs, and where afflux gives it (docs/flux-compatibility.md has the table):
- `flux check --pre`: only the Kubernetes version (>=1.33).
- `flux check`: the GitRepository CRD (its `app.kubernetes.io/version` and part-of labels make
  the distribution line), Deployments labelled `app.kubernetes.io/part-of=flux` in the
  namespace, each Current by kstatus (a `--local` install has them at zero replicas, which
  kstatus calls Current), and CRDs labelled part-of=flux with a stored version.
- `flux version`: the same Deployments (it prints their images' tags).
- `get`, `reconcile`, `tree`: the objects and their status, as Flux writes them.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from cli_harness import Run, https_flags, local_bootstrap, new_repo

from afflux.cli._manifests import DEFAULT_REGISTRY, operator_image
from afflux.cli._version import version as cli_version
from afflux.cli.devenv import GitHTTPServer, TestCA
from afflux.cli.devenv._tools import tool_path
from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration


def flux(cluster: Cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the pinned flux CLI against the test cluster (a missing binary fails the test)."""
    return subprocess.run([str(tool_path("flux")), f"--kubeconfig={cluster.kubeconfig}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_the_flux_cli_reads_an_afflux_install(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, operators: None,
) -> None:
    repo = new_repo(git_server, "fluxcli")
    res = afflux(*local_bootstrap(namespace, *https_flags(git_server, repo, test_ca.ca_cert)))
    assert res.code == 0, res.err
    ns = f"--namespace={namespace}"

    pre = flux(flux_crds, "check", "--pre", ns)
    assert pre.returncode == 0, pre.stderr
    assert "✔ prerequisites checks passed" in pre.stderr

    check = flux(flux_crds, "check", ns, "--components=source-controller,kustomize-controller")
    assert check.returncode == 0, check.stderr
    assert "✔ distribution: flux-v0.1.0" in check.stderr
    assert "✔ bootstrapped: true" in check.stderr
    assert "✔ kustomize-controller: deployment ready" in check.stderr
    assert "✔ kustomizations.kustomize.toolkit.fluxcd.io/v1" in check.stderr
    assert "✔ all checks passed" in check.stderr

    version = flux(flux_crds, "version", ns, "-o", "json")
    assert version.returncode == 0, version.stderr
    info = json.loads(version.stdout)
    assert info["flux"] == "v2.9.5"
    assert info["distribution"] == "flux-v0.1.0"
    # the tag of the operators' image, ghcr.io/afflux/afflux:v<the installed version>
    tag = operator_image(DEFAULT_REGISTRY, cli_version()).rsplit(":", 1)[1]
    assert info["afflux"] == tag

    everything = flux(flux_crds, "get", "all", "-A")
    assert everything.returncode == 0, everything.stderr
    got = flux(flux_crds, "get", "all", ns)
    assert got.returncode == 0, got.stderr
    assert "gitrepository/flux-system" in got.stdout
    assert "kustomization/flux-system" in got.stdout

    reconciled = flux(flux_crds, "reconcile", "ks", "flux-system", ns, "--with-source")
    assert reconciled.returncode == 0, reconciled.stderr
    assert "✔ applied revision main@sha1:" in reconciled.stderr

    tree = flux(flux_crds, "tree", "ks", "flux-system", ns, "-o", "json")
    assert tree.returncode == 0, tree.stderr
    resources = {r["resource"]["Name"] for r in json.loads(tree.stdout)["resources"]}
    assert {"flux-system", "kustomize-controller", namespace} <= resources

    hr = flux(flux_crds, "get", "hr", ns)
    assert hr.returncode == 1  # flux: "no ... objects found" is an error
    assert "no HelmRelease objects found" in hr.stderr
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "podinfo", "namespace": namespace},
               "spec": {"interval": "10m", "suspend": True,
                        "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                                           "sourceRef": {"kind": "HelmRepository",
                                                         "name": "podinfo"}}}}}
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(release))
    status = {"observedGeneration": 1, "lastAttemptedRevision": "6.5.4",
              "conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded",
                              "message": "Helm install succeeded for release "
                              f"{namespace}/podinfo.v1 with chart podinfo@6.5.4",
                              "lastTransitionTime": "2024-05-01T12:00:00Z",
                              "observedGeneration": 1}]}
    flux_crds.kubectl("patch", "-n", namespace, "helmrelease", "podinfo", "--subresource=status",
                      "--type=merge", "-p", json.dumps({"status": status}))
    hr = flux(flux_crds, "get", "hr", ns)
    assert hr.returncode == 0, hr.stderr
    row = hr.stdout.splitlines()[1].split()
    assert row[:4] == ["podinfo", "6.5.4", "True", "True"], hr.stdout
