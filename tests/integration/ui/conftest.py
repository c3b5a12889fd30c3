"""Fixtures for the UI's browser tests: `cluster` and `flux_crds` are, for this directory, a
local cluster of its own with the Flux CRDs (the UI lists every namespace, so objects other
tests leave on the shared cluster would change what it shows); `start_ui(as_user=None)` runs
`afflux ui` (a real process, the user's kubeconfig, or with `--in-cluster` among the extra
arguments the callers' tokens) against it; `page` is a tab of a real headless
Chromium (Debian's, driven by Playwright; no browser download) whose screenshot is saved as an
artefact when the test ends, in $AFFLUX_ARTIFACTS/ui (default .local/artifacts/ui)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from afflux.cli.devenv import LocalCluster, free_port
from harness.fixtures_cluster import REPO, Cluster
from harness.fixtures_controllers import apply_crds
from harness.wait import eventually

CHROMIUM = Path(os.environ.get("AFFLUX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = Path(os.environ.get("AFFLUX_ARTIFACTS", REPO / ".local" / "artifacts")) / "ui"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    local = LocalCluster(tmp_path_factory.mktemp("ui-cluster"), nodes=0, log=lambda *_: None)
    local.up()
    try:
        yield Cluster(local.kubeconfig)
    finally:
        local.down(quiet=True)


@pytest.fixture(scope="module")
def flux_crds(cluster: Cluster) -> Cluster:
    return apply_crds(cluster)


class UIServer:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.proc = proc
        self.log = log


@pytest.fixture
def start_ui(flux_crds: Cluster, tmp_path: Path) -> Iterator[Callable[..., UIServer]]:
    started: list[UIServer] = []

    def start(as_user: str | None = None, *extra: str) -> UIServer:
        port = free_port()
        log = tmp_path / f"ui-{port}.log"
        argv = [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(flux_crds.kubeconfig),
                "ui", "--addr", f"127.0.0.1:{port}"]
        if as_user:
            argv += ["--as", as_user]
        argv += extra
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=REPO)
        server = UIServer(f"http://127.0.0.1:{port}", proc, log)
        started.append(server)

        def answers() -> bool:
            assert proc.poll() is None, f"afflux ui exited {proc.returncode}:\n{log.read_text()}"
            with urllib.request.urlopen(server.url + "/healthz", timeout=5) as resp:
                return resp.status == 200

        eventually(answers, timeout=30, message="afflux ui to answer")
        return server

    yield start
    for server in started:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():  # never a skip: the browser is part of the test environment
        pytest.fail(f"{CHROMIUM} is missing: `hack/install-deps.sh` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
