"""image.toolkit.fluxcd.io/v1 (also served as v1beta2): ImageRepository, ImagePolicy,
ImageUpdateAutomation.

ImageRepository scans a registry for tags; ImagePolicy picks the latest tag by a semver,
alphabetical or numerical rule; ImageUpdateAutomation rewrites the setter-marked image
references in a Git repository and pushes a commit.

Manifests written for v1beta2 apply unchanged: both versions are served with one superset
schema, so ImagePolicy's status carries the v1 `latestRef` and the v1beta2 `latestImage`.
"""

from __future__ import annotations

from typing import ClassVar

from . import _meta
from ._common import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    AccessFrom,
    LabelSelector,
    LocalObjectReference,
    NamespacedObjectReference,
    PrinterColumn,
    ReconcileStatus,
    Resource,
)
from ._duration import parse_duration
from ._model import Model, Rule, duration, field
from ._source_v1 import GitRepositoryRef

__all__ = [
    "AlphabeticalPolicy",
    "CommitSpec",
    "CommitUser",
    "GitCheckoutSpec",
    "GitSpec",
    "ImagePolicy",
    "ImagePolicyChoice",
    "ImagePolicySpec",
    "ImagePolicyStatus",
    "ImageRef",
    "ImageRepository",
    "ImageRepositorySpec",
    "ImageRepositoryStatus",
    "ImageUpdateAutomation",
    "ImageUpdateAutomationSpec",
    "ImageUpdateAutomationStatus",
    "NumericalPolicy",
    "PushSpec",
    "ScanResult",
    "SemVerPolicy",
    "SigningKey",
    "SourceReference",
    "TagFilter",
    "UpdateStrategy",
]

GROUP = _meta.IMAGE_GROUP
VERSION = "v1"
SERVED = ("v1", "v1beta2")
_CATEGORIES = (
    _meta.CATEGORY_ALL,
    _meta.CATEGORY_FLUXCD,
    _meta.CATEGORY_IMAGES,
    _meta.CATEGORY_FLUX,
)
_SUSPENDED_COLUMN = PrinterColumn("Suspended", "boolean", ".spec.suspend", priority=1)

#: Tags ImageRepository leaves out when spec.exclusionList is not given (cosign signatures).
DEFAULT_EXCLUSION_LIST = ("^.*\\.sig$",)


# --- ImageRepository ----------------------------------------------------------------------------


class ImageRepositorySpec(Model):
    """Which image repository to scan and how."""

    image: str = field(
        doc="The image repository, without scheme or tag, e.g. ghcr.io/stefanprodan/podinfo.",
        required=True,
    )
    interval: str = duration(doc="How often to scan for tags.", required=True)
    timeout: str | None = duration(doc="Timeout of a scan; the interval by default.", hours=False)
    secret_ref: LocalObjectReference | None = field(
        doc="Secret of type kubernetes.io/dockerconfigjson with registry credentials."
    )
    proxy_secret_ref: LocalObjectReference | None = field(
        doc="Secret with the proxy to use ('address', optionally 'username' and 'password')."
    )
    service_account_name: str | None = field(
        doc="ServiceAccount whose image pull secrets are used.", max_length=253
    )
    cert_secret_ref: LocalObjectReference | None = field(
        doc="Secret with 'ca.crt' and/or 'tls.crt' + 'tls.key' for the registry connection."
    )
    suspend: bool | None = field(doc="Stop scanning until set back to false.")
    access_from: AccessFrom | None = field(
        doc="Namespaces whose ImagePolicies may refer to this repository."
    )
    exclusion_list: list[str] | None = field(
        doc="Regular expressions of tags to leave out of the scan result.",
        default=list(DEFAULT_EXCLUSION_LIST),
        max_items=25,
    )
    provider: str | None = field(
        doc="Who authenticates: generic (secretRef) or a cloud provider's workload identity.",
        enum=("generic", "aws", "azure", "gcp"),
        default="generic",
    )
    insecure: bool | None = field(doc="Allow plain HTTP to the registry.")


