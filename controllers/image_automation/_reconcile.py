"""ImageUpdateAutomation reconcile: write the latest images into Git, commit, push.

Phases (`AutomationReconcile.phases`):

1. `check_spec`: what only a spec change can fix stalls the object at once:
   `spec.sourceRef.kind` other than GitRepository, a cross-namespace source with
   `--no-cross-namespace-refs` (`AccessDenied`), no `spec.git.commit.author.email`
   (`InvalidSourceConfiguration`), a strategy other than Setters (`InvalidUpdateStrategy`),
   an invalid `spec.policySelector` (`InvalidPolicySelector`), a commit message template
   that does not parse (`UpdateFailed`).
2. `automate`:
   - `status.lastAutomationRunTime` is set on every run, as in Flux;
   - the GitRepository of `spec.sourceRef` (not found: Ready=False, retried) gives the URL,
     the credentials (`GitCredentials.from_secret` of its `spec.secretRef`), the timeout
     (`spec.timeout`, 60s) and the default checkout ref (`spec.ref`);
     `spec.git.checkout.ref` overrides the ref;
   - the ImagePolicies of the automation's namespace that `spec.policySelector` selects
     (all without one) and that have a latest image are the setters' input, keyed
     `<namespace>:<name>`; `status.observedPolicies` maps their names to {name, tag, digest};
   - `run_decision` says whether to run: a run is skipped ("no change since last
     reconciliation", Ready stays `repository up-to-date`) when the policies' images and
     the checkout's remote revision (one `ls-remote`) equal `status.observedPolicies` and
     `status.observedSourceRevision`, unless the spec changed, a reconcile was requested,
     the last run failed, or the push goes to another branch or a refspec (always run,
     as Flux);
   - the run (`_gitops.run_automation`, in a worker thread): clone, apply the setters under
     `spec.update.path`, commit as `spec.git.commit.author` with the rendered
     `messageTemplate` (and `messageTemplateValues`), signed with the key of
     `spec.git.commit.signingKey` if any (type `gpg`, the default: an OpenPGP key in
     `git.asc`, its passphrase in `passphrase`; type `ssh`: an OpenSSH private key in
     `identity`, its passphrase in `password`, as a GitRepository's SSH Secret, so one
     Secret can serve both; a key that cannot sign stalls the object with
     `SourceManagerFailed`, before anything is cloned), push to the push
     branch / refspec with `spec.git.push.options`. Nothing changed: no commit. A template
     that fails to render stalls before anything is committed; a push that is refused
     fails the run with nothing pushed (a rejected non-fast-forward push is redone on top
     of the new head, keeping the other commit);
   - after a push: `status.lastPushCommit`, `status.lastPushTime`, and a Normal event
     `pushed commit '<short sha>' to branch '<branch>'` followed by the commit message
     (metadata `revision`); `status.observedSourceRevision` is the pushed commit when the
     push went to the checkout branch, else the checkout's revision.

Failures: `GitOperationFailed` ("failed to checkout source: ..." / "failed to update
source: ..."), `UpdateFailed` (setters), `AccessDenied`, `InvalidSourceConfiguration`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import pygit2

from afflux.api import GitRepository, ImageUpdateAutomation
from afflux.api._meta import (
    ACCESS_DENIED,
    DEPENDENCY_NOT_READY,
    GIT_OPERATION_FAILED,
    IMAGE_GROUP,
    INVALID_SOURCE_CONFIGURATION,
    SOURCE_GROUP,
    SOURCE_MANAGER_FAILED,
    SUCCEEDED,
    UPDATE_FAILED,
)
from afflux.controllers.runtime import (
    GenericError,
    GitAuthError,
    GitCallbacks,
    GitCredentials,
    GitError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    Resource,
    StallingError,
    WaitingError,
    parse_duration,
    redact_url,
    translate_git_error,
)

from ._gitops import (
    DEFAULT_BRANCH,
    AutomationOutcome,
    CheckoutRef,
    CommitAuthor,
    PushSpec,
    SigningKey,
    SSHSigningKey,
    run_automation,
)
from ._setters import Result, SetterError, update_with_setters
from ._sshsig import SSHKeyError, load_private_key
from ._template import (
    NamespacedName,
    TemplateData,
    render_commit_message,
    validate_commit_template,
)

__all__ = [
    "GIT_REPOSITORY",
    "IMAGE_POLICY",
    "IMAGE_UPDATE_AUTOMATION",
    "READY_MESSAGE",
    "AutomationReconcile",
    "RunDecision",
    "RunState",
    "automation_reconciler",
    "automations_for_policy",
    "automations_for_source",
    "checkout_revision",
    "observed_policies",
    "policy_change_key",
    "push_message",
    "run_decision",
    "selector_matches",
    "switches_branch",
]

IMAGE_UPDATE_AUTOMATION = Resource(
    IMAGE_GROUP, "v1", "ImageUpdateAutomation", "imageupdateautomations"
)
IMAGE_POLICY = Resource(IMAGE_GROUP, "v1", "ImagePolicy", "imagepolicies")
GIT_REPOSITORY = Resource(SOURCE_GROUP, "v1", "GitRepository", "gitrepositories")
SECRETS = Resource("", "v1", "Secret", "secrets")

#: Ready message of an automation that ran (or had nothing to run), as Flux's.
READY_MESSAGE = "repository up-to-date"
#: What the log says when a run is skipped (Flux's trace event).
SKIPPED_MESSAGE = "no change since last reconciliation"
INVALID_POLICY_SELECTOR = "InvalidPolicySelector"
INVALID_UPDATE_STRATEGY = "InvalidUpdateStrategy"
DEFAULT_GIT_TIMEOUT = 60.0

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


# --- pure decisions ---------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a Kubernetes label selector (None or empty: everything).
    Raises ValueError for an operator Kubernetes does not know, or values that do not fit it."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key") or "", expr.get("operator") or ""
        values = list(expr.get("values") or [])
        if op not in _SELECTOR_OPERATORS:
            raise ValueError(
                f"matchExpressions operator '{op}' of key '{key}' must be one of "
                + ", ".join(_SELECTOR_OPERATORS)
            )
        if op in ("In", "NotIn") and not values:
            raise ValueError(f"matchExpressions operator '{op}' of key '{key}' needs values")
        if op in ("Exists", "DoesNotExist") and values:
            raise ValueError(f"matchExpressions operator '{op}' of key '{key}' takes no values")
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def latest_image_of(policy: Mapping[str, Any]) -> dict[str, str] | None:
    """An ImagePolicy body's latest image as {name, tag[, digest]}: `status.latestRef`, else
    the v1beta2 `status.latestImage` (`<name>:<tag>`); None when it has none."""
    status = policy.get("status") or {}
    ref = status.get("latestRef") or {}
    if ref.get("name") and ref.get("tag"):
        image = {"name": str(ref["name"]), "tag": str(ref["tag"])}
        if ref.get("digest"):
            image["digest"] = str(ref["digest"])
        return image
    text = str(status.get("latestImage") or "")
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash and colon > 0:
        return {"name": text[:colon], "tag": text[colon + 1 :]}
    return None


def observed_policies(policies: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """`status.observedPolicies`: policy name -> its latest image (policies without one
    are left out)."""
    observed: dict[str, dict[str, str]] = {}
    for policy in policies:
        image = latest_image_of(policy)
        if image is not None:
            observed[str((policy.get("metadata") or {}).get("name"))] = image
    return observed


def setter_policies(
    namespace: str, observed: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """The setters' input: `<namespace>:<policy>` -> latest image."""
    return {f"{namespace}:{name}": dict(image) for name, image in observed.items()}


