"""`python -m afflux.controllers.image_automation`: run image-automation-controller (the
common flags only, see `afflux.controllers.runtime._options`)."""

from __future__ import annotations

from afflux.controllers.runtime import run_operator

from .handlers import CONTROLLER, setup


def main() -> None:
    run_operator(name=CONTROLLER, setup=setup)


if __name__ == "__main__":
    main()
