"""The `process_*` and `python_info` samples of this process, as Prometheus client
libraries print them: CPU seconds, resident and virtual memory, open and maximum file
descriptors, start time (Linux `/proc/self`; on another system only `python_info`).

`parse_stat` is the pure part (a `/proc/self/stat` line -> values); `process_samples`
reads the files.
"""

from __future__ import annotations

import os
import platform
import resource
from collections.abc import Sequence

Sample = tuple[str, str, str, Sequence[tuple[str, str]], float]  # name, type, help, labels, value

_PROC = "/proc/self"


def parse_stat(stat: str, *, ticks: float, page_size: int, boot_time: float
               ) -> dict[str, float]:
    """CPU seconds, memory bytes and start time (Unix seconds) from a `/proc/<pid>/stat`
    line. The command name (field 2) may hold spaces and parentheses: fields are counted
    from its last `)`."""
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24
    utime, stime = int(fields[11]), int(fields[12])
    return {
        "cpu": (utime + stime) / ticks,
        "start": boot_time + int(fields[19]) / ticks,
        "virtual": float(int(fields[20])),
        "resident": float(int(fields[21]) * page_size),
    }


def boot_time(proc_stat: str) -> float:
    """The `btime` line of `/proc/stat`."""
    for line in proc_stat.splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise ValueError("no btime line in /proc/stat")


def process_samples() -> list[Sample]:
    """This process's samples (empty `process_*` part where /proc is not readable)."""
    version = platform.python_version_tuple()
    samples: list[Sample] = [(
        "python_info", "gauge", "Python platform information.",
        [("implementation", platform.python_implementation()), ("major", version[0]),
         ("minor", version[1]), ("patchlevel", version[2]),
         ("version", platform.python_version())], 1.0)]
    try:
        with open(f"{_PROC}/stat") as f:
            stat = f.read()
        with open("/proc/stat") as f:
            btime = boot_time(f.read())
        values = parse_stat(stat, ticks=float(os.sysconf("SC_CLK_TCK")),
                            page_size=resource.getpagesize(), boot_time=btime)
        open_fds = len(os.listdir(f"{_PROC}/fd"))
    except (OSError, ValueError, IndexError):
        return samples
    max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    samples.extend([
        ("process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.", (), values["cpu"]),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", (),
         values["resident"]),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", (),
         values["virtual"]),
        ("process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.", (), values["start"]),
        ("process_open_fds", "gauge", "Number of open file descriptors.", (),
         float(open_fds)),
        ("process_max_fds", "gauge", "Maximum number of open file descriptors.", (),
         float(max_fds)),
    ])
    return samples
