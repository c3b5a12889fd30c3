"""The Helm engine: the real, pinned `helm` binary, run once per action.

Why the binary and not a Helm reimplementation or a Go helper of our own:

- Releases must be real Helm releases. `helm install/upgrade/rollback/uninstall/test` write
  the same release records (Secrets `sh.helm.release.v1.<name>.v<N>`), run the same hooks,
  waits (`--wait`, `--wait-for-jobs`), CRD handling, three-way merges and chart tests as a
  user's `helm`, because they *are* that code: `helm list/history/get/rollback` see and act
  on what afflux did, and afflux takes over what `helm install` did. Rendering Go templates,
  Sprig functions, hook ordering and Helm's upgrade patching again in Python would be a
  second, subtly different Helm.
- The binary is already pinned and built from Go modules by `hack/tools.sh` (source-controller
  packages charts with it); a Go helper linking Helm's SDK would be a second Go build to pin
  and maintain for the same code.
- Its cost is one process per action, which is paid only when something changes: the
  controller reads the release records itself (`_release`) to decide whether anything must
  happen, so a reconcile that finds the release in sync starts no process at all.

Two engines (`_engine.Engine`): the Helm 4 program `helm4` (the default, as Flux 2.9's) or,
with `--feature-gates=UseHelm3Defaults=true`, the Helm 3 program `helm`. Both write objects
under the field manager `helm`: the helm program's `main` sets it before anything else
runs, and neither has a flag or variable to change it (Flux's SDK use writes as
`helm-controller`, the manager afflux's drift correction applies with).

What the CLI cannot do that Flux's SDK use can: keep the release records in a namespace
other than the release's (`helm -n` is both). `_storage` makes up for it by staging the
records in the release namespace for the duration of each action.

Secrets stay off command lines and out of logs: the values go through a file (JSON), the kubeconfig
through `$KUBECONFIG`, both in a private temporary directory (0700, files 0600) that is
removed after the action, together with Helm's own cache/config homes. Impersonation is
`--kube-as-user`. The environment of the process is built from scratch (PATH, the homes,
KUBECONFIG, and the in-cluster service variables when present), so nothing of the
controller's environment leaks to hooks or post-renderers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._engine import Engine

__all__ = [
    "HelmError",
    "HelmRunner",
    "Target",
    "Workspace",
    "find_tool",
    "values_json",
]

_PASS_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HTTPS_PROXY", "HTTP_PROXY",
             "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
_MAX_ERROR = 2000
_GRACE = 30.0
#: where a Helm 4 post-renderer plugin leaves its error (helm drops its stderr)
POST_RENDER_ERROR = "post-render.error"


class HelmError(Exception):
    """A helm action that failed; the message is helm's own (trimmed)."""


def find_tool(name: str, explicit: str | None = None) -> str:
    """`explicit`, else `$AFFLUX_<NAME>`, else `name` on `$PATH`, else the tool cache."""
    for candidate in (explicit, os.environ.get(f"AFFLUX_{name.upper()}")):
        if candidate:
            return candidate
    found = shutil.which(name)
    if found:
        return found
    cache = Path(os.environ.get("AFFLUX_CACHE") or Path.home() / ".cache" / "afflux") / "bin"
    if os.access(cache / name, os.X_OK):
        return str(cache / name)
    raise HelmError(f"{name} is not installed: it is neither on $PATH nor in {cache}")


@dataclass(frozen=True)
class Target:
    """Where and as whom helm acts: a kubeconfig (None: in-cluster or $KUBECONFIG of the
    controller), a user to impersonate, the release namespace."""

    namespace: str
    kubeconfig: str | None = None
    kubeconfig_data: bytes | None = None  # written to the workspace (a remote cluster)
    as_user: str | None = None
    storage: str = ""  # where the release records are kept between actions (`_storage`)

    @property
    def storage_namespace(self) -> str:
        return self.storage or self.namespace


