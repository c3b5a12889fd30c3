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
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from afflux.api import meta, validate_object

from . import _build, _buildhr, _buildsecrets, _sshkeys
from ._context import Context
from ._errors import CLIError
from ._format import dump_yaml
from ._kinds import Noun, controller_for, noun_for_kind
from ._kube import NAMESPACES, SECRETS, ResourceType, resource_of
from ._prompt import confirm
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
    else:  # flux's `create` takes it everywhere (and ignores it where there is no interval)
        p.add_argument("--interval", default="1m", help=argparse.SUPPRESS)


def _fetch_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fetch-timeout",
                   help="spec.timeout: how long a fetch by source-controller may take")


def _git_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    _fetch_timeout(p)
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
    p.add_argument("--ca-file", help="a CA certificate file for an https:// server (goes into "
                   "the Secret <name> with the credentials)")
    p.add_argument("--proxy-secret-ref", help="a Secret with the proxy address and credentials")
    p.add_argument("--sparse-checkout-paths", action="append",
                   help="check out only these directories (spec.sparseCheckout; "
                        "comma-separated or repeated)")
    _ssh_key_flags(p)
    p.add_argument("-s", "--silent", action="store_true",
                   help="do not ask whether the deploy key was added to the repository "
                        "(asked on a terminal only)")


def _ssh_key_flags(p: argparse.ArgumentParser) -> None:
    """The SSH key a `create ... git` generates for an ssh:// URL without a key, as flux's."""
    p.add_argument("--ssh-key-algorithm", choices=("rsa", "ecdsa", "ed25519"),
                   default="ecdsa", help="the algorithm of the generated SSH key "
                   "(default ecdsa)")
    p.add_argument("--ssh-rsa-bits", type=_sshkeys.rsa_bits_arg, default=2048, metavar="BITS",
                   help="the size of a generated RSA key (a multiple of 8, at least 1024; "
                        "default 2048)")
    p.add_argument("--ssh-ecdsa-curve", choices=tuple(_sshkeys.ECDSA_CURVES), default="p384",
                   help="the curve of a generated ECDSA key (default p384)")


def _oci_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    _fetch_timeout(p)
    p.add_argument("--url", required=True, help="the OCI repository URL, oci://host/path")
    p.add_argument("--tag", help="the tag to follow")
    p.add_argument("--tag-semver", "--semver", dest="semver", help="a semver range of tags")
    p.add_argument("--digest", help="a digest to pin, sha256:<hex>")
    p.add_argument("--secret-ref", help="a Secret of type kubernetes.io/dockerconfigjson")
    p.add_argument("--provider", choices=("generic", "aws", "azure", "gcp"))
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP")
    p.add_argument("--ignore-paths", action="append", help="paths to leave out")
    p.add_argument("--cert-ref", "--cert-secret-ref", dest="cert_ref",
                   help="a Secret with the registry's CA / client certificate (certSecretRef)")
    p.add_argument("--proxy-secret-ref", help="a Secret with the proxy address and credentials")
    p.add_argument("--service-account", help="a ServiceAccount whose image pull secrets to use")
    p.add_argument("--layer-selector", metavar="MEDIA-TYPE:OPERATION",
                   help="the layer to take: <media-type>:<extract|copy> (spec.layerSelector)")
    _verify_flags(p)


def _verify_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verify-provider", choices=_buildhr.VERIFY_PROVIDERS,
                   help="verify the signature with this provider")
    p.add_argument("--verify-secret-ref", help="a Secret with the public keys to verify with")
    p.add_argument("--verify-issuer", help="a regular expression of the OIDC issuer (keyless)")
    p.add_argument("--verify-subject",
                   help="a regular expression of the OIDC subject (keyless)")


def _helm_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    _fetch_timeout(p)
    p.add_argument("--url", required=True, help="the Helm repository URL (http(s):// or oci://)")
    p.add_argument("--secret-ref", help="a Secret with the repository credentials")
    p.add_argument("-u", "--username", help="basic auth user (creates the Secret helm-<name>)")
    p.add_argument("-p", "--password", help="basic auth password")
    p.add_argument("--cert-file", help="a TLS client certificate file (with --key-file)")
    p.add_argument("--key-file", help="the TLS client key file")
    p.add_argument("--ca-file", help="a CA certificate file for the repository's server")
    p.add_argument("--pass-credentials", action="store_true",
                   help="pass the credentials to every domain the index links to")
    p.add_argument("--oci-provider", dest="provider", choices=("generic", "aws", "azure", "gcp"))


