"""The stats rows."""

from __future__ import annotations

from afflux.cli._statsfmt import STATS_HEADERS, stats_row

from .objects import cond, obj


def test_stats_row_counts_and_storage() -> None:
    objs = [
        obj("GitRepository", status={"artifact": {"size": 2048},
                                     "conditions": [cond("Ready", "True")]}),
        obj("GitRepository", status={"artifact": {"size": 410},
                                     "conditions": [cond("Ready", "False")]}),
        obj("GitRepository", spec={"suspend": True},
            status={"conditions": [cond("Ready", "False")]}),
        obj("GitRepository"),  # not reconciled yet: not failing
    ]
    assert stats_row("GitRepository", objs) == ["GitRepository", "2", "1", "1", "2.4 KiB"]


def test_stats_row_without_artifacts() -> None:
    assert stats_row("Kustomization", []) == ["Kustomization", "0", "0", "0", "-"]
    assert stats_row("Bucket", []) == ["Bucket", "0", "0", "0", "0 B"]
    assert STATS_HEADERS[0] == "Reconcilers"
