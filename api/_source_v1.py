"""source.toolkit.fluxcd.io/v1: GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket.

Each source fetches content from somewhere (Git, an OCI registry, a Helm repository, an
object-storage bucket), packs it into an artifact in source-controller's storage and
publishes the artifact's URL, revision and digest in `status.artifact`.
"""

from __future__ import annotations

from typing import ClassVar

from . import _meta
from ._common import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    AccessFrom,
    Artifact,
    LocalObjectReference,
    NamespacedObjectKindReference,
    PrinterColumn,
    ReconcileStatus,
    Resource,
)
from ._model import Model, Rule, duration, field

__all__ = [
    "Bucket",
    "BucketSTSSpec",
    "BucketSpec",
    "BucketStatus",
    "ChartVerification",
    "ExternalArtifact",
    "ExternalArtifactSpec",
    "ExternalArtifactStatus",
    "GitRepository",
    "GitRepositoryInclude",
    "GitRepositoryRef",
    "GitRepositorySpec",
    "GitRepositoryStatus",
    "GitRepositoryVerification",
    "HelmChart",
    "HelmChartSpec",
    "HelmChartStatus",
    "HelmRepository",
    "HelmRepositorySpec",
    "HelmRepositoryStatus",
    "LocalHelmChartSourceReference",
    "OCILayerSelector",
    "OCIRepository",
    "OCIRepositoryRef",
    "OCIRepositorySpec",
    "OCIRepositoryStatus",
    "OCIRepositoryVerification",
    "OIDCIdentityMatch",
]

GROUP = _meta.SOURCE_GROUP
VERSION = "v1"
_CATEGORIES = (
    _meta.CATEGORY_ALL,
    _meta.CATEGORY_FLUXCD,
    _meta.CATEGORY_SOURCES,
    _meta.CATEGORY_FLUX,
)
_URL_COLUMN = PrinterColumn("URL", "string", ".spec.url")
_REVISION_COLUMN = PrinterColumn("Revision", "string", ".status.artifact.revision", priority=1)
_SUSPENDED_COLUMN = PrinterColumn("Suspended", "boolean", ".spec.suspend", priority=1)

_STATUS_DOC = "The observed state, written by source-controller."
_SUSPEND_DOC = "Stop reconciling this source until it is set back to false."
_IGNORE_DOC = (
    "Exclusion patterns in .gitignore syntax; they replace the built-in defaults "
    "(VCS metadata, CI configuration, media files)."
)
_CERT_DOC = (
    "Secret with TLS material for the connection: 'ca.crt' for a custom CA, "
    "'tls.crt' and 'tls.key' (both or neither) for a client certificate."
)
_PROXY_DOC = (
    "Secret with the proxy to use: 'address' (http, https or socks5 URL), and optionally "
    "'username' and 'password'."
)


# --- GitRepository ----------------------------------------------------------------------------


class GitRepositoryRef(Model):
    """The Git reference to check out. When several are given the most specific wins:
    commit, then name, then semver, then tag, then branch."""

    branch: str | None = field(doc="Branch to check out; 'master' when nothing else is given.")
    tag: str | None = field(doc="Tag to check out; wins over branch.")
    semver: str | None = field(doc="Semver range; the highest matching tag is checked out.")
    name: str | None = field(
        doc="Full reference name, e.g. refs/heads/main or refs/pull/1/head; wins over branch, "
        "tag and semver."
    )
    commit: str | None = field(
        doc="Commit SHA to check out; wins over everything else (with branch, the branch is "
        "cloned and must contain the commit)."
    )


class GitRepositoryVerification(Model):
    """How to verify commit and tag signatures."""

    mode: str | None = field(
        doc="What to verify: HEAD (the checked-out commit), Tag, or TagAndHEAD.",
        enum=("head", "HEAD", "Tag", "TagAndHEAD"),
        default="HEAD",
    )
    secret_ref: LocalObjectReference = field(
        doc="Secret with the trusted public keys: PGP keys under keys ending in .asc, SSH "
        "keys under keys ending in .sshpub.",
        required=True,
    )


