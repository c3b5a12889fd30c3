"""`python -m afflux.controllers.image_reflector`: run image-reflector-controller.

Its own flag, besides the common ones (`afflux.controllers.runtime._options`):
`--storage-path`, the directory of the tag store (`/data` in the container, else the
user's state directory, else under the temp dir; see `handlers.default_storage_path`).
"""

from __future__ import annotations

from afflux.controllers.runtime import run_operator

from .handlers import CONTROLLER, add_flags, setup


def main() -> None:
    run_operator(name=CONTROLLER, setup=setup, add_flags=add_flags)


if __name__ == "__main__":
    main()
