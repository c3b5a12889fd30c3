"""Opt-in memory accounting of an operator started by a benchmark (issue 14's memory work).

With this directory on PYTHONPATH, a Python process whose command line names
`afflux.controllers.<AFFLUX_TRACEMALLOC_OPERATOR>` (default `kustomize`) is prepared before
anything else is imported; any other process is left alone. Two modes, by environment:

- `AFFLUX_MEMSTATS=<dir>`: no tracing (the process runs at full speed). On SIGUSR2 it
  writes `<dir>/memstats-<pid>-<n>.txt`: VmRSS/VmHWM/threads, glibc's `mallinfo2` (bytes
  in use, free inside the heaps, mmapped; the number of arenas from `malloc_info`),
  pymalloc's own statistics (`sys._debugmallocstats`: arenas, bytes in used and free
  blocks), and the deep size of the structures afflux keeps per object (the schedulers'
  states and workers, the drift watches and index, the build and artifact caches, the
  metrics maps, kopf's per-object memories), each counted once (a string shared by two
  structures is charged to the first).
- `AFFLUX_TRACEMALLOC=<dir>`: the same, plus `tracemalloc` (`AFFLUX_TRACEMALLOC_FRAMES`
  frames, default 1) started first thing; the dump adds the traced total, the top sites by
  line and, with more than one frame, the top sites grouped by the innermost afflux or kopf
  frame (what in our code made the allocation, whatever library did it) and the stacks of
  the largest ones. Tracing slows the process several times over and its snapshots take
  memory of their own: the traced sizes are what counts, not the process's RSS; never use
  it for timed figures.

`AFFLUX_MEMTRACE_OBJECTS=<N>` adds a bytes-per-object column (N: the Kustomizations).

    PYTHONPATH=$PWD/hack/bench/memtrace AFFLUX_TRACEMALLOC=$PWD/.local/memtrace \\
        AFFLUX_TRACEMALLOC_FRAMES=12 AFFLUX_MEMTRACE_OBJECTS=2000 \\
        .venv/bin/python hack/bench/kustomize_scale.py --counts 2000 --settle 1s --window 120s
    kill -USR2 <kustomize-controller pid>     # once all are Ready, during the window
"""

import ctypes
import gc
import os
import signal
import sys
import tempfile
import time
import tracemalloc

_TRACE = os.environ.get("AFFLUX_TRACEMALLOC")
_OUT = _TRACE or os.environ.get("AFFLUX_MEMSTATS")
_WHICH = "afflux.controllers." + os.environ.get("AFFLUX_TRACEMALLOC_OPERATOR", "kustomize")
_PER = int(os.environ.get("AFFLUX_MEMTRACE_OBJECTS") or 0)
_dumps = 0


def _ours(filename: str) -> bool:
    return ("/afflux/" in filename or "/controllers/" in filename or "/kopf/" in filename
            or "/api/" in filename) and "/site-packages/kubernetes/" not in filename


def _mib(size: float) -> str:
    per = f" {size / _PER:9.0f} B/obj" if _PER else ""
    return f"{size / 2**20:8.2f} MiB{per}"


# --- process and allocator figures ------------------------------------------------------