class GitRepositoryInclude(Model):
    """Another GitRepository whose artifact is copied into this one's."""

    repository: LocalObjectReference = field(
        doc="The GitRepository (same namespace) to include.", required=True
    )
    from_path: str | None = field(
        doc="Directory of the included artifact to copy; its root by default."
    )
    to_path: str | None = field(
        doc="Where to put it in this artifact; the included repository's name by default."
    )


def _git_sa_ok(spec: dict) -> bool:
    return "serviceAccountName" not in spec or spec.get("provider") in ("azure", "aws")


class GitRepositorySpec(Model):
    """What to fetch from a Git repository and how often."""

    VALIDATIONS = (
        Rule(
            "!has(self.serviceAccountName) || (has(self.provider) && "
            "(self.provider == 'azure' || self.provider == 'aws'))",
            "spec.serviceAccountName can only be set when spec.provider is 'azure' or 'aws'",
            _git_sa_ok,
        ),
    )

    url: str = field(
        doc="Address of the repository: http://, https:// or ssh://.",
        required=True,
        pattern=r"^(http|https|ssh)://.*$",
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret with credentials: 'username' and 'password' or 'bearerToken' for HTTPS "
        "(optionally 'ca.crt', 'tls.crt', 'tls.key'); 'identity' and 'known_hosts' (optionally "
        "'password') for SSH."
    )
    provider: str | None = field(
        doc="Who authenticates: generic (the secretRef, the default), or a cloud provider's "
        "workload identity.",
        enum=("generic", "aws", "azure", "github"),
    )
    service_account_name: str | None = field(
        doc="ServiceAccount whose workload identity authenticates (azure and aws providers)."
    )
    interval: str = duration(doc="How often to check the repository for changes.", required=True)
    timeout: str | None = duration(
        doc="Timeout of Git operations (clone, fetch).", default="60s", hours=False
    )
    ref: GitRepositoryRef | None = field(
        doc="The reference to check out; branch 'master' by default."
    )
    verify: GitRepositoryVerification | None = field(
        doc="Verify signatures of the checked-out commit or tag."
    )
    proxy_secret_ref: LocalObjectReference | None = field(doc=_PROXY_DOC)
    ignore: str | None = field(doc=_IGNORE_DOC)
    suspend: bool | None = field(doc=_SUSPEND_DOC)
    recurse_submodules: bool | None = field(doc="Also clone the repository's submodules.")
    include: list[GitRepositoryInclude] | None = field(
        doc="Other GitRepositories whose content is copied into this artifact; a change in "
        "one of them produces a new artifact here."
    )
    sparse_checkout: list[str] | None = field(
        doc="Only check out these directories; the artifact contains only them."
    )


class GitRepositoryStatus(ReconcileStatus):
    """What source-controller observed for a GitRepository."""

    artifact: Artifact | None = field(doc="The last artifact produced (a tarball of the checkout).")
    url: str | None = field(
        doc="Download address of the latest artifact (latest.tar.gz); legacy, use artifact.url."
    )
    included_artifacts: list[Artifact] | None = field(
        doc="The artifacts of the included repositories used for the current artifact."
    )
    observed_ignore: str | None = field(doc="spec.ignore as used for the current artifact.")
    observed_recurse_submodules: bool | None = field(
        doc="spec.recurseSubmodules as used for the current artifact."
    )
    observed_include: list[GitRepositoryInclude] | None = field(
        doc="spec.include as used for the current artifact."
    )
    observed_sparse_checkout: list[str] | None = field(
        doc="spec.sparseCheckout as used for the current artifact."
    )
    source_verification_mode: str | None = field(
        doc="The verification mode last used (HEAD, Tag or TagAndHEAD)."
    )


