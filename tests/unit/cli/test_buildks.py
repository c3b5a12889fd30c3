"""build kustomization's local parts: which directory plays the source artifact, and reading
a Kustomization from a file; `dev`'s usage text."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.cli._buildks import load_kustomization, source_root
from afflux.cli._context import Context
from afflux.cli._dev import usage_text
from afflux.cli._errors import CLIError
from afflux.cli._main import parse_args
from afflux.cli.devenv._env import DevInfo


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_source_root_reaches_every_base(tmp_path: Path) -> None:
    _write(tmp_path / "apps/dev/kustomization.yaml",
           "resources: [../base/web]\npatches:\n  - path: ../../shared/p.yaml\n")
    _write(tmp_path / "apps/base/web/kustomization.yaml", "resources: [d.yaml]\n")
    _write(tmp_path / "shared/p.yaml", "x")
    assert source_root(tmp_path / "apps/dev") == tmp_path.resolve()
    assert source_root(tmp_path / "apps/base/web") == (tmp_path / "apps/base/web").resolve()


def test_source_root_ignores_remote_bases(tmp_path: Path) -> None:
    _write(tmp_path / "k/kustomization.yaml",
           "resources:\n  - https://github.com/org/repo//x\n  - ../local\n")
    (tmp_path / "local").mkdir()
    assert source_root(tmp_path / "k") == tmp_path.resolve()


def test_source_root_of_plain_manifests(tmp_path: Path) -> None:
    _write(tmp_path / "plain/a.yaml", "kind: ConfigMap\n")
    assert source_root(tmp_path / "plain") == (tmp_path / "plain").resolve()


def test_load_kustomization_from_a_file(tmp_path: Path) -> None:
    file = tmp_path / "ks.yaml"
    file.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: apps}\nspec: {path: ./apps, prune: true}\n")
    ctx = Context.from_args(parse_args(["build", "ks", "apps", "--path", str(tmp_path)]))
    ks = load_kustomization(ctx, "apps", file)
    assert ks["metadata"] == {"name": "apps", "namespace": "flux-system"}
    with pytest.raises(CLIError, match="no Kustomization named 'web'"):
        load_kustomization(ctx, "web", file)


def test_dev_usage_text() -> None:
    info = DevInfo(root=Path("/s"), kubeconfig=Path("/s/cluster/kubeconfig"),
                   git_http="http://127.0.0.1:1", git_https="https://127.0.0.1:2",
                   git_username="git-user", git_password="pw", ca_file=Path("/s/ca/ca.pem"),
                   registry="127.0.0.1:3", registry_username="ru", registry_password="rp",
                   logs=Path("/s/logs"))
    text = usage_text(info)
    assert "export KUBECONFIG=/s/cluster/kubeconfig" in text
    assert "https://127.0.0.1:2/<repo>.git" in text
    assert "user git-user  password pw" in text
    assert "registry:    127.0.0.1:3  user ru  password rp" in text
    assert "afflux bootstrap git --local --url https://127.0.0.1:2/fleet.git" in text
    assert info.git_url("fleet", "http") == "http://127.0.0.1:1/fleet.git"
    real = usage_text(info, "10.200.0.1:3/afflux")
    assert "afflux bootstrap git --registry 10.200.0.1:3/afflux --url https://" in real
    assert "--local" not in real


class _NoCRDs:
    """A cluster without the Flux CRDs: every Kustomization read is a 404."""

    def get(self, *args: object, **kwargs: object) -> dict:
        from afflux.cli._kube import KubeNotFound

        raise KubeNotFound(404, "NotFound", "the server could not find the requested resource")

    def get_or_none(self, *args: object, **kwargs: object) -> None:
        return None


def test_a_cluster_without_the_crds_is_one_line_with_a_hint(tmp_path: Path) -> None:
    ctx = Context.from_args(parse_args(["diff", "ks", "apps", "--path", str(tmp_path)]))
    ctx._kube = _NoCRDs()  # type: ignore[assignment]
    with pytest.raises(CLIError) as err:
        load_kustomization(ctx, "apps", None)
    assert err.value.message == ("the cluster has no Kustomization kind (the Flux CRDs are not "
                                 "installed)")
    assert "afflux install" in err.value.hint
