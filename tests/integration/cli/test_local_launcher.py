"""The local launcher (`afflux dev up`'s, for `--local` installs) against the real cluster,
Git server and operators: it runs source- and kustomize-controller with the args of their
Deployments, and a commit that patches a flag into a Deployment restarts that operator
with the flag, which then acts (Flux's multi-tenancy lockdown flag refuses a
cross-namespace source); `bootstrap --local --shards 1` gets a process per shard. The
launched operators are pinned to the test's namespace; the
launcher stops before the namespace goes, so the flux-system Kustomization prunes
nothing."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, https_flags, local_bootstrap, new_repo, strip_finalizers

from afflux.cli._manifests import build_install_docs, find_config_dir
from afflux.cli.devenv import GitHTTPServer, TestCA
from afflux.cli.devenv._env import OPERATOR_MODULES
from afflux.cli.devenv._launcher import Launcher, LauncherState, read_state
from afflux.cli.devenv._localargs import LocalSetting
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth, git_push_files
from harness.wait import eventually

pytestmark = pytest.mark.integration

PATH = "clusters/test"
LOCKDOWN = "--no-cross-namespace-refs=true"
CONTROLLERS = ("source-controller", "kustomize-controller")


def _ready(rec: LauncherState) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{rec.ports['health']}/readyz",
                                    timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.fixture
def launcher(flux_crds: Cluster, namespace: str, tmp_path: Path) -> Iterator[Path]:
    """The launcher for source- and kustomize-controller in the test's namespace (a thread
    of this process; the operators are its child processes); its state directory."""
    root = tmp_path / "launcher"
    defaults = [d for d in build_install_docs(find_config_dir(), use_kustomize=False)
                if d.get("kind") == "Deployment"]
    run = Launcher(root=root, kubeconfig=flux_crds.kubeconfig, namespace=namespace,
                   controllers=CONTROLLERS, modules=OPERATOR_MODULES,
                   setting=LocalSetting(python=sys.executable, kubeconfig=flux_crds.kubeconfig,
                                        storage_root=tmp_path / "storage",
                                        pinned=("--watch-all-namespaces=false",)),
                   defaults=defaults)
    stop = threading.Event()
    thread = threading.Thread(target=run.run, args=(stop,), name="launcher")
    thread.start()
    try:
        yield root
    finally:
        stop.set()
        run.wake()
        thread.join(timeout=120)
        strip_finalizers(flux_crds, namespace)
        assert not thread.is_alive()
        assert read_state(root) == {}


def running(root: Path) -> dict[str, LauncherState]:
    state = read_state(root)
    assert set(state) == set(CONTROLLERS), state
    assert all(_ready(rec) for rec in state.values()), state
    return state


def test_a_committed_flag_patch_restarts_the_local_operator_with_it(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, launcher: Path,
) -> None:
    # before bootstrap: the operators run with the args of afflux's own Deployments
    before = eventually(lambda: running(launcher), timeout=120, message="operators ready")
    kustomize = before["kustomize-controller"]
    assert LOCKDOWN not in _cmdline(kustomize.pid)
    assert f"--namespace={namespace}" in _cmdline(kustomize.pid)

    repo = new_repo(git_server, "launch")
    res = afflux(*local_bootstrap(namespace, *https_flags(git_server, repo, test_ca.ca_cert),
                                  path=PATH))
    assert res.code == 0, res.err
    # the Deployments bootstrap applied have the same args: nothing restarted
    assert {n: r.pid for n, r in running(launcher).items()} == {
        n: r.pid for n, r in before.items()}

    patch = [{"op": "add", "path": "/spec/template/spec/containers/0/args/-",
              "value": LOCKDOWN}]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["gotk-components.yaml", "gotk-sync.yaml"],
        "patches": [{"target": {"kind": "Deployment", "name": "kustomize-controller"},
                     "patch": yaml.safe_dump(patch)}],
    }
    git_push_files(git_server.url(repo, "https"),
                   {f"{PATH}/flux-system/kustomization.yaml": yaml.safe_dump(kustomization)},
                   message="Multi-tenancy lockdown", auth=GitAuth.for_server(git_server))
    res = afflux("reconcile", "kustomization", "flux-system", "-n", namespace,
                 "--with-source", "--timeout=2m")
    assert res.code == 0, res.err

    def restarted() -> LauncherState:
        rec = running(launcher)["kustomize-controller"]
        assert rec.pid != kustomize.pid and rec.restarts == 1
        return rec

    after = eventually(restarted, timeout=120, message="kustomize-controller restarted")
    assert LOCKDOWN in after.args
    assert LOCKDOWN in _cmdline(after.pid)
    assert after.ports == kustomize.ports  # same loopback ports across the restart
    assert running(launcher)["source-controller"].pid == before["source-controller"].pid

    # the flag acts: a Kustomization naming a source in another namespace is refused
    other = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
             "metadata": {"name": "cross", "namespace": namespace},
             "spec": {"interval": "1h", "path": "./", "prune": False,
                      "sourceRef": {"kind": "GitRepository", "name": "flux-system",
                                    "namespace": "default"}}}
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(other))

    def refused() -> str:
        obj = json.loads(flux_crds.kubectl("get", "-n", namespace, "kustomization", "cross",
                                           "-o", "json").stdout)
        ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False"
        return str(ready["reason"]) + ": " + str(ready["message"])

    message = eventually(refused, timeout=60, message="cross-namespace reference refused")
    assert message.startswith("AccessDenied: ") and "cross-namespace references are " \
        "disabled" in message
    flux_crds.kubectl("delete", "-n", namespace, "kustomization", "cross", "--wait=false")


def _logged(path: str, name: str) -> bool:
    return any(json.loads(line).get("name") == name
               for line in Path(path).read_text().splitlines() if line.startswith("{"))


def test_bootstrap_with_shards_runs_each_shard_as_a_local_process(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, launcher: Path,
) -> None:
    eventually(lambda: running(launcher), timeout=120, message="operators ready")
    repo = new_repo(git_server, "shards")
    res = afflux(*local_bootstrap(namespace, *https_flags(git_server, repo, test_ca.ca_cert),
                                  "--shards=1", path=PATH, timeout="4m"))
    assert res.code == 0, res.err
    assert "✔ kustomize-controller-shard1: running" in res.err

    def sharded() -> dict[str, LauncherState]:
        state = read_state(launcher)
        assert set(state) == {*CONTROLLERS, *(f"{c}-shard1" for c in CONTROLLERS)}, state
        assert all(_ready(rec) for rec in state.values())
        return state

    state = eventually(sharded, timeout=120, message="the shards run")
    assert "--watch-label-selector=!sharding.fluxcd.io/key" in _cmdline(
        state["kustomize-controller"].pid)
    assert "--watch-label-selector=sharding.fluxcd.io/key in (shard1)" in _cmdline(
        state["kustomize-controller-shard1"].pid)

    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": "team-a", "namespace": namespace,
                       "labels": {"sharding.fluxcd.io/key": "shard1"}},
          "spec": {"interval": "1h", "path": f"./{PATH}/flux-system", "prune": False,
                   "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(ks))

    def ready() -> bool:
        obj = json.loads(flux_crds.kubectl("get", "-n", namespace, "kustomization", "team-a",
                                           "-o", "json").stdout)
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in (obj.get("status") or {}).get("conditions") or [])

    eventually(ready, timeout=120, message="the shard reconciles team-a")
    assert _logged(state["kustomize-controller-shard1"].log, "team-a")
    assert not _logged(state["kustomize-controller"].log, "team-a")
    flux_crds.kubectl("delete", "-n", namespace, "kustomization", "team-a", "--wait=false")