def switches_branch(checkout: CheckoutRef, push: PushSpec) -> bool:
    """Whether the push goes somewhere else than the checked-out branch (another branch,
    or a refspec): then, as in Flux, every run is a full run."""
    if push.refspec:
        return True
    if not push.branch:
        return False
    if checkout.commit or checkout.name or checkout.semver or checkout.tag:
        return True
    return push.branch != (checkout.branch or DEFAULT_BRANCH)


def checkout_revision(refs: Mapping[str, str], checkout: CheckoutRef) -> str | None:
    """The revision a checkout of `checkout` would have, from the remote's refs
    (`ls-remote`), in the form `run_automation` reports it; None when it cannot be told
    without fetching (a commit or a semver range) or the ref does not exist."""
    if checkout.commit or checkout.semver:
        return None
    if checkout.name:
        sha = refs.get(f"{checkout.name}^{{}}") or refs.get(checkout.name)
        return f"{checkout.name}@sha1:{sha}" if sha else None
    if checkout.tag:
        ref = f"refs/tags/{checkout.tag}"
        sha = refs.get(f"{ref}^{{}}") or refs.get(ref)
        return f"{checkout.tag}@sha1:{sha}" if sha else None
    branch = checkout.branch or DEFAULT_BRANCH
    sha = refs.get(f"refs/heads/{branch}")
    return f"{branch}@sha1:{sha}" if sha else None


