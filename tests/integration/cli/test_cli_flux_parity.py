"""More of flux's CLI against real objects: `get sources external`, `get artifact
generators`, `suspend/resume artifact generator` (the reconcile annotation), `export
--with-credentials`, `create secret receiver`, `trigger receiver`."""

from __future__ import annotations

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
