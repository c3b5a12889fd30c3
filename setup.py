"""Package layout for setuptools (everything else is in pyproject.toml).

One import package, `afflux`, whose subpackages live in the repository's top-level
folders (DESIGN §3): `api/` is `afflux.api`, `controllers/` is `afflux.controllers`,
`cli/` is `afflux.cli`. `afflux` itself is a namespace package with no folder of its
own. The package list is discovered, so a new subpackage needs no edit here.
"""

from setuptools import find_packages, setup

TOPS = ("api", "controllers", "cli")

packages: list[str] = []
package_dir: dict[str, str] = {}
for top in TOPS:
    packages.append(f"afflux.{top}")
    package_dir[f"afflux.{top}"] = top
    packages += [f"afflux.{top}.{sub}" for sub in find_packages(where=top)]

setup(packages=packages, package_dir=package_dir)