class GitRepository(Resource):
    """A Git repository source."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "GitRepository"
    PLURAL = "gitrepositories"
    SHORT_NAMES = ("gitrepo",)
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        _URL_COLUMN,
        AGE_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        _REVISION_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "GitRepository fetches a Git repository at a branch, tag, semver range or commit and "
        "publishes the checkout as an artifact."
    )
    DEFAULT_TIMEOUT = 60.0

    spec: GitRepositorySpec = field(doc="What to fetch and how.", required=True)
    status: GitRepositoryStatus = field(
        doc=_STATUS_DOC, default={"observedGeneration": -1}, python_default=False
    )

    #: The branch checked out when spec.ref says nothing.
    DEFAULT_BRANCH: ClassVar[str] = "master"


# --- OCIRepository ------------------------------------------------------------------------------


class OCIRepositoryRef(Model):
    """Which artifact of the OCI repository to pull; digest wins over semver, semver over tag."""

    digest: str | None = field(doc="Digest to pull, as sha256:<hex>.")
    semver: str | None = field(doc="Semver range; the highest matching tag is pulled.")
    semver_filter: str | None = field(
        doc="Regular expression the tags must match before the semver range is applied."
    )
    tag: str | None = field(doc="Tag to pull; 'latest' when nothing is given.")


class OCILayerSelector(Model):
    """Which layer of the artifact to use and what to do with it."""

    media_type: str | None = field(
        doc="Media type of the layer to select; the first layer when left out."
    )
    operation: str | None = field(
        doc="extract (unpack the tarball, the default) or copy (store the layer as is).",
        enum=("extract", "copy"),
    )


class OIDCIdentityMatch(Model):
    """Identity a keyless signature's certificate must have."""

    issuer: str = field(doc="Regular expression for the OIDC issuer.", required=True)
    subject: str = field(doc="Regular expression for the certificate subject.", required=True)


class ChartVerification(Model):
    """How to verify the signature of an OCI artifact (a chart's, for HelmChart)."""

    provider: str = field(
        doc="Signing technology: cosign or notation.",
        required=True,
        enum=("cosign", "notation"),
        default="cosign",
    )
    secret_ref: LocalObjectReference | None = field(doc="Secret with the trusted public keys.")
    match_oidc_identity: list[OIDCIdentityMatch] | None = field(
        "matchOIDCIdentity",
        doc="For keyless signatures: identities to accept (any one may match).",
    )


class OCIRepositoryVerification(ChartVerification):
    """How to verify the signature of an OCI artifact."""

    trusted_root_secret_ref: LocalObjectReference | None = field(
        doc="For keyless signatures: a Secret with the Sigstore trusted root "
        "(trusted_root.json) of a private instance; signatures must carry their Rekor "
        "bundle (afflux does not look them up in Rekor online).",
    )


class OCIRepositorySpec(Model):
    """What to pull from an OCI repository and how often."""

    url: str = field(
        doc="Address of the OCI repository, oci://host[:port]/path.",
        required=True,
        pattern=r"^oci://.*$",
    )
    ref: OCIRepositoryRef | None = field(doc="Which artifact to pull; tag 'latest' by default.")
    layer_selector: OCILayerSelector | None = field(
        doc="Which layer to use; the first one by default."
    )
    provider: str | None = field(
        doc="Who authenticates: generic (secretRef) or a cloud provider's workload identity.",
        enum=("generic", "aws", "azure", "gcp"),
        default="generic",
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret of type kubernetes.io/dockerconfigjson with registry credentials."
    )
    verify: OCIRepositoryVerification | None = field(doc="Verify the artifact's signature.")
    service_account_name: str | None = field(
        doc="ServiceAccount whose image pull secrets are used for the registry."
    )
    cert_secret_ref: LocalObjectReference | None = field(doc=_CERT_DOC)
    proxy_secret_ref: LocalObjectReference | None = field(doc=_PROXY_DOC)
    interval: str = duration(doc="How often to check the repository for changes.", required=True)
    timeout: str | None = duration(
        doc="Timeout of registry operations.", default="60s", hours=False
    )
    ignore: str | None = field(doc=_IGNORE_DOC)
    insecure: bool | None = field(doc="Allow plain HTTP to the registry.")
    suspend: bool | None = field(doc=_SUSPEND_DOC)


class OCIRepositoryStatus(ReconcileStatus):
    """What source-controller observed for an OCIRepository."""

    url: str | None = field(doc="Download address of the latest artifact (latest.tar.gz).")
    artifact: Artifact | None = field(
        doc="The last artifact produced; its revision is <tag>@sha256:<manifest digest>."
    )
    observed_ignore: str | None = field(doc="spec.ignore as used for the current artifact.")
    observed_layer_selector: OCILayerSelector | None = field(
        doc="spec.layerSelector as used for the current artifact."
    )


