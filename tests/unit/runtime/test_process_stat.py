"""`process_*` values from /proc text (the pure parser)."""

from __future__ import annotations

import pytest

from afflux.controllers.runtime._process import boot_time, parse_stat

# pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
# utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
STAT = ("4242 (python (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 "
        "250 50 0 0 20 0 3 0 1000 123456789 2048 18446744073709551615")


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    values = parse_stat(STAT, ticks=100.0, page_size=4096, boot_time=1_700_000_000.0)
    assert values == {"cpu": 3.0, "start": 1_700_000_010.0, "virtual": 123456789.0,
                      "resident": 2048 * 4096.0}


@pytest.mark.parametrize(("text", "expected"), [
    ("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n", 1_700_000_000.0),
], ids=["btime line"])
def test_boot_time(text: str, expected: float) -> None:
    assert boot_time(text) == expected


def test_boot_time_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match="btime"):
        boot_time("cpu 1 2 3\n")
