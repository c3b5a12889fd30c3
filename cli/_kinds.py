"""The words the CLI uses for kinds (`source git`, `kustomization`/`ks`, `image policy`,
`alert-provider`, ...), as flux accepts them, and the argparse trees built from them.

Every verb that acts on one kind (`get`, `reconcile`, `suspend`, `resume`, `delete`,
`export`) takes the same nouns; `normalize_argv` also lets a user write any name kubectl
knows for a kind (`afflux reconcile gitrepository podinfo`, `afflux get gitrepo/podinfo`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from afflux.api import (
    KINDS,
    Alert,
    ArtifactGenerator,
    Bucket,
    ExternalArtifact,
    GitRepository,
    HelmChart,
    HelmRelease,
    HelmRepository,
    ImagePolicy,
    ImageRepository,
    ImageUpdateAutomation,
    Kustomization,
    OCIRepository,
    Provider,
    Receiver,
    Resource,
    kind_by_name,
)

__all__ = [
    "AVAILABLE_CONTROLLERS",
    "COMPONENTS_HELP",
    "CONTROLLERS",
    "DEFAULT_COMPONENTS",
    "GROUP_WORDS",
    "NOUNS",
    "Noun",
    "add_noun_parsers",
    "noun_for_kind",
    "normalize_argv",
]


@dataclass(frozen=True)
class Noun:
    """One kind as the CLI names it: an optional group word (`source`, `image`) and a word."""

    kind: type[Resource]
    word: str
    group: str | None = None
    aliases: tuple[str, ...] = ()
    #: The word `get` lists it under (`kustomizations`, `alert-providers`); group leaves
    #: keep their singular word (`get sources git`).
    plural: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return (self.group, self.word) if self.group else (self.word,)

    @property
    def cli(self) -> str:
        """`source git`, `kustomization` (what `reconcile`, `delete`, ... take)."""
        return " ".join(self.words)

    @property
    def get_cli(self) -> str:
        """`sources git`, `kustomizations` (what `get` takes)."""
        if self.group:
            return f"{GROUP_WORDS[self.group][0]} {self.word}"
        return self.plural or self.word

    def names(self, for_get: bool = False) -> tuple[str, tuple[str, ...]]:
        """The parser name and aliases for this noun's leaf."""
        if for_get and self.plural:
            return self.plural, tuple(a for a in (self.word, *self.aliases) if a != self.plural)
        rest = tuple(a for a in (self.plural, *self.aliases) if a and a != self.word)
        return self.word, rest


#: group word -> (the name `get` uses, the other accepted words)
GROUP_WORDS: dict[str, tuple[str, ...]] = {
    "source": ("sources", "source"),
    "image": ("images", "image"),
    "artifact": ("artifact", "artifacts"),
}

NOUNS: tuple[Noun, ...] = (
    Noun(GitRepository, "git", "source"),
    Noun(OCIRepository, "oci", "source"),
    Noun(HelmRepository, "helm", "source"),
    Noun(HelmChart, "chart", "source"),
    Noun(Bucket, "bucket", "source"),
    Noun(ExternalArtifact, "external", "source"),
    Noun(ArtifactGenerator, "generator", "artifact", aliases=("generators",)),
    Noun(Kustomization, "kustomization", aliases=("ks",), plural="kustomizations"),
    Noun(HelmRelease, "helmrelease", aliases=("hr",), plural="helmreleases"),
    Noun(ImageRepository, "repository", "image", aliases=("repositories", "repo")),
    Noun(ImagePolicy, "policy", "image", aliases=("policies",)),
    Noun(ImageUpdateAutomation, "update", "image", aliases=("updates",)),
    Noun(Alert, "alert", plural="alerts"),
    Noun(Provider, "alert-provider", plural="alert-providers"),
    Noun(Receiver, "receiver", plural="receivers"),
)

_BY_KIND: dict[str, Noun] = {n.kind.KIND: n for n in NOUNS}
assert len(_BY_KIND) == len(KINDS), "every afflux kind needs a CLI noun"


def noun_for_kind(kind: str) -> Noun:
    """The noun of a kind by its Kind name (`GitRepository` -> `source git`)."""
    return _BY_KIND[kind]


def resolve_kind(text: str) -> type[Resource]:
    """A kind from anything a user may type for it: `GitRepository`, `gitrepositories`,
    `gitrepo`, `ks`, `hr`, `kustomizations.kustomize.toolkit.fluxcd.io`. KeyError otherwise."""
    return kind_by_name(text)


# --- argparse trees ----------------------------------------------------------------------------

Configure = Callable[[argparse.ArgumentParser, Noun], None]


