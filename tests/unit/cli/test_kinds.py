"""Kind nouns: the words per kind, and rewriting generic kind names on the command line."""

from __future__ import annotations

import pytest

from afflux.api import KINDS
from afflux.cli._kinds import NOUNS, controller_for, normalize_argv, noun_for_kind, resolve_kind


def test_every_kind_has_one_noun() -> None:
    assert sorted(n.kind.KIND for n in NOUNS) == sorted(k.KIND for k in KINDS)


@pytest.mark.parametrize(
    ("kind", "cli", "get_cli"),
    [
        ("GitRepository", "source git", "sources git"),
        ("HelmChart", "source chart", "sources chart"),
        ("Kustomization", "kustomization", "kustomizations"),
        ("HelmRelease", "helmrelease", "helmreleases"),
        ("ImagePolicy", "image policy", "images policy"),
        ("ImageUpdateAutomation", "image update", "images update"),
        ("Provider", "alert-provider", "alert-providers"),
        ("Receiver", "receiver", "receivers"),
    ],
)
def test_noun_words(kind: str, cli: str, get_cli: str) -> None:
    noun = noun_for_kind(kind)
    assert (noun.cli, noun.get_cli) == (cli, get_cli)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("ks", "Kustomization"), ("hr", "HelmRelease"), ("gitrepositories", "GitRepository"),
     ("GitRepository", "GitRepository"), ("imagepolicy", "ImagePolicy"),
     ("kustomizations.kustomize.toolkit.fluxcd.io", "Kustomization")],
)
def test_resolve_kind(text: str, kind: str) -> None:
    assert resolve_kind(text).KIND == kind


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["reconcile", "gitrepository", "podinfo"],
                     ["reconcile", "source", "git", "podinfo"], id="kind-name"),
        pytest.param(["get", "gitrepo/podinfo", "-n", "x"],
                     ["get", "source", "git", "podinfo", "-n", "x"], id="short-name-slash"),
        pytest.param(["-n", "apps", "suspend", "HelmRelease", "web"],
                     ["-n", "apps", "suspend", "helmrelease", "web"], id="global-flag-first"),
        pytest.param(["--timeout=1m", "export", "imageupdateautomations", "--all"],
                     ["--timeout=1m", "export", "image", "update", "--all"], id="plural"),
        pytest.param(["get", "ks/apps"], ["get", "kustomization", "apps"], id="alias-slash"),
        pytest.param(["reconcile", "source", "git", "x"], ["reconcile", "source", "git", "x"],
                     id="noun-unchanged"),
        pytest.param(["get", "all"], ["get", "all"], id="all-unchanged"),
        pytest.param(["get", "deployments"], ["get", "deployments"], id="unknown-unchanged"),
        pytest.param(["trace", "ks", "x"], ["trace", "ks", "x"], id="other-verb-unchanged"),
        pytest.param([], [], id="empty"),
    ],
)
def test_normalize_argv(argv: list[str], expected: list[str]) -> None:
    assert normalize_argv(argv) == expected


def test_controller_for() -> None:
    assert controller_for("Kustomization") == "kustomize-controller"
    assert controller_for("OCIRepository") == "source-controller"
    assert controller_for("Receiver") == "notification-controller"
