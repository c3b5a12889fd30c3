"""The global `--ns-follows-kube-context` flag (and $FLUX_NS_FOLLOWS_KUBE_CONTEXT) against
the test cluster: without -n, commands work in the kubeconfig context's namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_harness import Run, apply

from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration


def test_namespace_follows_the_kube_context(afflux: Run, flux_crds: Cluster, namespace: str,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    apply(flux_crds, namespace, {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "follows"},
        "spec": {"interval": "10m", "prune": False,
                 "sourceRef": {"kind": "GitRepository", "name": "repo"}}})
    config = yaml.safe_load(flux_crds.kubeconfig.read_text())
    base = flux_crds.kubeconfig.parent
    for section, inner, keys in (("clusters", "cluster", ("certificate-authority",)),
                                 ("users", "user", ("client-certificate", "client-key"))):
        for entry in config[section]:
            for key in keys:
                if key in entry[inner]:
                    entry[inner][key] = str(base / entry[inner][key])
    current = config["current-context"]
    for entry in config["contexts"]:
        if entry["name"] == current:
            entry["context"]["namespace"] = namespace
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    flags = ("--kubeconfig", str(kubeconfig))

    res = afflux(*flags, "get", "ks", "follows", "--ns-follows-kube-context")
    assert res.code == 0, res.err
    assert "follows" in res.out
    res = afflux(*flags, "get", "ks", "follows")  # flux-system, as flux by default
    assert res.code != 0 and '"flux-system" namespace' in res.err
    res = afflux(*flags, "get", "ks", "follows", "--ns-follows-kube-context", "-n", "default")
    assert res.code != 0 and '"default" namespace' in res.err  # -n wins
    monkeypatch.setenv("FLUX_NS_FOLLOWS_KUBE_CONTEXT", "true")
    res = afflux(*flags, "get", "ks", "follows")
    assert res.code == 0, res.err
