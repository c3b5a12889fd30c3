"""`python -m afflux.cli.devenv cluster up|down|status [--state DIR]`: the local cluster
from the Makefile (`make cluster-up`, `make cluster-down`) without the full CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cluster import ClusterError, LocalCluster
from ._realnode import NodeError
from ._tools import ToolMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m afflux.cli.devenv")
    parser.add_argument("what", choices=["cluster"])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state", default=".local/cluster", help="state directory")
    parser.add_argument("--nodes", type=int, default=2, help="fake nodes (kwok)")
    parser.add_argument("--real-node", action="store_true",
                        help="and one real node (kubelet, containerd, kube-proxy, CoreDNS; root)")
    args = parser.parse_args(argv)
    cluster = LocalCluster(Path(args.state), nodes=args.nodes, real_node=args.real_node)
    try:
        if args.action == "up":
            cluster.up()
        elif args.action == "down":
            cluster.down()
        else:
            running = cluster.running()
            print(f"local cluster: {'running at ' + cluster.server if running else 'not running'}")
            return 0 if running else 1
    except (ClusterError, NodeError, ToolMissing) as err:
        print(f"✗ {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
