"""The processes of this machine, as tests that check "nothing is left" see them."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["processes_mentioning"]


def processes_mentioning(text: str) -> list[str]:
    """`pid: command line` of every live process whose command line holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(f"{entry.name}: {cmd[:200]}")
    return found
