"""The benchmarks' CPU ledger (hack/bench/_benchlib.py): /proc text parsed, and where the
machine's CPU went between two readings (pure arithmetic; no process is read)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack" / "bench"))

from _benchlib import (  # noqa: E402
    cpu_shares,
    cpu_table,
    machine_cpu,
    other_processes,
    stat_cpu,
)

# pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
# utime stime cutime cstime ...
STAT = "{pid} ({comm}) S 1 7 7 0 -1 4194304 100 0 0 0 {u} {s} {cu} {cs} 20 0 3 0 1000 1 2"


@pytest.mark.parametrize(("comm", "ticks", "fields", "expected"), [
    ("kube-apiserver", 100, (250, 50, 0, 0), (3.0, 0.0)),
    ("python (x) y", 100, (100, 100, 30, 20), (2.0, 0.5)),
    ("etcd", 1000, (1500, 500, 0, 1), (2.0, 0.001)),
], ids=["own only", "parenthesis in the command, children", "other tick rate"])
def test_stat_cpu(comm: str, ticks: int, fields: tuple[int, int, int, int],
                  expected: tuple[float, float]) -> None:
    u, s, cu, cs = fields
    text = STAT.format(pid=4242, comm=comm, u=u, s=s, cu=cu, cs=cs)
    assert stat_cpu(text, ticks=ticks) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("cpu  24013 0 5377 16815 331 0 95 79 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n",
     {"busy": 294.85, "idle": 171.46, "steal": 0.79, "nice": 0.0, "irq": 0.95}),
    ("intr 5\ncpu  100 100 100 100 100 100 100 0 300 0\n",
     {"busy": 5.0, "idle": 2.0, "steal": 0.0, "nice": 1.0, "irq": 2.0}),
    ("cpu  100 0 100 200\n", {"busy": 2.0, "idle": 2.0, "steal": 0.0, "nice": 0.0, "irq": 0.0}),
], ids=["this machine's format", "guest already in user, not counted twice",
        "an old kernel's four fields"])
def test_machine_cpu(text: str, expected: dict[str, float]) -> None:
    assert machine_cpu(text, ticks=100) == pytest.approx(expected)


def test_machine_cpu_without_a_cpu_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="cpu line"):
        machine_cpu("cpu0 1 2 3 4\n", ticks=100)


MACHINE0 = {"busy": 1000.0, "idle": 500.0, "steal": 1.0, "nice": 10.0, "irq": 5.0}


@pytest.mark.parametrize(("before", "after", "machine_after", "expected"), [
    (
        {"kube-apiserver": (10.0, 0.0), "etcd": (5.0, 0.0)},
        {"kube-apiserver": (40.0, 0.0), "etcd": (15.0, 0.0), "kustomize-controller": (30.0, 20.0)},
        {"busy": 1120.0, "idle": 530.0, "steal": 1.0, "nice": 12.0, "irq": 6.0},
        {"processes": {
            "kube-apiserver": {"own_s": 30.0, "children_s": 0.0, "total_s": 30.0,
                               "share_of_busy": 0.25},
            "etcd": {"own_s": 10.0, "children_s": 0.0, "total_s": 10.0,
                     "share_of_busy": 0.083},
            "kustomize-controller": {"own_s": 30.0, "children_s": 20.0, "total_s": 50.0,
                                     "share_of_busy": 0.417}},
         "gone": [], "named_s": 90.0, "other_s": 30.0, "other_share_of_busy": 0.25,
         "machine_busy_s": 120.0, "machine_idle_s": 30.0, "machine_steal_s": 0.0,
         "machine_nice_s": 2.0, "machine_irq_s": 1.0, "machine_busy_share": 0.8},
    ),
    (
        {"kwok": (1.0, 0.0), "git server": (2.0, 1.0)},
        {"git server": (3.0, 4.0)},
        {"busy": 1010.0, "idle": 500.0, "steal": 1.0, "nice": 10.0, "irq": 5.0},
        {"processes": {"git server": {"own_s": 1.0, "children_s": 3.0, "total_s": 4.0,
                                      "share_of_busy": 0.4}},
         "gone": ["kwok"], "named_s": 4.0, "other_s": 6.0, "other_share_of_busy": 0.6,
         "machine_busy_s": 10.0, "machine_idle_s": 0.0, "machine_steal_s": 0.0,
         "machine_nice_s": 0.0, "machine_irq_s": 0.0, "machine_busy_share": 1.0},
    ),
    (
        {}, {"etcd": (0.0, 0.0)}, MACHINE0,
        {"processes": {"etcd": {"own_s": 0.0, "children_s": 0.0, "total_s": 0.0,
                                "share_of_busy": 0.0}},
         "gone": [], "named_s": 0.0, "other_s": 0.0, "other_share_of_busy": 0.0,
         "machine_busy_s": 0.0, "machine_idle_s": 0.0, "machine_steal_s": 0.0,
         "machine_nice_s": 0.0, "machine_irq_s": 0.0, "machine_busy_share": 0.0},
    ),
], ids=["started in between counts whole, other is the rest", "gone is named, not counted",
        "no time passed: no division by zero"])
def test_cpu_shares(before: dict[str, tuple[float, float]],
                    after: dict[str, tuple[float, float]],
                    machine_after: dict[str, float], expected: dict[str, object]) -> None:
    assert cpu_shares(before, after, MACHINE0, machine_after) == expected


def test_cpu_table_most_first_then_other_and_the_machine() -> None:
    shares = cpu_shares(
        {}, {"etcd": (10.0, 0.0), "kustomize-controller": (30.0, 20.0)},
        MACHINE0, {"busy": 1100.0, "idle": 500.0, "steal": 1.0, "nice": 13.0, "irq": 7.5},
    )
    shares["other_top"] = [("pytest", 20.0), ("kubectl", 5.5)]
    assert cpu_table(shares, cpus=2) == [
        ("kustomize-controller", "50.0 s, 50% (own 30.0 + children 20.0)"),
        ("etcd", "10.0 s, 10%"),
        ("other", "40.0 s, 40% (irq+softirq 2.5 s; most: pytest 20.0, kubectl 5.5)"),
        ("machine busy", "100.0 s (100% of 2 CPUs; nice 3.0 s, steal 0.0 s); "
                         "/ 2 CPUs = 50.0 s"),
    ]


@pytest.mark.parametrize(("before", "after", "expected"), [
    ({1: ("pytest", 100, 5.0), 2: ("etcd", 100, 1.0)},
     {1: ("pytest", 100, 25.0), 2: ("etcd", 100, 9.0), 3: ("kubectl", 200, 2.0),
      4: ("kubectl", 210, 1.5)},
     [("pytest", 20.0), ("kubectl", 3.5)]),
    ({5: ("git", 100, 7.0)}, {5: ("sh", 300, 0.5), 6: ("idle", 100, 0.0)}, [("sh", 0.5)]),
], ids=["named left out, summed by command, started in between whole",
        "a reused pid counts whole; nothing used, not listed"])
def test_other_processes(before: dict[int, tuple[str, int, float]],
                         after: dict[int, tuple[str, int, float]],
                         expected: list[tuple[str, float]]) -> None:
    assert other_processes(before, after, named=[2]) == expected
