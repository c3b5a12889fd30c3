"""The local development environment: real servers on loopback, for tests and demos.

Each server is a small class with `start()` / `stop()` (also a context manager) that
picks free loopback ports, keeps its state and log files in the directory it is given,
raises `ServerStartError` with the server's own log output when it cannot start, and
leaves no process behind when stopped:

- `TestCA`: the certificate authority that signs every server and client certificate.
- `GitHTTPServer`: Git smart HTTP and HTTPS (`git http-backend`), basic/bearer auth.
- `GitSSHServer`: Git over SSH (OpenSSH `sshd` + `git-shell`), key auth.
- `Registry`: an OCI registry (distribution 2.8), htpasswd auth, TLS.
- `LocalCluster`: the local Kubernetes control plane (see `_cluster`).
- `prometheus_targets` / `write_targets`: Prometheus file discovery of local operators.

The pytest fixtures in tests/harness/fixtures_servers.py and `afflux dev up` both build
on these.
"""

from ._ca import CertPair, TestCA
from ._cluster import ClusterError, LocalCluster
from ._gitserver import GitHTTPServer
from ._monitoring import TARGETS_FILE, prometheus_targets, write_targets
from ._procs import DevEnvError, ServerStartError, free_port
from ._registry import Registry
from ._repos import GitRequest
from ._sshserver import GitSSHServer, generate_ssh_key, known_hosts_line

__all__ = [
    "CertPair",
    "ClusterError",
    "DevEnvError",
    "GitHTTPServer",
    "GitRequest",
    "GitSSHServer",
    "LocalCluster",
    "TARGETS_FILE",
    "Registry",
    "ServerStartError",
    "TestCA",
    "free_port",
    "generate_ssh_key",
    "known_hosts_line",
    "prometheus_targets",
    "write_targets",
]
