"""source.extensions.fluxcd.io/v1beta1: ArtifactGenerator (Flux 2.7's source-watcher).

An ArtifactGenerator reads the artifacts of several sources (each under an alias) and
composes or splits them into ExternalArtifacts: each entry of `spec.artifacts` is one
ExternalArtifact of the same name, built by copy operations `@alias/<glob>` ->
`@artifact/<path>` with the strategies Overwrite, Merge (YAML) and Extract (tarballs).
With `spec.pathPattern` the artifacts are templates, generated once per matching directory.

The reasons and the typed error below are what the generator's reconciler reports; they
are Flux's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _meta
from ._common import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    ReconcileStatus,
    Resource,
)
from ._kustomize_v1 import CommonMetadata
from ._model import Model, Rule, field

__all__ = [
    "ALIAS_PATTERN",
    "COPY_STRATEGIES",
    "ArtifactGenerator",
    "ArtifactGeneratorError",
    "ArtifactGeneratorSpec",
    "ArtifactGeneratorStatus",
    "CopyOperation",
    "ExternalArtifactReference",
    "OutputArtifact",
    "SourceReference",
]

GROUP = _meta.SOURCE_EXTENSIONS_GROUP
VERSION = "v1beta1"

ALIAS_PATTERN = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$"
FROM_PATTERN = r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$"
TO_PATTERN = r"^@(artifact)/(.*)$"
ALIAS_REF_PATTERN = r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
COPY_STRATEGIES = ("Overwrite", "Merge", "Extract")
SOURCE_KINDS = ("Bucket", "GitRepository", "OCIRepository", "HelmChart", "ExternalArtifact")

# Reasons (Flux's source-watcher words).
BUILD_FAILED = "BuildFailed"
SOURCE_FETCH_FAILED = "SourceFetchFailed"
VALIDATION_FAILED = "ValidationFailed"
#: The annotation that suspends an ArtifactGenerator (`Disabled`; `Enabled` or absent runs it).
RECONCILE_ANNOTATION = f"{GROUP}/reconcile"


class ArtifactGeneratorError(Exception):
    """A failure of one generation, with the condition reason it is reported under
    (BuildFailed, SourceFetchFailed, ValidationFailed, AccessDenied)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SourceReference(Model):
    """One input of the generator, named by its alias in copy operations."""

    alias: str = field(doc="Name the copy operations use for this source (@alias/...).",
                       required=True, pattern=ALIAS_PATTERN, max_length=63)
    kind: str = field(doc="Kind of the source.", required=True, enum=SOURCE_KINDS)
    name: str = field(doc="Name of the source.", required=True,
                      pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=253)
    namespace: str | None = field(
        doc="Namespace of the source; the generator's own by default.",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)


class CopyOperation(Model):
    """Copy files of a source into the artifact, like `cp`."""

    from_: str = field(
        "from",
        doc="@alias/<path or glob>: a file, a directory (`dir/` copies it as a subdirectory), "
        "or a glob (`*` within a directory, `**` across directories; `dir/**` copies the "
        "directory's content).",
        required=True, pattern=FROM_PATTERN, max_length=1024)
    to: str = field(
        doc="@artifact/<path>: a trailing slash (or a glob source) copies into that "
        "directory, otherwise to that file name.",
        required=True, pattern=TO_PATTERN, max_length=1024)
    exclude: list[str] | None = field(
        doc="Globs of files to leave out of what `from` selects.", max_items=100)
    strategy: str | None = field(
        doc="Overwrite (the default) replaces files; Merge merges YAML into the target file "
        "(maps deeply, lists replaced, as Helm merges values); Extract unpacks .tar.gz/.tgz "
        "files into the target directory.",
        enum=COPY_STRATEGIES)


