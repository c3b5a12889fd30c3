#!/usr/bin/env python3
"""Events per second notification-controller delivers to a generic Provider, and its RSS.

One namespace, one generic Provider whose address is a local HTTP endpoint that counts
what it gets, one Alert for every GitRepository event. `--events` events (each with its
own message, so the rate limit lets every one through) arrive two ways, timed apart:

- `api`: POSTed to Flux's event API (`--events-addr`) by 8 client threads, as Flux's
  controllers do;
- `core`: created as Kubernetes Events (what afflux's own operators record), which the
  controller watches, delivers, and marks as dispatched (one PATCH each).

The clock runs from the first event sent to the last one received by the endpoint. The
controller's RSS is read when it is idle (after start-up and the Provider/Alert are
ready), and its peak is sampled every 0.5 s during the runs.

    .venv/bin/python hack/bench/notification_events.py                 # 2,000 events each way
    .venv/bin/python hack/bench/notification_events.py --scale 0.1
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    Bench,
    RssSampler,
    coll_path,
    common_args,
    fmt_mib,
    free_port,
    is_ready,
    log,
    scaled,
)

NAME = "notification_events"
NOTIFICATION = ("notification.toolkit.fluxcd.io", "v1beta3")


class Counter:
    """A loopback HTTP endpoint that counts POSTs and remembers when the last came."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        self.last = 0.0
        self._cond = threading.Condition()
        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with counter._cond:
                    counter.count += 1
                    counter.last = time.monotonic()
                    counter._cond.notify_all()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.count < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.count} of {count} events delivered")
                self._cond.wait(left)
            return self.last

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def flux_event(ns: str, n: int, run: str) -> dict[str, Any]:
    return {"involvedObject": {"apiVersion": "source.toolkit.fluxcd.io/v1",
                               "kind": "GitRepository", "name": f"repo-{n % 50}",
                               "namespace": ns},
            "severity": "info", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": f"{run} event {n}", "reason": "NewArtifact",
            "metadata": {"source.toolkit.fluxcd.io/revision": "main@sha1:" + "1" * 40},
            "reportingController": "source-controller"}


def core_event(ns: str, n: int, run: str) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"repo.{run}.{n}", "namespace": ns,
                         "annotations": {"source.toolkit.fluxcd.io/revision":
                                         "main@sha1:" + "1" * 40}},
            "involvedObject": {"apiVersion": "source.toolkit.fluxcd.io/v1",
                               "kind": "GitRepository", "name": f"repo-{n % 50}",
                               "namespace": ns, "uid": str(uuid.uuid4())},
            "reason": "NewArtifact", "message": f"{run} event {n}", "type": "Normal",
            "source": {"component": "source-controller"},
            "reportingComponent": "source-controller", "reportingInstance": "bench",
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_args(parser, NAME)
    parser.add_argument("--events", type=int, default=None,
                        help="events per way (default 2000 x scale)")
    args = parser.parse_args()
    total = args.events or scaled(2000, args.scale, minimum=20)
    params = {"events": total, "client_threads": 8}

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        ns = kube.create_namespace("bench-notify")
        events_port = free_port()
        ctl = bench.controller(kube, "notification", "--watch-all-namespaces=false",
                               f"--namespace={ns}", f"--events-addr=127.0.0.1:{events_port}",
                               f"--receiverAddr=127.0.0.1:{free_port()}")
        counter = Counter()
        bench.on_exit("the counting endpoint", counter.stop)
        group = "/".join(NOTIFICATION)
        providers = coll_path(*NOTIFICATION, "providers", ns)
        alerts = coll_path(*NOTIFICATION, "alerts", ns)
        kube.create(providers, {"apiVersion": group, "kind": "Provider",
                                "metadata": {"name": "counter", "namespace": ns},
                                "spec": {"type": "generic",
                                         "address": f"http://127.0.0.1:{counter.port}/"}})
        kube.create(alerts, {"apiVersion": group, "kind": "Alert",
                             "metadata": {"name": "all", "namespace": ns},
                             "spec": {"providerRef": {"name": "counter"},
                                      "eventSources": [{"kind": "GitRepository", "name": "*"}]}})
        bench.watch(kube, alerts).wait_all(is_ready, 1, timeout=120, what="the Alert ready")
        idle = ctl.status()["VmRSS"]
        res["rss_idle_kib"] = idle
        sampler = RssSampler(lambda: [ctl.pid]).start()
        bench.on_exit("the RSS sampler", sampler.stop)

        session = requests.Session()
        session.trust_env = False
        url = f"http://127.0.0.1:{events_port}/"

        def post(n: int) -> None:
            resp = session.post(url, data=json.dumps(flux_event(ns, n, "api")), timeout=60,
                                headers={"Content-Type": "application/json"})
            if resp.status_code != 202:
                raise RuntimeError(f"event API answered {resp.status_code}: {resp.text[:200]}")

        def create(n: int) -> None:
            kube.create(coll_path("", "v1", "events", ns), core_event(ns, n, "core"))

        delivered = 0
        for way, send in (("api", post), ("core", create)):
            t0 = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(send, range(total)))
            t_sent = time.monotonic()
            t_last = counter.wait_for(delivered + total, timeout=600)
            delivered += total
            rate = total / (t_last - t0)
            res[way] = {"events": total, "sent_s": round(t_sent - t0, 3),
                        "delivered_s": round(t_last - t0, 3), "events_per_s": round(rate, 1)}
            log(f"{way}: {total} events delivered in {t_last - t0:.2f}s ({rate:.0f}/s)")
            bench.row(f"{way}: events delivered per second",
                      f"{rate:.0f}/s ({total} in {t_last - t0:.2f}s; sent in {t_sent - t0:.2f}s)")
        sampler.stop()
        res["rss_peak_kib"] = sampler.peak_sum_kib
        res["rss_after_kib"] = ctl.status()["VmRSS"]
        bench.row("RSS idle / peak / after", f"{fmt_mib(idle)} / {fmt_mib(sampler.peak_sum_kib)}"
                  f" / {fmt_mib(res['rss_after_kib'])}")


if __name__ == "__main__":
    main()