@dataclass(frozen=True)
class RunState:
    """What decides whether an automation runs."""

    generation: int | None
    observed_generation: int | None
    requested_at: str | None
    last_handled: str | None
    last_ready: bool
    policies: Mapping[str, Mapping[str, str]]
    observed_policies: Mapping[str, Mapping[str, str]] | None
    switches_branch: bool
    source_revision: str | None
    observed_source_revision: str | None


@dataclass(frozen=True)
class RunDecision:
    run: bool
    why: str


def run_decision(state: RunState) -> RunDecision:
    """Pure: run the automation, or skip it because nothing it depends on changed."""
    if state.generation is not None and state.generation != state.observed_generation:
        return RunDecision(True, "new generation")
    if state.requested_at and state.requested_at != state.last_handled:
        return RunDecision(True, "reconcile requested")
    if not state.last_ready:
        return RunDecision(True, "last run did not succeed")
    if not state.observed_source_revision:
        return RunDecision(True, "never ran")
    if dict(state.policies) != dict(state.observed_policies or {}):
        return RunDecision(True, "image policies changed")
    if state.switches_branch:
        return RunDecision(True, "pushes to another branch or a refspec")
    if state.source_revision is None:
        return RunDecision(True, "source revision unknown")
    if state.source_revision != state.observed_source_revision:
        return RunDecision(True, "source revision changed")
    return RunDecision(False, SKIPPED_MESSAGE)


def push_message(outcome: AutomationOutcome[Any]) -> str:
    """The event message of a push: where the commit went, then the commit message."""
    commit = outcome.commit or ""
    targets = []
    if outcome.push_branch:
        targets.append(f"branch '{outcome.push_branch}'")
    targets += [f"refspec '{spec}'" for spec in outcome.refspecs]
    head = f"pushed commit '{commit[:7]}' to {' and '.join(targets)}"
    return f"{head}\n{outcome.message}" if outcome.message else head


def observed_revision(outcome: AutomationOutcome[Any], switched: bool) -> str:
    """`status.observedSourceRevision` after a run: the pushed commit when it went to the
    checkout branch (so the next run sees no change), else the checkout's revision."""
    if outcome.commit and not switched and "@sha1:" in outcome.source_revision:
        name = outcome.source_revision.rsplit("@sha1:", 1)[0]
        return f"{name}@sha1:{outcome.commit}"
    return outcome.source_revision


def policy_change_key(body: Mapping[str, Any]) -> str:
    """What an automation depends on in an ImagePolicy (a watch key): its latest image
    and its labels (which the policy selectors read)."""
    meta = body.get("metadata") or {}
    labels = sorted((meta.get("labels") or {}).items())
    return repr((latest_image_of(body), labels))