class OCIRepository(Resource):
    """An OCI repository source."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "OCIRepository"
    PLURAL = "ocirepositories"
    SHORT_NAMES = ("ocirepo",)
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        _URL_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        AGE_COLUMN,
        _REVISION_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "OCIRepository pulls an artifact from an OCI registry at a tag, semver range or "
        "digest and publishes its content as an artifact."
    )
    DEFAULT_TIMEOUT = 60.0

    spec: OCIRepositorySpec = field(doc="What to pull and how.", required=True)
    status: OCIRepositoryStatus = field(
        doc=_STATUS_DOC, default={"observedGeneration": -1}, python_default=False
    )


# --- HelmRepository -------------------------------------------------------------------------------


class HelmRepositorySpec(Model):
    """A Helm chart repository: an HTTP(S) index, or an OCI registry."""

    url: str = field(
        doc="Address of the repository: http(s):// for an index, oci:// for a registry.",
        required=True,
        pattern=r"^(http|https|oci)://.*$",
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret with credentials: 'username' and 'password', or a dockerconfigjson for OCI."
    )
    cert_secret_ref: LocalObjectReference | None = field(doc=_CERT_DOC)
    pass_credentials: bool | None = field(
        doc="Send the credentials also to hosts other than the repository's (chart URLs in "
        "the index may point elsewhere)."
    )
    interval: str | None = duration(doc="How often to download the index; 1m when left out.")
    insecure: bool | None = field(doc="Allow plain HTTP to an OCI registry (type oci only).")
    timeout: str | None = duration(
        doc="Timeout of index downloads and registry operations; 60s when left out.", hours=False
    )
    suspend: bool | None = field(doc=_SUSPEND_DOC)
    access_from: AccessFrom | None = field(doc="Namespaces allowed to refer to this repository.")
    type: str | None = field(
        doc="default for an HTTP(S) index, oci for an OCI registry (oci:// URL).",
        enum=("default", "oci"),
    )
    provider: str | None = field(
        doc="For type oci: who authenticates, generic (secretRef) or a cloud provider.",
        enum=("generic", "aws", "azure", "gcp"),
        default="generic",
    )


class HelmRepositoryStatus(ReconcileStatus):
    """What source-controller observed for a HelmRepository."""

    url: str | None = field(doc="Download address of the latest index (index.yaml).")
    artifact: Artifact | None = field(
        doc="The last index stored; its revision is the sha256 of the normalised index."
    )


class HelmRepository(Resource):
    """A Helm repository source."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "HelmRepository"
    PLURAL = "helmrepositories"
    SHORT_NAMES = ("helmrepo",)
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        _URL_COLUMN,
        AGE_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        _REVISION_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "HelmRepository keeps the index of a Helm chart repository (or points at an OCI "
        "registry of charts) for HelmCharts to use."
    )
    DEFAULT_INTERVAL = 60.0
    DEFAULT_TIMEOUT = 60.0

    spec: HelmRepositorySpec = field(
        doc="Where the repository is and how to reach it.", required=True
    )
    status: HelmRepositoryStatus = field(
        doc=_STATUS_DOC, default={"observedGeneration": -1}, python_default=False
    )

    @property
    def is_oci(self) -> bool:
        """Whether the repository is an OCI registry (no index, no artifact)."""
        return self.spec.type == "oci"


# --- HelmChart ------------------------------------------------------------------------------------


class LocalHelmChartSourceReference(Model):
    """The source, in the same namespace, the chart comes from."""

    api_version: str | None = field(doc="API version of the source.")
    kind: str = field(
        doc="Kind of the source.",
        required=True,
        enum=("HelmRepository", "GitRepository", "Bucket"),
    )
    name: str = field(doc="Name of the source.", required=True)


