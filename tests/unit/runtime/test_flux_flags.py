"""Every operator starts with the full flag list of its Flux controller (the flags afflux
implements keep Flux's meaning; the others are accepted and named at start as having no
effect)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from afflux.controllers.runtime._fluxflags import FLUX_FLAGS, ignored_notes
from afflux.controllers.runtime._options import parse_options


def _add_flags(controller: str) -> Callable[[argparse.ArgumentParser], None] | None:
    from afflux.controllers.helm.handlers import add_flags as helm
    from afflux.controllers.image_reflector.handlers import add_flags as reflector
    from afflux.controllers.kustomize.handlers import add_flags as kustomize
    from afflux.controllers.notification.handlers import add_flags as notification
    from afflux.controllers.source.__main__ import add_flags as source

    return {"source-controller": source, "kustomize-controller": kustomize,
            "helm-controller": helm, "notification-controller": notification,
            "image-reflector-controller": reflector}.get(controller)


@pytest.mark.parametrize("controller", sorted(FLUX_FLAGS))
def test_the_operator_parses_the_full_flux_flag_list(controller: str) -> None:
    argv = [f"--{flag.name}={flag.example}" for flag in FLUX_FLAGS[controller]]
    options = parse_options(controller, argv, _add_flags(controller))
    assert options.name == controller
    notes = dict((message.split("=")[0], level) for level, message in options.notes)
    for flag in FLUX_FLAGS[controller]:
        if flag.ignored and flag.example.lower() != flag.default.lower():
            assert f"--{flag.name}" in notes or _implemented(controller, flag.name), flag.name


def _implemented(controller: str, name: str) -> bool:
    """A flag the operator defines itself (another change may implement a listed one)."""
    parser = argparse.ArgumentParser()
    add = _add_flags(controller)
    if add is not None:
        add(parser)
    return f"--{name}" in {o for a in parser._actions for o in a.option_strings}


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param(["--no-cross-namespace-refs=true", "--default-service-account=default"],
                 {"no_cross_namespace_refs": True, "default_service_account": "default"},
                 id="multi-tenancy-lockdown"),
    pytest.param(["--watch-all-namespaces=false", "--concurrent=8", "--requeue-dependency=5s"],
                 {"watch_all_namespaces": False, "concurrent": 8, "requeue_dependency": 5.0},
                 id="scope-and-concurrency"),
    pytest.param(["--log-encoding=console", "--log-level=debug"],
                 {"log_encoding": "console", "log_level": "debug"}, id="logging"),
])
def test_implemented_flags_keep_fluxs_meaning(argv: list[str], expected: dict[str, object]
                                              ) -> None:
    options = parse_options("kustomize-controller", argv, _add_flags("kustomize-controller"))
    assert {k: getattr(options, k) for k in expected} == expected
    assert options.notes == ()


@pytest.mark.parametrize(("controller", "given", "notes"), [
    pytest.param("kustomize-controller", {"no-remote-bases": "true"}, [], id="no-remote-bases"),
    pytest.param("kustomize-controller", {"no-remote-bases": "false"}, [],
                 id="remote-bases-allowed"),
    pytest.param("helm-controller", {"watch-label-selector": "shard=1"}, [], id="sharding"),
    pytest.param("source-controller", {"helm-cache-max-size": "0"}, [], id="flux-default"),
    pytest.param("source-controller", {"events-addr": "http://nc/"},
                 [("info", "--events-addr=http://nc/ has no effect in afflux: not needed: "
                   "notification-controller reads the Kubernetes Events the operators "
                   "record")], id="events-addr"),
    pytest.param("source-controller", {"concurrent": "9"}, [], id="implemented"),
])
def test_ignored_notes(controller: str, given: dict[str, str],
                       notes: list[tuple[str, str]]) -> None:
    assert ignored_notes(controller, given) == notes


@pytest.mark.parametrize(("argv", "refused"), [
    pytest.param([], False, id="flux-default-fetches"),
    pytest.param(["--no-remote-bases=false"], False, id="explicit-false"),
    pytest.param(["--no-remote-bases=true"], True, id="lockdown"),
    pytest.param(["--no-remote-bases"], True, id="bare-flag"),
])
def test_no_remote_bases_keeps_fluxs_meaning(argv: list[str], refused: bool) -> None:
    from afflux.controllers.kustomize._reconcile_state import Settings

    options = parse_options("kustomize-controller", argv, _add_flags("kustomize-controller"))
    assert options.extra.no_remote_bases is refused
    assert Settings.from_flags(options.extra).remote_bases is not refused
    assert options.notes == ()


def test_a_bad_value_is_still_refused() -> None:
    with pytest.raises(SystemExit):
        parse_options("kustomize-controller", ["--kube-api-qps=fast"], None)


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param([], {"sops_age_secret": "", "override_managers": (), "concurrent_ssa": 4,
                      "custom_stage_kinds": frozenset()}, id="flux-defaults"),
    pytest.param(["--sops-age-secret=sops-age", "--override-manager=kubectl-edit",
                  "--override-manager", "argo", "--concurrent-ssa=1",
                  "--custom-apply-stage-kinds=rbac.authorization.k8s.io/Role,Secret"],
                 {"sops_age_secret": "sops-age", "override_managers": ("kubectl-edit", "argo"),
                  "concurrent_ssa": 1,
                  "custom_stage_kinds": frozenset({("rbac.authorization.k8s.io", "Role"),
                                                   ("", "Secret")})}, id="given"),
])
def test_kustomize_apply_flags_reach_the_settings(argv: list[str],
                                                  expected: dict[str, object]) -> None:
    from afflux.controllers.kustomize._reconcile_state import Settings

    options = parse_options("kustomize-controller", argv, _add_flags("kustomize-controller"))
    settings = Settings.from_flags(options.extra)
    assert {k: getattr(settings, k) for k in expected} == expected
    assert options.notes == ()


@pytest.mark.parametrize("argv", [
    pytest.param(["--concurrent-ssa=0"], id="concurrent-ssa-zero"),
    pytest.param(["--concurrent-ssa=-2"], id="concurrent-ssa-negative"),
    pytest.param(["--concurrent-ssa=many"], id="concurrent-ssa-not-a-number"),
    pytest.param(["--custom-apply-stage-kinds=apps/"], id="stage-kind-without-kind"),
])
def test_kustomize_apply_flags_refuse_bad_values(argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options("kustomize-controller", argv, _add_flags("kustomize-controller"))
    assert argv[0].split("=")[0] in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "algorithm", "limits"), [
    pytest.param([], "sha256", (50 << 20, 10 << 20, 5 << 20), id="flux-defaults"),
    pytest.param(["--artifact-digest-algo=blake3", "--helm-index-max-size=1000",
                  "--helm-chart-max-size=2000", "--helm-chart-file-max-size=300"],
                 "blake3", (1000, 2000, 300), id="given"),
])
def test_source_flags_reach_the_source_context(tmp_path: Path, argv: list[str], algorithm: str,
                                               limits: tuple[int, int, int]) -> None:
    from afflux.controllers.source._context import SourceContext

    options = parse_options("source-controller", [f"--storage-path={tmp_path}", *argv],
                            _add_flags("source-controller"))
    assert options.notes == ()
    ctx = SourceContext.from_options(options)
    assert ctx.storage.digest_algorithm == algorithm
    assert (ctx.helm_limits.index, ctx.helm_limits.chart, ctx.helm_limits.chart_file) == limits


@pytest.mark.parametrize("argv", [
    pytest.param(["--artifact-digest-algo=md5"], id="unknown-algorithm"),
    pytest.param(["--artifact-digest-algo=SHA256"], id="algorithm-case"),
    pytest.param(["--helm-chart-max-size=0"], id="zero-chart-size"),
    pytest.param(["--helm-index-max-size=-1"], id="negative-index-size"),
])
def test_bad_source_flags_stop_the_operator(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options("source-controller", argv, _add_flags("source-controller"))
    assert argv[0].split("=")[0] in capsys.readouterr().err
