"""`python -m afflux.controllers.kustomize`: run kustomize-controller.

Besides the common flags (`afflux.controllers.runtime._options`), it takes
`--feature-gates` (`StrictPostBuildSubstitutions=true`, `AdditiveCELDependencyCheck=true`,
`DisableFailFastBehavior=true`).
"""

from __future__ import annotations

from afflux.controllers.runtime import run_operator

from .handlers import add_flags, setup


def main() -> None:
    run_operator(name="kustomize-controller", setup=setup, add_flags=add_flags)


if __name__ == "__main__":
    main()