class HelmChartSpec(Model):
    """Which chart to build from which source."""

    chart: str = field(
        doc="Chart name in a HelmRepository, or path to the chart in a GitRepository or Bucket.",
        required=True,
    )
    version: str | None = field(
        doc="Semver range of chart versions (HelmRepository only); the latest by default.",
        default="*",
    )
    source_ref: LocalHelmChartSourceReference = field(doc="The source of the chart.", required=True)
    interval: str = duration(doc="How often to check the source for a new chart.", required=True)
    reconcile_strategy: str | None = field(
        doc="What makes a new artifact: ChartVersion (a new chart version) or Revision (a new "
        "source revision).",
        enum=("ChartVersion", "Revision"),
        default="ChartVersion",
    )
    values_files: list[str] | None = field(
        doc="Values files in the source, merged in order into the chart's default values."
    )
    values_file: str | None = field(
        doc="Deprecated: a single values file, merged before valuesFiles."
    )
    ignore_missing_values_files: bool | None = field(
        doc="Skip values files that do not exist instead of failing."
    )
    suspend: bool | None = field(doc=_SUSPEND_DOC)
    access_from: AccessFrom | None = field(doc="Namespaces allowed to refer to this chart.")
    verify: ChartVerification | None = field(
        doc="Verify the chart's signature (OCI HelmRepository sources only)."
    )


class HelmChartStatus(ReconcileStatus):
    """What source-controller observed for a HelmChart."""

    observed_source_artifact_revision: str | None = field(
        doc="The source's artifact revision the current chart was built from."
    )
    observed_chart_name: str | None = field(doc="The chart name of the current artifact.")
    observed_values_files: list[str] | None = field(
        doc="The values files merged into the current artifact."
    )
    url: str | None = field(doc="Download address of the latest chart package.")
    artifact: Artifact | None = field(
        doc="The last chart package built; its revision is the chart version."
    )


class HelmChart(Resource):
    """A Helm chart built from a source."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "HelmChart"
    PLURAL = "helmcharts"
    SHORT_NAMES = ("hc",)
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        PrinterColumn("Chart", "string", ".spec.chart"),
        PrinterColumn("Version", "string", ".spec.version"),
        PrinterColumn("Source Kind", "string", ".spec.sourceRef.kind"),
        PrinterColumn("Source Name", "string", ".spec.sourceRef.name"),
        AGE_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        _REVISION_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "HelmChart fetches (or packages) a Helm chart from a HelmRepository, GitRepository or "
        "Bucket and publishes the chart package as an artifact."
    )

    spec: HelmChartSpec = field(doc="Which chart to build.", required=True)
    status: HelmChartStatus = field(
        doc=_STATUS_DOC, default={"observedGeneration": -1}, python_default=False
    )


# --- Bucket ---------------------------------------------------------------------------------------


class BucketSTSSpec(Model):
    """A Security Token Service that hands out temporary credentials."""

    provider: str = field(doc="aws or ldap.", required=True, enum=("aws", "ldap"))
    endpoint: str = field(
        doc="HTTP(S) address of the service.", required=True, pattern=r"^(http|https)://.*$"
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret with 'username' and 'password' (ldap only)."
    )
    cert_secret_ref: LocalObjectReference | None = field(doc=_CERT_DOC + " (ldap only)")


def _has(d: dict, key: str) -> bool:
    return key in d and d[key] is not None


_BUCKET_RULES = (
    Rule(
        "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",
        "spec.sts is only supported for the 'aws' and 'generic' spec.provider",
        lambda s: s.get("provider") in ("aws", "generic") or not _has(s, "sts"),
    ),
    Rule(
        "self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",
        "spec.sts.provider must be 'aws' when spec.provider is 'aws'",
        lambda s: (
            s.get("provider") != "aws" or not _has(s, "sts") or s["sts"].get("provider") == "aws"
        ),
    ),
    Rule(
        "self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",
        "spec.sts.provider must be 'ldap' when spec.provider is 'generic'",
        lambda s: (
            s.get("provider") != "generic"
            or not _has(s, "sts")
            or s["sts"].get("provider") == "ldap"
        ),
    ),
    Rule(
        "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)",
        "spec.sts.secretRef is not used with the 'aws' STS provider",
        lambda s: (
            not _has(s, "sts")
            or s["sts"].get("provider") != "aws"
            or not _has(s["sts"], "secretRef")
        ),
    ),
    Rule(
        "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)",
        "spec.sts.certSecretRef is not used with the 'aws' STS provider",
        lambda s: (
            not _has(s, "sts")
            or s["sts"].get("provider") != "aws"
            or not _has(s["sts"], "certSecretRef")
        ),
    ),
    Rule(
        "self.provider != 'generic' || !has(self.serviceAccountName)",
        "spec.serviceAccountName is not supported for the 'generic' spec.provider",
        lambda s: s.get("provider") != "generic" or not _has(s, "serviceAccountName"),
    ),
    Rule(
        "!has(self.secretRef) || !has(self.serviceAccountName)",
        "spec.secretRef and spec.serviceAccountName are mutually exclusive",
        lambda s: not (_has(s, "secretRef") and _has(s, "serviceAccountName")),
    ),
)


class BucketSpec(Model):
    """Which bucket to download and how to authenticate."""

    VALIDATIONS = _BUCKET_RULES

    provider: str | None = field(
        doc="generic for any S3-compatible storage (secret keys 'accesskey' and 'secretkey'), "
        "or aws, gcp, azure.",
        enum=("generic", "aws", "gcp", "azure"),
        default="generic",
    )
    bucket_name: str = field(doc="Name of the bucket.", required=True)
    endpoint: str = field(doc="Address of the object storage (host[:port]).", required=True)
    sts: BucketSTSSpec | None = field(
        doc="Fetch temporary credentials from a Security Token Service."
    )
    insecure: bool | None = field(doc="Use plain HTTP to the endpoint.")
    region: str | None = field(doc="Region of the bucket.")
    prefix: str | None = field(doc="Only download objects whose keys start with this prefix.")
    secret_ref: LocalObjectReference | None = field(doc="Secret with the credentials.")
    service_account_name: str | None = field(
        doc="ServiceAccount whose workload identity authenticates (aws and gcp)."
    )
    cert_secret_ref: LocalObjectReference | None = field(doc=_CERT_DOC + " (generic provider only)")
    proxy_secret_ref: LocalObjectReference | None = field(doc=_PROXY_DOC)
    interval: str = duration(doc="How often to check the bucket for changes.", required=True)
    timeout: str | None = duration(doc="Timeout of bucket operations.", default="60s", hours=False)
    ignore: str | None = field(
        doc=_IGNORE_DOC + " (only a .sourceignore at the bucket root is read)"
    )
    suspend: bool | None = field(doc=_SUSPEND_DOC)


class BucketStatus(ReconcileStatus):
    """What source-controller observed for a Bucket."""

    url: str | None = field(doc="Download address of the latest artifact.")
    artifact: Artifact | None = field(
        doc="The last artifact produced; its revision is sha256 over the object keys and etags."
    )
    observed_ignore: str | None = field(doc="spec.ignore as used for the current artifact.")


class Bucket(Resource):
    """An object-storage bucket source."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "Bucket"
    PLURAL = "buckets"
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        PrinterColumn("Endpoint", "string", ".spec.endpoint"),
        AGE_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        _REVISION_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "Bucket downloads the objects of an S3-compatible (or GCS, Azure Blob) bucket and "
        "publishes them as an artifact."
    )
    DEFAULT_TIMEOUT = 60.0

    spec: BucketSpec = field(doc="Which bucket to download.", required=True)
    status: BucketStatus = field(
        doc=_STATUS_DOC, default={"observedGeneration": -1}, python_default=False
    )


