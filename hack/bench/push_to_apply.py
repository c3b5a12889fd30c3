#!/usr/bin/env python3
"""From `git push` to the change applied in the cluster (source + kustomize).

One repository with a ConfigMap (plus `--filler` other files), one GitRepository and one
Kustomization, both with a long interval (1h), so the only trigger is the one a CI
pipeline or a webhook receiver gives: `reconcile.fluxcd.io/requestedAt` on the
GitRepository right after the push. `--repeat` times (default 10): a commit changing the
ConfigMap's value is pushed, requestedAt is set, and the clock stops when the ConfigMap in
the cluster has the new value (seen on a watch). The time is split into its steps: the
push itself, requestedAt -> new artifact (source-controller), artifact -> Kustomization
applied (kustomize-controller), and the object's change seen.

`--mode receiver`: the trigger is a webhook instead. notification-controller runs with
its receiver on a loopback port, a `github` Receiver (events: push) lists the
GitRepository, and after each push the script POSTs what GitHub sends for a push (the
`X-GitHub-Event: push` header, the body signed in `X-Hub-Signature-256` with the
Receiver's token) to the Receiver's `status.webhookPath`. The time then includes the
webhook's answer and notification-controller setting requestedAt.

    .venv/bin/python hack/bench/push_to_apply.py
    .venv/bin/python hack/bench/push_to_apply.py --repeat 30 --filler 1000
    .venv/bin/python hack/bench/push_to_apply.py --mode receiver
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    SOURCE,
    Bench,
    Kube,
    LocalRepo,
    auth_url,
    coll_path,
    common_args,
    fmt_summary,
    free_port,
    is_ready,
    log,
    scaled,
    summary,
)

NAME = "push_to_apply"
NOTIFICATION = ("notification.toolkit.fluxcd.io", "v1")


class Webhook:
    """A github Receiver for the GitRepository `app`, and the push webhook GitHub would
    send to it (signed with the Receiver's token)."""

    def __init__(self, bench: Bench, kube: Kube, ns: str) -> None:
        port = free_port()
        bench.controller(kube, "notification", "--watch-all-namespaces=false",
                         f"--namespace={ns}", f"--receiverAddr=127.0.0.1:{port}",
                         f"--events-addr=127.0.0.1:{free_port()}")
        self.token = secrets.token_hex(16)
        kube.create_secret(ns, "webhook-token", {"token": self.token})
        receivers = coll_path(*NOTIFICATION, "receivers", ns)
        kube.create(receivers, {
            "apiVersion": "/".join(NOTIFICATION), "kind": "Receiver",
            "metadata": {"name": "app", "namespace": ns},
            "spec": {"type": "github", "events": ["push"], "secretRef": {"name": "webhook-token"},
                     "resources": [{"apiVersion": "/".join(SOURCE), "kind": "GitRepository",
                                    "name": "app"}]}})
        watch = bench.watch(kube, receivers)
        watch.wait_all(lambda o: is_ready(o) and bool(o["status"].get("webhookPath")), 1,
                       timeout=120, what="the Receiver ready")
        path = (watch.get("app") or {})["status"]["webhookPath"]
        self.url = f"http://127.0.0.1:{port}{path}"
        self.session = requests.Session()
        self.session.trust_env = False

    def push(self, sha: str) -> None:
        body = json.dumps({"ref": "refs/heads/main", "after": sha,
                           "repository": {"full_name": "bench/app"}}).encode()
        signature = hmac.new(self.token.encode(), body, hashlib.sha256).hexdigest()
        resp = self.session.post(self.url, data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": secrets.token_hex(8),
            "X-Hub-Signature-256": f"sha256={signature}"})
        if resp.status_code != 200:
            raise RuntimeError(f"the webhook answered {resp.status_code}: {resp.text[:200]}")


