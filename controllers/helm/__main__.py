"""`python -m afflux.controllers.helm`: run helm-controller.

Besides the common flags (`afflux.controllers.runtime._options`), it takes `--helm-binary`.
"""

from __future__ import annotations

from afflux.controllers.runtime import run_operator

from .handlers import add_flags, setup


def main() -> None:
    run_operator(name="helm-controller", setup=setup, add_flags=add_flags)


if __name__ == "__main__":
    main()
