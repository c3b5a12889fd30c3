#!/usr/bin/env python3
"""Memory per object of the runtime's `Scheduler`, in process (no cluster): N Kustomization
bodies shaped as kustomize-controller leaves them (managedFields of three managers, Ready,
a history entry, an inventory of 10 ConfigMaps; each parsed from its own JSON, as each watch
event is) go through `Scheduler.observe`, their workers settle into their interval wait, and
tracemalloc says how much stays per object (the cached body, the worker task, the dependents
index, the metrics) and where.

    .venv/bin/python hack/bench/memtrace/scheduler_objects.py --count 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tracemalloc
import uuid
from typing import Any

from afflux.controllers.runtime import (
    Environment,
    Metrics,
    Options,
    OutcomeKind,
    Reconciler,
    ReconcileResult,
    Resource,
    Scheduler,
    Timing,
)

KUSTOMIZATION = Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations")
REVISION = "main@sha1:" + "97c7c0a610ea7f83fde1a15dd9fe6dc34cf201d1"


def body_json(i: int) -> str:
    """One Kustomization as the API server sends it after its first apply."""
    name, ns, when = f"app-{i:05d}", "bench-ks", f"2026-12-01T19:{i // 60 % 60:02d}:{i % 60:02d}Z"
    fields = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "fieldsType": "FieldsV1"}
    body: dict[str, Any] = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {
            "creationTimestamp": when, "finalizers": ["finalizers.fluxcd.io"], "generation": 1,
            "managedFields": [
                {**fields, "fieldsV1": {"f:spec": {".": {}, "f:interval": {}, "f:path": {},
                                                   "f:prune": {}, "f:targetNamespace": {},
                                                   "f:sourceRef": {".": {}, "f:kind": {},
                                                                   "f:name": {}}}},
                 "manager": "python-requests", "operation": "Update", "time": when},
                {**fields, "fieldsV1": {"f:metadata": {"f:finalizers": {
                    ".": {}, 'v:"finalizers.fluxcd.io"': {}}}},
                 "manager": "OpenAPI-Generator", "operation": "Update", "time": when},
                {**fields, "fieldsV1": {"f:status": {
                    "f:conditions": {}, "f:history": {}, "f:inventory": {".": {}, "f:entries": {}},
                    "f:lastAppliedRevision": {}, "f:lastAttemptedRevision": {},
                    "f:observedGeneration": {}}},
                 "manager": "OpenAPI-Generator", "operation": "Update", "subresource": "status",
                 "time": when}],
            "name": name, "namespace": ns, "resourceVersion": str(1000 + i),
            "uid": str(uuid.UUID(int=i))},
        "spec": {"force": False, "interval": "5m", "path": f"./apps/{name}", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                 "targetNamespace": ns},
        "status": {
            "conditions": [{"lastTransitionTime": when, "message": f"Applied revision: {REVISION}",
                            "observedGeneration": 1, "reason": "ReconciliationSucceeded",
                            "status": "True", "type": "Ready"}],
            "history": [{"digest": "sha256:" + f"{i:064x}", "firstReconciled": when,
                         "lastReconciled": when, "lastReconciledDuration": "22.590539s",
                         "lastReconciledStatus": "ReconciliationSucceeded",
                         "metadata": {"revision": REVISION}, "totalReconciliations": 1}],
            "inventory": {"entries": [{"id": f"{ns}_{name}-cm-{j:02d}__ConfigMap", "v": "v1"}
                                      for j in range(10)]},
            "lastAppliedRevision": REVISION, "lastAttemptedRevision": REVISION,
            "observedGeneration": 1}}
    return json.dumps(body)


class _Ready(Reconciler[Any]):
    async def reconcile(self, body: Any, env: Environment) -> ReconcileResult:
        return ReconcileResult(OutcomeKind.SUCCESS, "Succeeded", "ok")


async def measure(count: int, top: int) -> None:
    async def phase(_: Any) -> None:
        return None

    env = Environment(kube=None, recorder=None, options=Options(name="kustomize-controller"))  # type: ignore[arg-type]
    scheduler = Scheduler(_Ready(KUSTOMIZATION, [phase]), env, semaphore=asyncio.Semaphore(4),
                          metrics=Metrics(process=None), timing=Timing(jitter_percent=0))
    texts = [body_json(i) for i in range(count)]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for text in texts:
        scheduler.observe("ADDED", json.loads(text))
    while not all(state.attempted and state.due_at for state in scheduler._states.values()):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    print(f"{count} objects: {held / count / 1024:.2f} KiB per object held by the scheduler")
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size / count:7.0f} B {stat.count / count:5.1f} blocks per object  "
              f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}")
    await scheduler.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--top", type=int, default=10, help="allocation sites to list")
    args = parser.parse_args()
    asyncio.run(measure(args.count, args.top))


if __name__ == "__main__":
    main()