# --- ExternalArtifact -------------------------------------------------------------------------


class ExternalArtifactSpec(Model):
    """Who produces the artifact."""

    source_ref: NamespacedObjectKindReference | None = field(
        doc="The object that produces this artifact (an ArtifactGenerator, or a third-party "
        "controller's object)."
    )


class ExternalArtifactStatus(ReconcileStatus):
    """The artifact, written by its producer."""

    artifact: Artifact | None = field(
        doc="The artifact the producer stored; consumers download it and verify its digest."
    )


class ExternalArtifact(Resource):
    """An artifact produced outside source-controller's own kinds (Flux 2.7+)."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "ExternalArtifact"
    PLURAL = "externalartifacts"
    SHORT_NAMES = ("ea",)
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        AGE_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        PrinterColumn("Source", "string", ".spec.sourceRef.name"),
        _REVISION_COLUMN,
    )
    DESCRIPTION = (
        "ExternalArtifact is an artifact another controller produced (an ArtifactGenerator, "
        "for one); Kustomizations and HelmReleases can use it as their source."
    )

    spec: ExternalArtifactSpec = field(doc="Who produces the artifact.", required=True)
    status: ExternalArtifactStatus = field(
        doc="The artifact, written by its producer.", default={"observedGeneration": -1},
        python_default=False,
    )
