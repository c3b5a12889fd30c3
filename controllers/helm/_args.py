"""The `helm` command lines of a HelmRelease's actions, from its spec. Pure.

Each function returns (arguments after `helm`, the action's timeout in seconds). Paths (the
chart directory, the values file, the post-renderer) are given by the caller; nothing here
carries a value or a secret. Flux's defaults: wait for readiness and for Jobs unless
`disableWait`/`disableWaitForJobs` (with `waitStrategy: poller` helm does not wait: the
release phase polls the objects with kstatus instead); take ownership of existing objects unless
`disableTakeOwnership`; `disableSchemaValidation` is `--skip-schema-validation` (the values
are not checked against the chart's values.schema.json); upgrades reset the values to the chart's and the given ones unless
`preserveValues` (`--reuse-values`); `maxHistory` (5 by default, 0 unlimited) bounds the
records an upgrade or rollback keeps; `install.crds: Skip` (or `skipCRDs`) is
`--skip-crds`; what Helm does not do itself (replace CRDs, create them on upgrade) is
`_crds`'s, before helm runs.

Each builder takes the `Engine` (`_engine`): Helm 3's flags by default, Helm 4's names
with `Engine.HELM4` — `--wait=legacy` for Helm's own wait (no `--wait`: Helm 4's
`hookOnly`, waiting for hooks only), `--force-replace` for `force`, `--server-side=true|false`
on every install, upgrade and rollback (decided by `_engine`: the upgrade and rollback take
the `apply_method` of the release they start from) with `--force-conflicts` whenever it is
true, and no `--recreate-pods` (Helm 4 removed it; Flux ignores `rollback.recreate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from afflux.api import HelmRelease, parse_duration

from ._engine import Engine, install_server_side, server_side, wait_strategy

__all__ = [
    "install_args",
    "polls",
    "rollback_args",
    "test_args",
    "timeout_of",
    "uninstall_args",
    "upgrade_args",
]


def timeout_of(hr: HelmRelease, action: Any) -> float:
    """The action's `timeout`, else `spec.timeout`, else 5m."""
    for text in (getattr(action, "timeout", None) if action is not None else None,
                 hr.spec.timeout):
        if text:
            return parse_duration(text)
    return HelmRelease.DEFAULT_TIMEOUT


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _flag(args: list[str], on: Any, flag: str) -> None:
    if on:
        args.append(flag)


def polls(hr: HelmRelease, action: Any, engine: Engine = Engine.HELM3) -> bool:
    """Whether the action waits by polling (`waitStrategy: poller`, Helm 4's default)
    instead of helm's `--wait`: only when it waits at all."""
    strategy = wait_strategy(hr.spec.to_dict(), engine)
    return strategy == "poller" and not (action and action.disable_wait)


def _wait(args: list[str], action: Any, hr: HelmRelease, engine: Engine) -> None:
    if not (action and action.disable_wait) and not polls(hr, action, engine):
        args.append("--wait" if engine is Engine.HELM3 else "--wait=legacy")
        if not (action and action.disable_wait_for_jobs):
            args.append("--wait-for-jobs")


def _apply(args: list[str], ssa: bool | None, force: Any) -> None:
    """Helm 4's apply flags (`ssa` None: Helm 3, which has only `--force`)."""
    if ssa is None:
        _flag(args, force, "--force")
        return
    args.append(f"--server-side={'true' if ssa else 'false'}")
    if ssa:
        args.append("--force-conflicts")
    else:
        _flag(args, force, "--force-replace")


def _common(args: list[str], action: Any, post_renderer: Sequence[str],
            hr: HelmRelease, engine: Engine) -> None:
    _wait(args, action, hr, engine)
    _flag(args, action and action.disable_hooks, "--no-hooks")
    _flag(args, action and action.disable_open_api_validation, "--disable-openapi-validation")
    _flag(args, action and action.disable_schema_validation, "--skip-schema-validation")
    if not (action and action.disable_take_ownership):
        args.append("--take-ownership")
    args.extend(post_renderer)