def _bucket_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    _fetch_timeout(p)
    p.add_argument("--bucket-name", required=True, help="the name of the bucket")
    p.add_argument("--endpoint", required=True, help="the bucket's endpoint address")
    p.add_argument("--provider", default="generic", choices=("generic", "aws", "azure", "gcp"))
    p.add_argument("--region", help="the bucket's region")
    p.add_argument("--insecure", action="store_true", help="talk to the endpoint over HTTP")
    p.add_argument("--secret-ref", help="a Secret with `accesskey` and `secretkey`")
    p.add_argument("--access-key", help="the access key (creates the Secret bucket-<name>)")
    p.add_argument("--secret-key", help="the secret key")
    p.add_argument("--proxy-secret-ref", help="a Secret with the proxy address and credentials")
    p.add_argument("--ignore-paths", action="append", help="paths to leave out")


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
    p.add_argument("--health-check-timeout",
                   help="spec.timeout with --wait or --health-check (default 2m)")
    p.add_argument("--kubeconfig-secret-ref",
                   help="a Secret with the kubeconfig of the remote cluster to apply to")


def _image_repo_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--image", required=True, help="the image repository, e.g. ghcr.io/org/app")
    p.add_argument("--secret-ref", help="a Secret of type kubernetes.io/dockerconfigjson")
    p.add_argument("--cert-ref", "--cert-secret-ref", dest="cert_secret_ref",
                   help="a Secret with the registry's CA / client cert")
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
    p.add_argument("--reflect-digest", choices=_build.REFLECT_DIGEST,
                   help="digestReflectionPolicy: Never, IfNotPresent or Always (Always "
                        "re-reads the digest every --interval)")


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
    p.add_argument("--signing-key-secret",
                   help="a Secret with the key to sign the commits with")
    p.add_argument("--signing-key-type", choices=_build.SIGNING_KEY_TYPES,
                   help="the signing key's format: gpg or ssh (default gpg)")


def _secret_git_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--url", required=True, help="the Git URL the credentials are for")
    p.add_argument("-u", "--username", help="basic auth user")
    p.add_argument("-p", "--password", help="basic auth password (or the SSH key passphrase)")
    p.add_argument("--bearer-token", help="a bearer token (http(s) only)")
    p.add_argument("--ca-crt-file", "--ca-file", dest="ca_file",
                   help="a CA certificate file for the Git server")
    p.add_argument("--private-key-file", help="the SSH private key file (identity; without "
                   "it, an ssh:// URL gets a new key pair, see --ssh-key-algorithm)")
    p.add_argument("--known-hosts-file", help="a known_hosts file with the server's host key "
                   "(without it or --known-hosts, the host of --url is scanned)")
    p.add_argument("--known-hosts", help="known_hosts lines (instead of --known-hosts-file)")
    _ssh_key_flags(p)


def _hr_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--source", help="the chart's source: <kind>/<name>[.<namespace>], kind "
                   "HelmRepository, GitRepository or Bucket")
    p.add_argument("--chart", help="the chart's name (HelmRepository) or path (Git, Bucket)")
    p.add_argument("--chart-version", help="a version or semver range of the chart")
    p.add_argument("--chart-ref", help="a chart artifact instead: <kind>/<name>[.<namespace>], "
                   "kind OCIRepository or HelmChart")
    p.add_argument("--chart-interval", help="how often the HelmChart checks for a new chart")
    p.add_argument("--reconcile-strategy", default="ChartVersion",
                   help="when the chart is rebuilt: ChartVersion (default) or Revision")
    p.add_argument("--release-name",
                   help="the Helm release's name (default [<target-namespace>-]<name>)")
    p.add_argument("--target-namespace", help="the namespace to install into")
    p.add_argument("--storage-namespace",
                   help="the namespace of the release's storage (default the target namespace)")
    p.add_argument("--create-target-namespace", action="store_true",
                   help="create the target namespace if it is missing")
    p.add_argument("--depends-on", action="append",
                   help="HelmReleases to be ready first: [<namespace>/]<name> (repeat or "
                        "comma-separate)")
    p.add_argument("--service-account", help="the ServiceAccount to impersonate")
    p.add_argument("--crds", choices=_buildhr.CRDS_POLICIES, help="the upgrade CRDs policy")
    p.add_argument("--values", action="append",
                   help="local values.yaml files, merged in order (repeat or comma-separate)")
    p.add_argument("--values-from", action="append",
                   help="Secret/<name> or ConfigMap/<name> with a values.yaml key (repeat)")
    p.add_argument("--kubeconfig-secret-ref",
                   help="a Secret with the kubeconfig of the cluster to install into")


