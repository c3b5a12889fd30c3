"""The kube client's global flags against the real API server: `--tls-server-name` is the
name its certificate is checked against (and SNI), and a command paced by a tight
`--kube-api-qps` / `--kube-api-burst` still does its work."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml
from cli_harness import Run, apply

from afflux.cli._context import Context
from afflux.cli._errors import CLIError
from afflux.cli._main import parse_args
from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

#: A name for 127.0.0.1 that the API server's certificate does not carry (its SANs are
#: 127.0.0.1, localhost, 10.0.0.1 and the kubernetes.default names): the resolver reads
#: "127.1" as 127.0.0.1, while TLS takes it as a DNS name, not an IP address.
UNLISTED = "127.1"


def _server_version(cluster: Cluster, *flags: str) -> dict:
    args = parse_args(["--kubeconfig", str(cluster.kubeconfig), *flags, "get", "ks"])
    return Context.from_args(args).kube.server_version()


def test_tls_server_name_is_the_name_checked(cluster: Cluster) -> None:
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    other = f"https://{UNLISTED}:{urlsplit(server).port}"
    assert _server_version(cluster)["major"]  # the kubeconfig's own address checks out

    with pytest.raises(CLIError) as refused:  # the address's name is not on the cert
        _server_version(cluster, "--server", other)
    assert "certificate" in refused.value.message.lower()

    # the same address, checked against a name the certificate has
    assert _server_version(cluster, "--server", other,
                           "--tls-server-name", "kubernetes.default")["major"]

    # and a name it does not have fails even at the kubeconfig's own address
    with pytest.raises(CLIError) as wrong:
        _server_version(cluster, "--tls-server-name=not-the-apiserver.example")
    assert "certificate" in wrong.value.message.lower()


def test_a_command_works_under_a_tight_rate_limit(afflux: Run, flux_crds: Cluster,
                                                  namespace: str) -> None:
    apply(flux_crds, namespace, *({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": f"app-{i}"},
        "spec": {"interval": "5m", "path": "./", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "repo"}}} for i in range(3)))
    res = afflux("get", "ks", "-n", namespace, "--kube-api-qps=4", "--kube-api-burst=1",
                 "--disable-compression", "--cache-dir=/nonexistent/afflux-cache")
    assert res.code == 0, res.err
    assert [line.split()[0] for line in res.out.splitlines()[1:]] == [
        "app-0", "app-1", "app-2"]
