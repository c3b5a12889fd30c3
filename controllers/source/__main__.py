"""`python -m afflux.controllers.source`: run source-controller.

Its own flags, besides the common ones (`afflux.controllers.runtime._options`):
`--storage-path` (artifact directory; `/data` in the container, else a temp dir),
`--storage-addr` (where the artifact server listens, `:9090`), `--storage-adv-addr`
(the host[:port] artifact URLs name; default: the listen address when it names a host,
else `source-controller.$RUNTIME_NAMESPACE.svc.cluster.local.`), and the garbage
collection settings `--artifact-retention-records` (2) and `--artifact-retention-ttl` (60s),
and `--artifact-digest-algo` (sha256; sha384, sha512, blake3), the algorithm of artifact
digests and HelmRepository index revisions.
"""

from __future__ import annotations

import argparse

from afflux.api import ARTIFACT_DIGEST_ALGORITHMS
from afflux.controllers.runtime import addr_arg, duration_arg, positive_int_arg, run_operator

from ._context import DEFAULT_STORAGE_ADDR, default_storage_path
from .handlers import setup


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-path", default=None,
                        help=f"directory of the artifacts (default {default_storage_path()})")
    parser.add_argument("--storage-addr", type=addr_arg, default=DEFAULT_STORAGE_ADDR,
                        help="address the artifact server listens on (default :9090)")
    parser.add_argument("--storage-adv-addr", default=None,
                        help="host[:port] artifact URLs use (default: the listen address, or "
                        "source-controller.$RUNTIME_NAMESPACE.svc.cluster.local.)")
    parser.add_argument("--artifact-retention-records", type=positive_int_arg, default=2,
                        help="artifacts kept per object, the current one included (default 2)")
    parser.add_argument("--artifact-retention-ttl", type=duration_arg, default=60.0,
                        metavar="DURATION",
                        help="age after which older artifacts may be deleted (default 60s)")
    parser.add_argument("--artifact-digest-algo", default="sha256",
                        choices=ARTIFACT_DIGEST_ALGORITHMS, metavar="ALGORITHM",
                        help="the hashing algorithm of artifact digests, one of "
                        + ", ".join(ARTIFACT_DIGEST_ALGORITHMS) + " (default sha256)")


def main() -> None:
    run_operator(name="source-controller", setup=setup, add_flags=add_flags)


if __name__ == "__main__":
    main()
