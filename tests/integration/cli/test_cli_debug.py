"""`afflux debug kustomization|helmrelease` on the real API server: the post-build variables as
kustomize-controller resolves them (substituteFrom ConfigMap then Secret, a missing optional
one skipped, inline substitute over all, newlines stripped), the values as helm-controller
composes them (valuesFrom in order with targetPath and literal, a missing optional Secret
and an optional reference to a missing key skipped, spec.values over all), status and
history as YAML, and the errors: not found (exit 3), a missing reference that is not
optional, no postBuild, no flag (exit 2). The pinned flux CLI's `flux debug` prints the same
on the same objects."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from cli_harness import Run, apply, patch_status, ready_condition

from afflux.cli._errors import EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE
from afflux.cli.devenv._tools import tool_path
from harness.fixtures_cluster import Cluster


def flux(cluster: Cluster, *args: str) -> str:
    """The pinned flux CLI's output for the same command (it must succeed)."""
    done = subprocess.run([str(tool_path("flux")), f"--kubeconfig={cluster.kubeconfig}", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout

pytestmark = pytest.mark.integration


def _ks(name: str, post_build: dict | None) -> dict:
    spec: dict = {"interval": "10m", "path": "./", "prune": True,
                  "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    if post_build is not None:
        spec["postBuild"] = post_build
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name}, "spec": spec}


def _cm(name: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _secret(name: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "stringData": data}


def test_debug_kustomization(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    ns = namespace
    apply(flux_crds, ns,
          _cm("vars", {"REGION": "eu-1", "SHARED": "from-cm", "BY_SECRET": "cm",
                       "MULTI": "a\nb\n"}),
          _secret("creds", {"TOKEN": "s3cret", "SHARED": "from-secret", "BY_SECRET": "secret"}),
          _ks("apps", {"substitute": {"SHARED": "inline", "CLUSTER": "dev"},
                       "substituteFrom": [
                           {"kind": "ConfigMap", "name": "vars"},
                           {"kind": "Secret", "name": "creds"},
                           {"kind": "ConfigMap", "name": "absent", "optional": True}]}),
          _ks("broken", {"substituteFrom": [{"kind": "Secret", "name": "gone"}]}),
          _ks("plain", None))

    res = afflux("debug", "ks", "apps", "--show-vars", "-n", ns)
    assert res.code == 0, res.err
    assert res.out == ("BY_SECRET=secret\nCLUSTER=dev\nMULTI=ab\nREGION=eu-1\n"
                       "SHARED=inline\nTOKEN=s3cret\n")
    assert res.out == flux(flux_crds, "debug", "ks", "apps", "--show-vars", "-n", ns)

    patch_status(flux_crds, ns, "kustomizations", "apps", {
        "observedGeneration": 1, "lastAppliedRevision": "main@sha1:0123",
        "conditions": [ready_condition("True", "Applied revision: main@sha1:0123", 1)]})
    res = afflux("debug", "kustomization", "apps", "--show-status=true", "-n", ns)
    assert res.code == 0, res.err
    head, _, body = res.out.partition("\n")
    assert head == ("# Status documentation: https://fluxcd.io/flux/components/kustomize/"
                    "kustomizations/#kustomization-status")
    status = yaml.safe_load(body)
    assert status["lastAppliedRevision"] == "main@sha1:0123"
    assert status["conditions"][0]["message"] == "Applied revision: main@sha1:0123"
    assert body.index("conditions:") < body.index("lastAppliedRevision:")  # sorted, as flux
    theirs = flux(flux_crds, "debug", "ks", "apps", "--show-status", "-n", ns)
    assert theirs.partition("\n")[0] == head
    assert yaml.safe_load(theirs.partition("\n")[2]) == status

    res = afflux("debug", "ks", "apps", "--show-history", "-n", ns)
    assert res.code == 0, res.err
    assert res.out.splitlines()[1:] == ["[]"]

    res = afflux("debug", "ks", "broken", "--show-vars", "-n", ns)
    assert res.code == EXIT_FAILURE
    assert f"Secret '{ns}/gone' failed: not found" in res.err
    assert "mark the reference optional" in res.err and res.out == ""

    res = afflux("debug", "ks", "plain", "--show-vars", "-n", ns)
    assert res.code == EXIT_FAILURE
    assert "no post build substitutions found" in res.err

    res = afflux("debug", "ks", "nope", "--show-status", "-n", ns)
    assert res.code == EXIT_NOT_FOUND
    assert f"Kustomization '{ns}/nope' not found" in res.err and "hint:" in res.err

    res = afflux("debug", "ks", "apps", "-n", ns)
    assert res.code == EXIT_USAGE
    assert "exactly one of --show-status, --show-vars, or --show-history" in res.err
    res = afflux("debug", "ks", "apps", "--show-vars", "--show-status", "-n", ns)
    assert res.code == EXIT_USAGE


def _hr(name: str, values_from: list[dict], values: dict | None = None) -> dict:
    spec: dict = {"interval": "5m", "valuesFrom": values_from,
                  "chartRef": {"kind": "OCIRepository", "name": "charts"}}
    if values is not None:
        spec["values"] = values
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name}, "spec": spec}


def test_debug_helmrelease(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    ns = namespace
    apply(flux_crds, ns,
          _cm("base", {"values.yaml": "replicas: 1\nimage:\n  repo: web\n  tag: v1\n"
                                      "debug: false\n"}),
          _cm("pins", {"tag": "v2", "flag": "true"}),
          _secret("auth", {"password": "s3cret"}),
          _hr("web", [
              {"kind": "ConfigMap", "name": "base"},
              {"kind": "ConfigMap", "name": "pins", "valuesKey": "tag",
               "targetPath": "image.tag"},
              {"kind": "ConfigMap", "name": "pins", "valuesKey": "flag",
               "targetPath": "typed"},
              {"kind": "ConfigMap", "name": "pins", "valuesKey": "flag",
               "targetPath": "literal", "literal": True},
              {"kind": "Secret", "name": "auth", "valuesKey": "password",
               "targetPath": "auth.password"},
              {"kind": "Secret", "name": "absent", "optional": True},
              {"kind": "ConfigMap", "name": "pins", "valuesKey": "nokey", "optional": True}],
              values={"replicas": 3, "image": {"repo": "mirror/web"}}),
          _hr("broken", [{"kind": "ConfigMap", "name": "gone"}]))

    res = afflux("debug", "hr", "web", "--show-values", "-n", ns)
    assert res.code == 0, res.err
    assert yaml.safe_load(res.out) == {
        "replicas": 3, "debug": False, "image": {"repo": "mirror/web", "tag": "v2"},
        "typed": True, "literal": "true", "auth": {"password": "s3cret"}}
    assert res.out.startswith("auth:\n  password: s3cret\ndebug: false\n")  # sorted
    assert yaml.safe_load(flux(flux_crds, "debug", "hr", "web", "--show-values", "-n", ns)) \
        == yaml.safe_load(res.out)

    patch_status(flux_crds, ns, "helmreleases", "web", {
        "observedGeneration": 1, "lastAttemptedRevision": "1.0.0",
        "history": [{"name": "web", "namespace": ns, "version": 1, "chartName": "web",
                     "chartVersion": "1.0.0", "configDigest": "sha256:0",
                     "digest": "sha256:0", "firstDeployed": "2024-05-01T12:00:00Z",
                     "lastDeployed": "2024-05-01T12:00:00Z", "status": "deployed"}]})
    res = afflux("debug", "helmrelease", "web", "--show-history", "-n", ns)
    assert res.code == 0, res.err
    head, _, body = res.out.partition("\n")
    assert head == ("# History documentation: https://fluxcd.io/flux/components/helm/"
                    "helmreleases/#history")
    assert [h["version"] for h in yaml.safe_load(body)] == [1]
    res = afflux("debug", "hr", "web", "--show-status", "-n", ns)
    assert res.code == 0, res.err
    assert yaml.safe_load(res.out.partition("\n")[2])["lastAttemptedRevision"] == "1.0.0"

    res = afflux("debug", "hr", "broken", "--show-values", "-n", ns)
    assert res.code == EXIT_FAILURE
    assert f"ConfigMap '{ns}/gone' not found" in res.err
    assert "set optional: true" in res.err and res.out == ""

    res = afflux("debug", "hr", "nope", "--show-values", "-n", ns)
    assert res.code == EXIT_NOT_FOUND
    assert f"HelmRelease '{ns}/nope' not found" in res.err

    res = afflux("debug", "hr", "web", "--show-vars", "-n", ns)
    assert res.code == EXIT_USAGE  # a Kustomization's flag: argparse rejects it
