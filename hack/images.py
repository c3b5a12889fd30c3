#!/usr/bin/env python3
"""`make images`: build (once) the cached layers of the afflux image: the debootstrap
Debian base and the dependency layer (~/.cache/afflux/images). The real-node tests and
the in-cluster install then only add this checkout's package on top (seconds)."""

from __future__ import annotations

import sys
import time

from afflux.cli.devenv._afflux_image import ImageBuildError, base_layer, deps_layer


def main() -> int:
    t0 = time.monotonic()
    try:
        base_layer()
        deps_layer()
    except ImageBuildError as err:
        print(f"[image] FAILED: {err}", file=sys.stderr)
        return 1
    print(f"[image] afflux image layers ready in {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
