"""`afflux create ...`: make a Flux object (or a Git credentials Secret) from flags.

`--export` prints the YAML instead (nothing touches a cluster). Otherwise the object is
applied server-side with field manager `flux-client-side-apply` and the command waits until
its controller reports Ready (or fails, or --timeout passes). Every object is checked against
its schema offline first, so a bad flag is reported before anything is sent.

  create source git|oci|helm|bucket <name>     create kustomization <name>
  create image repository|policy|update <name> create secret git <name>
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from afflux.api import meta, validate_object

from . import _build
from ._context import Context
from ._errors import CLIError
from ._format import dump_yaml
from ._kinds import Noun, controller_for, noun_for_kind
from ._kube import ResourceType, resource_of
from ._status import Outcome, readiness, ready_message, success_message
from ._wait import wait_for

__all__ = ["register"]

Builder = Callable[[argparse.Namespace, str, str, dict[str, str]], list[dict[str, Any]]]


# --- flags --------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, interval: bool = True) -> None:
    p.add_argument("name", help="the name of the object")
    p.add_argument("--export", action="store_true",
                   help="print the YAML instead of applying it")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="set labels on the object (repeat, or comma-separate)")
    if interval:
        p.add_argument("--interval", default="1m", help="how often to reconcile (default 1m)")


def _git_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--url", required=True, help="the Git repository URL (http(s):// or ssh://)")
    p.add_argument("--branch", help="the branch to follow (default master)")
    p.add_argument("--tag", help="the tag to follow")
    p.add_argument("--tag-semver", "--semver", dest="semver",
                   help="a semver range of tags to follow, e.g. '>=1.0.0'")
    p.add_argument("--commit", help="the commit SHA to check out")
    p.add_argument("--ref-name", help="a Git reference name, e.g. refs/pull/1/head")
    p.add_argument("--secret-ref", help="the name of a Secret with the Git credentials")
    p.add_argument("-u", "--username", help="basic auth user (creates the Secret <name>)")
    p.add_argument("-p", "--password", help="basic auth password (or the SSH key passphrase)")
    p.add_argument("--private-key-file", help="SSH private key file (creates the Secret <name>)")
    p.add_argument("--known-hosts-file", help="known_hosts file for an ssh:// URL")
    p.add_argument("--ignore-paths", action="append",
                   help="paths to leave out of the artifact (gitignore syntax, comma-separated)")
    p.add_argument("--recurse-submodules", action="store_true",
                   help="check out the submodules too")
    p.add_argument("--provider", choices=("generic", "azure", "github"),
                   help="who authenticates (default generic)")


def _oci_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--url", required=True, help="the OCI repository URL, oci://host/path")
    p.add_argument("--tag", help="the tag to follow")
    p.add_argument("--tag-semver", "--semver", dest="semver", help="a semver range of tags")
    p.add_argument("--digest", help="a digest to pin, sha256:<hex>")
    p.add_argument("--secret-ref", help="a Secret of type kubernetes.io/dockerconfigjson")
    p.add_argument("--provider", choices=("generic", "aws", "azure", "gcp"))
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP")
    p.add_argument("--ignore-paths", action="append", help="paths to leave out")


def _helm_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--url", required=True, help="the Helm repository URL (http(s):// or oci://)")
    p.add_argument("--secret-ref", help="a Secret with the repository credentials")
    p.add_argument("--pass-credentials", action="store_true",
                   help="pass the credentials to every domain the index links to")
    p.add_argument("--oci-provider", dest="provider", choices=("generic", "aws", "azure", "gcp"))


def _bucket_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--bucket-name", required=True, help="the name of the bucket")
    p.add_argument("--endpoint", required=True, help="the bucket's endpoint address")
    p.add_argument("--provider", default="generic", choices=("generic", "aws", "azure", "gcp"))
    p.add_argument("--region", help="the bucket's region")
    p.add_argument("--insecure", action="store_true", help="talk to the endpoint over HTTP")
    p.add_argument("--secret-ref", help="a Secret with `accesskey` and `secretkey`")


def _ks_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--source", required=True,
                   help="the source: [<kind>/]<name>[.<namespace>], kind GitRepository, "
                        "OCIRepository or Bucket (default GitRepository)")
    p.add_argument("--path", default="./", help="the path in the source (default ./)")
    p.add_argument("--prune", action="store_true", help="delete what leaves the source")
    p.add_argument("--target-namespace", help="the namespace of the objects applied")
    p.add_argument("--depends-on", action="append",
                   help="Kustomizations to be ready first: [<namespace>/]<name> (repeat or "
                        "comma-separate)")
    p.add_argument("--timeout-apply", "--ks-timeout", dest="ks_timeout",
                   help="spec.timeout of the Kustomization")
    p.add_argument("--retry-interval", help="how soon to retry after a failure")
    p.add_argument("--wait", action="store_true", help="health-check everything applied")
    p.add_argument("--service-account", help="the ServiceAccount to impersonate")
    p.add_argument("--health-check", action="append",
                   help="an object to health-check: <kind>/<name>.<namespace>")
    p.add_argument("--decryption-provider", choices=("sops",), help="decrypt with sops")
    p.add_argument("--decryption-secret", help="the Secret with the decryption keys")


def _image_repo_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--image", required=True, help="the image repository, e.g. ghcr.io/org/app")
    p.add_argument("--secret-ref", help="a Secret of type kubernetes.io/dockerconfigjson")
    p.add_argument("--cert-secret-ref", help="a Secret with the registry's CA / client cert")
    p.add_argument("--scan-timeout", help="spec.timeout of a scan")
    p.add_argument("--provider", choices=("generic", "aws", "azure", "gcp"))
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP")


def _image_policy_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--image-ref", required=True,
                   help="the ImageRepository: <name> or <name>.<namespace>")
    p.add_argument("--select-semver", help="pick the highest tag in this semver range")
    p.add_argument("--select-numeric", choices=("asc", "desc"),
                   help="pick by numeric order (asc: highest)")
    p.add_argument("--select-alpha", choices=("asc", "desc"),
                   help="pick by alphabetical order (asc: last)")
    p.add_argument("--filter-regex", help="only tags matching this regular expression")
    p.add_argument("--filter-extract", help="compare this part of the tag, e.g. '$ts'")


def _image_update_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--git-repo-ref", required=True, help="the GitRepository to update")
    p.add_argument("--git-repo-namespace", help="its namespace (default the object's)")
    p.add_argument("--git-repo-path", help="the path to update in the repository (default ./)")
    p.add_argument("--checkout-branch", help="the branch to check out (default the source's)")
    p.add_argument("--push-branch", help="the branch to push to (default the checkout branch)")
    p.add_argument("--author-name", default=_build.DEFAULT_AUTHOR_NAME, help="commit author")
    p.add_argument("--author-email", default=_build.DEFAULT_AUTHOR_EMAIL, help="commit e-mail")
    p.add_argument("--commit-template", help="the commit message template (Go text/template)")


def _secret_git_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--url", required=True, help="the Git URL the credentials are for")
    p.add_argument("-u", "--username", help="basic auth user")
    p.add_argument("-p", "--password", help="basic auth password (or the SSH key passphrase)")
    p.add_argument("--bearer-token", help="a bearer token (http(s) only)")
    p.add_argument("--ca-file", help="a CA certificate file for the Git server")
    p.add_argument("--private-key-file", help="the SSH private key file (identity)")
    p.add_argument("--known-hosts-file", help="a known_hosts file with the server's host key")
    p.add_argument("--known-hosts", help="known_hosts lines (instead of --known-hosts-file)")


# --- builders from args --------------------------------------------------------------------------


def _read(path: str | None, flag: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_text()
    except OSError as err:
        raise CLIError(f"{flag} {path}: {err.strerror or err}") from None


def _secret_from(args: argparse.Namespace, name: str, ns: str,
                 labels: dict[str, str]) -> dict[str, Any]:
    key = getattr(args, "private_key_file", None)
    pub = _read(f"{key}.pub", "--private-key-file") if key and Path(f"{key}.pub").exists() \
        else None
    known = _read(getattr(args, "known_hosts_file", None), "--known-hosts-file") or \
        getattr(args, "known_hosts", None)
    return _build.git_secret(
        name, ns, url=args.url, username=args.username, password=args.password,
        bearer_token=getattr(args, "bearer_token", None),
        ca_crt=_read(getattr(args, "ca_file", None), "--ca-file"),
        identity=_read(key, "--private-key-file"), identity_pub=pub, known_hosts=known,
        labels=labels,
    )


def _git(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    docs: list[dict[str, Any]] = []
    secret_ref = args.secret_ref
    if args.username or args.private_key_file:
        if secret_ref:
            raise _build.BuildError("give --secret-ref or credentials, not both")
        docs.append(_secret_from(args, name, ns, labels))
        secret_ref = name
    docs.append(_build.git_repository(
        name, ns, url=args.url, branch=args.branch, tag=args.tag, semver=args.semver,
        commit=args.commit, ref_name=args.ref_name, interval=args.interval,
        secret_ref=secret_ref, ignore_paths=args.ignore_paths,
        recurse_submodules=args.recurse_submodules, provider=args.provider, labels=labels,
    ))
    return docs


def _oci(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_build.oci_repository(
        name, ns, url=args.url, tag=args.tag, semver=args.semver, digest=args.digest,
        interval=args.interval, secret_ref=args.secret_ref, provider=args.provider,
        insecure=args.insecure, ignore_paths=args.ignore_paths, labels=labels,
    )]


def _helm(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_build.helm_repository(
        name, ns, url=args.url, interval=args.interval, secret_ref=args.secret_ref,
        pass_credentials=args.pass_credentials, provider=args.provider, labels=labels,
    )]


def _bucket(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_build.bucket(
        name, ns, bucket_name=args.bucket_name, endpoint=args.endpoint, provider=args.provider,
        region=args.region, insecure=args.insecure, interval=args.interval,
        secret_ref=args.secret_ref, labels=labels,
    )]


def _ks(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_build.kustomization(
        name, ns, source=args.source, path=args.path, prune=args.prune, interval=args.interval,
        target_namespace=args.target_namespace, depends_on=args.depends_on,
        timeout=args.ks_timeout, retry_interval=args.retry_interval, wait=args.wait,
        service_account=args.service_account, health_checks=args.health_check,
        decryption_provider=args.decryption_provider, decryption_secret=args.decryption_secret,
        labels=labels,
    )]


def _image_repo(args: argparse.Namespace, name: str, ns: str,
                labels: dict[str, str]) -> list[dict]:
    return [_build.image_repository(
        name, ns, image=args.image, interval=args.interval, secret_ref=args.secret_ref,
        cert_secret_ref=args.cert_secret_ref, timeout=args.scan_timeout, provider=args.provider,
        insecure=args.insecure, labels=labels,
    )]


def _image_policy(args: argparse.Namespace, name: str, ns: str,
                  labels: dict[str, str]) -> list[dict]:
    return [_build.image_policy(
        name, ns, image_ref=args.image_ref, select_semver=args.select_semver,
        select_numeric=args.select_numeric, select_alpha=args.select_alpha,
        filter_regex=args.filter_regex, filter_extract=args.filter_extract, labels=labels,
    )]


def _image_update(args: argparse.Namespace, name: str, ns: str,
                  labels: dict[str, str]) -> list[dict]:
    return [_build.image_update(
        name, ns, git_repo_ref=args.git_repo_ref, git_repo_namespace=args.git_repo_namespace,
        git_repo_path=args.git_repo_path, checkout_branch=args.checkout_branch,
        push_branch=args.push_branch, author_name=args.author_name,
        author_email=args.author_email, commit_template=args.commit_template,
        interval=args.interval, labels=labels,
    )]


def _secret_git(args: argparse.Namespace, name: str, ns: str,
                labels: dict[str, str]) -> list[dict]:
    return [_secret_from(args, name, ns, labels)]


# --- the command ------------------------------------------------------------------------------

#: (words, flags, builder, help)
_COMMANDS: tuple[tuple[tuple[str, ...], Callable[[argparse.ArgumentParser], None], Builder,
                       str], ...] = (
    (("source", "git"), _git_flags, _git, "create or update a GitRepository"),
    (("source", "oci"), _oci_flags, _oci, "create or update an OCIRepository"),
    (("source", "helm"), _helm_flags, _helm, "create or update a HelmRepository"),
    (("source", "bucket"), _bucket_flags, _bucket, "create or update a Bucket"),
    (("kustomization",), _ks_flags, _ks, "create or update a Kustomization"),
    (("image", "repository"), _image_repo_flags, _image_repo,
     "create or update an ImageRepository"),
    (("image", "policy"), _image_policy_flags, _image_policy, "create or update an ImagePolicy"),
    (("image", "update"), _image_update_flags, _image_update,
     "create or update an ImageUpdateAutomation"),
    (("secret", "git"), _secret_git_flags, _secret_git,
     "create or update a Secret with Git credentials"),
)
_ALIASES = {"source": ["sources"], "image": ["images"], "kustomization": ["ks"],
            "secret": ["secrets"], "repository": ["repo"]}


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("create", parents=list(parents),
                       help="create or update Flux objects (or print them with --export)",
                       description="Create or update Flux objects; --export prints the YAML.")
    top = p.add_subparsers(dest="create_what", metavar="<kind>")
    top.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, flags, builder, text in _COMMANDS:
        target = top
        if len(words) == 2:
            if words[0] not in groups:
                gp = top.add_parser(words[0], aliases=_ALIASES.get(words[0], []),
                                    parents=list(parents), help=f"create {words[0]} objects")
                groups[words[0]] = gp.add_subparsers(dest=f"create_{words[0]}", metavar="<kind>")
                groups[words[0]].required = True
            target = groups[words[0]]
        leaf = target.add_parser(words[-1], aliases=_ALIASES.get(words[-1], []),
                                 parents=list(parents), help=text, description=text + ".")
        flags(leaf)
        leaf.set_defaults(func=run, build=builder, create_words=" ".join(words))


def _check_offline(doc: dict[str, Any]) -> None:
    if doc.get("kind") == "Secret":
        return
    problems = validate_object(doc)
    if problems:
        raise CLIError(f"the {doc['kind']} would be rejected: " + "; ".join(problems))


def _rt_of(doc: dict[str, Any]) -> ResourceType:
    if doc["kind"] == "Secret":
        return ResourceType("", "v1", "Secret", "secrets")
    return resource_of(noun_for_kind(doc["kind"]).kind)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    name, ns = args.name, ctx.namespace
    try:
        labels = _build.parse_labels(args.label)
        docs = args.build(args, name, ns, labels)
    except _build.BuildError as err:
        raise CLIError(str(err), f"see `afflux create {args.create_words} --help`") from None
    for doc in docs:
        _check_offline(doc)
    if args.export:
        ctx.printer.result(dump_yaml(docs), end="")
        return 0
    printer = ctx.printer
    for doc in docs:
        kind = doc["kind"]
        printer.generate(f"generating {kind}")
        printer.action(f"applying {kind}")
        existed = ctx.kube.get_or_none(_rt_of(doc), name, ns) is not None
        ctx.kube.apply(_rt_of(doc), doc, field_manager=meta.CLI_FIELD_MANAGER)
        printer.success(f"{kind} {'updated' if existed else 'created'}")
        if kind != "Secret":
            _wait_ready(ctx, noun_for_kind(kind), name, ns)
    return 0


def _wait_ready(ctx: Context, noun: Noun, name: str, ns: str) -> None:
    kind = noun.kind.KIND
    if kind in ("Alert", "Provider"):
        return
    ctx.printer.waiting(f"waiting for {kind} reconciliation")

    def decide(obj: dict[str, Any]) -> Outcome | None:
        outcome = readiness(obj)
        return None if outcome is Outcome.PENDING else outcome

    outcome, obj = wait_for(
        ctx.kube, resource_of(noun.kind), name, ns, decide, timeout=ctx.timeout,
        what=f"{kind} '{ns}/{name}' to become ready",
        hint=f"it was applied, but {controller_for(kind)} did not report Ready in time: is it "
             f"running (`afflux check`)? `afflux get {noun.get_cli} {name} -n {ns}` shows "
             "its status",
    )
    if outcome is Outcome.FAILED:
        raise CLIError(f"{kind} reconciliation failed: {ready_message(obj) or 'Ready is False'}",
                       f"`afflux events --for {kind}/{name} -n {ns}` shows its events")
    ctx.printer.success(f"{kind} reconciliation completed")
    ctx.printer.success(success_message(obj))
