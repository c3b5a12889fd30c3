#!/usr/bin/env python3
"""`make demo`: the GitOps loop of afflux on this machine, end to end, in a few minutes.

1. `afflux dev up`: a local cluster, a Git server, an OCI registry and the operators;
2. examples/fleet pushed to the Git server, an image tag pushed to the registry;
3. `afflux bootstrap git --local`: the cluster syncs clusters/dev of that repository;
4. `afflux get all -A` and `afflux tree ks flux-system`: what got applied;
5. drift: the Deployment scaled by hand is put back by a reconciliation;
6. a commit: a value changed in Git (`afflux diff` first) is rolled out by a push webhook
   to the fleet's Receiver, and the fleet's Alert reports it to a local endpoint
   (hack/demo_notify.py);
7. an image: a new tag in the registry becomes a commit in Git (image automation) and a
   Deployment running it;
8. Helm: the chart examples/fleet/charts/hello, packaged and served by the dev environment
   (a Helm repository over HTTP, and an OCI artifact in its registry), installed and tested
   by helm-controller; a commit upgrades it; a commit whose upgrade fails (its post-upgrade
   hook exits 1) is rolled back by remediation, and a fix goes through;
9. `afflux dev down` (unless KEEP=1).

With NODE=real (`make demo NODE=real`, as root) the cluster gets a real node and the
operators run in it: `afflux dev up --real-node`, the afflux image built from this
checkout and podinfo built from source pushed to the dev registry (which the node's
containerd uses for ghcr.io/afflux/...), `bootstrap` without `--local`, and the podinfo
Pods answer a curl of their Service from this machine. The chart repository and the
Alert's endpoint listen on the node's address (Pods reach it, not loopback), the push
webhook goes to the `webhook-receiver` Service, and the chart's Pods and hook Jobs run
for real (a Debian shell image pushed as ghcr.io/afflux/hello and hello-check).

Every step checks that what it says happened did happen; the script exits non-zero at the
first one that did not (so CI can run it). The state lives in $AFFLUX_DEV_DIR (default
.local); the operators' logs in <state>/logs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "examples" / "fleet"
STATE = Path(os.environ.get("AFFLUX_DEV_DIR") or REPO / ".local").resolve()
KEEP = os.environ.get("KEEP", "") not in ("", "0", "false", "no")
REAL = os.environ.get("NODE", "") == "real"
IMAGE = "ghcr.io/afflux/podinfo"
COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

T = TypeVar("T")


class DemoFailed(Exception):
    pass


def bold(text: str) -> str:
    return f"\033[1m{text}\033[0m" if COLOR else text


def say(text: str) -> None:
    print(f"\n{bold('==> ' + text)}", flush=True)


def note(text: str) -> None:
    print(f"    {text}", flush=True)


def run(argv: Sequence[str], *, check: bool = True, show: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it and its output (stdout and stderr in order)."""
    shown = list(argv)
    if shown[:3] == [sys.executable, "-m", "afflux.cli"]:
        shown = ["afflux", *shown[3:]]
    elif Path(shown[0]).name.startswith("kubectl"):
        shown = ["kubectl", *shown[1:]]
    if show:
        print(f"$ {shlex.join(shown)}", flush=True)
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env or ENV, cwd=REPO, check=False)
    if show and done.stdout:
        print(done.stdout, end="" if done.stdout.endswith("\n") else "\n", flush=True)
    if check and done.returncode != 0:
        if not show:
            print(done.stdout)
        raise DemoFailed(f"`{shlex.join(shown)}` exited with {done.returncode}")
    return done


def afflux(*args: str, check: bool = True, show: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "afflux.cli", *args], check=check, show=show)


def kubectl(*args: str, show: bool = True) -> str:
    from afflux.cli.devenv._tools import tool_path

    return run([str(tool_path("kubectl")), *args], show=show).stdout


def eventually(check: Callable[[], T | None], what: str, timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - "not yet"
            last = f" (last: {err})"
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}{last}")
        time.sleep(1)


ENV = dict(os.environ)