def add_noun_parsers(
    sub: argparse._SubParsersAction,
    configure: Configure,
    *,
    parents: Sequence[argparse.ArgumentParser] = (),
    for_get: bool = False,
    nouns: Iterable[Noun] = NOUNS,
    help_for: Callable[[Noun], str] | None = None,
    group_all: Callable[[argparse.ArgumentParser, str, tuple[Noun, ...]], None] | None = None,
) -> None:
    """Add a subparser per noun under `sub` (grouped ones under their group word) and let
    `configure` add the verb's arguments and `set_defaults(func=...)` to each leaf.
    `group_all` (for `get`) adds an `all` leaf to each group."""
    nouns = tuple(nouns)
    groups: dict[str, argparse._SubParsersAction] = {}
    for noun in nouns:
        target = sub
        if noun.group:
            if noun.group not in groups:
                words = GROUP_WORDS[noun.group]
                name, aliases = (words[0], words[1:]) if for_get else (words[1], words[:1])
                gp = sub.add_parser(
                    name, aliases=list(aliases), parents=list(parents),
                    help=f"{noun.group} kinds",
                )
                gsub = gp.add_subparsers(dest=f"{noun.group}_kind", metavar="<kind>")
                gsub.required = True
                groups[noun.group] = gsub
                if group_all is not None:
                    members = tuple(n for n in nouns if n.group == noun.group)
                    group_all(gsub.add_parser(
                        "all", parents=list(parents), help=f"every {noun.group} kind"
                    ), noun.group, members)
            target = groups[noun.group]
        name, aliases = noun.names(for_get)
        help_text = help_for(noun) if help_for else noun.kind.KIND
        leaf = target.add_parser(name, aliases=list(aliases), parents=list(parents),
                                 help=help_text)
        leaf.set_defaults(noun=noun)
        configure(leaf, noun)


# --- generic kind names ------------------------------------------------------------------------

#: Verbs whose next word is a noun.
KIND_VERBS = frozenset({"get", "reconcile", "suspend", "resume", "delete", "export"})
#: Global options that take a value as the next argument.
_VALUE_OPTIONS = frozenset({"-n", "--namespace", "--kubeconfig", "--context", "--timeout",
                            "--server", "--token", "--as", "--as-group", "--as-uid",
                            "--certificate-authority", "--client-certificate", "--client-key",
                            "--cluster", "--user", "--as-user-extra", "--tls-server-name",
                            "--kube-api-qps", "--kube-api-burst", "--cache-dir"})


def _known_words() -> set[str]:
    words: set[str] = {"all"}
    for noun in NOUNS:
        if noun.group:
            words.update(GROUP_WORDS[noun.group])
        else:
            name, aliases = noun.names()
            words.update((name, *aliases))
    return words


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Rewrite `<verb> <any kind name>[/<name>] ...` to `<verb> <noun words> [<name>] ...`.

    `afflux reconcile gitrepository podinfo` -> `reconcile source git podinfo`;
    `afflux get ks/apps` -> `get kustomization apps`. Anything else is left as it is."""
    args = list(argv)
    i = 0
    while i < len(args):  # find the verb, skipping global options
        token = args[i]
        if token == "--":
            return args
        if token.startswith("-"):
            i += 1 if ("=" in token or token not in _VALUE_OPTIONS) else 2
            continue
        break
    if i >= len(args) or args[i] not in KIND_VERBS:
        return args
    j = i + 1
    while j < len(args) and args[j].startswith("-"):
        j += 1 if ("=" in args[j] or args[j] not in _VALUE_OPTIONS) else 2
    if j >= len(args):
        return args
    word, _, name = args[j].partition("/")
    if args[j] in _known_words():
        return args
    if word in _known_words() and name:
        noun_words: list[str] = [word]
        for noun in NOUNS:
            if word in (noun.word, noun.plural, *noun.aliases) and not noun.group:
                noun_words = list(noun.words)
        return [*args[:j], *noun_words, name, *args[j + 1:]]
    try:
        kind = resolve_kind(word)
    except KeyError:
        return args
    noun = noun_for_kind(kind.KIND)
    rest = [name] if name else []
    return [*args[:j], *noun.words, *rest, *args[j + 1:]]


#: The six operators, in the order flux lists its controllers.
CONTROLLERS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
)

#: The operators afflux has: all six (nothing else may be installed, bootstrapped or
#: expected).
AVAILABLE_CONTROLLERS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
)

#: `--components` when not given (install, bootstrap, check): flux's defaults (source,
#: kustomize, helm, notification); the image controllers are extras, as in flux.
DEFAULT_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller",
                      "notification-controller")

#: The help text of `--components`.
COMPONENTS_HELP = (
    "the operators, comma-separated (default source-controller,kustomize-controller,"
    "helm-controller,notification-controller, flux's defaults; add the image controllers "
    "with --components-extra)"
)

#: The operator that reconciles each kind (for hints).
_CONTROLLERS: dict[str, str] = {
    "GitRepository": "source-controller",
    "OCIRepository": "source-controller",
    "HelmRepository": "source-controller",
    "HelmChart": "source-controller",
    "Bucket": "source-controller",
    "Kustomization": "kustomize-controller",
    "HelmRelease": "helm-controller",
    "ImageRepository": "image-reflector-controller",
    "ImagePolicy": "image-reflector-controller",
    "ImageUpdateAutomation": "image-automation-controller",
    "Provider": "notification-controller",
    "Alert": "notification-controller",
    "Receiver": "notification-controller",
}


def controller_for(kind: str) -> str:
    """The operator that reconciles a kind (`Kustomization` -> `kustomize-controller`)."""
    return _CONTROLLERS.get(kind, "its controller")
