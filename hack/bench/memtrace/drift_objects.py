#!/usr/bin/env python3
"""Memory per Kustomization of kustomize-controller's drift bookkeeping, in process (no
cluster): N Kustomizations with an inventory of `--per` ConfigMaps each go into the
`InventoryIndex` (as the Kustomization watch and each apply feed it), the ConfigMap watch
holds the N x per labelled objects (as its list and events leave them: each
PartialObjectMetadata parsed from its own JSON, as the watch thread does), each
Kustomization has the record of its last apply, and tracemalloc says how much stays per
Kustomization and where.

    .venv/bin/python hack/bench/memtrace/drift_objects.py --count 2000
"""

from __future__ import annotations

import argparse
import gc
import json
import tracemalloc
from typing import Any

from afflux.controllers.kustomize._watches import ManagedWatches, _KindWatch, _reduce

OURS = "kustomize-controller"
NS = "bench-ks"
CONFIGMAP = ("", "v1", "ConfigMap")


def object_json(i: int, j: int) -> str:
    """One applied ConfigMap's PartialObjectMetadata, as the watch receives it."""
    when = f"2026-12-01T19:{i // 60 % 60:02d}:{i % 60:02d}Z"
    return json.dumps({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {
                           "name": f"app-{i:05d}-cm-{j:02d}", "namespace": NS,
                           "resourceVersion": str(100000 + 10 * i + j),
                           "labels": {"kustomize.toolkit.fluxcd.io/name": f"app-{i:05d}",
                                      "kustomize.toolkit.fluxcd.io/namespace": NS},
                           "managedFields": [{"manager": OURS, "operation": "Apply",
                                              "time": when, "apiVersion": "v1",
                                              "fieldsType": "FieldsV1"}]}})


def entries(i: int, per: int) -> list[dict[str, str]]:
    return [{"id": f"{NS}_app-{i:05d}-cm-{j:02d}__ConfigMap", "v": "v1"} for j in range(per)]


def measure(count: int, per: int, top: int) -> None:
    watches = ManagedWatches(None, None, lambda ks: True, ours=OURS)  # type: ignore[arg-type]
    statuses = [json.dumps({"metadata": {"namespace": NS, "name": f"app-{i:05d}"},
                            "status": {"inventory": {"entries": entries(i, per)}}})
                for i in range(count)]
    objects = [[object_json(i, j) for j in range(per)] for i in range(count)]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    watch = watches._watches[CONFIGMAP] = _KindWatch(CONFIGMAP)
    listed: dict[Any, Any] = {}
    for page in objects:
        listed.update(_reduce(json.loads(text), OURS) for text in page)
    watches._relisted(watch, listed)
    del listed
    for i, text in enumerate(statuses):
        watches.observe_kustomization("ADDED", json.loads(text))
        seq = watches.begin_apply()
        watches.applied((NS, f"app-{i:05d}"), entries(i, per), "sha256:" + f"{i:064x}", seq)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    print(f"{count} Kustomizations of {per} ConfigMaps: {held / count / 1024:.2f} KiB per "
          f"Kustomization held by the drift watch and index")
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size / count:7.0f} B {stat.count / count:5.1f} blocks per Kustomization"
              f"  {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--per", type=int, default=10, help="ConfigMaps per Kustomization")
    parser.add_argument("--top", type=int, default=10, help="allocation sites to list")
    args = parser.parse_args()
    measure(args.count, args.per, args.top)


if __name__ == "__main__":
    main()
