"""HelmRepository's pure parts: which URLs can work for a type, Flux's size format."""

from __future__ import annotations

import pytest

from afflux.controllers.runtime import StallingError
from afflux.controllers.source._reconcile_helmrepo import check_url, human_size


@pytest.mark.parametrize(
    ("url", "repo_type"),
    [
        pytest.param("https://charts.example.com", "default", id="https"),
        pytest.param("http://127.0.0.1:8080/charts/", "default", id="http-port-path"),
        pytest.param("oci://ghcr.io/org/charts", "oci", id="oci"),
    ],
)
def test_check_url_accepts(url: str, repo_type: str) -> None:
    check_url(url, repo_type)


@pytest.mark.parametrize(
    ("url", "repo_type", "message"),
    [
        pytest.param("oci://ghcr.io/charts", "default", "set spec.type to 'oci'",
                     id="oci-url-default-type"),
        pytest.param("ftp://example.com", "default", "scheme 'ftp' is not supported",
                     id="ftp"),
        pytest.param("https://", "default", "no host", id="no-host"),
        pytest.param("https://ghcr.io/charts", "oci", "needs an oci:// URL",
                     id="https-url-oci-type"),
    ],
)
def test_check_url_stalls(url: str, repo_type: str, message: str) -> None:
    with pytest.raises(StallingError, match=message) as err:
        check_url(url, repo_type)
    assert err.value.reason == "URLInvalid"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(0, "0B", id="zero"),
        pytest.param(999, "999B", id="bytes"),
        pytest.param(30880, "30.88kB", id="kilobytes-like-flux"),
        pytest.param(1_500_000, "1.5MB", id="megabytes"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text