def main() -> int:
    sys.path.insert(0, str(REPO))
    from afflux.cli.devenv._env import DevEnvironment

    t0 = time.monotonic()
    env = DevEnvironment(STATE, log=lambda line: None)
    step = "start"
    try:
        step = "dev up"
        if REAL:
            say("Starting the dev environment: local cluster with a real node, Git server, "
                "OCI registry (the operators will run in the cluster)")
            afflux("dev", "up", "--state-dir", str(STATE), "--real-node")
        else:
            say("Starting the dev environment: local cluster, Git server, OCI registry, "
                "operators")
            note("(the cluster's nodes are kwok's fake nodes: Pods become Running, nothing "
                 "runs)")
            afflux("dev", "up", "--state-dir", str(STATE))
        info = env.info()
        ENV.update(KUBECONFIG=str(info.kubeconfig), AFFLUX_LOG_DIR=str(info.logs),
                   AFFLUX_DEV_DIR=str(STATE))
        if not COLOR:
            ENV["NO_COLOR"] = "1"
        demo(info)
        step = "done"
        say(f"Demo finished in {time.monotonic() - t0:.0f}s: drift corrected, a commit and an "
            "image rolled out, all through Git")
        return 0
    except DemoFailed as err:
        print(f"\n✗ demo failed: {err}", file=sys.stderr)
        print(f"  the operators' logs are in {STATE / 'logs'} (`afflux logs --log-dir "
              f"{STATE / 'logs'}`)", file=sys.stderr)
        return 1
    finally:
        if KEEP:
            say(f"KEEP=1: the dev environment keeps running (export KUBECONFIG="
                f"{STATE / 'cluster' / 'kubeconfig'}; `afflux dev down --state-dir {STATE}` "
                "stops it)")
            say(f"The web UI: `KUBECONFIG={STATE / 'cluster' / 'kubeconfig'} .venv/bin/afflux "
                "ui`, then open http://127.0.0.1:9080/")
            say("Metrics: `make prometheus` (prometheus --config.file=config/monitoring/"
                "prometheus.yaml) scrapes the operators on http://127.0.0.1:9090/ "
                "(docs/monitoring.md)")
        elif step != "start":
            say("Stopping the dev environment")
            afflux("dev", "down", "--state-dir", str(STATE), check=False)


