"""The connection flags over a kubeconfig (kubectl's rules) and the impersonation headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.cli._errors import CLIError
from afflux.cli._kube import (
    KubeOverrides,
    apply_overrides,
    impersonation_headers,
    merge_kubeconfigs,
)
from afflux.cli._main import parse_args

CONFIG = {
    "current-context": "dev",
    "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "admin"}},
                 {"name": "prod", "context": {"cluster": "prod", "user": "admin"}}],
    "clusters": [{"name": "dev", "cluster": {"server": "https://dev:6443",
                                             "certificate-authority-data": "Q0E="}},
                 {"name": "prod", "cluster": {"server": "https://prod:6443"}}],
    "users": [{"name": "admin", "user": {"exec": {"command": "login"}}},
              {"name": "ci", "user": {"token": "t0"}}],
}


def _cluster(cfg: dict, name: str) -> dict:
    return next(c["cluster"] for c in cfg["clusters"] if c["name"] == name)


def _user(cfg: dict, name: str) -> dict:
    return next(u["user"] for u in cfg["users"] if u["name"] == name)


def test_server_insecure_and_ca() -> None:
    cfg = apply_overrides(CONFIG, None, KubeOverrides(server="https://x:1",
                                                      insecure_skip_tls_verify=True))
    assert _cluster(cfg, "dev") == {"server": "https://x:1", "insecure-skip-tls-verify": True}
    cfg = apply_overrides(CONFIG, "dev", KubeOverrides(certificate_authority="/ca.pem"))
    assert _cluster(cfg, "dev") == {"server": "https://dev:6443",
                                    "certificate-authority": "/ca.pem"}
    assert _cluster(CONFIG, "dev")["certificate-authority-data"] == "Q0E="  # not changed


def test_cluster_user_token_and_client_cert() -> None:
    cfg = apply_overrides(CONFIG, "dev", KubeOverrides(cluster="prod", user="ci"))
    assert cfg["contexts"][0]["context"] == {"cluster": "prod", "user": "ci"}
    cfg = apply_overrides(CONFIG, None, KubeOverrides(token="t1", client_certificate="/c",
                                                      client_key="/k"))
    assert _user(cfg, "admin") == {"token": "t1", "client-certificate": "/c",
                                   "client-key": "/k"}  # the exec plugin gone
    with pytest.raises(CLIError, match="no context 'nope'"):
        apply_overrides(CONFIG, "nope", KubeOverrides(server="x"))
    with pytest.raises(CLIError, match="no cluster 'gone'"):
        apply_overrides(CONFIG, None, KubeOverrides(cluster="gone"))


def test_impersonation_headers() -> None:
    assert impersonation_headers(KubeOverrides(as_user="jane", as_groups=("a", "b"),
                                               as_uid="42")) == [
        ("Impersonate-User", "jane"), ("Impersonate-Group", "a"), ("Impersonate-Group", "b"),
        ("Impersonate-Uid", "42")]
    assert impersonation_headers(KubeOverrides()) == []
    assert impersonation_headers(KubeOverrides(
        as_user="jane", as_user_extra=(("scopes", "view"), ("scopes", "edit"),
                                       ("acme.com/team", "web")))) == [
        ("Impersonate-User", "jane"), ("Impersonate-Extra-scopes", "view"),
        ("Impersonate-Extra-scopes", "edit"), ("Impersonate-Extra-acme.com%2Fteam", "web")]
    assert not KubeOverrides(as_user="jane").changes_config


def test_merge_kubeconfigs_first_wins_and_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config").write_text(
        "current-context: one\nclusters:\n- name: c\n  cluster: {server: https://a, "
        "certificate-authority: ca.pem}\ncontexts: []\nusers: []\n")
    (tmp_path / "b").write_text(
        "current-context: two\nclusters:\n- name: c\n  cluster: {server: https://b}\n"
        "- name: d\n  cluster: {server: https://d}\n")
    merged = merge_kubeconfigs([tmp_path / "a" / "config", tmp_path / "b"])
    assert merged["current-context"] == "one"
    assert [c["cluster"]["server"] for c in merged["clusters"]] == ["https://a", "https://d"]
    assert merged["clusters"][0]["cluster"]["certificate-authority"] == str(
        tmp_path / "a" / "ca.pem")


def test_connection_flags_parse_anywhere() -> None:
    args = parse_args(["--server", "https://x", "get", "ks", "--as", "jane", "--as-group",
                       "a", "--as-group", "b", "--insecure-skip-tls-verify", "--token", "t"])
    assert (args.server, args.as_user, args.as_groups, args.insecure_skip_tls_verify,
            args.token) == ("https://x", "jane", ["a", "b"], True, "t")
    assert parse_args(["version", "--client"]).client  # not a prefix of --client-key
    args = parse_args(["--as", "jane", "get", "ks/apps"])  # kind names still rewritten
    assert args.name == "apps"


def test_tls_server_name_goes_on_the_cluster() -> None:
    o = KubeOverrides(tls_server_name="kubernetes.default")
    assert o.changes_config
    cfg = apply_overrides(CONFIG, None, o)
    assert _cluster(cfg, "dev") == {"server": "https://dev:6443",
                                    "certificate-authority-data": "Q0E=",
                                    "tls-server-name": "kubernetes.default"}
    assert not KubeOverrides(qps=1, burst=1, disable_compression=True).changes_config


def test_version_flag_prints_the_client_version(capsys: pytest.CaptureFixture[str]) -> None:
    from afflux.cli import main

    assert main(["version", "--client"]) == 0
    client = capsys.readouterr().out
    assert client.startswith("afflux: v")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == client
    # a command's own --version is still the command's
    assert parse_args(["install", "--version", "latest", "--export"]).toolkit_version == "latest"


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["--tls-server-name", "kubernetes.default"], id="tls-server-name"),
        pytest.param(["--kube-api-qps", "5", "--kube-api-burst", "7"], id="qps-burst"),
        pytest.param(["--cache-dir", "/tmp/c"], id="cache-dir"),
        pytest.param(["--as-user-extra", "k=v"], id="as-user-extra"),
    ],
)
def test_value_flags_before_the_verb_keep_kind_names_working(flags: list[str]) -> None:
    assert parse_args([*flags, "get", "ks/apps"]).name == "apps"
