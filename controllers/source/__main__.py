"""`python -m afflux.controllers.source`: run source-controller.

Its own flags, besides the common ones (`afflux.controllers.runtime._options`):
`--storage-path` (artifact directory; `/data` in the container, else a temp dir),
`--storage-addr` (where the artifact server listens, `:9090`), `--storage-adv-addr`
(the host[:port] artifact URLs name; default: the listen address when it names a host,
else `source-controller.$RUNTIME_NAMESPACE.svc.cluster.local.`), and the garbage
collection settings `--artifact-retention-records` (2) and `--artifact-retention-ttl` (60s),
and `--artifact-digest-algo` (sha256; sha384, sha512, blake3), the algorithm of artifact
digests and HelmRepository index revisions; the Helm size limits in bytes
`--helm-index-max-size` (50 MiB), `--helm-chart-max-size` (10 MiB) and
`--helm-chart-file-max-size` (5 MiB); the cache of parsed Helm indexes HelmCharts read,
`--helm-cache-max-size` (entries; 0, the default, disables it), `--helm-cache-ttl` (15m)
and `--helm-cache-purge-interval` (1m).
"""

from __future__ import annotations

import argparse

from afflux.api import ARTIFACT_DIGEST_ALGORITHMS
from afflux.controllers.runtime import addr_arg, duration_arg, positive_int_arg, run_operator

from ._context import DEFAULT_STORAGE_ADDR, default_storage_path
from ._helmindex import DEFAULT_MAX_CHART_FILE_SIZE, DEFAULT_MAX_CHART_SIZE, DEFAULT_MAX_INDEX_SIZE
from ._indexcache import DEFAULT_CACHE_PURGE_INTERVAL, DEFAULT_CACHE_TTL
from .handlers import setup


def non_negative_int_arg(text: str) -> int:
    """argparse `type=` for a count that may be 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


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
    parser.add_argument("--helm-index-max-size", type=positive_int_arg,
                        default=DEFAULT_MAX_INDEX_SIZE, metavar="BYTES",
                        help="the max allowed size in bytes of a Helm repository index file "
                        f"(default {DEFAULT_MAX_INDEX_SIZE})")
    parser.add_argument("--helm-chart-max-size", type=positive_int_arg,
                        default=DEFAULT_MAX_CHART_SIZE, metavar="BYTES",
                        help="the max allowed size in bytes of a Helm chart file pulled from "
                        f"a repository (default {DEFAULT_MAX_CHART_SIZE})")
    parser.add_argument("--helm-chart-file-max-size", type=positive_int_arg,
                        default=DEFAULT_MAX_CHART_FILE_SIZE, metavar="BYTES",
                        help="the max allowed size in bytes of a file in a Helm chart "
                        f"directory or of a values file (default {DEFAULT_MAX_CHART_FILE_SIZE})")
    parser.add_argument("--helm-cache-max-size", type=non_negative_int_arg, default=0,
                        metavar="ENTRIES",
                        help="the max number of parsed Helm repository indexes kept in memory "
                        "for HelmCharts; 0 (the default) disables the cache")
    parser.add_argument("--helm-cache-ttl", type=duration_arg, default=DEFAULT_CACHE_TTL,
                        metavar="DURATION",
                        help="how long a cached index stays after it was stored or last read "
                        "(default 15m)")
    parser.add_argument("--helm-cache-purge-interval", type=duration_arg,
                        default=DEFAULT_CACHE_PURGE_INTERVAL, metavar="DURATION",
                        help="how often expired indexes are dropped from the cache (default 1m)")


def main() -> None:
    run_operator(name="source-controller", setup=setup, add_flags=add_flags)


if __name__ == "__main__":
    main()