def configmap(value: int) -> str:
    return (
        f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\ndata:\n  value: "{value}"\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_args(parser, NAME)
    parser.add_argument(
        "--repeat", type=int, default=None, help="pushes to time (default 10 x scale, at least 3)"
    )
    parser.add_argument(
        "--filler", type=int, default=100, help="other small files in the repository (default 100)"
    )
    parser.add_argument(
        "--pause", type=float, default=2.0, help="seconds between pushes (default 2)"
    )
    parser.add_argument(
        "--mode", choices=("requestedAt", "receiver"), default="requestedAt",
        help="the trigger after a push: requestedAt set by the script (default), or a "
        "GitHub-style push webhook to a Receiver",
    )
    args = parser.parse_args()
    repeat = args.repeat or scaled(10, args.scale, minimum=3)
    params = {"repeat": repeat, "filler_files": args.filler, "intervals": "1h",
              "mode": args.mode}

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        git = bench.git_server()
        git.create_repo("app", public=True)
        local = LocalRepo(bench.workdir / "local-app.git", auth_url(git, "app"))
        files: dict[str, str | None] = {
            f"docs/note-{i:04d}.md": f"note {i}\n" * 10 for i in range(args.filler)
        }
        files["deploy/configmap.yaml"] = configmap(0)
        sha = local.commit(files, "initial")
        local.push()

        ns = kube.create_namespace("bench-push")
        bench.source_controller(kube, ns)
        bench.controller(kube, "kustomize", "--watch-all-namespaces=false", f"--namespace={ns}")
        repos = coll_path(*SOURCE, "gitrepositories", ns)
        kss = coll_path(*KUSTOMIZE, "kustomizations", ns)
        src_w = bench.watch(kube, repos)
        ks_w = bench.watch(kube, kss)
        cm_w = bench.watch(kube, coll_path("", "v1", "configmaps", ns))
        kube.create(
            repos,
            {
                "apiVersion": "/".join(SOURCE),
                "kind": "GitRepository",
                "metadata": {"name": "app", "namespace": ns},
                "spec": {"url": git.url("app"), "interval": "1h", "ref": {"branch": "main"}},
            },
        )
        kube.create(
            kss,
            {
                "apiVersion": "/".join(KUSTOMIZE),
                "kind": "Kustomization",
                "metadata": {"name": "app", "namespace": ns},
                "spec": {
                    "interval": "1h",
                    "prune": True,
                    "path": "./deploy",
                    "targetNamespace": ns,
                    "sourceRef": {"kind": "GitRepository", "name": "app"},
                },
            },
        )
        ks_w.wait_all(
            lambda o: is_ready(o) and o["status"].get("lastAppliedRevision") == f"main@sha1:{sha}",
            1,
            timeout=300,
            what="the first apply",
        )
        log("initial apply done")
        webhook = Webhook(bench, kube, ns) if args.mode == "receiver" else None

        steps: dict[str, list[float]] = {
            "push": [],
            "artifact": [],
            "applied": [],
            "object": [],
            "total": [],
        }
        for n in range(1, repeat + 1):
            time.sleep(args.pause)
            new = local.commit({"deploy/configmap.yaml": configmap(n)}, f"value {n}")
            rev = f"main@sha1:{new}"
            t0 = time.monotonic()
            local.push()
            t_push = time.monotonic()
            if webhook is not None:
                webhook.push(new)
            else:
                kube.request_reconcile(f"{repos}/app")
            t_art = src_w.wait_all(
                lambda o, r=rev: (
                    ((o.get("status") or {}).get("artifact") or {}).get("revision") == r
                ),
                1,
                timeout=300,
                what="the new artifact",
            )
            t_app = ks_w.wait_all(
                lambda o, r=rev: (o.get("status") or {}).get("lastAppliedRevision") == r,
                1,
                timeout=300,
                what="the Kustomization applied",
            )
            t_obj = cm_w.wait(
                lambda objs, v=str(n): (objs.get("pushed") or {}).get("data", {}).get("value") == v,
                timeout=300,
                what="the ConfigMap changed",
            )
            steps["push"].append(t_push - t0)
            steps["artifact"].append(t_art - t_push)
            steps["applied"].append(max(t_app - t_art, 0.0))
            steps["object"].append(t_obj - t0)
            steps["total"].append(max(t_obj, t_app) - t0)
            log(f"push {n}: ConfigMap changed {t_obj - t0:.2f}s after the push started")

        key = "push_to_applied" if webhook is None else "webhook_push_to_applied"
        res[key] = {k: summary(v) for k, v in steps.items()}
        res["samples"] = {k: [round(x, 3) for x in v] for k, v in steps.items()}
        bench.row("push -> ConfigMap changed", fmt_summary(summary(steps["object"])))
        bench.row("  git push", fmt_summary(summary(steps["push"])))
        trigger = "webhook" if webhook is not None else "requestedAt"
        bench.row(f"  {trigger} -> artifact", fmt_summary(summary(steps["artifact"])))
        bench.row("  artifact -> applied", fmt_summary(summary(steps["applied"])))


if __name__ == "__main__":
    main()
