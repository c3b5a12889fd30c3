"""The on-disk tag store and the lastScanResult summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from afflux.controllers.image_reflector._tagstore import (
    TagStore,
    TagStoreError,
    latest_tags,
    scan_result,
    tags_revision,
)


def test_tags_survive_a_new_store_instance(tmp_path: Path) -> None:
    TagStore(tmp_path).set_tags("apps", "podinfo", "ghcr.io/org/podinfo", ["1.0.0", "1.1.0"])
    reopened = TagStore(tmp_path)  # as after an operator restart
    assert reopened.tags("apps", "podinfo") == ["1.0.0", "1.1.0"]
    assert reopened.path("apps", "podinfo") == tmp_path / "imagerepository/apps/podinfo/tags.json"


def test_keys_are_per_object_not_per_image(tmp_path: Path) -> None:
    store = TagStore(tmp_path)
    store.set_tags("a", "repo", "ghcr.io/org/app", ["1"])
    store.set_tags("b", "repo", "ghcr.io/org/app", ["2"])
    assert (store.tags("a", "repo"), store.tags("b", "repo")) == (["1"], ["2"])


def test_overwrite_is_complete_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = TagStore(tmp_path)
    store.set_tags("ns", "r", "x.io/a", [f"t{i}" for i in range(500)])
    revision = store.set_tags("ns", "r", "x.io/a", ["only"])
    assert store.tags("ns", "r") == ["only"]
    assert revision == tags_revision(["only"])
    assert [p.name for p in store.path("ns", "r").parent.iterdir()] == ["tags.json"]


def test_missing_entry_and_other_image(tmp_path: Path) -> None:
    store = TagStore(tmp_path)
    assert store.tags("ns", "r") is None
    store.set_tags("ns", "r", "x.io/a", ["1"])
    assert store.tags("ns", "r", image="x.io/a") == ["1"]
    assert store.tags("ns", "r", image="x.io/b") is None  # re-pointed since the scan


def test_delete(tmp_path: Path) -> None:
    store = TagStore(tmp_path)
    store.set_tags("ns", "r", "x.io/a", ["1"])
    store.delete("ns", "r")
    store.delete("ns", "r")  # idempotent
    assert store.get("ns", "r") is None


def test_damaged_file_is_reported(tmp_path: Path) -> None:
    store = TagStore(tmp_path)
    store.set_tags("ns", "r", "x.io/a", ["1"])
    store.path("ns", "r").write_text("{not json")
    with pytest.raises(TagStoreError, match="rebuilt by the next scan"):
        store.get("ns", "r")


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("..", "x"), ("ns", "a/b"), ("", "x"), ("NS", "x")],
    ids=["dotdot", "slash", "empty", "uppercase"],
)
def test_keys_cannot_escape_the_root(tmp_path: Path, namespace: str, name: str) -> None:
    with pytest.raises(TagStoreError):
        TagStore(tmp_path).set_tags(namespace, name, "x.io/a", ["1"])


LATEST = [
    ("fewer-than-ten", ["1.0.0", "2.0.0", "1.1.0"], ["2.0.0", "1.1.0", "1.0.0"]),
    (
        "flux-doc-example-order",
        [
            "6.1.1",
            "6.1.2",
            "6.1.3",
            "6.1.4",
            "6.1.5",
            "6.1.6",
            "6.1.7",
            "6.1.8",
            "6.2.0",
            "latest",
            "6.0.0",
        ],
        ["latest", "6.2.0", "6.1.8", "6.1.7", "6.1.6", "6.1.5", "6.1.4", "6.1.3", "6.1.2", "6.1.1"],
    ),
    ("lexical-not-semver", ["9.0.0", "10.0.0"], ["9.0.0", "10.0.0"]),
    ("empty", [], []),
]


@pytest.mark.parametrize(("tags", "expected"), [c[1:] for c in LATEST], ids=[c[0] for c in LATEST])
def test_latest_tags_reverse_lexical_first_ten(tags: list[str], expected: list[str]) -> None:
    assert latest_tags(tags) == expected


def test_scan_result_shape() -> None:
    when = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
    result = scan_result(["1.0.0", "2.0.0"], scan_time=when)
    assert result == {
        "revision": tags_revision(["2.0.0", "1.0.0"]),
        "tagCount": 2,
        "scanTime": "2024-03-01T12:00:05Z",
        "latestTags": ["2.0.0", "1.0.0"],
    }
    assert "latestTags" not in scan_result([], scan_time=when)


def test_revision_is_order_independent_and_content_sensitive() -> None:
    assert tags_revision(["a", "b"]) == tags_revision(["b", "a"])
    assert tags_revision(["a", "b"]) != tags_revision(["a", "c"])
    assert tags_revision(["a"]).startswith("sha256:")
