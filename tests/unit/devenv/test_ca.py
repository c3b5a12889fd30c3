"""Pure parts of the test CA: subjects, subjectAltNames, file names, extensions."""

from __future__ import annotations

import pytest

from afflux.cli.devenv._ca import file_stem, leaf_extensions, san_entries, subject_string


@pytest.mark.parametrize(
    ("cn", "orgs", "expected"),
    [
        ("admin", [], "/CN=admin"),
        ("admin", ["system:masters"], "/O=system:masters/CN=admin"),
        ("u", ["a", "b"], "/O=a/O=b/CN=u"),
        ("a/b", ["x\\y"], "/O=x\\\\y/CN=a\\/b"),
    ],
)
def test_subject_string(cn: str, orgs: list[str], expected: str) -> None:
    assert subject_string(cn, orgs) == expected


def test_subject_string_needs_a_common_name() -> None:
    with pytest.raises(ValueError):
        subject_string("")


def test_san_entries() -> None:
    hosts = ["127.0.0.1", "localhost", "::1", "kubernetes.default.svc", "localhost", " "]
    assert san_entries(hosts) == [
        "IP:127.0.0.1",
        "DNS:localhost",
        "IP:::1",
        "DNS:kubernetes.default.svc",
    ]
    assert san_entries(["*.example.com"]) == ["DNS:*.example.com"]


@pytest.mark.parametrize("bad", ["a b", "x,DNS:evil", "-lead"])
def test_san_entries_rejects_what_is_no_host(bad: str) -> None:
    with pytest.raises(ValueError):
        san_entries([bad])


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("git-server", "git-server"),
        ("client-system:kube-scheduler", "client-system_kube-scheduler"),
        ("ca", "ca-leaf"),
        ("../x", "x"),
    ],
)
def test_file_stem(name: str, stem: str) -> None:
    assert file_stem(name) == stem


def test_file_stem_refuses_empty() -> None:
    with pytest.raises(ValueError):
        file_stem("...")


def test_leaf_extensions() -> None:
    text = leaf_extensions(["IP:127.0.0.1", "DNS:localhost"], ["serverAuth"])
    assert "[ leaf ]" in text
    assert "basicConstraints = critical, CA:FALSE" in text
    assert "keyUsage = critical, digitalSignature\n" in text
    assert "extendedKeyUsage = serverAuth" in text
    assert "subjectAltName = IP:127.0.0.1, DNS:localhost" in text
    client = leaf_extensions([], ["clientAuth"], key_type="rsa")
    assert "subjectAltName" not in client
    assert "keyUsage = critical, digitalSignature, keyEncipherment" in client