@dataclass
class Workspace:
    """A private directory for one action: chart, values, kubeconfig, Helm's homes."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def write(self, name: str, data: str | bytes) -> Path:
        path = self.root / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def write_values(self, values: Mapping[str, Any]) -> Path:
        """The values as JSON (which Helm reads as YAML): written as YAML, a key such as
        `n` or `y` would reach Helm's YAML 1.1 parser unquoted and become a boolean."""
        return self.write("values.json", values_json(values))


def _json_default(value: Any) -> str:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()  # a YAML timestamp of a valuesFrom, as a string
    raise TypeError(f"a value of type {type(value).__name__} cannot be given to Helm")


def values_json(values: Mapping[str, Any]) -> str:
    """The values file helm gets (pure): JSON, keys sorted."""
    return json.dumps(dict(values), sort_keys=True, ensure_ascii=False, default=_json_default)


class HelmRunner:
    """Runs helm actions (see the module docstring)."""

    def __init__(self, binary: str | None = None, *, scratch: str | None = None,
                 engine: Engine = Engine.HELM4) -> None:
        self.engine = engine
        self.binary = find_tool(engine.program, binary)
        self.scratch = scratch
        #: the helm processes running now (`cancel_actions` signals them)
        self._running: set[asyncio.subprocess.Process] = set()
        self.stopping = False

    def cancel_actions(self) -> int:
        """The controller is stopping (a graceful shutdown, helm-controller's OOM watch):
        SIGTERM every helm action in progress, which helm answers as Flux's controller does
        a cancelled context (the action fails and the release is recorded `failed`, not left
        `pending-*`), and refuse to start any other. Returns how many were signalled."""
        self.stopping = True
        signalled = 0
        for proc in list(self._running):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
                signalled += 1
        return signalled

    @contextlib.asynccontextmanager
    async def workspace(self, target: Target) -> AsyncIterator[Workspace]:
        root = Path(tempfile.mkdtemp(prefix="helm-", dir=self.scratch))
        try:
            os.chmod(root, 0o700)
            ws = Workspace(root)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)}
            for name in ("cache", "config", "data"):
                env[f"HELM_{name.upper()}_HOME"] = str(root / name)
            env["HELM_NAMESPACE"] = target.namespace
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            for name in _PASS_ENV:
                if name in os.environ:
                    env[name] = os.environ[name]
            if target.kubeconfig_data is not None:
                env["KUBECONFIG"] = str(ws.write("kubeconfig", target.kubeconfig_data))
            elif target.kubeconfig:
                env["KUBECONFIG"] = target.kubeconfig
            ws.env = env
            yield ws
        finally:
            await asyncio.to_thread(shutil.rmtree, root, True)

    async def run(self, ws: Workspace, target: Target, args: Sequence[str], *,
                  timeout: float) -> str:
        """`helm <args>` for `target`; stdout, or HelmError with helm's message."""
        argv = [self.binary, *args, "--namespace", target.namespace]
        if target.as_user:
            argv += ["--kube-as-user", target.as_user]
        if self.stopping:
            raise HelmError(f"helm {args[0]} not started: helm-controller is stopping")
        proc = await asyncio.create_subprocess_exec(
            *argv, env=ws.env, cwd=ws.root, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        self._running.add(proc)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout + _GRACE)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise HelmError(f"helm {args[0]} did not finish within {timeout + _GRACE:g}s"
                            ) from None
        finally:
            self._running.discard(proc)
        if proc.returncode != 0:
            text = (err.decode(errors="replace") or out.decode(errors="replace")).strip()
            detail = ws.root / POST_RENDER_ERROR  # a Helm 4 post-renderer plugin's (`_plugin`)
            if detail.is_file():
                text += f" (post-renderer: {detail.read_text(errors='replace')[:_MAX_ERROR]})"
            text = text.removeprefix("Error: ").replace("\n", "; ")
            if len(text) > _MAX_ERROR:
                text = text[:_MAX_ERROR] + " ..."
            raise HelmError(text or f"helm {args[0]} exited {proc.returncode}")
        return out.decode(errors="replace")
