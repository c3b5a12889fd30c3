"""`python -m afflux.controllers.notification`: run notification-controller.

Its own flags, besides the common ones (`afflux.controllers.runtime._options`):
`--events-addr` (Flux's event API), `--receiverAddr` (Receiver webhooks; also spelled
`--receiver-addr`) and `--rate-limit-interval` (5m).
"""

from __future__ import annotations

from afflux.controllers.runtime import run_operator

from .handlers import add_flags, setup


def main() -> None:
    run_operator(name="notification-controller", setup=setup, add_flags=add_flags)


if __name__ == "__main__":
    main()