def install_args(hr: HelmRelease, chart: str, values_file: str,
                 post_renderer: Sequence[str] = (), engine: Engine = Engine.HELM3
                 ) -> tuple[list[str], float]:
    inst = hr.spec.install
    timeout = timeout_of(hr, inst)
    args = ["install", hr.release_name, chart, "--values", values_file,
            "--timeout", _seconds(timeout)]
    _common(args, inst, post_renderer, hr, engine)
    if engine is Engine.HELM4:
        _apply(args, install_server_side(hr.spec.to_dict(), engine), False)
    _flag(args, inst and inst.create_namespace, "--create-namespace")
    _flag(args, inst and inst.replace, "--replace")
    _flag(args, inst and (inst.skip_crds or inst.crds == "Skip"), "--skip-crds")
    return args, timeout


def _ssa(hr: HelmRelease, action: str, engine: Engine, apply_method: str) -> bool | None:
    if engine is Engine.HELM3:
        return None
    return server_side(hr.spec.to_dict(), action, apply_method)


def upgrade_args(hr: HelmRelease, chart: str, values_file: str,
                 post_renderer: Sequence[str] = (), engine: Engine = Engine.HELM3,
                 apply_method: str = "") -> tuple[list[str], float]:
    """`apply_method`: the current release's record's (Helm 4's `auto`)."""
    upg = hr.spec.upgrade
    timeout = timeout_of(hr, upg)
    args = ["upgrade", hr.release_name, chart, "--values", values_file,
            "--timeout", _seconds(timeout), "--history-max", str(hr.max_history)]
    _common(args, upg, post_renderer, hr, engine)
    args.append("--reuse-values" if upg and upg.preserve_values else "--reset-values")
    _apply(args, _ssa(hr, "upgrade", engine, apply_method), upg and upg.force)
    _flag(args, upg and upg.cleanup_on_fail, "--cleanup-on-fail")
    return args, timeout


def rollback_args(hr: HelmRelease, version: int, engine: Engine = Engine.HELM3,
                  apply_method: str = "") -> tuple[list[str], float]:
    """`apply_method`: the record's of the release rolled back to (Helm 4's `auto`)."""
    rb = hr.spec.rollback
    timeout = timeout_of(hr, rb)
    args = ["rollback", hr.release_name, str(version), "--timeout", _seconds(timeout),
            "--history-max", str(hr.max_history)]
    _wait(args, rb, hr, engine)
    _flag(args, rb and rb.disable_hooks, "--no-hooks")
    _apply(args, _ssa(hr, "rollback", engine, apply_method), rb and rb.force)
    if engine is Engine.HELM3:
        _flag(args, rb and rb.recreate, "--recreate-pods")
    _flag(args, rb and rb.cleanup_on_fail, "--cleanup-on-fail")
    return args, timeout


def uninstall_args(hr: HelmRelease, release_name: str | None = None, *,
                   keep_history: bool | None = None, engine: Engine = Engine.HELM3
                   ) -> tuple[list[str], float]:
    un = hr.spec.uninstall
    timeout = timeout_of(hr, un)
    args = ["uninstall", release_name or hr.release_name, "--timeout", _seconds(timeout),
            "--cascade", (un.deletion_propagation if un and un.deletion_propagation
                          else "background")]
    if not (un and un.disable_wait):  # Helm 4: until the objects are gone (kstatus)
        args.append("--wait" if engine is Engine.HELM3 else "--wait=watcher")
    _flag(args, un and un.disable_hooks, "--no-hooks")
    keep = (un and un.keep_history) if keep_history is None else keep_history
    _flag(args, keep, "--keep-history")
    return args, timeout


def test_args(hr: HelmRelease) -> tuple[list[str], float]:
    test = hr.spec.test
    timeout = timeout_of(hr, test)
    args = ["test", hr.release_name, "--timeout", _seconds(timeout)]
    for f in (test.filters or []) if test else []:
        args += ["--filter", f"{'!' if f.exclude else ''}name={f.name}"]
    return args, timeout
