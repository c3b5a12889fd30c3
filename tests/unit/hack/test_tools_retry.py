"""hack/tools.sh's build steps: a step that fails on the network is tried again, any other
failure ends the build at once (bash, with fake commands; nothing is built or fetched)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TOOLS = REPO / "hack" / "tools.sh"

# A command that fails `fails` times with `message` on stderr, then succeeds; the number of
# calls is printed at the end.
SCRIPT = """
set -euo pipefail
source "$TOOLS"
sleep() { :; }
calls=0
step_cmd() {
  calls=$((calls + 1))
  if (( calls <= @FAILS@ )); then echo @MESSAGE@ >&2; return 1; fi
  echo built
}
trap 'echo "calls=$calls"' EXIT
run demo "go get" step_cmd
"""


def run_script(tmp_path: Path, fails: int, message: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", SCRIPT.replace("@FAILS@", str(fails)).replace("@MESSAGE@", shlex.quote(message))],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TOOLS": str(TOOLS),
             "AFFLUX_CACHE": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("fails", "message", "rc", "calls"),
    [
        pytest.param(0, "", 0, 1, id="succeeds-first-time"),
        pytest.param(1, "dial tcp 142.250.0.1:443: i/o timeout", 0, 2, id="proxy-timeout-then-ok"),
        pytest.param(2, "reading https://proxy.golang.org/x/@v/v1.zip: 502 Bad Gateway", 0, 3,
                     id="two-bad-gateways-then-ok"),
        pytest.param(3, "read tcp: connection reset by peer", 1, 3, id="network-down-gives-up"),
        pytest.param(1, "./main.go:3:2: undefined: foo", 1, 1, id="compile-error-not-retried"),
        pytest.param(1, "reading https://proxy.golang.org/x/@v/list: 403 Forbidden", 1, 1,
                     id="refused-module-not-retried"),
    ],
)
def test_a_step_is_tried_again_only_on_network_failures(tmp_path: Path, fails: int, message: str,
                                                         rc: int, calls: int) -> None:
    done = run_script(tmp_path, fails, message)
    assert done.returncode == rc, done.stderr
    assert f"calls={calls}" in done.stdout
    log = (tmp_path / "cache" / "logs" / "demo.log").read_text()
    assert log.count("go get (attempt") == calls
    if rc:
        assert 'FAILED: demo, step "go get"' in done.stderr
        assert message in done.stderr  # the log's tail says why


def test_mod_json_reads_one_field_of_go_mod_download(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "go").write_text(
        '#!/bin/sh\n[ "$1 $2 $3" = "mod download -json" ] || exit 9\n'
        'printf \'{"Path": "%s", "Dir": "/mod/cache/x", "GoMod": "/mod/x.mod"}\\n\' "$4"\n')
    (fake / "go").chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", 'source "$TOOLS"; mod_json demo example.com/x@v1.2.3 Dir; '
         'mod_json demo example.com/x@v1.2.3 GoMod'],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path), "TOOLS": str(TOOLS),
             "AFFLUX_CACHE": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["/mod/cache/x", "/mod/x.mod"]


def test_sourcing_the_script_builds_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", 'source "$TOOLS"; echo sourced'],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TOOLS": str(TOOLS),
             "AFFLUX_CACHE": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sourced\n"
    assert not (tmp_path / "cache" / "bin").exists() or not any((tmp_path / "cache" / "bin").iterdir())