def _chart_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--source", required=True,
                   help="the source in the same namespace: <kind>/<name>, kind "
                        "HelmRepository, GitRepository or Bucket")
    p.add_argument("--chart", required=True, help="the chart's name or path in the source")
    p.add_argument("--chart-version", help="a version or semver range of the chart")
    p.add_argument("--reconcile-strategy", default="ChartVersion",
                   help="when the chart is rebuilt: ChartVersion (default) or Revision")
    p.add_argument("--fetch-timeout", help="taken, as flux takes it, and unused: a HelmChart "
                   "has no spec.timeout")
    _verify_flags(p)


def _provider_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--type", dest="type_", required=True,
                   help="the provider type: slack, msteams, generic, github, ...")
    p.add_argument("--channel", help="the channel to post to (chat providers)")
    p.add_argument("--username", help="the bot user name")
    p.add_argument("--address", help="the webhook / API address, or the Git repository URL")
    p.add_argument("--secret-ref", help="a Secret with the token (or the address)")


def _alert_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--provider-ref", required=True, help="the Provider to send to")
    p.add_argument("--event-source", dest="event_sources", action="append",
                   help="objects whose events to send: <kind>/<name>[.<namespace>], name may be "
                        "* (repeat or comma-separate)")
    p.add_argument("--event-severity", choices=("info", "error"),
                   help="the lowest severity to send (default info)")


def _receiver_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--type", dest="type_", required=True, choices=_buildhr.RECEIVER_TYPES,
                   help="the webhook's sender")
    p.add_argument("--secret-ref", required=True,
                   help="a Secret with the `token` the webhook path is made from")
    p.add_argument("--resource", dest="resources", action="append",
                   help="objects to reconcile on a call: <kind>/<name> (repeat or "
                        "comma-separate)")
    p.add_argument("--event", dest="events", action="append",
                   help="the sender's event types to accept, e.g. push (repeat or "
                        "comma-separate)")


def _tenant_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--with-namespace", dest="namespaces", action="append", required=True,
                   help="a namespace of the tenant (repeat or comma-separate)")
    p.add_argument("--cluster-role", default="cluster-admin",
                   help="the ClusterRole the tenant's RoleBinding grants (default "
                        "cluster-admin)")
    p.add_argument("--with-service-account",
                   help="the tenant's ServiceAccount (default the tenant's name)")
    p.add_argument("--skip-namespace", action="store_true",
                   help="do not create the namespaces (they exist)")


