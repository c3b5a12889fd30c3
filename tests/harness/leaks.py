"""Secret values that must never appear in what the operators say.

The servers of the harness register their credentials here (`remember`); at the end of the
session `start_controller` scans every operator log, every Event of the cluster and the
status of every Flux object for them (`find_leaks`), and fails the session if one shows up.
A finding names the place and a short fingerprint of the value, never the value itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

__all__ = ["find_leaks", "remember", "remembered"]

_SECRETS: set[str] = set()
#: Shorter values would match by chance.
MIN_LENGTH = 8


def remember(*values: str | None) -> None:
    """Register secret values (passwords, tokens, keys) the tests hand to the operators."""
    _SECRETS.update(v for v in values if v and len(v) >= MIN_LENGTH)


def remembered() -> frozenset[str]:
    return frozenset(_SECRETS)


def _fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def find_leaks(texts: Mapping[str, str], secrets: Iterable[str] | None = None) -> list[str]:
    """`where: fingerprint` for every secret value found in a text (named by its key)."""
    values = sorted(secrets if secrets is not None else _SECRETS)
    return [f"{where}: secret {_fingerprint(v)}" for where, text in sorted(texts.items())
            for v in values if v in text]
