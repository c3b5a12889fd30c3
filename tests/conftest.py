"""Root conftest: registers the harness fixture plugins.

Integration tests never skip: a missing component (binary, package, server) fails the
test with the component's own error output, on CI and off it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = [
    "harness.fixtures_cluster",
    "harness.fixtures_servers",
    "harness.fixtures_controllers",
    "harness.fixtures_helm",
    "harness.fixtures_s3",
    "harness.alertmanager",
    "harness.nats",
    "harness.gitea",
    "harness.fixtures_realnode",
    "harness.forge_env",
]
