"""`afflux create helmrelease|source chart|alert-provider|alert|receiver|tenant|secret ...`
against the real API server: every `--export` is accepted as it is (strict validation), and the
commands apply what they print (credentials into their Secret, the HelmRelease waited on)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, SimulatedController, get_json

from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

Start = Callable[..., SimulatedController]


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "values.yaml").write_text("replicaCount: 2\nimage: {tag: '6.0.0'}\n")
    (tmp / "more.yaml").write_text("image: {repository: ghcr.io/x/podinfo}\n")
    (tmp / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
    (tmp / "policy.json").write_text('{"version": "1.0", "trustPolicies": []}')
    (tmp / "app.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\nK\n")
    return {"values": str(tmp / "values.yaml"), "more": str(tmp / "more.yaml"),
            "ca": str(tmp / "ca.crt"), "policy": str(tmp / "policy.json"),
            "app": str(tmp / "app.pem")}


EXPORTS = [
    ["helmrelease", "podinfo", "--source=HelmRepository/podinfo.flux-system",
     "--chart=podinfo", "--chart-version=>6.0.0", "--values={values},{more}",
     "--values-from=Secret/extra", "--target-namespace=apps", "--create-target-namespace=true",
     "--crds=CreateReplace", "--depends-on=infra", "--service-account=sa",
     "--release-name=web", "--interval=10m"],
    ["hr", "podinfo", "--chart-ref=OCIRepository/podinfo"],
    ["source", "chart", "podinfo", "--source=HelmRepository/podinfo", "--chart=podinfo",
     "--verify-provider=cosign", "--verify-secret-ref=keys"],
    ["source", "helm", "charts", "--url=https://charts.example.com", "--pass-credentials"],
    ["source", "oci", "manifests", "--url=oci://ghcr.io/org/m", "--tag=1.0.0",
     "--cert-ref=tls", "--verify-provider=cosign", "--verify-issuer=^https://token$",
     "--verify-subject=^https://github.com/org/.*$"],
    ["source", "git", "repo", "--url=https://example.com/r.git", "--branch=main",
     "--ca-file={ca}", "-u", "u", "-p", "p", "--fetch-timeout=90s"],
    ["source", "bucket", "b", "--bucket-name=b", "--endpoint=minio:9000",
     "--ignore-paths=/tmp,/docs"],
    ["image", "repository", "podinfo", "--image=ghcr.io/x/podinfo", "--cert-secret-ref=tls"],
    ["kustomization", "apps", "--source=repo", "--prune=false", "--wait=true"],
    ["alert-provider", "slack", "--type=slack", "--channel=general", "--secret-ref=hook"],
    ["alert", "on-call", "--provider-ref=slack", "--event-source=Kustomization/*",
     "--event-source=HelmRelease/podinfo.apps", "--event-severity=error",
     "--interval=5m"],  # flux takes --interval on every create command
    ["receiver", "github", "--type=github", "--secret-ref=token",
     "--resource=GitRepository/repo", "--event=ping,push"],
    ["secret", "helm", "creds", "-u", "u", "-p", "p", "--ca-crt-file={ca}"],
    ["secret", "oci", "reg", "--url=ghcr.io/org", "-u", "u", "-p", "p"],
    ["secret", "tls", "ca", "--ca-crt-file={ca}"],
    ["secret", "proxy", "proxy", "--address=http://proxy:3128", "-u", "u", "-p", "p"],
    ["secret", "notation", "notation", "--trust-policy-file={policy}",
     "--ca-cert-file={ca}"],
    ["secret", "githubapp", "app", "--app-id=1", "--app-installation-id=2",
     "--app-private-key={app}"],
    ["secret", "git", "git", "--url=https://example.com/r.git", "--ca-crt-file={ca}"],
    ["kustomization", "remote", "--source=repo", "--health-check=Deployment/web.apps",
     "--health-check-timeout=3m", "--kubeconfig-secret-ref=remote-kc"],
    ["image", "policy", "digest", "--image-ref=podinfo", "--select-semver=>=1.0.0",
     "--reflect-digest=Always", "--interval=5m"],
    ["image", "update", "signed", "--git-repo-ref=repo", "--signing-key-secret=sign",
     "--signing-key-type=ssh"],
    ["source", "chart", "timeout", "--source=HelmRepository/podinfo", "--chart=podinfo",
     "--fetch-timeout=90s"],
    ["source", "oci", "chart", "--url=oci://ghcr.io/org/c", "--tag=1.0.0",
     "--layer-selector=application/vnd.cncf.helm.chart.content.v1.tar+gzip:copy"],
    ["source", "git", "sparse", "--url=https://example.com/r.git", "--branch=main",
     "--sparse-checkout-paths=apps,infra", "--silent"],
]

#: what the server stored for the new flags (applied, then read back)
APPLIED = [
    (["kustomization", "remote", "--source=repo", "--health-check=Deployment/web.apps",
      "--health-check-timeout=3m", "--kubeconfig-secret-ref=remote-kc"],
     "kustomizations.kustomize.toolkit.fluxcd.io",
     {"timeout": "3m0s", "kubeConfig": {"secretRef": {"name": "remote-kc"}}}),
    (["image", "policy", "digest", "--image-ref=podinfo", "--select-semver=>=1.0.0",
      "--reflect-digest=Always", "--interval=5m"], "imagepolicies.image.toolkit.fluxcd.io",
     {"digestReflectionPolicy": "Always", "interval": "5m0s"}),
    (["image", "update", "signed", "--git-repo-ref=repo", "--signing-key-secret=sign",
      "--signing-key-type=ssh"], "imageupdateautomations.image.toolkit.fluxcd.io",
     {"git": {"commit": {"author": {"email": "fluxcdbot@users.noreply.github.com",
                                    "name": "fluxcdbot"},
                         "signingKey": {"secretRef": {"name": "sign"}, "type": "ssh"}}}}),
    (["source", "oci", "chart", "--url=oci://ghcr.io/org/c", "--tag=1.0.0",
      "--layer-selector=application/vnd.cncf.helm.chart.content.v1.tar+gzip:copy"],
     "ocirepositories.source.toolkit.fluxcd.io",
     {"layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        "operation": "copy"}}),
    (["source", "git", "sparse", "--url=https://example.com/r.git", "--branch=main",
      "--sparse-checkout-paths=apps,infra", "--silent"],
     "gitrepositories.source.toolkit.fluxcd.io", {"sparseCheckout": ["apps", "infra"]}),
]


@pytest.mark.parametrize(("argv", "resource", "fields"), APPLIED,
                         ids=lambda a: "-".join(a[:2]) if isinstance(a, list) else "")
def test_new_create_flags_are_stored(afflux: Run, flux_crds: Cluster, namespace: str,
                                     argv: list[str], resource: str, fields: dict) -> None:
    res = afflux("create", *argv, "--export", "-n", namespace)
    assert res.code == 0, res.err
    flux_crds.kubectl("apply", "-n", namespace, "-f", "-", input=res.out)
    spec = get_json(flux_crds, namespace, resource, argv[2] if argv[0] in ("image", "source")
                    else argv[1])["spec"]
    for key, value in fields.items():
        assert spec[key] == value, spec


def test_create_source_chart_takes_fetch_timeout_and_sets_nothing(afflux: Run) -> None:
    res = afflux("create", "source", "chart", "c", "--source=HelmRepository/podinfo",
                 "--chart=podinfo", "--fetch-timeout=90s", "--export")
    assert res.code == 0, res.err
    assert "timeout" not in yaml.safe_load(res.out)["spec"]


@pytest.mark.parametrize("argv", EXPORTS, ids=lambda a: "-".join(a[:2]))
def test_export_is_accepted_by_the_api_server(afflux: Run, flux_crds: Cluster, namespace: str,
                                              tmp_path: Path, argv: list[str]) -> None:
    files = _files(tmp_path)
    res = afflux("create", *[a.format(**files) for a in argv], "--export", "-n", namespace)
    assert res.code == 0, res.err
    done = flux_crds.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                             input=res.out, check=False)
    assert done.returncode == 0, done.stderr + res.out


def test_create_helmrelease_applies_and_waits(afflux: Run, flux_crds: Cluster,
                                              namespace: str, tmp_path: Path,
                                              controller: Start) -> None:
    files = _files(tmp_path)
    controller("HelmRelease", status={"history": [{
        "name": "podinfo", "namespace": namespace, "version": 1, "chartName": "podinfo",
        "chartVersion": "6.5.0", "configDigest": "sha256:00", "digest": "sha256:00",
        "firstDeployed": "2024-05-01T12:00:00Z", "lastDeployed": "2024-05-01T12:00:00Z",
        "status": "deployed"}]})
    res = afflux("create", "hr", "podinfo", "--source=HelmRepository/podinfo", "--chart=podinfo",
                 f"--values={files['values']}", f"--values={files['more']}",
                 "-n", namespace, "--timeout", "60s")
    assert res.code == 0, res.err
    assert res.err.splitlines() == [
        "✚ generating HelmRelease", "► applying HelmRelease", "✔ HelmRelease created",
        "◎ waiting for HelmRelease reconciliation", "✔ HelmRelease reconciliation completed",
        "✔ applied revision 6.5.0"]
    spec = get_json(flux_crds, namespace, "helmreleases", "podinfo")["spec"]
    assert spec["values"] == {"replicaCount": 2,
                              "image": {"tag": "6.0.0", "repository": "ghcr.io/x/podinfo"}}
    assert spec["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "podinfo"}


def test_create_notification_objects_apply_without_waiting(afflux: Run, flux_crds: Cluster,
                                                           namespace: str) -> None:
    res = afflux("create", "alert-provider", "sink", "--type=generic",
                 "--address=http://sink.example:8080", "-n", namespace)
    assert res.code == 0, res.err
    assert res.err.splitlines() == ["✚ generating Provider", "► applying Provider",
                                    "✔ Provider created"]
    res = afflux("create", "alert", "all", "--provider-ref=sink",
                 "--event-source=Kustomization/*", "-n", namespace)
    assert res.code == 0, res.err
    alert = get_json(flux_crds, namespace, "alerts", "all")
    assert alert["spec"]["eventSources"] == [{"kind": "Kustomization", "name": "*"}]


def test_create_source_helm_puts_credentials_in_a_secret(afflux: Run, flux_crds: Cluster,
                                                         namespace: str,
                                                         controller: Start) -> None:
    controller("HelmRepository", status={"artifact": {
        "path": "p", "url": "http://x/index.yaml", "revision": "sha256:" + "0" * 64,
        "digest": "sha256:" + "0" * 64, "lastUpdateTime": "2024-05-01T12:00:00Z"}})
    res = afflux("create", "source", "helm", "charts", "--url=https://charts.example.com",
                 "-u", "bot", "-p", "s3cr3t", "--pass-credentials=true", "-n", namespace,
                 "--timeout", "60s")
    assert res.code == 0, res.err
    secret = get_json(flux_crds, namespace, "secret", "helm-charts")
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert set(secret["data"]) == {"username", "password"}
    spec = get_json(flux_crds, namespace, "helmrepositories", "charts")["spec"]
    assert spec["secretRef"] == {"name": "helm-charts"} and spec["passCredentials"] is True
    # --export leaves the credentials out, as flux, and says so
    res = afflux("create", "source", "helm", "charts", "--url=https://charts.example.com",
                 "-u", "bot", "-p", "s3cr3t", "--export", "-n", namespace)
    assert "s3cr3t" not in res.out and "secretRef" not in res.out
    assert "the credentials are not exported" in res.err


def test_create_tenant_applies(afflux: Run, flux_crds: Cluster) -> None:
    tenant_ns = f"t-tenant-{uuid.uuid4().hex[:6]}"
    try:
        res = afflux("create", "tenant", "dev", f"--with-namespace={tenant_ns}",
                     "--cluster-role=view")
        assert res.code == 0, res.err
        ns = yaml.safe_load(flux_crds.kubectl("get", "namespace", tenant_ns, "-o",
                                              "yaml").stdout)
        assert ns["metadata"]["labels"]["toolkit.fluxcd.io/tenant"] == "dev"
        binding = get_json(flux_crds, tenant_ns, "rolebinding", "dev-reconciler")
        assert binding["roleRef"]["name"] == "view"
        assert get_json(flux_crds, tenant_ns, "serviceaccount", "dev")["metadata"]["name"] \
            == "dev"
    finally:
        flux_crds.kubectl("delete", "namespace", tenant_ns, "--wait=false", check=False)