class OutputArtifact(Model):
    """One ExternalArtifact to generate."""

    name: str = field(doc="Name of the ExternalArtifact.", required=True, max_length=253)
    revision: str | None = field(
        doc="@alias: use that source's revision as the artifact's; by default it is "
        "latest@sha256:<digest of the content>.",
        pattern=ALIAS_REF_PATTERN, max_length=64)
    origin_revision: str | None = field(
        doc="@alias: record that source's revision as the artifact's origin revision "
        "(metadata org.opencontainers.image.revision).",
        pattern=ALIAS_REF_PATTERN, max_length=64)
    copy: list[CopyOperation] = field(doc="The copy operations, in order.", required=True)


def _names_are_dns(spec: Mapping[str, Any]) -> bool:
    import re  # noqa: PLC0415 - only offline checks need it

    if spec.get("pathPattern"):
        return True
    return all(re.match(DNS_SUBDOMAIN, str(a.get("name", "")))
               for a in spec.get("artifacts") or ())


class ArtifactGeneratorSpec(Model):
    """The sources and the artifacts to generate from them."""

    VALIDATIONS = (
        Rule("has(self.pathPattern) && size(self.pathPattern) > 0 || self.artifacts.all(a, "
             "a.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
             "*$'))",
             "artifact names must be DNS subdomain names (lowercase alphanumerics, '-' and '.')",
             _names_are_dns),
    )

    sources: list[SourceReference] = field(
        doc="The sources to read, each under an alias.", required=True, max_items=1000)
    artifacts: list[OutputArtifact] = field(
        doc="The ExternalArtifacts to generate.", required=True, max_items=1000)
    common_metadata: CommonMetadata | None = field(
        doc="Labels and annotations for the generated ExternalArtifacts.")
    path_pattern: str | None = field(
        doc="@alias/<directory pattern>, e.g. @repo/apps/{app}/envs/{env}: the artifacts "
        "become templates, generated once for each directory of that source matching the "
        "pattern ({name} captures part of one path segment, the rest is literal); {name} in "
        "artifacts[].name is the captured value lowercased, in copy[].from and copy[].to the "
        "value as captured, and each ExternalArtifact gets a label name=value per capture. "
        "afflux generates at most 1000 ExternalArtifacts per generator.",
        pattern=FROM_PATTERN, max_length=1024)


class ExternalArtifactReference(Model):
    """One generated ExternalArtifact in the inventory."""

    name: str = field(doc="Name of the ExternalArtifact.", required=True)
    namespace: str = field(doc="Namespace of the ExternalArtifact.", required=True)
    digest: str = field(doc="Digest of its artifact file.", required=True)
    filename: str = field(doc="File name of its artifact in storage.", required=True)


class ArtifactGeneratorStatus(ReconcileStatus):
    """What the generator produced."""

    inventory: list[ExternalArtifactReference] | None = field(
        doc="The ExternalArtifacts this generator produced (those no longer in the spec are "
        "deleted with their files).")
    observed_sources_digest: str | None = field(
        doc="Digest of the source revisions the current artifacts were built from.")


class ArtifactGenerator(Resource):
    """Compose and split source artifacts into ExternalArtifacts."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "ArtifactGenerator"
    PLURAL = "artifactgenerators"
    SHORT_NAMES = ("ag",)
    CATEGORIES = (_meta.CATEGORY_ALL, _meta.CATEGORY_FLUXCD, _meta.CATEGORY_SOURCES,
                  _meta.CATEGORY_FLUX)
    PRINTER_COLUMNS = (AGE_COLUMN, READY_COLUMN, STATUS_COLUMN)
    DESCRIPTION = (
        "ArtifactGenerator composes artifacts from several sources, or splits one source, "
        "into ExternalArtifacts (Flux's source-watcher API)."
    )
    DEFAULT_INTERVAL = 600.0

    spec: ArtifactGeneratorSpec = field(doc="The sources and the artifacts.", required=True)
    status: ArtifactGeneratorStatus = field(
        doc="The observed state, written by source-controller.",
        default={"observedGeneration": -1}, python_default=False,
    )

    @property
    def reconcile_disabled(self) -> bool:
        """Whether the `source.extensions.fluxcd.io/reconcile: Disabled` annotation is set."""
        return self.annotations.get(RECONCILE_ANNOTATION, "").lower() in ("disabled", "disable")
