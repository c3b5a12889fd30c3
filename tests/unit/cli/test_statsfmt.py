"""The stats rows, counted as flux counts them."""

from __future__ import annotations

from afflux.cli._statsfmt import STATS_HEADERS, STATS_KINDS, format_size, stats_row

from .objects import cond, obj


def test_stats_row_counts_failing_as_running_and_suspended_failing_as_failing() -> None:
    objs = [
        obj("GitRepository", status={"artifact": {"size": 2048},
                                     "conditions": [cond("Ready", "True")]}),
        obj("GitRepository", status={"artifact": {"size": 410},
                                     "conditions": [cond("Ready", "False")]}),
        obj("GitRepository", spec={"suspend": True},
            status={"conditions": [cond("Ready", "False")]}),
        obj("GitRepository"),  # not reconciled yet: running
    ]
    # flux: running = total - suspended (3), failing = Ready False (2), suspended 1
    assert stats_row("GitRepository", objs) == ["GitRepository", "3", "2", "1", "2.4 KiB"]


def test_stats_row_storage_dash_for_none() -> None:
    assert stats_row("Kustomization", []) == ["Kustomization", "0", "0", "0", "-"]
    assert stats_row("Bucket", []) == ["Bucket", "0", "0", "0", "-"]
    assert STATS_HEADERS[0] == "Reconcilers"


def test_format_size_as_flux() -> None:
    assert format_size(0) == "-"
    assert format_size(512) == "512 B"
    assert format_size(1024) == "1.0 KiB"
    assert format_size(2458) == "2.4 KiB"
    assert format_size(5 * 1024 * 1024) == "5.0 MiB"
    assert format_size(3 * 1024 ** 3) == "3.0 GiB"


def test_stats_kinds_are_flux_s_thirteen_in_order() -> None:
    assert STATS_KINDS[:5] == ("GitRepository", "OCIRepository", "HelmRepository",
                               "HelmChart", "Bucket")
    assert len(STATS_KINDS) == 13 and "ExternalArtifact" not in STATS_KINDS
