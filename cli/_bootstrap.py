"""`afflux bootstrap git`: put afflux in a cluster the GitOps way, from a Git repository.
The engine (`Bootstrap`) is shared by the providers (`bootstrap gitea`: `_bootstrapgitea`),
which add a repository step before the clone and give the deploy key access themselves.

Transport, as Flux's: this CLI pushes over the `--url` given (ssh:// with a key file or the
ssh-agent; https:// with --password or a bearer token). The cluster syncs over SSH with a
deploy key unless `--token-auth`: an https `--url` becomes ssh://<user>@<host>/<path>
(`--ssh-hostname` names another host[:port]), see `_bootstrapgen.sync_url`. With
`--token-auth` the cluster syncs over HTTPS with the same credentials.

The steps are flux's (FLUX-API §7), with every check that can be made done before the
first push or apply, so that bad input (an unreachable URL, wrong credentials, a path an
existing bootstrap uses differently, no cluster) fails with one line and writes nothing:

1. check the flags (source- and kustomize-controller among the components; https or ssh,
   http only with --allow-insecure-http), the cluster (reachable; an existing flux-system
   Kustomization must use the same path) and the credentials (key files, host key scan);
2. clone the branch (an empty repository or a missing branch is started);
3. write `<path>/flux-system/gotk-components.yaml` and check that the whole flux-system
   directory (with the sync manifests and the user's kustomization.yaml) builds; commit
   "Add Flux <version> component manifests" and push when it changed;
4. install the components when the flux-system Kustomization is missing or never applied;
5. apply the Secret `flux-system` (syncing over ssh: identity, identity.pub, known_hosts of
   the sync host; with --token-auth: username and password, or bearerToken, and ca.crt);
6. write gotk-sync.yaml (GitRepository and Kustomization flux-system) and kustomization.yaml
   (the user's own kept, with both files listed); commit "Add Flux sync manifests", push
   (when the branch moved on: clone again and redo);
7. apply the kustomize build of `<path>/flux-system` server-side, request a reconciliation,
   and wait until the GitRepository is Ready at `<branch>@sha1:<HEAD>`, the Kustomization
   applied that revision and the controllers are healthy.

Running it again is an idempotent upgrade: no commit when nothing changed. `--local`: see
`_bootstrapgen` (the operators run as local processes; their Deployments have zero replicas).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from afflux.api import GitRepository, Kustomization, kind_by_name

from . import _bootstrapgen as gen
from ._build import BuildError, go_duration
from ._checkfmt import deployment_health, lease_health
from ._context import Context
from ._errors import EXIT_CANCELLED, CLIError, WaitTimeout
from ._git import GitAuth, NonFastForward, WorkingCopy, trust_ca
from ._install import FIELD_MANAGER, confirm_override, image_pull_secret
from ._installopts import add_install_flags, check_version, customize, options_from_args
from ._kinds import AVAILABLE_CONTROLLERS, COMPONENTS_HELP, DEFAULT_COMPONENTS, noun_for_kind
from ._kube import (
    CRDS,
    DEPLOYMENTS,
    LEASES,
    SECRETS,
    KubeError,
    KubeNotFound,
    ResourceType,
    resource_of,
)
from ._manifests import (
    DEFAULT_REGISTRY,
    _kustomize_binary,
    build_install_docs,
    find_config_dir,
    install_order,
    operator_image,
    retarget_namespace,
    select_components,
    set_operator_image,
)
from ._prompt import confirm
from ._reconcile import request_reconcile
from ._shards import SHARDS_HELP, instance_lease, instance_names, shard_docs, shards_arg
from ._signing import GPGSigner, SSHSigner
from ._sshkeys import (
    ECDSA_CURVES,
    KEY_ALGORITHMS,
    generate_key,
    public_key_of,
    scan_host_keys,
)
from ._status import condition, get_path, ready_message, unresolvable
from ._version import version as afflux_version
from ._wait import wait_for

__all__ = ["register", "run"]

REQUIRED = ("source-controller", "kustomize-controller")
PUSH_ATTEMPTS = 3


def _components(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [n for n in names if n not in AVAILABLE_CONTROLLERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown component(s) {', '.join(unknown)}; choose from "
            f"{', '.join(AVAILABLE_CONTROLLERS)}")
    return names


def _rsa_bits(text: str) -> int:
    try:
        bits = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bits") from None
    if bits < 1024:
        raise argparse.ArgumentTypeError("RSA key bit size must be at least 1024")
    if bits % 8:
        raise argparse.ArgumentTypeError("RSA key bit size must be a multiple of 8")
    return bits


def _list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bootstrap", parents=list(parents),
                       help="deploy afflux on a cluster the GitOps way",
                       description="Push the afflux manifests to a Git repository and deploy "
                       "afflux on the cluster, synchronised with that repository.")
    providers = p.add_subparsers(dest="provider", metavar="<provider>")
    providers.required = True
    g = providers.add_parser(
        "git", parents=list(parents), help="bootstrap with any Git server",
        description="Commit the afflux manifests to a branch of a Git repository and "
        "configure the cluster to synchronise with it. If afflux is already installed, "
        "this upgrades it when needed (and changes nothing when nothing changed).")
    g.add_argument("--url", required=True,
                   help="the Git repository URL: https://..., ssh://user@host/..., or http:// "
                        "with --allow-insecure-http")
    g.add_argument("-u", "--username", default="git",
                   help="basic auth user name for https URLs, and the user of the ssh URL "
                        "the cluster syncs from (default git)")
    g.add_argument("-p", "--password", default=None,
                   help="basic auth password (or token) for https URLs, or the SSH private "
                        "key's passphrase (default $GIT_PASSWORD)")
    g.add_argument("--with-bearer-token", action="store_true",
                   help="send --password as a bearer token (Authorization header) instead "
                        "of basic auth")
    g.add_argument("--allow-insecure-http", action="store_true",
                   help="allow an http:// URL (credentials sent unencrypted)")
    g.add_argument("-s", "--silent", action="store_true",
                   help="do not ask for confirmation (e.g. to add the deploy key)")
    add_common_flags(g)
    g.set_defaults(func=run)
    from ._bootstrapbitbucket import (  # noqa: PLC0415 - it imports this module
        register_bitbucket_server,
    )
    from ._bootstrapgitea import register_gitea  # noqa: PLC0415 - it imports this module
    from ._bootstrapgithub import register_github  # noqa: PLC0415 - it imports this module
    from ._bootstrapgitlab import register_gitlab  # noqa: PLC0415 - it imports this module

    register_github(providers, parents)
    register_gitlab(providers, parents)
    register_gitea(providers, parents)
    register_bitbucket_server(providers, parents)


def add_common_flags(g: argparse.ArgumentParser) -> None:
    """The flags every `bootstrap <provider>` takes (Flux's `bootstrap` flags)."""
    g.add_argument("--branch", default="main", help="the Git branch (default main)")
    g.add_argument("--path", default="",
                   help="the directory in the repository this cluster syncs, e.g. "
                        "clusters/my-cluster (default: the root)")
    g.add_argument("--interval", default="1m",
                   help="how often the GitRepository is fetched (default 1m)")
    g.add_argument("--token-auth", action="store_true",
                   help="the cluster syncs over HTTPS with the password or token; by default "
                        "it syncs over SSH with a deploy key")
    g.add_argument("--ssh-hostname", default="",
                   help="host[:port] of the SSH URL the cluster syncs from, when the SSH host "
                        "differs from the HTTPS one")
    g.add_argument("--components", type=_components, default=list(DEFAULT_COMPONENTS),
                   help=COMPONENTS_HELP)
    g.add_argument("--components-extra", type=_components, default=[],
                   help="more operators, e.g. image-reflector-controller,"
                        "image-automation-controller")
    g.add_argument("--private-key-file", type=Path,
                   help="SSH private key: pushes to an ssh:// URL, and is the cluster's key when "
                        "it syncs over SSH; without it the ssh-agent pushes and a new deploy "
                        "key is generated for the cluster")
    g.add_argument("--ssh-key-algorithm", choices=sorted(KEY_ALGORITHMS), default="ed25519",
                   help="the algorithm of a generated deploy key (default ed25519)")
    g.add_argument("--ssh-rsa-bits", type=_rsa_bits, default=None, metavar="BITS",
                   help="size of a generated RSA deploy key (multiple of 8, at least 1024; "
                        "default 4096)")
    g.add_argument("--ssh-ecdsa-curve", choices=sorted(ECDSA_CURVES), default=None,
                   help="curve of a generated ECDSA deploy key (default p384)")
    g.add_argument("--ssh-hostkey-algos", type=_list, default=[],
                   help="host key algorithms to scan into known_hosts, comma-separated "
                        "(default: all the server offers)")
    g.add_argument("--ca-file", type=Path,
                   help="CA certificate for an https Git server with a private CA (also "
                        "stored in the cluster as ca.crt)")
    g.add_argument("--author-name", default="afflux", help="author of the commits "
                   "(default afflux)")
    g.add_argument("--author-email", default="afflux@users.noreply.local",
                   help="author e-mail of the commits")
    g.add_argument("--local", action="store_true",
                   help="the operators run as local processes (started with "
                        "--enable-leader-election), not in the cluster: their Deployments get "
                        "zero replicas")
    g.add_argument("--shards", type=shards_arg, default=0, metavar="N", help=SHARDS_HELP)
    g.add_argument("--manifests", type=Path,
                   help="afflux's config/ directory (default: the one beside the package)")
    g.add_argument("--registry", default=DEFAULT_REGISTRY,
                   help="container registry the operators' image is pulled from: "
                        f"<registry>/afflux:v<version> (default {DEFAULT_REGISTRY})")
    add_install_flags(g, "bootstrap")
    g.add_argument("--secret-name", default=gen.NAME,
                   help="the Secret (in the namespace) the sync credentials are kept in and "
                        f"the GitRepository names (default {gen.NAME})")
    g.add_argument("--commit-message-appendix", default="",
                   help="text added to the commit messages as its own paragraph, e.g. "
                        "'[ci skip]'")
    g.add_argument("--recurse-submodules", action="store_true",
                   help="the GitRepository also fetches the repository's submodules")
    g.add_argument("--sparse-checkout", type=_list, default=[],
                   help="the only directories the GitRepository checks out, comma-separated; "
                        "--path must be inside one of them")
    g.add_argument("--gpg-key-ring", type=Path,
                   help="key ring file (gpg --export-secret-keys) to sign the commits with")
    g.add_argument("--gpg-key-id", default="", help="the key of --gpg-key-ring to sign with "
                   "(default: its first secret key)")
    g.add_argument("--gpg-passphrase", default="", help="the passphrase of the GPG key")
    g.add_argument("--ssh-signing-key-file", type=Path,
                   help="SSH private key to sign the commits with (SSH signatures)")
    g.add_argument("--ssh-signing-password", default="",
                   help="the passphrase of --ssh-signing-key-file")
    g.add_argument("--ssh-signing-reuse-private-key", action="store_true",
                   help="sign the commits with --private-key-file (the SSH transport key)")


class Bootstrap:
    """One run of `bootstrap git`; the methods are the steps of the module docstring."""

    def __init__(self, ctx: Context, args: argparse.Namespace) -> None:
        self.ctx = ctx
        self.args = args
        self.printer = ctx.printer
        self.namespace = ctx.namespace
        self.deadline = time.monotonic() + ctx.timeout
        self.version = check_version(args.toolkit_version, afflux_version())
        self.author = (args.author_name, args.author_email)
        self.password = args.password if args.password is not None else \
            os.environ.get("GIT_PASSWORD")
        self.url = gen.parse_git_url(args.url, allow_insecure_http=args.allow_insecure_http)
        if args.with_bearer_token and self.url.scheme == "ssh":
            raise CLIError("--with-bearer-token is for https URLs",
                           "use --private-key-file with ssh:// URLs")
        self.sync = gen.sync_url(self.url, token_auth=args.token_auth or args.with_bearer_token,
                                 username=args.username, ssh_hostname=args.ssh_hostname)
        self.path = gen.normalize_path(args.path)
        self.branch = args.branch.strip()
        if not self.branch:
            raise CLIError("--branch must not be empty")
        self.components = list(dict.fromkeys([*args.components, *args.components_extra]))
        missing = [c for c in REQUIRED if c not in self.components]
        if missing:
            raise CLIError(f"{' and '.join(missing)} must be among the components",
                           "bootstrap needs source-controller and kustomize-controller to "
                           "sync the cluster; add them to --components")
        try:
            self.interval = go_duration(args.interval)
        except BuildError as err:
            raise CLIError(str(err)) from None
        self.sparse_checkout = gen.check_sparse_checkout(args.sparse_checkout, self.path)
        self.secret_name = args.secret_name.strip()
        if not self.secret_name:
            raise CLIError("--secret-name must not be empty", f"e.g. --secret-name={gen.NAME}")
        self.pull_secret = image_pull_secret(args, self.namespace)
        self.sign = self.signer()
        self.existing_ks: dict[str, Any] | None = None
        self.auth = GitAuth()
        self.secret_data: dict[str, str] = {}
        self.generated_key = False

    # --- 1. checks --------------------------------------------------------------------------
    def signer(self) -> GPGSigner | SSHSigner | None:
        """The signer of the commits (`--gpg-*` or `--ssh-signing-*`), checked by a probe
        signature before anything else happens; None for unsigned commits."""
        args = self.args
        ssh_key = args.ssh_signing_key_file
        if args.ssh_signing_reuse_private_key:
            if ssh_key is not None:
                raise CLIError("--ssh-signing-key-file and --ssh-signing-reuse-private-key are "
                               "mutually exclusive", "pass one of them")
            if args.private_key_file is None:
                raise CLIError("--ssh-signing-reuse-private-key requires --private-key-file")
            ssh_key = args.private_key_file
        if args.gpg_key_ring is not None and ssh_key is not None:
            raise CLIError("--gpg-* and --ssh-signing-* are mutually exclusive",
                           "pick one signing format")
        if args.ssh_signing_password and args.ssh_signing_key_file is None:
            raise CLIError("--ssh-signing-password requires --ssh-signing-key-file")
        if args.gpg_key_ring is not None:
            return GPGSigner(args.gpg_key_ring, args.gpg_key_id, args.gpg_passphrase)
        if (args.gpg_key_id or args.gpg_passphrase):
            raise CLIError("--gpg-key-id and --gpg-passphrase need --gpg-key-ring")
        if ssh_key is not None:
            password = args.ssh_signing_password if args.ssh_signing_key_file is not None \
                else (self.password or "")
            return SSHSigner(ssh_key, password)
        return None

    def check_credentials(self, scratch: Path) -> None:
        args = self.args
        if args.ca_file is not None:
            if not args.ca_file.is_file():
                raise CLIError(f"--ca-file {args.ca_file} does not exist")
            trust_ca(args.ca_file)
        self.check_push_credentials(scratch)
        self.check_sync_credentials()

    def key_file(self) -> tuple[Path, str] | None:
        """`--private-key-file` and its public key (None without it)."""
        if self.args.private_key_file is None:
            return None
        key = self.args.private_key_file.expanduser()
        if not key.is_file():
            raise CLIError(f"--private-key-file {key} does not exist")
        return key, public_key_of(key, self.password or "")

    def check_push_credentials(self, scratch: Path) -> None:
        """What this CLI pushes with: a key file or the ssh-agent (ssh://), or the password
        or token (https)."""
        args, url = self.args, self.url
        if url.scheme == "ssh":
            known_hosts = scan_host_keys(url.host, url.port, args.ssh_hostkey_algos)
            pair = self.key_file()
            if pair is not None:
                key, public = pair
                pub_file = scratch / "identity.pub"
                pub_file.write_text(public + "\n")
                self.auth = GitAuth(private_key_file=key, public_key_file=pub_file,
                                    passphrase=self.password or "", known_hosts=known_hosts)
            else:
                if not os.environ.get("SSH_AUTH_SOCK"):
                    raise CLIError("no --private-key-file and no ssh-agent (SSH_AUTH_SOCK is "
                                   "not set) to push with",
                                   "pass --private-key-file, or start ssh-agent and ssh-add "
                                   "a key with write access")
                self.auth = GitAuth(use_agent=True, known_hosts=known_hosts)
            return
        if not self.password:
            raise CLIError(f"a password or token is needed to push to {url.url}",
                           "pass --password (or set GIT_PASSWORD)")
        if args.with_bearer_token:
            self.auth = GitAuth(bearer_token=self.password)
        else:
            self.auth = GitAuth(username=args.username, password=self.password)

    def check_sync_credentials(self) -> None:
        """What the cluster syncs with (the Secret's data): over SSH the known_hosts of the
        sync host and `--private-key-file` (else a key is generated later); over HTTPS
        (`--token-auth`) the password or bearer token, and the CA."""
        args, sync = self.args, self.sync
        if sync.scheme == "ssh":
            try:
                known_hosts = scan_host_keys(sync.host, sync.port, args.ssh_hostkey_algos)
            except CLIError as err:
                if self.url.scheme == "ssh" and not args.ssh_hostname:
                    raise
                raise CLIError(f"{err.message} (the cluster syncs from {sync.url} without "
                               "--token-auth)",
                               "pass --ssh-hostname=host:port of the Git server's SSH "
                               "service, or --token-auth to sync over HTTPS") from None
            self.secret_data["known_hosts"] = known_hosts
            pair = self.key_file()
            if pair is not None:
                key, public = pair
                self.secret_data.update(identity=key.read_text(), **{"identity.pub": public})
                if self.password and self.url.scheme == "ssh":
                    self.secret_data["password"] = self.password
            return
        if args.private_key_file is not None and self.url.scheme != "ssh":
            raise CLIError("--private-key-file is for SSH",
                           "with --token-auth the cluster syncs over HTTPS with --password; "
                           "drop --private-key-file or --token-auth")
        if not self.password:
            raise CLIError("--token-auth: the cluster syncs over HTTPS with --password, and "
                           "none was given", "pass --password (or set GIT_PASSWORD)")
        if args.with_bearer_token:
            self.secret_data["bearerToken"] = self.password or ""
        else:
            self.secret_data.update(username=args.username, password=self.password or "")
        if args.ca_file is not None:
            self.secret_data["ca.crt"] = args.ca_file.read_text()

    def check_cluster(self) -> None:
        """The cluster answers; an existing flux-system Kustomization has the same path."""
        try:
            self.existing_ks = self.ctx.kube.get_or_none(
                resource_of(Kustomization), gen.NAME, self.namespace)
        except KubeError as err:
            raise CLIError(f"cannot read the cluster: {err.message}") from None
        if self.existing_ks is not None:
            existing = str(get_path(self.existing_ks, "spec", "path") or "")
            if not gen.same_sync_path(existing, self.path):
                raise CLIError(
                    f"the Kustomization '{self.namespace}/{gen.NAME}' syncs path {existing!r}, "
                    f"not {gen.sync_path(self.path)!r}: this cluster was bootstrapped with "
                    "another --path",
                    f"run bootstrap with --path {existing.removeprefix('./') or '.'} (or "
                    "uninstall first)")

    def component_docs(self) -> list[dict[str, Any]]:
        docs = select_components(build_install_docs(find_config_dir(self.args.manifests)),
                                 self.components)
        docs = shard_docs(docs, self.args.shards)
        docs = set_operator_image(docs, operator_image(self.args.registry, self.version))
        if self.namespace != gen.NAME:
            docs = retarget_namespace(docs, self.namespace)
        docs = customize(docs, self.namespace, options_from_args(self.args, self.components))
        docs = [dict(d) for d in install_order(docs)]
        if self.args.local:
            docs = gen.local_components(docs, self.components)
        return docs

    # --- 2, 3, 6: the repository -------------------------------------------------------------
    def clone(self, scratch: Path) -> WorkingCopy:
        directory = Path(tempfile.mkdtemp(prefix="repo-", dir=scratch))
        return WorkingCopy.clone(self.url.url, self.branch, directory, self.auth)

    def files(self, wc: WorkingCopy, components: str, with_sync: bool) -> dict[str, str]:
        files = {gen.file_in(self.path, gen.COMPONENTS_FILE): components}
        if with_sync:
            objects = gen.sync_objects(namespace=self.namespace, url=self.sync.url,
                                       branch=self.branch, path=self.path,
                                       interval=self.interval, secret=self.secret_name,
                                       recurse_submodules=self.args.recurse_submodules,
                                       sparse_checkout=self.sparse_checkout)
            kfile = gen.file_in(self.path, gen.KUSTOMIZATION_FILE)
            files[gen.file_in(self.path, gen.SYNC_FILE)] = gen.sync_file(objects)
            files[kfile] = gen.kustomization_file(wc.read(kfile))
        return files

    def commit_and_push(self, scratch: Path, wc: WorkingCopy,
                        make_files: Callable[[WorkingCopy], Mapping[str, str]],
                        message: str, what: str) -> WorkingCopy:
        for _attempt in range(PUSH_ATTEMPTS):
            files = make_files(wc)
            for rel, text in files.items():
                wc.write(rel, text)
            sha = wc.commit(list(files), gen.with_appendix(
                message, self.args.commit_message_appendix), self.author, self.sign)
            if sha is None:
                self.printer.success(f"{what} are up to date")
                return wc
            self.printer.success(f'committed {what} to "{self.branch}" ("{sha}")')
            self.printer.action(f'pushing {what} to "{self.url.url}"')
            try:
                wc.push()
                return wc
            except NonFastForward:
                self.printer.warning(f'"{self.branch}" moved on while pushing; cloning again')
                wc = self.clone(scratch)
        raise CLIError(f'pushing {what} to "{self.url.url}" failed: the branch kept moving',
                       "run bootstrap again")

    def build_flux_system(self, directory: Path) -> list[dict[str, Any]]:
        """`kustomize build` of a flux-system directory."""
        binary = _kustomize_binary()
        if binary is None:
            raise CLIError("kustomize is not installed",
                           "run `make tools` or put kustomize on the PATH")
        done = subprocess.run([binary, "build", str(directory)], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise CLIError(f"building {gen.file_in(self.path, '')} failed: "
                           f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}",
                           f"fix {gen.file_in(self.path, gen.KUSTOMIZATION_FILE)} in the "
                           "repository (its patches must apply)")
        return [d for d in yaml.safe_load_all(done.stdout) if isinstance(d, dict)]

    def check_build(self, scratch: Path, wc: WorkingCopy, components: str) -> None:
        """Everything bootstrap will write must build with what is already in the
        repository (the user's kustomization.yaml and the patches it names)."""
        trial = scratch / "trial"
        shutil.copytree(wc.path, trial, ignore=shutil.ignore_patterns(".git"))
        for rel, text in self.files(wc, components, with_sync=True).items():
            target = trial / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.build_flux_system(trial / gen.file_in(self.path, ""))

    # --- 4, 5, 7: the cluster ----------------------------------------------------------------
    def _rt(self, doc: Mapping[str, Any]) -> ResourceType:
        api_version, kind = str(doc.get("apiVersion")), str(doc.get("kind"))
        if ".toolkit.fluxcd.io/" in api_version:
            try:
                cls = kind_by_name(kind)
                if cls.API_VERSION == api_version:
                    return resource_of(cls)
            except KeyError:
                pass
        try:
            return self.ctx.kube.resource_for(api_version, kind)
        except KubeNotFound:
            self.ctx.kube._discovered.clear()  # a CRD applied a moment ago
            return self.ctx.kube.resource_for(api_version, kind)

    def apply(self, docs: Sequence[Mapping[str, Any]]) -> None:
        for doc in docs:
            meta = doc.get("metadata") or {}
            label = "/".join(str(p) for p in (doc.get("kind"), meta.get("namespace"),
                                              meta.get("name")) if p)
            try:
                self.ctx.kube.apply(self._rt(doc), doc, field_manager=FIELD_MANAGER)
            except KubeError as err:
                raise CLIError(f"applying {label} failed: {err.message}",
                               "bootstrap needs cluster-admin rights") from None
            self.printer.debug(f"applied {label}")

    def wait_crds(self, docs: Sequence[Mapping[str, Any]]) -> None:
        names = [d["metadata"]["name"] for d in docs if d.get("kind") == "CustomResourceDefinition"]
        for name in names:
            def established(obj: dict[str, Any]) -> bool | None:
                ok = any(c.get("type") == "Established" and c.get("status") == "True"
                         for c in get_path(obj, "status", "conditions") or [])
                return True if ok else None
            wait_for(self.ctx.kube, CRDS, name, None, established, timeout=self.remaining(),
                     what=f"CRD {name} to be established")

    def remaining(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    def install(self, docs: Sequence[Mapping[str, Any]]) -> None:
        applied = get_path(self.existing_ks or {}, "status", "lastAppliedRevision")
        if self.existing_ks is not None and applied:
            self.reconcile_pull_secret()
            self.printer.success("reconciled components")
            return
        self.printer.action(f'installing components in "{self.namespace}" namespace')
        self.apply(docs)
        self.wait_crds(docs)
        self.printer.success("installed components")
        self.reconcile_pull_secret()
        self.printer.success("reconciled components")

    def reconcile_pull_secret(self) -> None:
        """The image pull Secret of `--registry-creds` (in the cluster, never in Git)."""
        if self.pull_secret is not None:
            self.apply([self.pull_secret])
            self.printer.success("reconciled image pull secret "
                                 f"{self.pull_secret['metadata']['name']}")

    def source_secret(self) -> None:
        name = self.secret_name
        self.printer.action(f'determining if source secret "{self.namespace}/{name}" exists')
        existing = self.ctx.kube.get_or_none(SECRETS, name, self.namespace)
        data = dict(self.secret_data)
        if self.sync.scheme == "ssh" and "identity" not in data:
            old = (existing or {}).get("data") or {}
            if "identity" in old and "identity.pub" in old:
                import base64  # noqa: PLC0415

                data["identity"] = base64.b64decode(old["identity"]).decode()
                data["identity.pub"] = base64.b64decode(old["identity.pub"]).decode()
            else:
                self.printer.action("generating source secret")
                algorithm = self.args.ssh_key_algorithm
                size = {"rsa": self.args.ssh_rsa_bits,
                        "ecdsa": ECDSA_CURVES.get(self.args.ssh_ecdsa_curve or "")}.get(algorithm)
                private, public = generate_key(algorithm, comment=f"afflux-{self.namespace}",
                                               size=size)
                data.update(identity=private, **{"identity.pub": public})
                self.generated_key = True
        if self.sync.scheme == "ssh":
            self.authorize_key(data["identity.pub"].strip())
        self.printer.action(f'applying source secret "{self.namespace}/{name}"')
        self.apply([gen.secret_object(self.namespace, data, name)])
        self.printer.success("reconciled source secret")

    def authorize_key(self, public: str) -> None:
        """The cluster's SSH key must be able to read the repository: `bootstrap git` shows
        a generated key and asks the user to give it access (not with --silent)."""
        if not self.generated_key:
            return
        self.printer.success(f"public key: {public}")
        if not getattr(self.args, "silent", False) and not confirm(
                "Please give the key access to your repository"):
            raise CLIError("bootstrap cancelled: the deploy key was not given access",
                           exit_code=EXIT_CANCELLED)

    def prepare_repository(self) -> None:
        """Before the clone: nothing for `bootstrap git` (a provider creates the
        repository here)."""

    def wait_synced(self, revision: str) -> None:
        ctx = self.ctx
        for kind in (GitRepository, Kustomization):
            try:
                request_reconcile(ctx, noun_for_kind(kind.KIND), gen.NAME, self.namespace)
            except KubeError:
                pass
        last: dict[str, Any] = {}

        def source_ready(obj: dict[str, Any]) -> bool | None:
            last["obj"] = obj
            ready = condition(obj, "Ready") or {}
            at = get_path(obj, "status", "artifact", "revision")
            if ready.get("status") == "True" and at == revision:
                return True
            return False if unresolvable(obj) else None

        def applied(obj: dict[str, Any]) -> bool | None:
            last["obj"] = obj
            ready = condition(obj, "Ready") or {}
            done = get_path(obj, "status", "lastAppliedRevision") == revision
            if done and ready.get("status") == "True":
                return True
            return False if unresolvable(obj, revision) else None

        for kind, decide, what in ((GitRepository, source_ready, "reconciled"),
                                   (Kustomization, applied, "reconciled")):
            label = f'{kind.KIND} "{self.namespace}/{gen.NAME}"'
            self.printer.waiting(f"waiting for {label} to be {what}")
            last.clear()
            try:
                ok, obj = wait_for(ctx.kube, resource_of(kind), gen.NAME, self.namespace, decide,
                                   timeout=self.remaining(),
                                   what=f"{label} to be reconciled at {revision}")
            except WaitTimeout as err:
                message = ready_message(last.get("obj") or {})
                hint = "is the controller running? `afflux check` and `afflux logs` tell"
                if self.generated_key and kind is GitRepository:
                    hint = "was the deploy key (printed above) given access to the repository?"
                raise WaitTimeout(f"{err.message}" + (f": {message}" if message else ""),
                                  hint) from None
            if not ok:  # failed in a way that waiting will not fix
                reason = unresolvable(obj, revision) or unresolvable(obj)
                raise CLIError(f"{label} failed: {reason}",
                               "fix it in the repository (a new commit is reconciled at once) "
                               f"or see `afflux events --for {kind.KIND}/{gen.NAME} "
                               f"-n {self.namespace}`")
            self.printer.success(f"{kind.KIND} reconciled successfully")

    def wait_healthy(self, what: str = "confirming components are healthy") -> None:
        self.printer.action(what)
        kube = self.ctx.kube
        while True:
            results: list[tuple[str, bool, str]] = []
            for name in instance_names(self.components, self.args.shards):
                if self.args.local:
                    dep = kube.get_or_none(DEPLOYMENTS, name, self.namespace)
                    lease = kube.get_or_none(LEASES, instance_lease(name, dep), self.namespace)
                    ok, text = lease_health(lease, datetime.now(UTC)) if lease else \
                        (False, "no leader-election Lease: is it running locally with "
                                f"--enable-leader-election --namespace={self.namespace}?")
                else:
                    dep = kube.get_or_none(DEPLOYMENTS, name, self.namespace)
                    ok, text = deployment_health(dep) if dep else (False, "deployment not found")
                results.append((name, ok, text))
            if all(ok for _, ok, _ in results) or time.monotonic() >= self.deadline:
                break
            time.sleep(1)
        for name, ok, text in results:
            (self.printer.success if ok else self.printer.failure)(f"{name}: {text}")
        if not all(ok for _, ok, _ in results):
            raise WaitTimeout("timed out waiting for the components to be healthy",
                              "`afflux check` and `afflux logs` tell more")
        self.printer.success("all components are healthy")

    # --- the whole run -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        finally:
            if self.sign is not None:
                self.sign.close()

    def _run(self) -> None:
        p = self.printer
        confirm_override(self.ctx, self.args.force, refuse_bootstrapped=False,
                         what="bootstrap")
        self.check_cluster()
        docs = self.component_docs()
        components_text = gen.components_file(docs, self.version, self.components,
                                              self.args.local)
        with tempfile.TemporaryDirectory(prefix="afflux-bootstrap-") as tmp:
            scratch = Path(tmp)
            self.prepare_repository()
            self.check_credentials(scratch)
            p.action(f'cloning branch "{self.branch}" from Git repository "{self.url.url}"')
            wc = self.clone(scratch)
            p.success("cloned repository")
            self.check_build(scratch, wc, components_text)
            p.action("generating component manifests")
            p.success("generated component manifests")
            wc = self.commit_and_push(
                scratch, wc, lambda w: self.files(w, components_text, with_sync=False),
                gen.components_message(self.version), "component manifests")
            self.install(docs)
            if not self.args.local and self.existing_ks is None:
                # A first install: the sources are only made once source-controller is
                # ready, so its first artifact URL already has a Service endpoint behind it
                # (otherwise kustomize-controller's first fetch may fail and wait a whole
                # interval before it tries again).
                self.wait_healthy("waiting for the components to be ready")
            self.source_secret()
            p.action("generating sync manifests")
            p.success("generated sync manifests")
            wc = self.commit_and_push(
                scratch, wc, lambda w: self.files(w, components_text, with_sync=True),
                gen.sync_message(self.version), "sync manifests")
            p.action("applying sync manifests")
            objects = self.build_flux_system(wc.path / gen.file_in(self.path, ""))
            self.apply(install_order(objects))
            p.success("reconciled sync configuration")
            head = wc.head
        revision = f"{self.branch}@sha1:{head}"
        self.wait_synced(revision)
        self.wait_healthy()
        p.success("bootstrap finished")


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    Bootstrap(ctx, args).run()
    return 0