def automations_for_policy(
    policy: Mapping[str, Any], automations: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The automations an ImagePolicy change concerns: every one in its namespace (which
    policies a run uses is decided by the run)."""
    namespace = (policy.get("metadata") or {}).get("namespace") or ""
    return [
        (namespace, (a.get("metadata") or {}).get("name") or "")
        for a in automations
        if ((a.get("metadata") or {}).get("namespace") or "") == namespace
    ]


def automations_for_source(
    source: Mapping[str, Any], automations: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The automations whose `spec.sourceRef` is the GitRepository `source`."""
    meta = source.get("metadata") or {}
    wanted = (meta.get("namespace") or "", meta.get("name") or "")
    found = []
    for auto in automations:
        auto_meta = auto.get("metadata") or {}
        ref = (auto.get("spec") or {}).get("sourceRef") or {}
        ns = ref.get("namespace") or auto_meta.get("namespace") or ""
        if (ref.get("kind") or "GitRepository") == "GitRepository" and (
            ns,
            ref.get("name") or "",
        ) == wanted:
            found.append((auto_meta.get("namespace") or "", auto_meta.get("name") or ""))
    return found


# --- Git ------------------------------------------------------------------------------------------


def _decode_secret(data: Mapping[str, str]) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for key, value in data.items():
        try:
            decoded[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
    return decoded


def remote_refs(url: str, credentials: GitCredentials | None, timeout: float) -> dict[str, str]:
    """The remote's refs (`git ls-remote`). Blocking."""
    with tempfile.TemporaryDirectory(prefix="afflux-ls-remote-") as tmp:
        repo = pygit2.init_repository(tmp, bare=True)
        remote = repo.remotes.create_anonymous(url)
        callbacks = GitCallbacks(credentials, url, timeout=timeout)
        try:
            heads = remote.list_heads(callbacks=callbacks)
        except (pygit2.GitError, GitError, OSError, KeyError, ValueError) as err:
            raise translate_git_error(err, url, callbacks) from err
        return {head.name: str(head.oid) for head in heads}


@dataclass
class GitSource:
    """Where and how to reach the repository of an automation."""

    key: str  # <namespace>/<name> of the GitRepository
    url: str
    credentials: GitCredentials | None
    timeout: float
    checkout: CheckoutRef


@dataclass
class _Stage:
    """How far a run got, so a Git failure says whether the checkout or the push failed."""

    step: str = "checkout"
    messages: list[str] = field(default_factory=list)


def _now_text(ctx: ReconcileContext[Any]) -> str:
    return ctx.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the reconcile --------------------------------------------------------------------------


class AutomationReconcile:
    """The phases of ImageUpdateAutomation."""

    def __init__(self, *, max_attempts: int = 5, retry_delay: float = 1.0) -> None:
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay

    @property
    def phases(self) -> list[Any]:
        return [self.check_spec, self.automate]

    async def check_spec(self, ctx: ReconcileContext[ImageUpdateAutomation]) -> PhaseResult | None:
        auto = ctx.obj
        spec = auto.spec
        ref = spec.source_ref
        if (ref.kind or "GitRepository") != "GitRepository":
            raise StallingError(
                INVALID_SOURCE_CONFIGURATION,
                f"invalid source configuration: source kind '{ref.kind}' is not supported; "
                "spec.sourceRef.kind must be GitRepository",
            )
        namespace = ref.namespace or auto.namespace
        if namespace != auto.namespace and ctx.options.no_cross_namespace_refs:
            raise StallingError(
                ACCESS_DENIED,
                f"cannot access 'GitRepository/{namespace}/{ref.name}', cross-namespace "
                "references have been blocked (--no-cross-namespace-refs)",
            )
        if spec.git is None or spec.git.commit is None or not spec.git.commit.author.email:
            raise StallingError(
                INVALID_SOURCE_CONFIGURATION,
                "spec.git.commit.author.email is required: the automation commits as that author",
            )
        strategy = (spec.update.strategy if spec.update else None) or "Setters"
        if strategy != "Setters":
            raise StallingError(
                INVALID_UPDATE_STRATEGY,
                f"update strategy '{strategy}' is not supported; spec.update.strategy must "
                "be Setters",
            )
        try:
            selector_matches(self._selector(auto), {})
        except ValueError as err:
            raise StallingError(
                INVALID_POLICY_SELECTOR, f"invalid spec.policySelector: {err}"
            ) from err
        validate_commit_template(spec.git.commit.message_template)
        return None

    @staticmethod
    def _selector(auto: ImageUpdateAutomation) -> dict[str, Any] | None:
        selector = auto.spec.policy_selector
        return selector.to_dict() if selector is not None else None

    async def automate(self, ctx: ReconcileContext[ImageUpdateAutomation]) -> PhaseResult | None:
        auto = ctx.obj
        git = auto.spec.git
        assert git is not None  # check_spec
        ctx.status["lastAutomationRunTime"] = _now_text(ctx)
        source = await self._source(ctx)
        observed = await self._policies(ctx)
        push = PushSpec.from_spec(git.push)
        switched = switches_branch(source.checkout, push)

        try:
            refs = await asyncio.to_thread(
                remote_refs, source.url, source.credentials, source.timeout
            )
        except GitError as err:
            raise _git_failure(err, "checkout", source, push) from err
        decision = run_decision(
            RunState(
                generation=auto.metadata.generation,
                observed_generation=auto.status.observed_generation,
                requested_at=auto.requested_at,
                last_handled=auto.status.last_handled_reconcile_at,
                last_ready=auto.status.ready,
                policies=observed,
                observed_policies={
                    k: v.to_dict() for k, v in (auto.status.observed_policies or {}).items()
                },
                switches_branch=switched,
                source_revision=checkout_revision(refs, source.checkout),
                observed_source_revision=auto.status.observed_source_revision,
            )
        )
        ctx.set_ready(SUCCEEDED, READY_MESSAGE)
        if not decision.run:
            ctx.logger.info("%s", SKIPPED_MESSAGE)
            return None
        ctx.logger.info("running the automation", extra={"trigger": decision.why})

        outcome = await self._run(ctx, source, push, setter_policies(auto.namespace, observed))
        ctx.status["observedSourceRevision"] = observed_revision(outcome, switched)
        ctx.status["observedPolicies"] = observed
        if outcome.commit:
            ctx.status["lastPushCommit"] = outcome.commit
            ctx.status["lastPushTime"] = _now_text(ctx)
            revision = (
                f"{outcome.push_branch}@sha1:{outcome.commit}"
                if outcome.push_branch
                else f"sha1:{outcome.commit}"
            )
            message = push_message(outcome)
            ctx.logger.info("%s", message.split("\n", 1)[0], extra={"revision": revision})
            await ctx.events.normal(SUCCEEDED, message, revision=revision)
        return None

    # --- inputs -------------------------------------------------------------------------

    async def _secret(
        self, ctx: ReconcileContext[Any], namespace: str, name: str, what: str
    ) -> dict[str, bytes]:
        body = await ctx.kube.get(ObjectRef(SECRETS, namespace, name))
        if body is None:
            raise GenericError(
                GIT_OPERATION_FAILED,
                f"Secret '{namespace}/{name}' of {what} not found: create it or fix {what}.name",
            )
        return _decode_secret(body.get("data") or {})

    async def _source(self, ctx: ReconcileContext[ImageUpdateAutomation]) -> GitSource:
        auto = ctx.obj
        ref = auto.spec.source_ref
        namespace = ref.namespace or auto.namespace
        key = f"{namespace}/{ref.name}"
        body = await ctx.kube.get(ObjectRef(GIT_REPOSITORY, namespace, ref.name))
        if body is None:
            raise WaitingError(
                DEPENDENCY_NOT_READY,
                f"failed to get the source: GitRepository '{key}' not found (spec.sourceRef)",
            )
        repo = GitRepository.from_dict(body)
        spec = repo.spec
        if spec.proxy_secret_ref is not None and spec.proxy_secret_ref.name:
            raise StallingError(
                INVALID_SOURCE_CONFIGURATION,
                f"GitRepository '{key}' sets spec.proxySecretRef, which afflux's "
                "image-automation-controller does not support yet: reach the Git server "
                "without a proxy",
            )
        credentials = None
        if spec.secret_ref is not None and spec.secret_ref.name:
            data = await self._secret(
                ctx, namespace, spec.secret_ref.name, f"spec.secretRef of GitRepository '{key}'"
            )
            credentials = GitCredentials.from_secret(data)
        timeout = DEFAULT_GIT_TIMEOUT
        if spec.timeout:
            try:
                timeout = parse_duration(spec.timeout) or DEFAULT_GIT_TIMEOUT
            except ValueError:
                pass
        git = auto.spec.git
        checkout_ref = git.checkout.ref if git is not None and git.checkout else spec.ref
        return GitSource(key, spec.url, credentials, timeout, CheckoutRef.from_spec(checkout_ref))

    async def _policies(
        self, ctx: ReconcileContext[ImageUpdateAutomation]
    ) -> dict[str, dict[str, str]]:
        auto = ctx.obj
        selector = self._selector(auto)
        bodies = await ctx.kube.list(IMAGE_POLICY, auto.namespace)
        selected = [
            b
            for b in bodies
            if selector_matches(selector, (b.get("metadata") or {}).get("labels") or {})
        ]
        return observed_policies(selected)

    async def _signing_key(
        self, ctx: ReconcileContext[ImageUpdateAutomation]
    ) -> SigningKey | SSHSigningKey | None:
        git = ctx.obj.spec.git
        signing = git.commit.signing_key if git is not None else None
        if signing is None:
            return None
        what = "spec.git.commit.signingKey.secretRef"
        name = f"{ctx.obj.namespace}/{signing.secret_ref.name}"
        data = await self._secret(ctx, ctx.obj.namespace, signing.secret_ref.name, what)
        if (signing.type or "gpg") == "ssh":
            identity = data.get("identity")
            if not identity:
                raise StallingError(
                    SOURCE_MANAGER_FAILED,
                    f"the Secret '{name}' of {what} has no 'identity' key: signingKey.type "
                    "ssh needs an OpenSSH private key there (and its passphrase, if any, "
                    "in 'password')",
                )
            try:
                key = load_private_key(identity, data.get("password"))
            except SSHKeyError as err:
                raise StallingError(
                    SOURCE_MANAGER_FAILED,
                    f"cannot sign commits with the Secret '{name}' of {what}: {err}",
                ) from None
            return SSHSigningKey(key)
        armored = data.get("git.asc")
        if not armored:
            raise GenericError(
                GIT_OPERATION_FAILED,
                f"the Secret '{name}' of {what} has no "
                "'git.asc' key (an ASCII-armored OpenPGP private key)",
            )
        passphrase = data.get("passphrase")
        return SigningKey(armored, passphrase.decode("utf-8") if passphrase else None)

    # --- the run --------------------------------------------------------------------------

    async def _run(
        self,
        ctx: ReconcileContext[ImageUpdateAutomation],
        source: GitSource,
        push: PushSpec,
        policies: Mapping[str, Mapping[str, str]],
    ) -> AutomationOutcome[Result]:
        auto = ctx.obj
        git = auto.spec.git
        assert git is not None
        commit = git.commit
        author = CommitAuthor(email=commit.author.email, name=commit.author.name or None)
        signing = await self._signing_key(ctx)
        path = auto.spec.update.path if auto.spec.update else None
        template = commit.message_template
        values = dict(commit.message_template_values or {})
        who = NamespacedName(auto.namespace, auto.name)
        stage = _Stage()

        def update(worktree: Path) -> Result:
            stage.step = "update"
            return update_with_setters(worktree, path, policies)

        def message(result: Result) -> str:
            text = render_commit_message(template, TemplateData(who, result, values))
            stage.step = "push"
            return text

        try:
            return await asyncio.to_thread(
                run_automation,
                source.url,
                credentials=source.credentials,
                checkout=source.checkout,
                push=push,
                author=author,
                update=update,
                message=message,
                signing_key=signing,
                timeout=source.timeout,
                max_attempts=self.max_attempts,
                retry_delay=self.retry_delay,
            )
        except SetterError as err:
            raise GenericError(UPDATE_FAILED, f"failed to apply policies: {err}") from err
        except GitError as err:
            raise _git_failure(err, stage.step, source, push) from err


def _git_failure(err: GitError, step: str, source: GitSource, push: PushSpec) -> GenericError:
    where = redact_url(source.url)
    if step != "push":
        return GenericError(GIT_OPERATION_FAILED, f"failed to checkout source: {err.message}")
    target = f"branch '{push.branch}'" if push.branch else "the checkout branch"
    message = f"failed to update source: push to {target} of {where} failed: {err.message}"
    if isinstance(err, GitAuthError):
        message += (
            f"; pushing needs write access: check the credentials in the Secret of "
            f"GitRepository '{source.key}' spec.secretRef"
        )
    return GenericError(GIT_OPERATION_FAILED, message)


def automation_reconciler(
    *, max_attempts: int = 5, retry_delay: float = 1.0
) -> Reconciler[ImageUpdateAutomation]:
    """The ImageUpdateAutomation reconciler."""
    phases = AutomationReconcile(max_attempts=max_attempts, retry_delay=retry_delay)
    return Reconciler(
        IMAGE_UPDATE_AUTOMATION,
        phases.phases,
        parse=ImageUpdateAutomation.from_dict,
        failure_reason=UPDATE_FAILED,
    )
