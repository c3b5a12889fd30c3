"""`afflux build|diff kustomization --recursive --local-sources`, `--in-memory-build`,
remote bases (fetched from the harness's Git server, as flux build does), and
`diff --ignore-not-found` / `--progress-bar` against the test cluster (no operator: the
objects a kustomize-controller would apply are applied server-side by the test).

The local source `repo/` holds `clusters/` (the root Kustomization's path: a ConfigMap, the
Kustomization `apps` and one `remote` with a kubeConfig), `apps/` and `remote/` (a ConfigMap
each)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, apply, patch_status

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth, git_push_files

pytestmark = pytest.mark.integration

KS_API = "kustomize.toolkit.fluxcd.io/v1"


def ks(name: str, namespace: str, path: str, **spec: object) -> dict:
    return {"apiVersion": KS_API, "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "10m", "path": path, "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}, **spec}}


def config_map(name: str, namespace: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"value": value}}


def write_repo(root: Path, namespace: str, app_value: str = "one") -> Path:
    """The local source; returns its root."""
    (root / "clusters").mkdir(parents=True, exist_ok=True)
    (root / "apps").mkdir(exist_ok=True)
    (root / "remote").mkdir(exist_ok=True)
    docs = [config_map("top", namespace, "t"), ks("apps", namespace, "./apps"),
            ks("remote", namespace, "./remote",
               kubeConfig={"secretRef": {"name": "remote-kubeconfig"}})]
    (root / "clusters" / "all.yaml").write_text(yaml.safe_dump_all(docs))
    (root / "apps" / "config.yaml").write_text(
        yaml.safe_dump(config_map("app-config", namespace, app_value)))
    (root / "remote" / "config.yaml").write_text(
        yaml.safe_dump(config_map("remote-config", namespace, "r")))
    return root


def docs_of(text: str) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_build_recursive_with_local_sources(afflux: Run, flux_crds: Cluster, namespace: str,
                                            tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", namespace)
    clusters = str(repo / "clusters")
    apply(flux_crds, namespace, ks("root", namespace, "./clusters"))
    local = f"GitRepository/{namespace}/repo={repo}"

    res = afflux("build", "ks", "root", "-n", namespace, "--path", clusters)
    assert res.code == 0, res.err
    assert set(docs_of(res.out)) == {("ConfigMap", "top"), ("Kustomization", "apps"),
                                     ("Kustomization", "remote")}

    # a nested Kustomization's source must be mapped
    res = afflux("build", "ks", "root", "-n", namespace, "--path", clusters, "-r")
    assert res.code == 1
    assert (f"cannot get local path for GitRepository/{namespace}/repo of kustomization apps"
            in res.err)
    assert f"--local-sources GitRepository/{namespace}/repo=<directory>" in res.err

    res = afflux("build", "ks", "root", "-n", namespace, "--path", clusters, "--recursive",
                 "--local-sources", local)
    assert res.code == 0, res.err
    built = docs_of(res.out)
    assert set(built) == {("ConfigMap", "top"), ("Kustomization", "apps"),
                          ("Kustomization", "remote"), ("ConfigMap", "app-config"),
                          ("ConfigMap", "remote-config")}
    # each nested object is labelled with the Kustomization it belongs to, after its parent's
    owner = "kustomize.toolkit.fluxcd.io/name"
    assert built[("ConfigMap", "app-config")]["metadata"]["labels"][owner] == "apps"
    assert built[("ConfigMap", "remote-config")]["metadata"]["labels"][owner] == "remote"
    assert built[("ConfigMap", "top")]["metadata"]["labels"][owner] == "root"
    assert list(built)[-2:] == [("ConfigMap", "app-config"), ("ConfigMap", "remote-config")]

    # the cluster's copy of a nested Kustomization gives its spec (as flux)...
    apply(flux_crds, namespace, ks("apps", namespace, "./apps",
                                   commonMetadata={"labels": {"from": "cluster"}}))
    res = afflux("build", "ks", "root", "-n", namespace, "--path", clusters, "-r",
                 "--local-sources", local)
    assert res.code == 0, res.err
    first = next(d for d in yaml.safe_load_all(res.out)
                 if d and d["metadata"]["name"] == "app-config")
    assert first["metadata"]["labels"]["from"] == "cluster"
    # ...and with --dry-run the built one does
    ks_file = tmp_path / "root.yaml"
    ks_file.write_text(yaml.safe_dump(ks("root", namespace, "./clusters")))
    res = afflux("build", "ks", "root", "-n", namespace, "--path", clusters, "-r",
                 "--local-sources", local, "--dry-run", "--kustomization-file", str(ks_file))
    assert res.code == 0, res.err
    assert "from: cluster" not in res.out
    assert ("ConfigMap", "app-config") in docs_of(res.out)


def test_in_memory_build_leaves_the_directory_alone(afflux: Run, flux_crds: Cluster,
                                                   namespace: str, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", namespace)
    apply(flux_crds, namespace, ks("apps", namespace, "./apps"))
    before = tree(repo)
    plain = afflux("build", "ks", "apps", "-n", namespace, "--path", str(repo / "apps"))
    in_memory = afflux("build", "ks", "apps", "-n", namespace, "--path", str(repo / "apps"),
                       "--in-memory-build")
    assert plain.code == in_memory.code == 0, plain.err + in_memory.err
    assert in_memory.out == plain.out
    assert ("ConfigMap", "app-config") in docs_of(in_memory.out)
    assert tree(repo) == before  # no generated kustomization.yaml left behind (or written)


def test_diff_recursive(afflux: Run, flux_crds: Cluster, namespace: str,
                        tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", namespace)
    clusters = str(repo / "clusters")
    local = f"GitRepository/{namespace}/repo={repo}"
    apply(flux_crds, namespace, ks("root", namespace, "./clusters"))
    res = afflux("build", "ks", "root", "-n", namespace, "--path", clusters, "-r",
                 "--local-sources", local)
    assert res.code == 0, res.err
    # what kustomize-controller would have applied, for the root and for `apps`
    flux_crds.kubectl("apply", "--server-side", "--field-manager=kustomize-controller",
                      "-f", "-", input=res.out)

    args = ("diff", "ks", "root", "-n", namespace, "--path", clusters)
    res = afflux(*args, "-r", "--local-sources", local)
    assert res.code == 0, res.out + res.err
    assert res.out == (f"⚠️ Kustomization/{namespace}/remote skipped: diff not supported for "
                       "remote clusters\n")
    assert f"building Kustomization {namespace}/apps from {repo / 'apps'}" in res.err

    # a change in the nested Kustomization's files shows under it, only with --recursive
    write_repo(repo, namespace, app_value="two")
    res = afflux(*args)
    assert res.code == 0, res.out + res.err
    res = afflux(*args, "--recursive", "--local-sources", local, "--progress-bar=false")
    assert res.code == 1, res.out + res.err
    assert (f"📁 Kustomization/{namespace}/apps changed\n"
            f"► ConfigMap/{namespace}/app-config drifted\n") in res.out
    assert "-  value: one\n" in res.out and "+  value: two\n" in res.out
    assert "building Kustomization" not in res.err  # --progress-bar=false: no progress


def test_diff_ignore_not_found(afflux: Run, flux_crds: Cluster, namespace: str,
                               tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "cm.yaml").write_text(yaml.safe_dump(config_map("fresh-config", namespace, "v")))
    name = f"fresh-{uuid.uuid4().hex[:6]}"
    ks_file = tmp_path / "ks.yaml"
    ks_file.write_text(yaml.safe_dump(ks(name, namespace, "./app")))
    args = ("diff", "ks", name, "-n", namespace, "--path", str(app),
            "--kustomization-file", str(ks_file))

    res = afflux(*args)
    assert res.code == 3, res.err
    assert f"Kustomization '{namespace}/{name}' not found" in res.err
    assert "add --ignore-not-found" in res.err

    res = afflux(*args, "--ignore-not-found")
    assert res.code == 1, res.out + res.err
    assert res.out == f"► ConfigMap/{namespace}/fresh-config created\n"

    res = afflux("diff", "ks", name, "-n", namespace, "--path", str(app), "--ignore-not-found")
    assert res.code == 2
    assert "--ignore-not-found needs --kustomization-file" in res.err

    # with the Kustomization in the cluster, its inventory says what a prune would delete
    apply(flux_crds, namespace, ks(name, namespace, "./app"),
          config_map("fresh-config", namespace, "v"), config_map("stale", namespace, "s"))
    patch_status(flux_crds, namespace, "kustomizations.kustomize.toolkit.fluxcd.io", name,
                 {"inventory": {"entries": [
                     {"id": f"{namespace}_stale__ConfigMap", "v": "v1"}]}})
    res = afflux(*args, "--ignore-not-found")
    assert res.code == 1, res.out + res.err
    assert f"► ConfigMap/{namespace}/stale deleted\n" in res.out


def test_build_fetches_remote_bases_as_flux_build(afflux: Run, git_server: GitHTTPServer,
                                                  namespace: str, tmp_path: Path) -> None:
    """The CLI shares kustomize-controller's build with remote bases allowed (as flux)."""
    name = f"cli/base-{uuid.uuid4().hex[:8]}"
    git_server.create_repo(name, public=True)
    git_push_files(git_server.url(name), {
        "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "base/cm.yaml": yaml.safe_dump(config_map("from-remote", namespace, "r")),
    }, branch="main", auth=GitAuth.for_server(git_server))
    app = tmp_path / "repo" / "app"
    app.mkdir(parents=True)
    (app / "kustomization.yaml").write_text(
        f"resources:\n- {git_server.url(name)}//base?ref=main\n")
    ks_file = tmp_path / "app.yaml"
    ks_file.write_text(yaml.safe_dump(ks("app", namespace, "./app")))
    res = afflux("build", "ks", "app", "-n", namespace, "--path", str(app), "--dry-run",
                 "--kustomization-file", str(ks_file))
    assert res.code == 0, res.err
    built = docs_of(res.out)[("ConfigMap", "from-remote")]
    assert built["data"] == {"value": "r"}
    assert built["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"