def demo(info: Any) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="afflux-demo-"))
    try:
        steps(info, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def steps(info: Any, scratch: Path) -> None:
    from afflux.api import ImagePolicy, Kustomization
    from afflux.cli._git import GitAuth, WorkingCopy, trust_ca
    from afflux.cli._kube import DEPLOYMENTS, Kube, ResourceType, resource_of
    from afflux.cli._oci import RegistryClient

    kube = Kube.connect(str(info.kubeconfig))
    trust_ca(info.ca_file)
    git_url = info.git_url("fleet")
    auth = GitAuth(username=info.git_username, password=info.git_password)
    registry = RegistryClient(info.registry, creds=(info.registry_username,
                                                     info.registry_password),
                              ca_file=info.ca_file)
    clones = iter(range(1000))

    def clone() -> WorkingCopy:
        return WorkingCopy.clone(git_url, "main", scratch / f"clone-{next(clones)}", auth)

    def push(wc: WorkingCopy, files: dict[str, str], message: str) -> str | None:
        for rel, text in files.items():
            wc.write(rel, text)
        sha = wc.commit(list(files), message, ("demo", "demo@afflux.invalid"))
        if sha:
            wc.push()
        return sha

    def ks_ready(name: str) -> dict[str, Any] | None:
        obj = kube.get(resource_of(Kustomization), name, "flux-system")
        ready = [c for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready"]
        return obj if ready and ready[0].get("status") == "True" else None

    def roll_out() -> None:
        """Fetch Git now and apply it: the source, then the Kustomizations in dependency
        order (apps waits for infrastructure to be at the same revision)."""
        afflux("reconcile", "ks", "infrastructure", "--with-source", "--timeout=2m")
        afflux("reconcile", "ks", "apps", "--timeout=2m")

    def deployment() -> dict[str, Any]:
        return kube.get(DEPLOYMENTS, "podinfo", "podinfo")

    # --- the repository and the first image ---------------------------------------------------
    say(f"Pushing examples/fleet to the Git server ({git_url})")
    wc = clone()
    files = {str(p.relative_to(FLEET)): p.read_text() for p in sorted(FLEET.rglob("*"))
             if p.is_file()}
    sha = push(wc, files, "Add the fleet: apps, infrastructure, image automation")
    note(f"commit {sha[:7] if sha else wc.head[:7] + ' (unchanged)'}: "
         f"{len(files)} files on branch main")

    say(f"Pushing the image {IMAGE}:6.0.0 to the local registry as {info.registry}/afflux/"
        "podinfo:6.0.0")
    push_podinfo(info, "6.0.0", git_url)

    # With a real node the operators run in Pods: the notification endpoint and the chart
    # repository listen on the node's address, which Pods reach (loopback they do not).
    notify = notifications(kube, info)
    publish_charts(info, scratch)

    # --- bootstrap ----------------------------------------------------------------------------
    if REAL:
        from afflux.cli.devenv._afflux_image import version

        say("Bootstrapping the cluster from clusters/dev (the operators run as Pods, from "
            f"{info.registry}/afflux/afflux:v{version()}, which `dev up` built from this "
            "checkout)")
        afflux("bootstrap", "git", f"--url={git_url}", f"--username={info.git_username}",
               f"--password={info.git_password}", f"--ca-file={info.ca_file}",
               "--token-auth", "--path=clusters/dev", f"--registry={info.registry}/afflux",
               "--components-extra=image-reflector-controller,image-automation-controller",
               "--silent", "--timeout=10m")
        kubectl("-n", "flux-system", "get", "pods", "-o", "wide")
    else:
        say("Bootstrapping the cluster from clusters/dev (the operators run locally: --local)")
        afflux("bootstrap", "git", "--local", f"--url={git_url}",
               f"--username={info.git_username}", f"--password={info.git_password}",
               f"--ca-file={info.ca_file}", "--token-auth", "--path=clusters/dev",
               "--components-extra=image-reflector-controller,image-automation-controller",
               "--silent", "--timeout=3m")
    say("Waiting for the infrastructure, then the apps (they depend on it)")
    eventually(lambda: ks_ready("infrastructure"), "Kustomization infrastructure to be ready")
    afflux("reconcile", "ks", "apps", "--timeout=3m")
    eventually(lambda: ks_ready("image-automation"), "Kustomization image-automation")
    afflux("get", "all", "-A")
    afflux("tree", "ks", "flux-system")
    if REAL:
        say("The fleet is served by real Pods: curl of the podinfo Service from this machine")
        eventually(lambda: deployment()["status"].get("availableReplicas") == 2,
                   "podinfo's 2 replicas to be available", 300)
        kubectl("-n", "podinfo", "get", "pods", "-o", "wide")
        ip = kubectl("-n", "podinfo", "get", "service", "podinfo", "-o",
                     "jsonpath={.spec.clusterIP}", show=False)
        answer = eventually(lambda: curl(f"http://{ip}:9898/"), f"podinfo at {ip}:9898", 60)
        note(f"$ curl http://{ip}:9898/  ->  hostname {answer['hostname']}, "
             f"message {answer['message']!r}, version {answer['version']}")

    # --- drift --------------------------------------------------------------------------------
    say("Drift: scaling the Deployment by hand to 5 replicas")
    kubectl("-n", "podinfo", "scale", "deployment/podinfo", "--replicas=5")
    eventually(lambda: deployment()["spec"]["replicas"] == 5, "the scale to take")
    note(f"spec.replicas is now {deployment()['spec']['replicas']} (Git says 2)")
    say("Reconciling: kustomize-controller finds the drift and puts Git's value back")
    afflux("reconcile", "ks", "apps", "--timeout=2m")
    eventually(lambda: deployment()["spec"]["replicas"] == 2, "spec.replicas back to 2", 60)
    note(f"spec.replicas is {deployment()['spec']['replicas']} again")
    note("what kustomize-controller logged about it (the operators log to "
         f"{info.logs}):")
    afflux("logs", "--kind=Kustomization", "--name=apps", "--since=2m", "--tail=3",
           check=False)

    # --- a commit -----------------------------------------------------------------------------
    message = f"Hello from the dev cluster, changed at {time.strftime('%H:%M:%S')}"
    say(f"A commit: changing the greeting in apps/dev/ui.yaml to {message!r}")
    wc = clone()
    ui = (wc.read("apps/dev/ui.yaml") or "").splitlines()
    ui = [f'  PODINFO_UI_MESSAGE: "{message}"' if "PODINFO_UI_MESSAGE" in line else line
          for line in ui]
    sha = push(wc, {"apps/dev/ui.yaml": "\n".join(ui) + "\n"}, "Change the dev greeting")
    note(f"pushed commit {(sha or '')[:7]}; what it will change, before it is applied:")
    afflux("diff", "ks", "apps", f"--path={wc.path / 'apps' / 'dev'}", check=False)
    say("The forge's push webhook (GitHub's format) to the fleet's Receiver")
    notify.push_webhook(kube, sha or wc.head)
    configmaps = ResourceType("", "v1", "ConfigMap", "configmaps")
    eventually(lambda: kube.get(configmaps, "podinfo-ui", "podinfo")["data"]
               ["PODINFO_UI_MESSAGE"] == message, "the new greeting in the cluster", 90)
    note("ConfigMap podinfo/podinfo-ui now says: " +
         kube.get(configmaps, "podinfo-ui", "podinfo")["data"]["PODINFO_UI_MESSAGE"])
    say("The fleet's Alert reported the rollout to the team's webhook")
    notify.show_alert(sha or wc.head)

    # --- an image -----------------------------------------------------------------------------
    patches = [int(t.split(".")[2]) for t in registry.tags("afflux/podinfo")
               if t.startswith("6.0.") and t.split(".")[2].isdigit()]
    tag = f"6.0.{max(patches, default=0) + 1}"
    say(f"An image: pushing {IMAGE}:{tag} to the registry")
    push_podinfo(info, tag, git_url)
    say("image-reflector-controller scans the registry; the ImagePolicy picks the new tag")
    afflux("reconcile", "image", "repository", "podinfo", "--timeout=2m")

    def policy_tag() -> str | None:
        status = kube.get(resource_of(ImagePolicy), "podinfo", "flux-system").get("status") or {}
        latest = (status.get("latestRef") or {}).get("tag")
        return latest if latest == tag else None

    eventually(policy_tag, f"ImagePolicy podinfo to pick {tag}", 90)
    afflux("get", "image", "policy", "podinfo")
    say("image-automation-controller commits the new tag to Git")
    afflux("reconcile", "image", "update", "flux-system", "--timeout=2m")

    def automation_commit() -> str | None:
        head = clone()
        text = head.read("apps/dev/kustomization.yaml") or ""
        if f"newTag: {tag}" not in text:
            return None
        commit = head.repo.get(head.repo.head.target)
        return f"{str(commit.id)[:7]} by {commit.author.name}: {commit.message.splitlines()[0]}"

    note("the commit in Git: " + eventually(automation_commit, "the automation's commit", 90))
    say("The new commit rolls out")
    roll_out()

    def image() -> str:
        return deployment()["spec"]["template"]["spec"]["containers"][0]["image"]

    eventually(lambda: image() == f"{IMAGE}:{tag}", f"the Deployment to run {IMAGE}:{tag}", 90)
    note(f"Deployment podinfo/podinfo runs {image()}")
    kubectl("-n", "podinfo", "get", "deployment/podinfo", "-o", "wide")
    if REAL:
        eventually(lambda: deployment()["status"].get("updatedReplicas") == 2
                   and deployment()["status"].get("availableReplicas") == 2,
                   f"the Pods of {IMAGE}:{tag} to be available", 300)
        kubectl("-n", "podinfo", "get", "pods", "-o", "wide")
    afflux("check", "--components-extra=image-reflector-controller,image-automation-controller")

    helm_releases(info, kube, clone, push)


# --- Helm ---------------------------------------------------------------------------------------
HELM_CHART = FLEET / "charts" / "hello"
HELM_VERSIONS = ("1.0.0", "1.1.0")
#: HelmRelease hello (targetNamespace hello): its release name, records in flux-system
HELLO_RELEASE = "hello-hello"


def helm_tool(scratch: Path) -> Callable[..., str]:
    """The pinned `helm`, with homes of its own under `scratch` and the dev kubeconfig."""
    from afflux.cli.devenv._tools import tool_path

    homes = {f"HELM_{k.upper()}_HOME": str(scratch / "helm" / k)
             for k in ("cache", "config", "data")}

    def helm(*args: str, show: bool = True) -> str:
        return run([str(tool_path("helm")), *args], show=show,
                   env={**ENV, **homes}).stdout

    return helm


def publish_charts(info: Any, scratch: Path) -> None:
    """Package the chart hello in two versions, serve them from the dev environment's Helm
    repository (HTTP) and push them to its registry (OCI), before the cluster looks."""
    helm = helm_tool(scratch)
    say(f"Packaging the chart {HELM_CHART.relative_to(REPO)} as hello {', '.join(HELM_VERSIONS)}"
        f" into the dev chart repository ({info.charts_url}) and oci://{info.registry}/charts")
    for version in HELM_VERSIONS:
        helm("package", str(HELM_CHART), "--version", version, "--app-version", version,
             "--destination", str(info.charts_dir), show=False)
    helm("repo", "index", str(info.charts_dir), "--url", info.charts_url)
    helm("registry", "login", info.registry, "--username", info.registry_username,
         "--password", info.registry_password, "--ca-file", str(info.ca_file), show=False)
    for version in HELM_VERSIONS:
        helm("push", str(info.charts_dir / f"hello-{version}.tgz"), f"oci://{info.registry}/charts",
             "--ca-file", str(info.ca_file))
    if REAL:
        from afflux.cli.devenv._afflux_image import shell_image
        from afflux.cli.devenv._images import push as push_image

        image = shell_image(log=lambda *_: None)
        refs = [f"{info.registry}/afflux/{name}:{version}" for name in ("hello", "hello-check")
                for version in HELM_VERSIONS]
        for ref in refs:
            push_image(image, ref, ca_file=info.ca_file, username=info.registry_username,
                       password=info.registry_password)
        note("the chart's images on the real node (ghcr.io/afflux/hello, hello-check: a Debian "
             f"shell) pushed as {', '.join(r.split('/', 1)[1] for r in refs)}")


def helm_releases(info: Any, kube: Any, clone: Callable[[], Any],
                  push: Callable[[Any, dict[str, str], str], str | None]) -> None:
    """HelmReleases from Git: installed and tested, upgraded by a commit, a failed upgrade
    rolled back by remediation, then fixed by a commit."""
    from afflux.api import HelmRelease
    from afflux.cli._kube import ResourceType, resource_of

    helm = helm_tool(Path(tempfile.mkdtemp(prefix="afflux-demo-helm-")))
    kubeconfig = f"--kubeconfig={info.kubeconfig}"
    configmaps = ResourceType("", "v1", "ConfigMap", "configmaps")

    def hr(name: str) -> dict[str, Any]:
        return kube.get(resource_of(HelmRelease), name, "flux-system")

    def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
        found = [c for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("type") == type_]
        return found[0] if found else {}

    def ready(name: str, **want: Any) -> dict[str, Any] | None:
        obj = hr(name)
        status = obj.get("status") or {}
        if (condition(obj, "Ready").get("status") != "True"
                or status.get("observedGeneration") != obj["metadata"]["generation"]):
            return None
        snap = (status.get("history") or [{}])[0]
        return obj if all(snap.get(k) == v for k, v in want.items()) else None

    def message() -> str:
        return kube.get(configmaps, HELLO_RELEASE, "hello")["data"]["message"]

    def commit(change: Callable[[str], str], what: str) -> None:
        wc = clone()
        text = change(wc.read("helm/hello.yaml") or "")
        sha = push(wc, {"helm/hello.yaml": text}, what)
        note(f"pushed commit {(sha or '')[:7]}: {what}")
        afflux("reconcile", "ks", "helm", "--with-source", "--timeout=2m")

    say("Helm: helm-controller installs hello (Helm repository) and hello-oci (OCI) and runs "
        "the chart's test")
    eventually(lambda: ready("hello", chartVersion="1.0.0"), "HelmRelease hello Ready", 180)
    eventually(lambda: ready("hello-oci"), "HelmRelease hello-oci Ready", 180)
    afflux("get", "helmreleases", "-A", check=False)
    note(f"the chart's test: {condition(hr('hello'), 'TestSuccess').get('message')}")
    note("the releases are ordinary Helm releases (records in flux-system, objects in hello):")
    helm("list", "-n", "flux-system", kubeconfig)

    say("A commit: HelmRelease hello moves to chart 1.1.0 with a new greeting")
    commit(lambda t: t.replace("version: 1.0.0", "version: 1.1.0").replace(
        "Hello from the dev cluster", "Hello from chart 1.1.0"), "Upgrade hello to 1.1.0")
    eventually(lambda: ready("hello", chartVersion="1.1.0", status="deployed"),
               "hello upgraded to 1.1.0", 180)
    note(f"ConfigMap hello/{HELLO_RELEASE} says: {message()}")
    helm("history", HELLO_RELEASE, "-n", "flux-system", kubeconfig)

    say("A bad commit: its upgrade fails (the post-upgrade check exits 1), and remediation "
        "rolls it back")
    commit(lambda t: t.replace("Hello from chart 1.1.0", "A greeting that never ships")
           + '    postUpgradeCheck: "1"\n', "Ship a greeting whose check fails")

    def rolled_back() -> dict[str, Any] | None:
        obj = hr("hello")
        remediated = condition(obj, "Remediated")
        return obj if remediated.get("reason") == "RollbackSucceeded" else None

    obj = eventually(rolled_back, "the failed upgrade rolled back", 180)
    note(f"Released: {condition(obj, 'Released').get('message')}")
    note(f"Remediated: {condition(obj, 'Remediated').get('message')}")
    helm("history", HELLO_RELEASE, "-n", "flux-system", kubeconfig)
    if message() != "Hello from chart 1.1.0":
        raise DemoFailed(f"the rollback did not restore the greeting: {message()!r}")
    note(f"ConfigMap hello/{HELLO_RELEASE} still says: {message()}")

    say("The fix: a commit that passes the check")
    commit(lambda t: t.replace('postUpgradeCheck: "1"', 'postUpgradeCheck: "0"').replace(
        "A greeting that never ships", "A greeting that ships"), "Fix the greeting")
    eventually(lambda: ready("hello", status="deployed")
               and message() == "A greeting that ships", "hello upgraded again", 180)
    note(f"ConfigMap hello/{HELLO_RELEASE} says: {message()}")
    afflux("get", "helmreleases", "-A", check=False)


def notifications(kube: Any, info: Any) -> Any:
    """The local endpoint the fleet's Alert posts to and the Secrets the fleet's Provider and
    Receiver use (hack/demo_notify.py); with a real node, on the node's address."""
    import urllib.parse

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from demo_notify import Notifications

    say("Notifications: a local endpoint for the fleet's Alert, and the Secrets of its "
        "Provider and Receiver")
    host = urllib.parse.urlsplit(info.git_https).hostname or "127.0.0.1"
    notify = Notifications(STATE, note, eventually, host=host, in_cluster=REAL)
    notify.prepare(kube)
    return notify


def curl(url: str) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        return dict(json.loads(resp.read()))


def push_podinfo(info: Any, tag: str, git_url: str) -> None:
    """The podinfo image at `tag` in the dev registry: with a real node, podinfo built from
    source (Pods run it); on kwok nodes a Flux artifact stands in (nothing runs it)."""
    creds = f"{info.registry_username}:{info.registry_password}"
    ref = f"{info.registry}/afflux/podinfo:{tag}"
    if REAL:
        from afflux.cli.devenv._images import podinfo_image
        from afflux.cli.devenv._images import push as push_image

        digest = push_image(podinfo_image(), ref, ca_file=info.ca_file,
                            username=info.registry_username, password=info.registry_password)
        note(f"pushed podinfo built from source: {ref}@{digest}")
        return
    afflux("push", "artifact", f"oci://{ref}", f"--path={FLEET / 'apps' / 'base' / 'podinfo'}",
           f"--source={git_url}", f"--revision={tag}", f"--creds={creds}",
           f"--ca-file={info.ca_file}")


if __name__ == "__main__":
    sys.exit(main())
