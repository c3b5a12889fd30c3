"""The kubeconfig policy: what a kubeConfig from a Secret may hold, and what each flag allows."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.runtime._kubeconfig import (
    EXEC_FLAG,
    TLS_FLAG,
    KubeConfigPolicy,
    kubeconfig_refusals,
)

STRICT = KubeConfigPolicy()
EXEC = KubeConfigPolicy(allow_exec=True)
TLS = KubeConfigPolicy(allow_insecure_tls=True)


def config(user: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    return {
        "clusters": [{"name": "c", "cluster": {"server": "https://h:6443", **(cluster or {})}}],
        "users": [{"name": "u", "user": user if user is not None else {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


EXEC_USER = {"exec": {"command": "sh", "args": ["-c", "id"]}}
AUTH_PROVIDER = {"auth-provider": {"name": "gcp", "config": {"cmd-path": "/bin/sh"}}}


@pytest.mark.parametrize(("cfg", "policy", "refused"), [
    (config(), STRICT, []),
    (config({"client-certificate-data": "QQ==", "client-key-data": "QQ=="},
            {"certificate-authority-data": "QQ=="}), STRICT, []),
    (config({"username": "a", "password": "b"}), STRICT, []),
    (config(EXEC_USER), STRICT, [("users[0].user.exec", EXEC_FLAG)]),
    (config(EXEC_USER), EXEC, []),
    (config(AUTH_PROVIDER), STRICT, [("users[0].user.auth-provider", EXEC_FLAG)]),
    (config(AUTH_PROVIDER), EXEC, []),
    (config({"tokenFile": "/var/run/secrets/token"}), EXEC, [("users[0].user.tokenFile", None)]),
    (config({"client-certificate": "/etc/admin.crt", "client-key": "/etc/admin.key"}),
     KubeConfigPolicy(True, True),
     [("users[0].user.client-certificate", None), ("users[0].user.client-key", None)]),
    (config(cluster={"certificate-authority": "/etc/ca.crt"}), STRICT,
     [("clusters[0].cluster.certificate-authority", None)]),
    # A file key next to its -data twin is still refused: the client may read either.
    (config({"token": "t", "tokenFile": "/etc/passwd"}), STRICT,
     [("users[0].user.tokenFile", None)]),
    (config(cluster={"insecure-skip-tls-verify": True}), STRICT,
     [("clusters[0].cluster.insecure-skip-tls-verify", TLS_FLAG)]),
    (config(cluster={"insecure-skip-tls-verify": True}), TLS, []),
    (config(cluster={"insecure-skip-tls-verify": False}), STRICT, []),
    (config({"tokenFile": ""}), STRICT, []),
    ({"clusters": "not-a-list", "users": [None, {"user": "x"}]}, STRICT, []),
], ids=[
    "inline-token", "inline-certificates", "basic-auth",
    "exec-refused", "exec-allowed-by-flag", "auth-provider-refused", "auth-provider-allowed",
    "token-file-refused-even-with-exec-flag", "client-cert-files-refused-with-every-flag",
    "ca-file-refused", "file-beside-inline-refused",
    "insecure-tls-refused", "insecure-tls-allowed-by-flag", "secure-tls-explicit",
    "empty-file-key-ignored", "malformed-sections-ignored",
])
def test_refusals(cfg: dict[str, Any], policy: KubeConfigPolicy,
                  refused: list[tuple[str, str | None]]) -> None:
    got = kubeconfig_refusals(cfg, policy)
    assert [(r.path, r.flag) for r in got] == refused


def test_refusal_message_names_key_and_flag_but_no_value() -> None:
    secret_path = "/etc/very-secret/admin.key"
    refusals = kubeconfig_refusals(config({"client-key": secret_path, **EXEC_USER}), STRICT)
    messages = [r.message() for r in refusals]
    assert messages[0].startswith("'users[0].user.client-key' is refused: it names a file")
    assert "inline" in messages[0]
    assert EXEC_FLAG in messages[1]
    assert all(secret_path not in m and "sh" not in m.split(":")[0] for m in messages)


def test_every_entry_is_checked_not_only_the_current_context() -> None:
    cfg = config()
    cfg["users"].append({"name": "other", "user": EXEC_USER})
    assert [r.path for r in kubeconfig_refusals(cfg, STRICT)] == ["users[1].user.exec"]