def _secret_tls_files(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-crt-file", help="the TLS client certificate file")
    p.add_argument("--tls-key-file", help="the TLS client key file")
    p.add_argument("--ca-crt-file", help="a CA certificate file")


def _secret_helm_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("-u", "--username", help="basic auth user")
    p.add_argument("-p", "--password", help="basic auth password")
    _secret_tls_files(p)


def _secret_tls_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    _secret_tls_files(p)


def _secret_oci_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--url", required=True, help="the registry address, e.g. ghcr.io/org/charts")
    p.add_argument("-u", "--username", required=True, help="the registry user")
    p.add_argument("-p", "--password", required=True, help="the registry password or token")


def _secret_proxy_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--address", required=True, help="the proxy address, e.g. http://proxy:3128")
    p.add_argument("-u", "--username", help="the proxy user")
    p.add_argument("-p", "--password", help="the proxy password")


def _secret_notation_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--trust-policy-file", required=True, help="the notation trust policy file")
    p.add_argument("--ca-cert-file", action="append", required=True,
                   help="a root CA certificate file, .crt or .pem (repeat or comma-separate)")


def _secret_githubapp_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--app-id", required=True, help="the GitHub App's ID")
    p.add_argument("--app-installation-id", help="the installation's ID")
    p.add_argument("--app-installation-owner", help="or the installation's owner (user/org)")
    p.add_argument("--app-private-key", required=True, help="the App's private key file")
    p.add_argument("--app-base-url", help="the GitHub API address (GitHub Enterprise)")


def _secret_receiver_flags(p: argparse.ArgumentParser) -> None:
    _common(p, interval=False)
    p.add_argument("--type", dest="receiver_type", choices=_buildsecrets.RECEIVER_TYPES,
                   help="the Receiver type")
    # `--token` is the global one (the API bearer token) everywhere else: here it is the
    # webhook token, as in flux, and the API connection does not take it (`token_is_local`)
    p.set_defaults(token_is_local=True)
    p.add_argument("--hostname", help="the hostname of the webhook URL, e.g. flux.example.com")
    p.add_argument("--email-claim", help="IAM service account email, required for gcr")
    p.add_argument("--audience-claim",
                   help="custom OIDC token audience for gcr (default the webhook URL)")


# --- builders from args --------------------------------------------------------------------------


def _read(path: str | None, flag: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_text()
    except OSError as err:
        raise CLIError(f"{flag} {path}: {err.strerror or err}") from None


#: how long a host key scan of an ssh:// URL may take (flux's 30s)
SSH_SCAN_TIMEOUT = 30


def _secret_from(args: argparse.Namespace, name: str, ns: str,
                 labels: dict[str, str]) -> dict[str, Any]:
    """The Git credentials Secret of the flags. For an ssh:// URL without
    --private-key-file a key pair is generated (--ssh-key-algorithm, --ssh-rsa-bits,
    --ssh-ecdsa-curve) (of a key file without `<file>.pub` the public key is derived) and
    without known hosts the URL's host is scanned, as flux does; what to tell the user
    about both goes to `args.ssh_messages`."""
    key = getattr(args, "private_key_file", None)
    pub = _read(f"{key}.pub", "--private-key-file") if key and Path(f"{key}.pub").exists() \
        else None
    identity = _read(key, "--private-key-file")
    password = args.password
    known = _read(getattr(args, "known_hosts_file", None), "--known-hosts-file") or \
        getattr(args, "known_hosts", None)
    url = urlparse(args.url)
    args.ssh_messages = []
    if url.scheme == "ssh":
        if identity and not pub:  # as flux: the public half of the key file, for the user
            pub = _sshkeys.public_key_of(Path(str(key)).expanduser(), password or "")
        if not identity:
            algorithm = args.ssh_key_algorithm
            identity, pub = _sshkeys.generate_key(
                algorithm, comment=f"afflux-{ns}-{name}",
                size=_sshkeys.key_size(algorithm, args.ssh_rsa_bits, args.ssh_ecdsa_curve))
            password = None  # the passphrase of a key file; a generated key has none
        if not known:
            if not url.hostname:
                raise _build.BuildError(f"--url {args.url!r} names no host")
            known = _sshkeys.scan_host_keys(url.hostname, url.port or 22,
                                            timeout=SSH_SCAN_TIMEOUT)
            args.ssh_messages.append(
                ("success", f"collected public key from SSH server:\n{known.rstrip()}"))
        if pub:
            args.ssh_messages.append(("generate", f"deploy key: {pub.strip()}"))
    return _build.git_secret(
        name, ns, url=args.url, username=args.username, password=password,
        bearer_token=getattr(args, "bearer_token", None),
        ca_crt=_read(getattr(args, "ca_file", None), "--ca-file"),
        identity=identity, identity_pub=pub, known_hosts=known,
        labels=labels,
    )


def _with(doc: dict[str, Any], args: argparse.Namespace | None = None,
          **fields: Any) -> dict[str, Any]:
    """Add the spec fields that are set (not None), and `--fetch-timeout` as spec.timeout, and
    keep the spec's keys sorted."""
    if args is not None and getattr(args, "fetch_timeout", None):
        fields["timeout"] = _build.go_duration(args.fetch_timeout, "--fetch-timeout")
    spec = {**doc["spec"], **{k: v for k, v in fields.items() if v is not None}}
    doc["spec"] = dict(sorted(spec.items()))
    return doc


def _ref(name: str | None) -> dict[str, str] | None:
    return {"name": name} if name else None


def _git(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    docs: list[dict[str, Any]] = []
    secret_ref = args.secret_ref
    if args.ca_file and urlparse(args.url).scheme == "ssh":
        raise _build.BuildError("--ca-file is for https:// URLs; Git over SSH checks the host "
                                "key (--known-hosts-file)")
    # as flux: an ssh:// URL without --secret-ref gets a Secret with a generated deploy key
    # (when the object is applied; --export prints the GitRepository alone)
    ssh_key = urlparse(args.url).scheme == "ssh" and not secret_ref and not args.export
    if args.username or args.private_key_file or args.ca_file or ssh_key:
        if secret_ref:
            raise _build.BuildError("give --secret-ref or credentials, not both")
        docs.append(_secret_from(args, name, ns, labels))
        secret_ref = name
    docs.append(_with(_build.git_repository(
        name, ns, url=args.url, branch=args.branch, tag=args.tag, semver=args.semver,
        commit=args.commit, ref_name=args.ref_name, interval=args.interval,
        secret_ref=secret_ref, ignore_paths=args.ignore_paths,
        recurse_submodules=args.recurse_submodules, provider=args.provider,
        sparse_checkout_paths=args.sparse_checkout_paths, labels=labels,
    ), args, proxySecretRef=_ref(args.proxy_secret_ref)))
    return docs


def _oci(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    doc = _build.oci_repository(
        name, ns, url=args.url, tag=args.tag, semver=args.semver, digest=args.digest,
        interval=args.interval, secret_ref=args.secret_ref, provider=args.provider,
        insecure=args.insecure, ignore_paths=args.ignore_paths, labels=labels,
    )
    verify = _buildhr.verification(args.verify_provider, args.verify_secret_ref,
                                   args.verify_issuer, args.verify_subject)
    return [_with(doc, args, certSecretRef=_ref(args.cert_ref),
                  proxySecretRef=_ref(args.proxy_secret_ref),
                  serviceAccountName=args.service_account or None, verify=verify,
                  layerSelector=_build.layer_selector(args.layer_selector))]


def _credentials_note(args: argparse.Namespace, secret_name: str) -> None:
    """flux leaves credentials out of `--export` (they go into a Secret only when it applies):
    say so rather than drop them silently."""
    if args.export:
        args.notes.append(f"the credentials are not exported: create the Secret {secret_name} "
                          f"with `afflux create secret ...` and pass --secret-ref={secret_name}")


def _helm(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    docs: list[dict[str, Any]] = []
    secret_ref = args.secret_ref
    has_credentials = any((args.username, args.password, args.cert_file, args.key_file,
                           args.ca_file))
    if has_credentials and secret_ref:
        raise _build.BuildError("give --secret-ref or credentials, not both")
    if has_credentials:
        if bool(args.cert_file) != bool(args.key_file):
            raise _build.BuildError("--cert-file and --key-file go together")
        secret_name = f"helm-{name}"
        if args.export:
            _credentials_note(args, secret_name)
        else:
            docs.append(_buildsecrets.helm_secret(
                secret_name, ns, username=args.username, password=args.password,
                tls_crt=_read(args.cert_file, "--cert-file"),
                tls_key=_read(args.key_file, "--key-file"),
                ca_crt=_read(args.ca_file, "--ca-file"), labels=labels))
            secret_ref = secret_name
    docs.append(_with(_build.helm_repository(
        name, ns, url=args.url, interval=args.interval, secret_ref=secret_ref,
        pass_credentials=args.pass_credentials and bool(secret_ref), provider=args.provider,
        labels=labels,
    ), args))
    return docs


def _bucket(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    docs: list[dict[str, Any]] = []
    secret_ref = args.secret_ref
    if bool(args.access_key) != bool(args.secret_key):
        raise _build.BuildError("--access-key and --secret-key go together")
    if args.access_key and secret_ref:
        raise _build.BuildError("give --secret-ref or --access-key/--secret-key, not both")
    if args.access_key:
        secret_name = f"bucket-{name}"
        if args.export:
            _credentials_note(args, secret_name)
        else:
            docs.append(_buildsecrets.secret(
                secret_name, ns, {"accesskey": args.access_key, "secretkey": args.secret_key},
                labels=labels))
            secret_ref = secret_name
    paths = _build._split_list(args.ignore_paths)
    docs.append(_with(_build.bucket(
        name, ns, bucket_name=args.bucket_name, endpoint=args.endpoint, provider=args.provider,
        region=args.region, insecure=args.insecure, interval=args.interval,
        secret_ref=secret_ref, labels=labels,
    ), args, proxySecretRef=_ref(args.proxy_secret_ref),
        ignore="\n".join(paths) if paths else None))
    return docs


def _ks(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_build.kustomization(
        name, ns, source=args.source, path=args.path, prune=args.prune, interval=args.interval,
        target_namespace=args.target_namespace, depends_on=args.depends_on,
        timeout=args.ks_timeout, retry_interval=args.retry_interval, wait=args.wait,
        service_account=args.service_account, health_checks=args.health_check,
        decryption_provider=args.decryption_provider, decryption_secret=args.decryption_secret,
        health_check_timeout=args.health_check_timeout,
        kubeconfig_secret_ref=args.kubeconfig_secret_ref, labels=labels,
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
        filter_regex=args.filter_regex, filter_extract=args.filter_extract,
        reflect_digest=args.reflect_digest, interval=args.interval, labels=labels,
    )]


def _image_update(args: argparse.Namespace, name: str, ns: str,
                  labels: dict[str, str]) -> list[dict]:
    return [_build.image_update(
        name, ns, git_repo_ref=args.git_repo_ref, git_repo_namespace=args.git_repo_namespace,
        git_repo_path=args.git_repo_path, checkout_branch=args.checkout_branch,
        push_branch=args.push_branch, author_name=args.author_name,
        author_email=args.author_email, commit_template=args.commit_template,
        interval=args.interval, signing_key_secret=args.signing_key_secret,
        signing_key_type=args.signing_key_type, labels=labels,
    )]


def _secret_git(args: argparse.Namespace, name: str, ns: str,
                labels: dict[str, str]) -> list[dict]:
    return [_secret_from(args, name, ns, labels)]


def _load_values(files: Sequence[str] | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in _build._split_list(files):
        text = _read(path, "--values") or ""
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise CLIError(f"--values {path}: not YAML: {err}") from None
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise CLIError(f"--values {path}: expected a map of values")
        merged = _buildhr.merge_values(merged, doc)
    return merged


def _hr(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_buildhr.helm_release(
        name, ns, source=args.source, chart=args.chart, chart_version=args.chart_version,
        chart_ref=args.chart_ref, chart_interval=args.chart_interval,
        reconcile_strategy=args.reconcile_strategy, release_name=args.release_name,
        target_namespace=args.target_namespace, storage_namespace=args.storage_namespace,
        create_target_namespace=args.create_target_namespace, depends_on=args.depends_on,
        service_account=args.service_account, crds=args.crds,
        values=_load_values(args.values), values_from=args.values_from,
        kubeconfig_secret_ref=args.kubeconfig_secret_ref, interval=args.interval, labels=labels,
    )]


def _chart(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_buildhr.helm_chart(
        name, ns, source=args.source, chart=args.chart, chart_version=args.chart_version,
        reconcile_strategy=args.reconcile_strategy, verify_provider=args.verify_provider,
        verify_secret_ref=args.verify_secret_ref, verify_issuer=args.verify_issuer,
        verify_subject=args.verify_subject, interval=args.interval, labels=labels,
    )]


def _provider(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_buildhr.alert_provider(
        name, ns, type_=args.type_, channel=args.channel, username=args.username,
        address=args.address, secret_ref=args.secret_ref, labels=labels,
    )]


def _alert(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_buildhr.alert(
        name, ns, provider_ref=args.provider_ref, event_sources=args.event_sources,
        event_severity=args.event_severity, labels=labels,
    )]


def _receiver(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return [_buildhr.receiver(
        name, ns, type_=args.type_, secret_ref=args.secret_ref, resources=args.resources,
        events=args.events, labels=labels,
    )]


def _tenant(args: argparse.Namespace, name: str, ns: str, labels: dict[str, str]) -> list[dict]:
    return _buildsecrets.tenant(
        name, args.namespaces, cluster_role=args.cluster_role,
        service_account=args.with_service_account, skip_namespace=args.skip_namespace,
        labels=labels,
    )


def _secret_helm(args: argparse.Namespace, name: str, ns: str,
                 labels: dict[str, str]) -> list[dict]:
    return [_buildsecrets.helm_secret(
        name, ns, username=args.username, password=args.password,
        tls_crt=_read(args.tls_crt_file, "--tls-crt-file"),
        tls_key=_read(args.tls_key_file, "--tls-key-file"),
        ca_crt=_read(args.ca_crt_file, "--ca-crt-file"), labels=labels,
    )]


def _secret_tls(args: argparse.Namespace, name: str, ns: str,
                labels: dict[str, str]) -> list[dict]:
    return [_buildsecrets.tls_secret(
        name, ns, tls_crt=_read(args.tls_crt_file, "--tls-crt-file"),
        tls_key=_read(args.tls_key_file, "--tls-key-file"),
        ca_crt=_read(args.ca_crt_file, "--ca-crt-file"), labels=labels,
    )]


def _secret_oci(args: argparse.Namespace, name: str, ns: str,
                labels: dict[str, str]) -> list[dict]:
    return [_buildsecrets.oci_secret(name, ns, url=args.url, username=args.username,
                                     password=args.password, labels=labels)]


def _secret_proxy(args: argparse.Namespace, name: str, ns: str,
                  labels: dict[str, str]) -> list[dict]:
    return [_buildsecrets.proxy_secret(name, ns, address=args.address, username=args.username,
                                       password=args.password, labels=labels)]


def _secret_notation(args: argparse.Namespace, name: str, ns: str,
                     labels: dict[str, str]) -> list[dict]:
    certs = {Path(f).name: _read(f, "--ca-cert-file") or ""
             for f in _build._split_list(args.ca_cert_file)}
    return [_buildsecrets.notation_secret(
        name, ns, trust_policy=_read(args.trust_policy_file, "--trust-policy-file") or "",
        ca_certs=certs, labels=labels,
    )]


def _secret_githubapp(args: argparse.Namespace, name: str, ns: str,
                      labels: dict[str, str]) -> list[dict]:
    return [_buildsecrets.github_app_secret(
        name, ns, app_id=args.app_id,
        private_key=_read(args.app_private_key, "--app-private-key") or "",
        installation_id=args.app_installation_id,
        installation_owner=args.app_installation_owner, base_url=args.app_base_url,
        labels=labels,
    )]


def _secret_receiver(args: argparse.Namespace, name: str, ns: str,
                     labels: dict[str, str]) -> list[dict]:
    return [_buildsecrets.receiver_secret(
        name, ns, type_=args.receiver_type or "", token=args.token or secrets.token_hex(32),
        hostname=args.hostname or "", email_claim=args.email_claim,
        audience_claim=args.audience_claim, labels=labels)]


# --- the command ------------------------------------------------------------------------------

#: (words, flags, builder, help)
_COMMANDS: tuple[tuple[tuple[str, ...], Callable[[argparse.ArgumentParser], None], Builder,
                       str], ...] = (
    (("source", "git"), _git_flags, _git, "create or update a GitRepository"),
    (("source", "oci"), _oci_flags, _oci, "create or update an OCIRepository"),
    (("source", "helm"), _helm_flags, _helm, "create or update a HelmRepository"),
    (("source", "chart"), _chart_flags, _chart, "create or update a HelmChart"),
    (("source", "bucket"), _bucket_flags, _bucket, "create or update a Bucket"),
    (("kustomization",), _ks_flags, _ks, "create or update a Kustomization"),
    (("helmrelease",), _hr_flags, _hr, "create or update a HelmRelease"),
    (("alert-provider",), _provider_flags, _provider,
     "create or update a notification Provider"),
    (("alert",), _alert_flags, _alert, "create or update an Alert"),
    (("receiver",), _receiver_flags, _receiver, "create or update a Receiver"),
    (("tenant",), _tenant_flags, _tenant,
     "create or update a tenant: namespaces, a ServiceAccount and a RoleBinding each"),
    (("image", "repository"), _image_repo_flags, _image_repo,
     "create or update an ImageRepository"),
    (("image", "policy"), _image_policy_flags, _image_policy, "create or update an ImagePolicy"),
    (("image", "update"), _image_update_flags, _image_update,
     "create or update an ImageUpdateAutomation"),
    (("secret", "git"), _secret_git_flags, _secret_git,
     "create or update a Secret with Git credentials"),
    (("secret", "helm"), _secret_helm_flags, _secret_helm,
     "create or update a Secret with Helm repository credentials"),
    (("secret", "oci"), _secret_oci_flags, _secret_oci,
     "create or update a registry (dockerconfigjson) Secret"),
    (("secret", "tls"), _secret_tls_flags, _secret_tls,
     "create or update a Secret with TLS certificates"),
    (("secret", "proxy"), _secret_proxy_flags, _secret_proxy,
     "create or update a Secret with a proxy address and credentials"),
    (("secret", "notation"), _secret_notation_flags, _secret_notation,
     "create or update a Secret with notation CA certificates and trust policy"),
    (("secret", "githubapp"), _secret_githubapp_flags, _secret_githubapp,
     "create or update a Secret with GitHub App credentials"),
    (("secret", "receiver"), _secret_receiver_flags, _secret_receiver,
     "create or update a Secret with a Receiver's webhook token (and its URL)"),
)
_ALIASES = {"source": ["sources"], "image": ["images"], "kustomization": ["ks"],
            "secret": ["secrets"], "repository": ["repo"], "helmrelease": ["hr"]}


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
    if doc.get("kind") in _CORE_KINDS:
        return
    problems = validate_object(doc)
    if problems:
        raise CLIError(f"the {doc['kind']} would be rejected: " + "; ".join(problems))


#: The Kubernetes kinds `create` makes besides Flux's (secrets, tenants).
_CORE_KINDS: dict[str, ResourceType] = {
    "Secret": SECRETS,
    "Namespace": NAMESPACES,
    "ServiceAccount": ResourceType("", "v1", "ServiceAccount", "serviceaccounts"),
    "RoleBinding": ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding",
                                "rolebindings"),
}


def _rt_of(doc: dict[str, Any]) -> ResourceType:
    if doc["kind"] in _CORE_KINDS:
        return _CORE_KINDS[doc["kind"]]
    return resource_of(noun_for_kind(doc["kind"]).kind)


def _waits(doc: dict[str, Any]) -> bool:
    """Whether a controller reports on the object: not for core kinds, Alerts, Providers
    (no status in v1beta3) and OCI HelmRepositories (static, as in flux)."""
    kind = doc["kind"]
    if kind in _CORE_KINDS or kind in ("Alert", "Provider"):
        return False
    return not (kind == "HelmRepository" and doc["spec"].get("type") == "oci")


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    name, ns = args.name, ctx.namespace
    args.notes = []
    try:
        labels = _build.parse_labels(args.label)
        docs = args.build(args, name, ns, labels)
    except _build.BuildError as err:
        raise CLIError(str(err), f"see `afflux create {args.create_words} --help`") from None
    for doc in docs:
        _check_offline(doc)
    for note in args.notes:
        ctx.printer.warning(note)
    if args.export:
        ctx.printer.result(dump_yaml(docs), end="")
        return 0
    printer = ctx.printer
    _tell_ssh(args, printer)
    for doc in docs:
        kind, meta_ = doc["kind"], doc["metadata"]
        label = kind if kind not in _CORE_KINDS or kind == "Secret" else \
            f"{kind} {meta_['name']}"
        printer.generate(f"generating {label}")
        printer.action(f"applying {label}")
        rt = _rt_of(doc)
        existed = ctx.kube.get_or_none(rt, meta_["name"], meta_.get("namespace")) is not None
        ctx.kube.apply(rt, doc, field_manager=meta.CLI_FIELD_MANAGER)
        printer.success(f"{label} {'updated' if existed else 'created'}")
        if _waits(doc):
            _wait_ready(ctx, noun_for_kind(kind), meta_["name"], meta_["namespace"])
    return 0


def _tell_ssh(args: argparse.Namespace, printer: Any) -> None:
    """Print the scanned host key and the deploy key (as flux) and, for a GitRepository with
    a deploy key, ask on a terminal whether it was added to the repository (unless
    --silent); a no stops before anything is applied."""
    messages = getattr(args, "ssh_messages", [])
    for kind, text in messages:
        getattr(printer, kind)(text)
    deploy_key = any(text.startswith("deploy key:") for _, text in messages)
    if deploy_key and args.create_words == "source git" and not args.silent and \
            not confirm("Have you added the deploy key to your repository"):
        raise CLIError("aborting: the deploy key was not added",
                       "add the deploy key above to the repository (with read access), then "
                       "run the command again; --silent skips the question")


def _wait_ready(ctx: Context, noun: Noun, name: str, ns: str) -> None:
    kind = noun.kind.KIND
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
