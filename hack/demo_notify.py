"""The notification part of `make demo` (hack/demo.py calls these):

- `Notifications.prepare(kube)`, before the bootstrap: a local endpoint that records what
  the fleet's Alert sends (examples/fleet/notifications), and the two Secrets that are not
  in Git: `alerts-webhook` (the endpoint's URL) and `webhook-token` (the Receiver's token);
  the endpoint listens on `host`: loopback, or with a real node its address (notification-
  controller then runs in a Pod, which reaches the node's address and not loopback);
- `Notifications.push_webhook(sha)`, after a `git push`: what GitHub sends for a push, signed
  with the token, to the Receiver's `status.webhookPath` on notification-controller's
  receiver port (the local operator's, or with a real node the `webhook-receiver` Service's
  cluster IP, which this machine reaches through kube-proxy): the GitRepository fetches at
  once, and the Kustomizations apply the commit;
- `Notifications.show_alert(sha)`: waits for the Alert's event that says the commit was
  applied, and prints it as it arrived.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import secrets
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAMESPACE = "flux-system"


class Notifications:
    def __init__(self, state: Path, note: Callable[[str], None],
                 eventually: Callable[..., Any], host: str = "127.0.0.1",
                 in_cluster: bool = False) -> None:
        self.state = state
        self.host = host
        self.in_cluster = in_cluster
        self.note = note
        self.eventually = eventually
        self.token = secrets.token_hex(20)
        self.received: list[dict[str, Any]] = []
        lock = self._lock = threading.Lock()
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0),
                                           1 << 20))
                with lock:
                    received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def prepare(self, kube: Any) -> None:
        from afflux.cli._kube import ResourceType

        namespaces = ResourceType("", "v1", "Namespace", "namespaces")
        secrets_ = ResourceType("", "v1", "Secret", "secrets")
        kube.apply(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": NAMESPACE}}, field_manager="afflux-demo")
        port = self.server.server_address[1]
        for name, data in (("alerts-webhook", {"address": f"http://{self.host}:{port}/alerts"}),
                           ("webhook-token", {"token": self.token})):
            kube.apply(secrets_, {"apiVersion": "v1", "kind": "Secret",
                                  "metadata": {"name": name, "namespace": NAMESPACE},
                                  "stringData": data}, field_manager="afflux-demo")
        self.note(f"alerts go to a local endpoint (http://{self.host}:{port}/alerts, Secret "
                  "alerts-webhook); the Receiver's token is in Secret webhook-token")

    def _receiver_base(self, kube: Any) -> str:
        from afflux.cli._kube import ResourceType
        from afflux.cli.devenv._launcher import read_state

        if self.in_cluster:
            services = ResourceType("", "v1", "Service", "services")
            svc = kube.get(services, "webhook-receiver", NAMESPACE)
            return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"
        record = read_state(Path(self.state)).get("notification-controller")
        port = int(record.ports.get("receiver") or 0) if record else 0
        if not port:
            raise RuntimeError("notification-controller's receiver port is not in the dev "
                               "environment's state")
        return f"http://127.0.0.1:{port}"

    def _receiver_url(self, kube: Any) -> str:
        from afflux.api import Receiver
        from afflux.cli._kube import resource_of

        base = self._receiver_base(kube)

        def path() -> str | None:
            status = kube.get(resource_of(Receiver), "fleet", NAMESPACE).get("status") or {}
            return status.get("webhookPath")
        return base + self.eventually(path, "Receiver fleet's webhookPath")

    def push_webhook(self, kube: Any, sha: str) -> None:
        url = self._receiver_url(kube)
        body = json.dumps({"ref": "refs/heads/main", "after": sha,
                           "repository": {"full_name": "afflux/fleet"}}).encode()
        signature = hmac.new(self.token.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-Hub-Signature-256": f"sha256={signature}"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            status = resp.status
        self.note(f"POST {url.split('/hook/')[0]}/hook/... (X-GitHub-Event: push, signed) "
                  f"answered {status}: the Receiver set requestedAt on GitRepository "
                  "flux-system")

    def show_alert(self, sha: str, kustomization: str = "apps") -> None:
        def applied() -> dict[str, Any] | None:
            with self._lock:
                for event in self.received:
                    inv = event.get("involvedObject") or {}
                    meta = event.get("metadata") or {}
                    if (inv.get("kind"), inv.get("name")) == ("Kustomization", kustomization) \
                            and str(meta.get("revision", "")).endswith(sha) \
                            and event.get("severity") == "info":
                        # Flux's notification-controller sends the metadata keys of the
                        # object's own API group without the group: `revision`
                        return event
            return None

        event = self.eventually(applied, f"the Alert's event about {kustomization} at {sha[:7]}",
                                90)
        self.note(f"the Alert delivered ({len(self.received)} events so far); this one:")
        for line in json.dumps({k: event[k] for k in ("involvedObject", "severity", "reason",
                                                      "message", "metadata") if k in event},
                               indent=2).splitlines():
            self.note("  " + line)