class ScanResult(Model):
    """What the last scan found."""

    revision: str | None = field(doc="A stable digest of the tags found.")
    tag_count: int = field(doc="How many tags were found.", required=True)
    scan_time: str | None = field(doc="When the scan ran.", format="date-time")
    latest_tags: list[str] | None = field(
        doc="A sample of the tags: the first 10 in descending alphabetical order."
    )


class ImageRepositoryStatus(ReconcileStatus):
    """What image-reflector-controller observed."""

    canonical_image_name: str | None = field(
        doc="The image name with the implied parts made explicit, e.g. docker.io/library/alpine."
    )
    last_scan_result: ScanResult | None = field(doc="The result of the last scan.")
    observed_exclusion_list: list[str] | None = field(
        doc="The exclusion list used for the last scan."
    )


class ImageRepository(Resource):
    """An image repository whose tags are scanned."""

    GROUP = GROUP
    VERSION = VERSION
    SERVED_VERSIONS = SERVED
    KIND = "ImageRepository"
    PLURAL = "imagerepositories"
    SHORT_NAMES = ("imgrepo", "imagerepo")
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        PrinterColumn("Image", "string", ".spec.image"),
        PrinterColumn("Tags", "integer", ".status.lastScanResult.tagCount"),
        READY_COLUMN,
        STATUS_COLUMN,
        PrinterColumn("Last scan", "string", ".status.lastScanResult.scanTime", priority=1),
        AGE_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "ImageRepository scans a container image repository for tags and keeps the list "
        "for ImagePolicies to choose from."
    )

    spec: ImageRepositorySpec = field(doc="Which repository to scan.", required=True)
    status: ImageRepositoryStatus = field(
        doc="The observed state, written by image-reflector-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )

    @property
    def timeout(self) -> float | None:
        """spec.timeout, or the interval; at least one second."""
        seconds = parse_duration(self.spec.timeout) if self.spec.timeout else (self.interval or 0.0)
        return max(seconds, 1.0)

    @property
    def exclusion_list(self) -> list[str]:
        """spec.exclusionList, or the default (signature tags)."""
        return list(self.spec.exclusion_list or DEFAULT_EXCLUSION_LIST)


# --- ImagePolicy ------------------------------------------------------------------------------------


class SemVerPolicy(Model):
    """Pick the highest tag that is a version in a range."""

    range: str = field(doc="Semver range, e.g. '>=1.0.0 <2.0.0' or '5.x'.", required=True)


class AlphabeticalPolicy(Model):
    """Pick a tag by alphabetical order."""

    order: str | None = field(
        doc="asc picks the last tag in alphabetical order (Z over A), desc the first.",
        enum=("asc", "desc"),
        default="asc",
    )


class NumericalPolicy(Model):
    """Pick a tag by numerical order."""

    order: str | None = field(
        doc="asc picks the highest number, desc the lowest.", enum=("asc", "desc"), default="asc"
    )


def _exactly_one_policy(policy: dict) -> bool:
    return sum(1 for k in ("semver", "alphabetical", "numerical") if k in policy) == 1


class ImagePolicyChoice(Model):
    """The rule that picks the latest tag; exactly one must be given."""

    VALIDATIONS = (
        Rule(
            "(has(self.semver) ? 1 : 0) + (has(self.alphabetical) ? 1 : 0) + "
            "(has(self.numerical) ? 1 : 0) == 1",
            "exactly one of spec.policy.semver, spec.policy.alphabetical or "
            "spec.policy.numerical must be set",
            _exactly_one_policy,
        ),
    )

    semver: SemVerPolicy | None = field(doc="Pick the highest version in a semver range.")
    alphabetical: AlphabeticalPolicy | None = field(doc="Pick by alphabetical order.")
    numerical: NumericalPolicy | None = field(doc="Pick by numerical order.")


class TagFilter(Model):
    """Keep only the tags matching a pattern, optionally comparing a part of them."""

    pattern: str | None = field(doc="Regular expression the tags must match.")
    extract: str | None = field(
        doc="What to compare instead of the whole tag: a replacement with the pattern's "
        "capture groups, e.g. '$ts'."
    )


class ImageRef(Model):
    """An image reference split into its parts."""

    name: str = field(doc="The image name, without tag or digest.", required=True)
    tag: str = field(doc="The tag.", required=True)
    digest: str | None = field(doc="The digest of the tag, when it was looked up.")

    def __str__(self) -> str:
        ref = f"{self.name}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


def _interval_only_with_always(spec: dict) -> bool:
    return "interval" not in spec or spec.get("digestReflectionPolicy") == "Always"


def _interval_with_always(spec: dict) -> bool:
    return "interval" in spec or spec.get("digestReflectionPolicy") != "Always"


class ImagePolicySpec(Model):
    """Which repository to choose a tag from, and how."""

    VALIDATIONS = (
        Rule(
            "!has(self.interval) || (has(self.digestReflectionPolicy) && "
            "self.digestReflectionPolicy == 'Always')",
            "spec.interval is only accepted when spec.digestReflectionPolicy is 'Always'",
            _interval_only_with_always,
        ),
        Rule(
            "has(self.interval) || !has(self.digestReflectionPolicy) || "
            "self.digestReflectionPolicy != 'Always'",
            "spec.interval must be set when spec.digestReflectionPolicy is 'Always'",
            _interval_with_always,
        ),
    )

    image_repository_ref: NamespacedObjectReference = field(
        doc="The ImageRepository whose tags are considered.", required=True
    )
    policy: ImagePolicyChoice = field(doc="The rule that picks the latest tag.", required=True)
    filter_tags: TagFilter | None = field(doc="Consider only the tags matching a pattern.")
    digest_reflection_policy: str | None = field(
        doc="When to record the digest of the chosen tag: Never, IfNotPresent or Always.",
        enum=("Always", "IfNotPresent", "Never"),
        default="Never",
    )
    interval: str | None = duration(
        doc="How often to refresh the digest when digestReflectionPolicy is Always."
    )
    suspend: bool | None = field(doc="Stop reconciling until set back to false.")


class ImagePolicyStatus(ReconcileStatus):
    """The chosen image, in the v1 form (latestRef) and the v1beta2 form (latestImage)."""

    latest_ref: ImageRef | None = field(doc="The latest image according to the policy.")
    observed_previous_ref: ImageRef | None = field(doc="The latestRef before the last change.")
    latest_image: str | None = field(doc="v1beta2 form of latestRef: <name>:<tag>.")
    observed_previous_image: str | None = field(doc="v1beta2 form of observedPreviousRef.")


class ImagePolicy(Resource):
    """A rule that picks the latest image tag of an ImageRepository."""

    GROUP = GROUP
    VERSION = VERSION
    SERVED_VERSIONS = SERVED
    KIND = "ImagePolicy"
    PLURAL = "imagepolicies"
    SHORT_NAMES = ("imgpol", "imagepol")
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        PrinterColumn("Image", "string", ".status.latestRef.name"),
        PrinterColumn("Tag", "string", ".status.latestRef.tag"),
        READY_COLUMN,
        STATUS_COLUMN,
        AGE_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "ImagePolicy picks the latest tag of an ImageRepository by a semver range or an "
        "alphabetical or numerical order."
    )
    #: Digest refresh interval when digestReflectionPolicy is Always and interval is left out.
    DEFAULT_DIGEST_INTERVAL: ClassVar[float] = 600.0

    spec: ImagePolicySpec = field(doc="Where to choose from and how.", required=True)
    status: ImagePolicyStatus = field(
        doc="The observed state, written by image-reflector-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )


# --- ImageUpdateAutomation ----------------------------------------------------------------------------


class SourceReference(Model):
    """The GitRepository to update."""

    api_version: str | None = field(doc="API version of the source.")
    kind: str = field(
        doc="Kind of the source; only GitRepository.",
        required=True,
        enum=("GitRepository",),
        default="GitRepository",
    )
    name: str = field(doc="Name of the GitRepository.", required=True)
    namespace: str | None = field(
        doc="Namespace of the GitRepository; the automation's by default."
    )


class GitCheckoutSpec(Model):
    """What to check out before updating."""

    ref: GitRepositoryRef = field(doc="The reference to check out.", required=True)


class CommitUser(Model):
    """Author of the commits."""

    name: str | None = field(doc="Author name.")
    email: str = field(doc="Author email.", required=True)


class SigningKey(Model):
    """Key used to sign the commits."""

    secret_ref: LocalObjectReference = field(
        doc="Secret with the key: 'git.asc' (and optionally 'passphrase') for gpg, 'identity' "
        "(and optionally 'password') for ssh.",
        required=True,
    )
    type: str | None = field(doc="gpg (the default) or ssh.", enum=("gpg", "ssh"))


class CommitSpec(Model):
    """How to write the commit."""

    author: CommitUser = field(doc="The commit author.", required=True)
    signing_key: SigningKey | None = field(doc="Sign the commits with this key.")
    message_template: str | None = field(
        doc="Go template of the commit message; it sees .AutomationObject, .Changed and .Values."
    )
    message_template_values: dict[str, str] | None = field(
        doc="Values the template sees as .Values."
    )


class PushSpec(Model):
    """Where to push the commits."""

    branch: str | None = field(
        doc="Branch to push to; created from the checkout branch when it does not exist."
    )
    refspec: str | None = field(
        doc="Refspec to push with (no deletes, no forced updates).", pattern=r"^$|^[^+:]"
    )
    options: dict[str, str] | None = field(doc="Push options to send to the server.")


class GitSpec(Model):
    """The Git side of the automation."""

    checkout: GitCheckoutSpec | None = field(
        doc="What to check out; the GitRepository's own ref by default."
    )
    commit: CommitSpec = field(doc="How to commit.", required=True)
    push: PushSpec | None = field(doc="Where to push; the checkout branch by default.")


class UpdateStrategy(Model):
    """How to update the files."""

    strategy: str | None = field(
        doc='Setters: rewrite the values marked with {"$imagepolicy": "<ns>:<name>"} comments.',
        enum=("Setters",),
        default="Setters",
    )
    path: str | None = field(doc="Directory to update; the repository root by default.")


class ImageUpdateAutomationSpec(Model):
    """Which repository to update, how often, and how to commit."""

    source_ref: SourceReference = field(doc="The GitRepository to update.", required=True)
    git: GitSpec | None = field(doc="Checkout, commit and push settings.")
    interval: str = duration(doc="How often to run the automation.", required=True)
    policy_selector: LabelSelector | None = field(
        doc="Which ImagePolicies to apply; all in the namespace by default."
    )
    update: UpdateStrategy | None = field(
        doc="How to update the files; the Setters strategy by default.",
        default={"strategy": "Setters"},
    )
    suspend: bool | None = field(doc="Stop running until set back to false.")


class ImageUpdateAutomationStatus(ReconcileStatus):
    """What image-automation-controller did."""

    last_automation_run_time: str | None = field(
        doc="When the automation last ran to completion.", format="date-time"
    )
    last_push_commit: str | None = field(doc="SHA-1 of the last commit pushed.")
    last_push_time: str | None = field(doc="When the last commit was pushed.", format="date-time")
    observed_policies: dict[str, ImageRef] | None = field(
        doc="The ImagePolicies applied by the last run, with the image each chose."
    )
    observed_source_revision: str | None = field(doc="The source revision the last run saw.")


class ImageUpdateAutomation(Resource):
    """An automation that writes the latest images into a Git repository."""

    GROUP = GROUP
    VERSION = VERSION
    SERVED_VERSIONS = SERVED
    KIND = "ImageUpdateAutomation"
    PLURAL = "imageupdateautomations"
    SHORT_NAMES = ("iua", "imgupd", "imgauto")
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (
        READY_COLUMN,
        STATUS_COLUMN,
        PrinterColumn("Last run", "string", ".status.lastAutomationRunTime", priority=1),
        AGE_COLUMN,
        _SUSPENDED_COLUMN,
    )
    DESCRIPTION = (
        "ImageUpdateAutomation rewrites the image references marked with setter comments in a "
        "Git repository to the images its ImagePolicies chose, then commits and pushes."
    )

    spec: ImageUpdateAutomationSpec = field(doc="What to update and how.", required=True)
    status: ImageUpdateAutomationStatus = field(
        doc="The observed state, written by image-automation-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )
