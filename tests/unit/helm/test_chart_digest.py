"""helm-controller checks a chart artifact against its digest with the algorithm the digest
names (source-controller's --artifact-digest-algo: sha256, sha384, sha512, blake3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.api import digest_bytes
from afflux.controllers.helm._chart import ChartError, _unpack
from harness.archives import targz

CHART = targz({"demo/Chart.yaml": b"apiVersion: v2\nname: demo\nversion: 1.2.3\n"})


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "blake3"])
def test_chart_with_a_matching_digest_is_unpacked(tmp_path: Path, algorithm: str) -> None:
    chart, meta = _unpack(CHART, digest_bytes(CHART, algorithm), tmp_path / "ok")
    assert (meta.name, meta.version) == ("demo", "1.2.3")
    assert (chart / "Chart.yaml").is_file()
    with pytest.raises(ChartError, match=f"not the {algorithm}:"):
        _unpack(CHART, digest_bytes(CHART + b"x", algorithm), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    "digest", ["md5:" + "0" * 32, "sha256:abc", "sha256"], ids=["md5", "short", "no-algorithm"]
)
def test_an_unusable_digest_is_an_error(tmp_path: Path, digest: str) -> None:
    with pytest.raises(ChartError, match="digest is not usable"):
        _unpack(CHART, digest, tmp_path / "out")
