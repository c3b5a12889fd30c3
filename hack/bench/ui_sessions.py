#!/usr/bin/env python3
"""`afflux ui --in-cluster` with many users: what a session costs, and how long "what the
next reconcile would change" takes.

`--users` ServiceAccounts (default 20), each with a Role in its own namespace holding
`--objects` Kustomizations (default 50) and a GitRepository, in a cluster of the bench's own;
the UI as a process with `--in-cluster`, each user's token from the TokenRequest API. Then:

- sessions: each user in turn opens the page's event stream on its namespace (as the page
  does) and reads the snapshot; the server's RSS and thread count before and after, and the
  time from the request to the snapshot (median, max);
- preview: a Kustomization whose artifact (served on loopback, `--preview-objects`
  ConfigMaps, default 100) was applied as kustomize-controller applies it, one ConfigMap
  edited by hand; the first Compute (download, build, a dry-run per object), the cached
  answer, and a Recompute (the artifact already unpacked).

    .venv/bin/python hack/bench/ui_sessions.py
    .venv/bin/python hack/bench/ui_sessions.py --scale 0.1
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    REPO,
    SOURCE,
    Bench,
    coll_path,
    common_args,
    fmt_mib,
    log,
    proc_status,
    scaled,
)

from afflux.cli.devenv import free_port  # noqa: E402

NAME = "ui_sessions"


def _targz(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _serve(body: bytes) -> tuple[str, http.server.ThreadingHTTPServer]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/artifact.tar.gz", server


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _get(url: str, token: str) -> dict[str, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        result: dict[str, Any] = json.loads(resp.read())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser, NAME)
    parser.add_argument("--users", type=int, default=None, help="users (default 20 x scale)")
    parser.add_argument("--objects", type=int, default=None,
                        help="Kustomizations per user (default 50 x scale)")
    parser.add_argument("--preview-objects", type=int, default=None,
                        help="ConfigMaps in the previewed artifact (default 100 x scale)")
    args = parser.parse_args()
    users = args.users or scaled(20, args.scale)
    objects = args.objects or scaled(50, args.scale)
    preview_objects = args.preview_objects or scaled(100, args.scale)

    params = {"users": users, "objects": objects, "preview_objects": preview_objects}
    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        tokens: list[tuple[str, str]] = []
        for u in range(users):
            ns = kube.create_namespace(f"bench-ui-user-{u:02d}")
            kube.kubectl("create", "serviceaccount", "user", "-n", ns)
            kube.kubectl("create", "role", "tenant", "-n", ns,
                         "--verb=get,list,watch,patch", "--resource=*.*")
            kube.kubectl("create", "rolebinding", "tenant", "-n", ns, "--role=tenant",
                         f"--serviceaccount={ns}:user")
            kube.create(coll_path(*SOURCE, "gitrepositories", ns), {
                "apiVersion": "/".join(SOURCE), "kind": "GitRepository",
                "metadata": {"name": "repo", "namespace": ns},
                "spec": {"url": "https://example.com/repo.git", "interval": "1m"}})
            for i in range(objects):
                kube.create(coll_path(*KUSTOMIZE, "kustomizations", ns), {
                    "apiVersion": "/".join(KUSTOMIZE), "kind": "Kustomization",
                    "metadata": {"name": f"ks-{i:03d}", "namespace": ns},
                    "spec": {"interval": "10m", "path": f"./app-{i}", "prune": True,
                             "targetNamespace": ns,
                             "sourceRef": {"kind": "GitRepository", "name": "repo"}}})
            tokens.append((ns, kube.kubectl("create", "token", "user", "-n", ns,
                                            "--duration=2h").strip()))
        log(f"{users} users with {objects} Kustomizations each")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(kube.kubeconfig), "ui",
             "--in-cluster", "--addr", f"127.0.0.1:{port}",
             "--max-sessions", str(users + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        bench.on_exit("afflux ui", lambda: (proc.terminate(), proc.wait(10)))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("afflux ui did not answer within 60s") from None
                time.sleep(0.2)
        time.sleep(2)
        before, threads_before = proc_status(proc.pid), _threads(proc.pid)
        streams, snapshots = [], []
        for ns, token in tokens:
            t0 = time.monotonic()
            stream = urllib.request.urlopen(urllib.request.Request(
                f"{url}/api/stream?namespace={ns}",
                headers={"Authorization": f"Bearer {token}"}), timeout=60)
            # the snapshot comes at once (maybe before the watches listed), then each
            # object: wait until the user's objects are all there
            seen: set[str] = set()
            while len(seen) < objects + 1:
                line = stream.readline()
                if not line:
                    raise SystemExit(f"the event stream of {ns} ended")
                if line.startswith(b"data:"):
                    data = json.loads(line[5:])
                    seen |= {r["key"] for r in data.get("rows", [])}
                    if "key" in data:
                        seen.add(data["key"])
            snapshots.append(time.monotonic() - t0)
            streams.append(stream)
        time.sleep(2)
        after, threads_after = proc_status(proc.pid), _threads(proc.pid)
        per_session = (after["VmRSS"] - before["VmRSS"]) / users

        # the preview: one user's Kustomization of `preview_objects` ConfigMaps
        ns, token = tokens[0]
        files = {f"app/cm-{i:04d}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                 f"  name: cm-{i:04d}\ndata:\n  value: v{i}\n" for i in range(preview_objects)}
        tarball = _targz(files)
        artifact_url, server = _serve(tarball)
        bench.on_exit("artifact server", server.shutdown)
        kube.create(coll_path(*KUSTOMIZE, "kustomizations", ns), {
            "apiVersion": "/".join(KUSTOMIZE), "kind": "Kustomization",
            "metadata": {"name": "preview", "namespace": ns},
            "spec": {"interval": "10m", "path": "./app", "prune": True, "targetNamespace": ns,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}})
        kube.patch(coll_path(*SOURCE, "gitrepositories", ns) + "/repo/status", {"status": {
            "artifact": {"path": "a.tar.gz", "url": artifact_url,
                         "revision": "main@sha1:" + "ab" * 20,
                         "digest": "sha256:" + hashlib.sha256(tarball).hexdigest(),
                         "lastUpdateTime": "2026-01-01T00:00:00Z"}}})
        kube.kubectl("apply", "--server-side", "--field-manager=kustomize-controller", "-n",
                     ns, "-f", "-", input="\n---\n".join(
                         t.replace("metadata:\n", "metadata:\n  labels:\n"
                                   "    kustomize.toolkit.fluxcd.io/name: preview\n"
                                   f"    kustomize.toolkit.fluxcd.io/namespace: {ns}\n")
                         for t in files.values()))
        kube.kubectl("patch", "configmap", "cm-0000", "-n", ns, "--type=merge",
                     "-p", '{"data":{"value":"by hand"}}')
        next_url = f"{url}/api/next/Kustomization/{ns}/preview"
        t0 = time.monotonic()
        first = _get(next_url, token)
        cold = time.monotonic() - t0
        t0 = time.monotonic()
        cached = _get(next_url, token)
        warm = time.monotonic() - t0
        t0 = time.monotonic()
        again = _get(next_url + "?refresh=1", token)
        recompute = time.monotonic() - t0
        if first["error"] or len(first["changed"]) != 1 or not cached["cached"] \
                or again["cached"]:
            raise SystemExit(f"unexpected preview: {json.dumps(first)[:500]}")
        for stream in streams:
            stream.close()
        final = proc_status(proc.pid)
        res.update({
            "snapshot_s": {"median": round(statistics.median(snapshots), 3),
                           "max": round(max(snapshots), 3)},
            "rss_before_kib": before["VmRSS"], "rss_after_kib": after["VmRSS"],
            "rss_per_session_kib": round(per_session),
            "threads_before": threads_before, "threads_after": threads_after,
            "preview_cold_s": round(cold, 3), "preview_cached_s": round(warm, 3),
            "preview_recompute_s": round(recompute, 3), "peak_rss_kib": final["VmHWM"],
        })
        bench.row("users", f"{users} ServiceAccounts, {objects} Kustomizations each, one "
                  "open event stream each")
        bench.row("first snapshot of a user", f"median {statistics.median(snapshots):.2f}s, "
                  f"max {max(snapshots):.2f}s (session, token review, 15 watches listed)")
        bench.row("afflux ui RSS", f"{fmt_mib(before['VmRSS'])} -> {fmt_mib(after['VmRSS'])} "
                  f"({fmt_mib(per_session)} per session)")
        bench.row("threads", f"{threads_before} -> {threads_after}")
        bench.row("next reconcile", f"{preview_objects} ConfigMaps: first {cold:.2f}s, cached "
                  f"{warm * 1000:.0f} ms, recompute {recompute:.2f}s")
        bench.row("peak RSS", fmt_mib(final["VmHWM"]))


if __name__ == "__main__":
    main()
