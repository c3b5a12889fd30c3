"""Argument parsing: every command line shape resolves to the right command, kind and flags;
bad ones are usage errors (exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli import main
from afflux.cli._main import parse_args


def _kind(args: Any) -> str | None:
    noun = getattr(args, "noun", None)
    return noun.kind.KIND if noun else None


@pytest.mark.parametrize(
    ("argv", "func", "kind", "fields"),
    [
        pytest.param(["get", "sources", "git"], "_get.run", "GitRepository",
                     {"namespace": "flux-system", "output": "table", "all_namespaces": False},
                     id="get-sources-git"),
        pytest.param(["get", "source", "oci", "-A"], "_get.run", "OCIRepository",
                     {"all_namespaces": True}, id="get-source-singular"),
        pytest.param(["get", "ks", "apps", "-n", "apps", "-o", "yaml"], "_get.run",
                     "Kustomization", {"name": "apps", "namespace": "apps", "output": "yaml"},
                     id="get-ks-alias"),
        pytest.param(["get", "kustomizations", "--watch", "--timeout", "30s"], "_get.run",
                     "Kustomization", {"watch": True, "timeout": 30.0, "timeout_given": True},
                     id="get-watch-timeout"),
        pytest.param(["get", "hr", "--status-selector", "ready=false"], "_get.run",
                     "HelmRelease", {"status_selector": ("ready", "false")}, id="get-selector"),
        pytest.param(["get", "images", "policy"], "_get.run", "ImagePolicy", {},
                     id="get-images-policy"),
        pytest.param(["get", "image", "repository"], "_get.run", "ImageRepository", {},
                     id="get-image-repository"),
        pytest.param(["get", "alert-providers"], "_get.run", "Provider", {},
                     id="get-alert-providers"),
        pytest.param(["get", "receivers"], "_get.run", "Receiver", {}, id="get-receivers"),
        pytest.param(["get", "alerts"], "_get.run", "Alert", {}, id="get-alerts"),
        pytest.param(["get", "all", "-A"], "_get.run", None, {"all_namespaces": True},
                     id="get-all"),
        pytest.param(["get", "sources", "all"], "_get.run", None, {}, id="get-sources-all"),
        pytest.param(["-n", "apps", "get", "hr"], "_get.run", "HelmRelease",
                     {"namespace": "apps"}, id="global-flag-before-verb"),
        pytest.param(["reconcile", "source", "git", "podinfo"], "_reconcile.run",
                     "GitRepository", {"name": "podinfo", "timeout": 300.0,
                                       "timeout_given": False}, id="reconcile-default-timeout"),
        pytest.param(["reconcile", "ks", "apps", "--with-source"], "_reconcile.run",
                     "Kustomization", {"with_source": True}, id="reconcile-with-source"),
        pytest.param(["reconcile", "hr", "web", "--allow-prune"], "_reconcile.run",
                     "HelmRelease", {"allow_prune": True}, id="reconcile-hr-allow-prune"),
        pytest.param(["reconcile", "hr", "web", "--force", "--reset"], "_reconcile.run",
                     "HelmRelease", {"force": True, "reset": True}, id="reconcile-hr-force"),
        pytest.param(["reconcile", "image", "update", "auto"], "_reconcile.run",
                     "ImageUpdateAutomation", {}, id="reconcile-image-update"),
        pytest.param(["reconcile", "receiver", "hook"], "_reconcile.run", "Receiver", {},
                     id="reconcile-receiver"),
        pytest.param(["reconcile", "alert-provider", "slack"], "_reconcile.run", "Provider", {},
                     id="reconcile-alert-provider"),
        pytest.param(["reconcile", "helmchart", "x"], "_reconcile.run", "HelmChart", {},
                     id="reconcile-generic-kind"),
        pytest.param(["suspend", "ks", "--all"], "_suspend.run_suspend", "Kustomization",
                     {"all": True, "names": []}, id="suspend-all"),
        pytest.param(["resume", "source", "bucket", "a", "b", "--no-wait"],
                     "_suspend.run_resume", "Bucket", {"names": ["a", "b"], "wait": False},
                     id="resume-many-no-wait"),
        pytest.param(["delete", "hr", "web", "--silent"], "_delete.run", "HelmRelease",
                     {"silent": True}, id="delete-silent"),
        pytest.param(["export", "source", "helm", "--all", "-A"], "_export.run",
                     "HelmRepository", {"all": True, "all_namespaces": True}, id="export-all"),
        pytest.param(["create", "source", "git", "x", "--url", "https://h/r", "--export"],
                     "_create.run", None, {"export": True, "interval": "1m"},
                     id="create-source-git"),
        pytest.param(["create", "ks", "x", "--source", "podinfo", "--prune"], "_create.run",
                     None, {"prune": True, "path": "./"}, id="create-ks"),
        pytest.param(["create", "secret", "git", "s", "--url", "ssh://git@h/r"], "_create.run",
                     None, {"create_words": "secret git"}, id="create-secret-git"),
        pytest.param(["events", "--for", "ks/apps", "-w"], "_events.run", None,
                     {"for_object": "ks/apps", "watch": True}, id="events"),
        pytest.param(["logs", "--kind", "ks", "--level", "error", "-f", "--since", "10m"],
                     "_logs.run", None, {"follow": True, "since": 600.0, "level": "error"},
                     id="logs"),
        pytest.param(["tree", "ks", "apps", "--compact"], "_tree.run", None,
                     {"name": "apps", "compact": True, "output": "tree"}, id="tree"),
        pytest.param(["tree", "--graph", "-o", "json"], "_graph.run_graph", None,
                     {"graph": True, "output": "json"}, id="tree-graph"),
        pytest.param(["get", "ks", "apps", "--drift", "-o", "json"], "_get.run", "Kustomization",
                     {"drift": True, "name": "apps", "output": "json"}, id="get-ks-drift"),
        pytest.param(["trace", "deployment", "web", "-n", "apps"], "_trace.run", None,
                     {"targets": ["deployment", "web"]}, id="trace"),
        pytest.param(["trace", "web", "--kind", "Deployment", "--api-version", "apps/v1"],
                     "_trace.run", None, {"kind": "Deployment", "api_version": "apps/v1"},
                     id="trace-kind-flags"),
        pytest.param(["stats", "-A"], "_stats.run", None, {"all_namespaces": True}, id="stats"),
        pytest.param(["check", "--pre"], "_check.run", None, {"pre": True}, id="check-pre"),
        pytest.param(["install", "--export", "--components", "source-controller"],
                     "_install.run_install", None,
                     {"export": True, "components": ["source-controller"]}, id="install"),
        pytest.param(["uninstall", "--keep-namespace", "--silent"], "_install.run_uninstall",
                     None, {"keep_namespace": True, "silent": True}, id="uninstall"),
        pytest.param(["version", "--client"], "_version.run", None, {"client": True},
                     id="version"),
        pytest.param(["--kubeconfig", "/k", "--context", "c", "-v", "stats"], "_stats.run",
                     None, {"kubeconfig": "/k", "context": "c", "verbose": 1}, id="globals"),
    ],
)
def test_parse(argv: list[str], func: str, kind: str | None, fields: dict[str, Any]) -> None:
    args = parse_args(argv)
    module, _, name = func.partition(".")
    assert args.func.__module__ == f"afflux.cli.{module}"
    assert args.func.__name__ == name
    if kind is not None:
        assert _kind(args) == kind
    for key, value in fields.items():
        assert getattr(args, key) == value, key


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["get"], id="get-without-kind"),
        pytest.param(["get", "sources"], id="get-sources-without-kind"),
        pytest.param(["get", "deployments"], id="get-unknown-kind"),
        pytest.param(["reconcile", "source", "git"], id="reconcile-without-name"),
        pytest.param(["get", "ks", "-o", "wide"], id="unknown-output"),
        pytest.param(["get", "ks", "--status-selector", "ready"], id="bad-selector"),
        pytest.param(["reconcile", "ks", "a", "--timeout", "soon"], id="bad-timeout"),
        pytest.param(["reconcile", "source", "git", "a", "--with-source"],
                     id="with-source-only-for-ks-hr"),
        pytest.param(["reconcile", "source", "git", "a", "--allow-prune"],
                     id="allow-prune-only-for-ks-hr"),
        pytest.param(["create", "source", "git", "x"], id="create-without-url"),
        pytest.param(["install", "--components", "nope-controller"], id="unknown-component"),
        pytest.param(["get", "hr", "web", "--drift"], id="drift-only-for-kustomizations"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_tree_without_kind_or_graph_says_what_to_write(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tree"]) == 1
    err = capsys.readouterr().err
    assert "name the object to print the tree of" in err and "afflux tree --graph" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "--help"]) == 0
    out = capsys.readouterr().out
    for word in ("sources", "kustomizations", "helmreleases", "images", "alerts",
                 "alert-providers", "receivers", "all"):
        assert word in out


@pytest.mark.parametrize("argv", [
    pytest.param(["get", "all", "--watch"], id="all"),
    pytest.param(["get", "sources", "all", "-w"], id="sources-all"),
    pytest.param(["get", "images", "all", "--watch=true"], id="images-all"),
])
def test_watch_of_a_group_is_refused_as_flux_refuses_it(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # refused before any request (the kubeconfig does not exist), with flux's message
    assert main(["--kubeconfig", "/nonexistent/kubeconfig", *argv]) == 1
    err = capsys.readouterr().err
    assert "expected a single resource type, but found all" in err
    assert "hint: watch one kind" in err