def _proc_status() -> list[str]:
    wanted = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")
    with open("/proc/self/status") as f:
        return [line.strip() for line in f if line.split(":")[0] in wanted]


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _malloc_stats() -> list[str]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError) as err:
        return [f"mallinfo2: unavailable ({err})"]
    lines = [f"glibc heaps (brk + arenas): {info.arena / 2**20:.1f} MiB, in use "
             f"{info.uordblks / 2**20:.1f} MiB, free inside {info.fordblks / 2**20:.1f} MiB "
             f"(releasable at the top {info.keepcost / 2**20:.1f} MiB); mmapped chunks "
             f"{info.hblkhd / 2**20:.1f} MiB in {info.hblks}"]
    try:
        fd, path = tempfile.mkstemp(prefix="malloc-info-")
        os.close(fd)
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        stream = libc.fopen(path.encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        with open(path) as f:
            xml = f.read()
        os.unlink(path)
        lines.append(f"glibc arenas: {xml.count('<heap ')}")
    except OSError as err:
        lines.append(f"malloc_info: unavailable ({err})")
    return lines


def _pymalloc_stats() -> list[str]:
    """The summary lines of `sys._debugmallocstats()` (it writes to the C stderr)."""
    fd, path = tempfile.mkstemp(prefix="pymalloc-")
    saved = os.dup(2)
    try:
        sys.stderr.flush()
        os.dup2(fd, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    with open(path) as f:
        text = f.read()
    os.unlink(path)
    keep = ("# arenas allocated current", "# arenas highwater", "bytes in allocated blocks",
            "bytes in available blocks", "unused pools", "bytes lost to", "Total ")
    return ["pymalloc: " + " ".join(line.split()) for line in text.splitlines()
            if any(k in line for k in keep)]


# --- deep sizes of afflux's structures ----------------------------------------------------

_LEAVES = (str, bytes, int, float, bool, type(None))


def _deep(obj, seen, depth=0):
    """Bytes of `obj` and what it holds (containers, and the instances of afflux and kopf
    classes; no modules, classes, functions, event loops), each object counted once."""
    if id(obj) in seen or depth > 40:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, _LEAVES):
        return size
    if isinstance(obj, dict):
        return size + sum(_deep(k, seen, depth + 1) + _deep(v, seen, depth + 1)
                          for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
        return size + sum(_deep(v, seen, depth + 1) for v in obj)
    module = type(obj).__module__ or ""
    if not (module.startswith("afflux") or module.startswith("kopf")):
        return size
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        size += _deep(fields, seen, depth + 1)
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                size += _deep(getattr(obj, slot), seen, depth + 1)
    return size


def _task_size(task, seen):
    """A worker task: the task, its coroutines and their frames (not what they refer to)."""
    size = sys.getsizeof(task)
    coro = task.get_coro()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        size += sys.getsizeof(coro)
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            size += sys.getsizeof(frame)
        coro = getattr(coro, "cr_await", None)
    return size


def _instances(names, module="afflux"):
    """Live instances of the classes `names` defined under `module` (kopf has a class
    named Scheduler too)."""
    return [o for o in gc.get_objects() if type(o).__name__ in names
            and (type(o).__module__ or "").startswith(module)]


def _structures() -> list[str]:
    seen: set[int] = set()
    rows: list[tuple[str, int]] = []

    def add(label, size):
        rows.append((label, size))

    for s in _instances({"Scheduler"}):
        kind = getattr(s, "kind", "?")
        add(f"{kind} scheduler: states (packed bodies) [{len(s._states)}]",
            _deep(s._states, seen))
        wakes = getattr(s, "_wakes", {})  # before 2026-12-02: an event per object
        if wakes:
            add(f"{kind} scheduler: wake events", sum(
                sys.getsizeof(e) + sys.getsizeof(e._waiters or ()) for e in wakes.values()))
        timers = getattr(s, "_timers", {})  # since: a timer handle per sleeping object
        if timers:
            add(f"{kind} scheduler: timers [{len(timers)}]", sum(
                sys.getsizeof(t) + sys.getsizeof(t._args) for t in timers.values()))
        add(f"{kind} scheduler: worker tasks [{len(s._workers)}]",
            sum(_task_size(t, seen) for t in s._workers.values()))
        add(f"{kind} scheduler: dependents index", _deep(s._dependents, seen))
    for w in _instances({"ManagedWatches"}):
        for gvk, watch in w._watches.items():
            add(f"drift watch {'/'.join(gvk)} [{len(watch.objects)} objects]",
                _deep(watch.objects, seen))
        add(f"drift inventory index [{len(w.index)} objects]", _deep(w.index, seen))
        add("drift applied/foreign records", _deep(w._applied, seen) + _deep(w._foreign, seen))
    for c in _instances({"BuildCache"}):
        add(f"build cache [{len(c)} builds]", _deep(c._entries, seen))
    for c in _instances({"ArtifactCache"}):
        add("artifact cache", _deep(c._entries, seen))
    for m in _instances({"Metrics"}):
        add("metrics per object", sum(_deep(getattr(m, name, None), seen) for name in (
            "_objects", "_share",  # since 2026-12-02 (session 8): one record per object
            "_durations", "_conditions", "_suspended", "_info")))
    for f in _instances({"ChangeFilter"}):
        add("watch change filters", _deep(f._seen, seen))
    for f in _instances({"Seen"}):
        add("watch first-sight sets", _deep(f._known, seen))
    for r in _instances({"EventRecorder"}):
        add("event dedupe memory", _deep(r._recent, seen))
    for m in _instances({"ResourceMemories"}, "kopf"):
        add(f"kopf per-object memories [{len(m._items)}]", _deep(m._items, seen))
    total = sum(size for _, size in rows)
    lines = [f"structures (deep sizes, each object once): {_mib(total)}"]
    lines += [f"  {_mib(size)}  {label}" for label, size in sorted(rows, key=lambda r: -r[1])]
    tasks = asyncio_tasks()
    lines.append(f"asyncio tasks alive: {tasks}")
    return lines


def asyncio_tasks() -> int:
    try:
        import asyncio
        return len(asyncio.all_tasks(asyncio.get_event_loop()))
    except Exception:  # noqa: BLE001 - best effort
        return -1


# --- tracemalloc ------------------------------------------------------------------------


def _traced() -> list[str]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    by_line = snapshot.statistics("lineno")
    total = sum(s.size for s in by_line)
    lines = [f"traced: {_mib(total)} in {sum(s.count for s in by_line)} blocks",
             "", "top 40 sites by line (innermost frame):"]
    for stat in by_line[:40]:
        frame = stat.traceback[-1]
        lines.append(f"{_mib(stat.size)} {100 * stat.size / total:5.1f} % "
                     f"{stat.count:9d}  {frame.filename}:{frame.lineno}")
    if tracemalloc.get_traceback_limit() <= 1:
        return lines
    # group by the innermost afflux/kopf frame (and the innermost frame, for what made it)
    groups: dict[tuple[str, str], list[int]] = {}
    for trace in snapshot.traces:
        frames = list(trace.traceback)  # oldest first
        ours = next((f for f in reversed(frames) if _ours(f.filename)), None)
        inner = frames[-1]
        key = (f"{ours.filename}:{ours.lineno}" if ours else "(no afflux/kopf frame)",
               f"{os.path.basename(inner.filename)}:{inner.lineno}")
        slot = groups.setdefault(key, [0, 0])
        slot[0] += trace.size
        slot[1] += 1
    lines += ["", "top 50 by the innermost afflux/kopf frame (<- the innermost frame):"]
    for (ours, inner), (size, count) in sorted(groups.items(), key=lambda g: -g[1][0])[:50]:
        lines.append(f"{_mib(size)} {100 * size / total:5.1f} % {count:9d}  {ours}  <- {inner}")
    lines += ["", "stacks of the 15 largest sites (afflux and kopf frames, innermost last):"]
    for stat in snapshot.statistics("traceback")[:15]:
        lines.append(f"-- {_mib(stat.size)}, {stat.count} blocks")
        frames = [f for f in stat.traceback if _ours(f.filename)] or list(stat.traceback)[-3:]
        lines += [f"     {f.filename}:{f.lineno}" for f in frames[-8:]]
    return lines


def _dump(*_: object) -> None:
    global _dumps
    _dumps += 1
    started = time.monotonic()
    gc.collect()
    lines = [f"pid {os.getpid()}, dump {_dumps}, objects per figure: {_PER or '-'}", ""]
    # a signal handler runs inside whatever the main thread was doing: never raise into it
    for part in (_proc_status, _malloc_stats, _pymalloc_stats, _structures,
                 *((_traced,) if _TRACE else ())):
        try:
            lines += part() + [""]
        except Exception as err:  # noqa: BLE001 - say so in the dump, keep the process
            lines += [f"{part.__name__} failed: {type(err).__name__}: {err}", ""]
    lines.append(f"\n(the dump took {time.monotonic() - started:.1f} s)")
    assert _OUT is not None
    path = os.path.join(_OUT, f"{'tracemalloc' if _TRACE else 'memstats'}-{os.getpid()}-"
                              f"{_dumps}.txt")
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


if _OUT and any(_WHICH == arg or arg.startswith(_WHICH + ".") for arg in sys.orig_argv):
    os.makedirs(_OUT, exist_ok=True)
    if _TRACE:
        tracemalloc.start(int(os.environ.get("AFFLUX_TRACEMALLOC_FRAMES", "1")))
    signal.signal(signal.SIGUSR2, _dump)
