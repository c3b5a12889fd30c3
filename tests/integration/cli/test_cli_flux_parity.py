"""More of flux's CLI against real objects: `get sources external`, `get artifact
generators`, `suspend/resume artifact generator` (the reconcile annotation), `export
--with-credentials`, `create secret receiver`, `trigger receiver`."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, apply, get_json, patch_status, ready_condition

from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"
ANNOTATION = "source.extensions.fluxcd.io/reconcile"


def _generator(name: str) -> dict:
    return {"apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
            "metadata": {"name": name},
            "spec": {"sources": [{"alias": "repo", "kind": "GitRepository", "name": "repo"}],
                     "artifacts": [{"name": "apps", "copy": [
                         {"from": "@repo/apps/**", "to": "@artifact/"}]}]}}


def test_external_artifacts_and_generators(afflux: Run, flux_crds: Cluster,
                                           namespace: str) -> None:
    ns = namespace
    apply(flux_crds, ns, _generator("gen"), {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
        "metadata": {"name": "apps"},
        "spec": {"sourceRef": {"apiVersion": "source.extensions.fluxcd.io/v1beta1",
                               "kind": "ArtifactGenerator", "name": "gen", "namespace": ns}}})
    patch_status(flux_crds, ns, "externalartifacts", "apps", {
        "artifact": {"path": "p", "url": "http://x/p", "revision": REV,
                     "digest": "sha256:" + "0" * 64, "lastUpdateTime": "2024-05-01T12:00:00Z"},
        "conditions": [ready_condition("True", f"stored {REV}", 1)]})
    res = afflux("get", "sources", "external", "-n", ns)
    assert res.code == 0, res.err
    assert [c.strip() for c in res.out.splitlines()[0].split("\t")] == [
        "NAME", "REVISION", "SOURCE", "READY", "MESSAGE"]
    assert [c.strip() for c in res.out.splitlines()[1].split("\t")] == [
        "apps", "main@sha1:01234567", f"ArtifactGenerator/{ns}/gen", "True",
        "stored main@sha1:01234567"]

    res = afflux("suspend", "artifact", "generator", "gen", "-n", ns)
    assert res.code == 0, res.err
    body = get_json(flux_crds, ns, "artifactgenerators", "gen")
    assert body["metadata"]["annotations"][ANNOTATION] == "Disabled"
    assert "suspend" not in body["spec"]
    res = afflux("get", "artifact", "generators", "-n", ns)
    assert [c.strip() for c in res.out.splitlines()[0].split("\t")] == [
        "NAME", "SUSPENDED", "READY", "MESSAGE"]
    assert [c.strip() for c in res.out.splitlines()[1].split("\t")][:2] == ["gen", "True"]
    res = afflux("resume", "artifact", "generator", "gen", "-n", ns, "--wait=false")
    assert res.code == 0, res.err
    notes = get_json(flux_crds, ns, "artifactgenerators", "gen")["metadata"]["annotations"]
    assert ANNOTATION not in notes and "reconcile.fluxcd.io/requestedAt" in notes
    res = afflux("get", "artifact", "generator", "-n", ns)
    assert [c.strip() for c in res.out.splitlines()[1].split("\t")][:2] == ["gen", "False"]


def test_export_with_credentials(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    ns = namespace
    apply(flux_crds, ns, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "git-auth", "labels": {"team": "a"}, "annotations": {"note": "b"}},
        "type": "Opaque", "stringData": {"username": "git", "password": "s3cret"}}, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": "https://example.com/repo.git", "interval": "1m",
                 "ref": {"branch": "main"}, "secretRef": {"name": "git-auth"}}})
    res = afflux("export", "source", "git", "repo", "-n", ns, "--with-credentials")
    assert res.code == 0, res.err
    docs = list(yaml.safe_load_all(res.out))
    assert [d["kind"] for d in docs] == ["GitRepository", "Secret"]
    assert docs[1] == {"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "git-auth", "namespace": ns},
                       "data": {"password": "czNjcmV0", "username": "Z2l0"},
                       "type": "Opaque"}
    plain = afflux("export", "source", "git", "repo", "-n", ns)
    assert [d["kind"] for d in yaml.safe_load_all(plain.out)] == ["GitRepository"]


def test_connection_flags(afflux: Run, flux_crds: Cluster, namespace: str,
                          tmp_path: Path) -> None:
    ns = namespace
    config = yaml.safe_load(flux_crds.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    apply(flux_crds, ns, {"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                          "kind": "Kustomization", "metadata": {"name": "apps"},
                          "spec": {"interval": "10m", "path": "./", "prune": True,
                                   "sourceRef": {"kind": "GitRepository", "name": "r"}}})
    # a kubeconfig whose server is wrong: --server puts it right
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    for cluster in config["clusters"]:  # relative paths resolve against the original file
        for key in ("certificate-authority",):
            if key in cluster["cluster"]:
                cluster["cluster"][key] = str(flux_crds.kubeconfig.parent /
                                              cluster["cluster"][key])
    for user in config["users"]:
        for key in ("client-certificate", "client-key"):
            if key in user["user"]:
                user["user"][key] = str(flux_crds.kubeconfig.parent / user["user"][key])
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    res = afflux("--kubeconfig", str(broken), "get", "ks", "-n", ns)
    assert res.code == 5, res.err  # unreachable
    res = afflux("--kubeconfig", str(broken), "--server", server, "get", "ks", "-n", ns)
    assert res.code == 0, res.err
    assert "apps" in res.out
    # impersonation: a service account without rights is refused
    res = afflux("get", "ks", "-n", ns, "--as", f"system:serviceaccount:{ns}:nobody",
                 "--as-group", "system:serviceaccounts", "--as-group", "extra")
    assert res.code != 0 and f"system:serviceaccount:{ns}:nobody" in res.err
    # a token for a kubeconfig user without credentials
    flux_crds.kubectl("create", "serviceaccount", "reader", "-n", ns)
    flux_crds.kubectl("create", "role", "reader", "-n", ns, "--verb=get,list",
                      "--resource=kustomizations.kustomize.toolkit.fluxcd.io")
    flux_crds.kubectl("create", "rolebinding", "reader", "-n", ns, "--role=reader",
                      f"--serviceaccount={ns}:reader")
    token = flux_crds.kubectl("create", "token", "reader", "-n", ns).stdout.strip()
    config["users"].append({"name": "anonymous", "user": {}})
    broken.write_text(yaml.safe_dump(config))
    flags = ["--kubeconfig", str(broken), "--server", server, "--user", "anonymous"]
    res = afflux(*flags, "get", "ks", "-n", ns)
    assert res.code != 0 and "anonymous" in res.err
    res = afflux(*flags, "get", "ks", "-n", ns, "--token", token)
    assert res.code == 0, res.err
    res = afflux(*flags, "get", "ks", "-n", "default", "--token", token)
    assert res.code != 0 and f"system:serviceaccount:{ns}:reader" in res.err


def test_create_secret_receiver(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    ns = namespace
    # --token is the webhook token here, not the API bearer token (which would be refused)
    res = afflux("create", "secret", "receiver", "gh", "-n", ns, "--type", "github",
                 "--hostname", "flux.example.com", "--token", "s3cret")
    assert res.code == 0, res.err
    body = get_json(flux_crds, ns, "secret", "gh")
    hook = "/hook/" + hashlib.sha256(f"s3cretgh{ns}".encode()).hexdigest()
    assert body["metadata"]["annotations"]["notification.toolkit.fluxcd.io/webhook"] == \
        f"https://flux.example.com{hook}"
    assert base64.b64decode(body["data"]["token"]) == b"s3cret"
    res = afflux("create", "secret", "receiver", "gen", "-n", ns, "--type", "generic",
                 "--hostname", "h")  # a generated token
    assert res.code == 0, res.err
    token = base64.b64decode(get_json(flux_crds, ns, "secret", "gen")["data"]["token"])
    assert len(token) == 64
