"""What of the debootstrap root filesystem goes into the afflux image's base layer (pure)."""

from __future__ import annotations

import pytest

from afflux.cli.devenv._afflux_image import excluded


@pytest.mark.parametrize(
    ("rel", "out"),
    [
        pytest.param("dev", False, id="dev-directory-itself-kept"),
        pytest.param("dev/null", True, id="device-nodes-left-out"),
        pytest.param("proc/1", True, id="proc-contents"),
        pytest.param("tmp/x", True, id="tmp-contents"),
        pytest.param("var/cache/apt/pkgcache.bin", True, id="apt-cache"),
        pytest.param("var/lib/apt/lists/deb.debian.org_dists", True, id="apt-lists"),
        pytest.param("var/lib/dpkg/status", False, id="dpkg-database-kept"),
        pytest.param("usr/bin/python3", False, id="programs-kept"),
        pytest.param("development/x", False, id="prefix-of-a-name-is-not-a-match"),
    ],
)
def test_excluded(rel: str, out: bool) -> None:
    assert excluded(rel) is out
