"""Opt-in allocation tracing of an operator started by a benchmark (issue 14's memory work).

With this directory on PYTHONPATH and `AFFLUX_TRACEMALLOC=<dir>` in the environment, a Python
process whose command line names `afflux.controllers.<AFFLUX_TRACEMALLOC_OPERATOR>` (default
`kustomize`) starts `tracemalloc` (`AFFLUX_TRACEMALLOC_FRAMES` frames, default 1) before
anything else is imported and, on SIGUSR2, writes `<dir>/tracemalloc-<pid>-<n>.txt`: the
traced total, the top allocation sites by line and, with more than one frame, the stacks
(afflux's and kopf's frames) of the largest ones. Any other process is left alone. Tracing
slows the process (25 frames: several times, too slow for 500 Kustomizations on a busy
machine) and its snapshots take memory of their own, so the traced sizes are what counts,
not the process's RSS; never use it for the timed figures.

    PYTHONPATH=hack/bench/memtrace AFFLUX_TRACEMALLOC=.local/memtrace \\
        .venv/bin/python hack/bench/kustomize_scale.py --counts 500 --settle 1s --window 60s
    kill -USR2 <kustomize-controller pid>     # during the steady window
"""

import os
import signal
import sys
import time
import tracemalloc

_OUT = os.environ.get("AFFLUX_TRACEMALLOC")
_WHICH = "afflux.controllers." + os.environ.get("AFFLUX_TRACEMALLOC_OPERATOR", "kustomize")
_dumps = 0


def _ours(frame: tracemalloc.Frame) -> bool:
    name = frame.filename
    return "/afflux/" in name or "/controllers/" in name or "/kopf/" in name or "/api/" in name


def _dump(*_: object) -> None:
    global _dumps
    _dumps += 1
    started = time.monotonic()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    by_line = snapshot.statistics("lineno")
    total = sum(s.size for s in by_line)
    lines = [f"traced: {total / 2**20:.1f} MiB in {sum(s.count for s in by_line)} blocks",
             "", "top 40 sites by line:"]
    for stat in by_line[:40]:
        frame = stat.traceback[0]
        lines.append(f"{stat.size / 2**20:8.2f} MiB {100 * stat.size / total:5.1f} % "
                     f"{stat.count:9d}  {frame.filename}:{frame.lineno}")
    if tracemalloc.get_traceback_limit() > 1:
        lines += ["", "stacks of the 15 largest sites (afflux and kopf frames, innermost last):"]
    for stat in (snapshot.statistics("traceback")[:15]
                 if tracemalloc.get_traceback_limit() > 1 else []):
        lines.append(f"-- {stat.size / 2**20:.2f} MiB, {stat.count} blocks")
        frames = [f for f in stat.traceback if _ours(f)] or list(stat.traceback)[-3:]
        lines += [f"     {f.filename}:{f.lineno}" for f in frames[-8:]]
    lines.append(f"\n(snapshot and statistics took {time.monotonic() - started:.1f} s)")
    assert _OUT is not None
    path = os.path.join(_OUT, f"tracemalloc-{os.getpid()}-{_dumps}.txt")
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


if _OUT and any(_WHICH == arg or arg.startswith(_WHICH + ".") for arg in sys.orig_argv):
    os.makedirs(_OUT, exist_ok=True)
    tracemalloc.start(int(os.environ.get("AFFLUX_TRACEMALLOC_FRAMES", "1")))
    signal.signal(signal.SIGUSR2, _dump)
