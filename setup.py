"""Package layout for setuptools (everything else is in pyproject.toml).

One import package, `afflux`, whose subpackages live in the repository's top-level
folders (DESIGN §3): `api/` is `afflux.api`, `controllers/` is `afflux.controllers`,
`cli/` is `afflux.cli`. `afflux` itself is a namespace package with no folder of its
own. The package list is discovered, so a new subpackage needs no edit here. `config/` travels
as package data, `afflux.manifests`.
"""

from setuptools import find_packages, setup

TOPS = ("api", "controllers", "cli")

packages: list[str] = []
package_dir: dict[str, str] = {}
for top in TOPS:
    packages.append(f"afflux.{top}")
    package_dir[f"afflux.{top}"] = top
    packages += [f"afflux.{top}.{sub}" for sub in find_packages(where=top)]

# The install manifests travel with the package, as Flux embeds them in its binary: the
# kustomize bases of config/ (not the samples) become `afflux/manifests/` in the wheel,
# where `afflux install` and `afflux bootstrap` find them outside a checkout (which files:
# [tool.setuptools.package-data] in pyproject.toml).
packages.append("afflux.manifests")
package_dir["afflux.manifests"] = "config"

setup(packages=packages, package_dir=package_dir)
