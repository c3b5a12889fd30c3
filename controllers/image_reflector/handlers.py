"""image-reflector-controller's wiring: the tag store, its two kinds, and the trigger
between them.

`setup(operator)` (what `__main__` hands to `run_operator`):

1. opens the tag store at `--storage-path`;
2. registers the ImageRepository reconciler (scans into the store) and the ImagePolicy
   reconciler (reads the store); a policy whose tags went missing from the store asks the
   repository's scheduler for a scan;
3. watches ImageRepositories: when an object's scan result (or canonical image) changes,
   every ImagePolicy that refers to it is triggered at once, so a new tag reaches the
   policies without waiting for their own interval.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afflux.controllers.runtime import Operator, Scheduler

from ._reconcile_policy import policies_for_repository, policy_reconciler
from ._reconcile_repository import IMAGE_REPOSITORY, repository_reconciler, scan_change_key
from ._tagstore import TagStore

__all__ = ["add_flags", "default_storage_path", "setup"]

CONTROLLER = "image-reflector-controller"

_log = logging.getLogger(f"afflux.{CONTROLLER}")


def default_storage_path(environ: Mapping[str, str] | None = None,
                         data: Path = Path("/data")) -> Path:
    """`/data` where it is a writable directory (the container's volume); else the user's
    state directory, `$XDG_STATE_HOME/afflux/image-reflector-controller` (default
    `~/.local/state/...`), never the working directory (run from a checkout, that would
    write into the repository); else a directory under the temp dir (a read-only root
    file system with only /tmp mounted)."""
    env = os.environ if environ is None else environ
    if data.is_dir() and os.access(data, os.W_OK):
        return data
    state = env.get("XDG_STATE_HOME", "")
    if not Path(state).is_absolute():  # the XDG spec: a relative path is ignored
        state = str(Path(env["HOME"]) / ".local" / "state") if env.get("HOME") else ""
    if state and Path(state).is_absolute():
        base = Path(state)
        existing = next((p for p in (base, *base.parents) if p.exists()), None)
        if existing is not None and os.access(existing, os.W_OK):
            return base / "afflux" / CONTROLLER
    return Path(tempfile.gettempdir()) / CONTROLLER


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-path",
        default=None,
        help=f"directory of the tag store (default {default_storage_path()})",
    )


def trigger_policies(policies: Scheduler, event_type: str | None, body: Mapping[str, Any]) -> None:
    """Trigger the ImagePolicies that refer to the ImageRepository `body`."""
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    for ns, policy in policies_for_repository(namespace, name, policies.objects()):
        _log.debug(
            "ImageRepository %s/%s changed (%s): triggering ImagePolicy %s/%s",
            namespace,
            name,
            event_type or "listed",
            ns,
            policy,
        )
        policies.trigger(ns, policy)


def setup(operator: Operator) -> TagStore:
    """Register both kinds and the repository watch; returns the tag store (for tests)."""
    root = getattr(operator.options.extra, "storage_path", None) or default_storage_path()
    Path(root).mkdir(parents=True, exist_ok=True)
    store = TagStore(root)
    repositories = operator.register(repository_reconciler(store))
    policies = operator.register(
        policy_reconciler(store, request_scan=lambda ns, name: repositories.trigger(ns, name))
    )
    operator.watch(
        IMAGE_REPOSITORY,
        lambda event_type, body: trigger_policies(policies, event_type, body),
        key=scan_change_key,
    )
    _log.info("tag store ready", extra={"storagePath": str(root)})
    return store
