"""postBuild substitution: the expression language, strict mode, variable merging and names,
and the per-object rules (disabled objects, YAML re-read, only with variables defined)."""

from __future__ import annotations

import pytest

from afflux.controllers.kustomize._substitute import (
    InvalidVariableNameError,
    SubstitutionError,
    SubstitutionSyntaxError,
    UndefinedVariableError,
    expand,
    merge_variables,
    substitute_object,
    substitute_objects,
    validate_variable_names,
)

VARS = {
    "app": "podinfo",
    "env": "prod",
    "empty": "",
    "path": "/home/bozo/ideas/thoughts.for.today",
    "file": "bash.string.txt",
    "rel": "path/to/file",
    "abc": "abcABC123ABCabc",
    "mixed": "abcdEFGH28ij",
    "slashy": "foo/bar/baz",
    "dotted": "foo.bar",
    "fallback": "fb",
    "accent": "été",
}

# (id, text, expected) with VARS, not strict.
EXPAND_CASES = [
    ("plain-text", "no variables here", "no variables here"),
    ("simple", "name: ${app}", "name: podinfo"),
    ("two-in-one-line", "${app}-${env}", "podinfo-prod"),
    ("undefined-is-empty", "x${nope}y", "xy"),
    ("dollar-var-untouched", "echo $app", "echo $app"),
    ("double-dollar-brace-is-literal", "$${app}", "${app}"),
    ("double-dollar-is-one-dollar", "cost: $$5", "cost: $5"),
    ("triple-dollar-then-var", "$$${app}", "$podinfo"),
    ("lone-dollar-kept", "a $ b $", "a $ b $"),
    ("default-colon-equals-unset", "${nope:=dev}", "dev"),
    ("default-colon-equals-set", "${env:=dev}", "prod"),
    ("default-colon-equals-empty", "${empty:=dev}", "dev"),
    ("default-equals", "${nope=dev}", "dev"),
    ("default-colon-dash", "${nope:-dev}", "dev"),
    ("default-nested-var", "${nope:=${fallback}}", "fb"),
    ("default-mixed-text-and-var", "${nope=pre-${fallback}-post}", "pre-fb-post"),
    ("default-with-colon-and-space", "${nope:=a: b}", "a: b"),
    ("default-empty", "${nope:=}", ""),
    ("colon-plus-acts-as-default", "${nope:+x}|${app:+x}", "x|podinfo"),
    ("colon-question-acts-as-default", "${nope:?x}", "x"),
    ("substring-from", "${path:11}", "ideas/thoughts.for.today"),
    ("substring-from-length", "${path:11:5}", "ideas"),
    ("substring-negative-from", "${path: -5}", "/home/bozo/ideas/thoughts.for.today"),
    ("substring-past-end", "${app:50}", ""),
    ("substring-length-past-end", "${app:3:100}", "info"),
    ("substring-negative-length", "${app:1:-1}", "odinf"),
    ("substring-offset-from-var", "${app:${nope:=3}}", "info"),
    ("substring-bytes-not-characters", "${accent:0:2}", "é"),
    ("replace-first", "${abc/abc/xyz}", "xyzABC123ABCabc"),
    ("replace-all", "${abc//abc/xyz}", "xyzABC123ABCxyz"),
    ("replace-prefix", "${abc/#abc/XYZ}", "XYZABC123ABCabc"),
    ("replace-suffix", "${abc/%abc/XYZ}", "abcABC123ABCXYZ"),
    ("replace-prefix-no-match", "${abc/#ABC/XYZ}", "abcABC123ABCabc"),
    ("replace-empty-prefix-prepends", "${app/#/my-}", "my-podinfo"),
    ("replace-empty-suffix-appends", "${app/%/-v2}", "podinfo-v2"),
    ("replace-with-nothing", "${dotted/./}", "foobar"),
    ("replace-escaped-slash", r"${slashy/\//-}", "foo-bar/baz"),
    ("replace-all-escaped-slash", r"${slashy//\//-}", "foo-bar-baz"),
    ("trim-shortest-prefix", "${file#*.}", "string.txt"),
    ("trim-longest-prefix", "${file##*.}", "txt"),
    ("trim-shortest-suffix", "${file%.*}", "bash.string"),
    ("trim-longest-suffix", "${file%%.*}", "bash"),
    ("trim-star-crosses-slash", "${rel##*/}", "file"),
    ("trim-class", "${file%[.]txt}", "bash.string"),
    ("trim-no-match", "${file#zzz}", "bash.string.txt"),
    ("length", "${#mixed}", "12"),
    ("length-in-bytes", "${#accent}", "5"),
    ("upper-first", "${mixed^}", "AbcdEFGH28ij"),
    ("upper-all", "${mixed^^}", "ABCDEFGH28IJ"),
    ("lower-first", "${env,}", "prod"),
    ("lower-all", "${mixed,,}", "abcdefgh28ij"),
    ("nested-transform-in-default", "${nope=${mixed^^}}", "ABCDEFGH28IJ"),
    ("escaped-default-stays-literal", "x $${v=${app}}", "x ${v=podinfo}"),
    ("backslashes-outside-kept", r"\\a ${app}", r"\\a podinfo"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in EXPAND_CASES], ids=[c[0] for c in EXPAND_CASES]
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, VARS) == expected


SYNTAX_ERRORS = [
    ("unterminated", "${app"),
    ("empty-name", "${}"),
    ("name-starts-with-space", "${ app}"),
    ("dash-default-not-supported", "${app-x}"),
    ("plus-not-supported", "${app+x}"),
    ("question-not-supported", "${app?x}"),
    ("dot-in-name", "${app.name}"),
    ("length-without-name", "${#}"),
    ("unterminated-default", "${nope:=abc"),
    ("substring-without-offset", "${app:}"),
    ("replace-without-second-slash", "${app/x}"),
    ("trim-without-pattern", "${app#}"),
    ("casing-with-extra", "${app^^x}"),
]


@pytest.mark.parametrize("text", [c[1] for c in SYNTAX_ERRORS], ids=[c[0] for c in SYNTAX_ERRORS])
def test_malformed_expressions_are_errors(text: str) -> None:
    with pytest.raises(SubstitutionSyntaxError):
        expand(text, VARS)


STRICT_CASES = [
    ("defined", "${app}", "podinfo"),
    ("defined-empty", "${empty}", ""),
    ("default-colon-equals", "${nope:=d}", "d"),
    ("default-equals", "${nope=d}", "d"),
    ("default-colon-dash", "${nope:-d}", "d"),
    ("dollar-var-not-read", "$nope", "$nope"),
    ("escaped-not-read", "$${nope}", "${nope}"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in STRICT_CASES], ids=[c[0] for c in STRICT_CASES]
)
def test_strict_mode_allows(text: str, expected: str) -> None:
    assert expand(text, VARS, strict=True) == expected


STRICT_ERRORS = [
    ("bare", "${missing}"),
    ("length", "${#missing}"),
    ("upper", "${missing^^}"),
    ("substring", "${missing:0:3}"),
    ("replace", "${missing/a/b}"),
    ("trim", "${missing##*.}"),
    ("inside-default", "${nope:=${missing}}"),
]


@pytest.mark.parametrize("text", [c[1] for c in STRICT_ERRORS], ids=[c[0] for c in STRICT_ERRORS])
def test_strict_mode_names_the_undefined_variable(text: str) -> None:
    with pytest.raises(UndefinedVariableError) as info:
        expand(text, VARS, strict=True)
    assert info.value.name == "missing"
    assert "'missing'" in str(info.value)


MERGE_CASES = [
    ("inline-wins-over-from", [{"a": "from"}, {"a": "inline"}], {"a": "inline"}),
    ("later-source-wins", [{"a": "1", "b": "1"}, {"a": "2"}, {}], {"a": "2", "b": "1"}),
    ("missing-optional-source", [None, {"a": "x"}], {"a": "x"}),
    ("newlines-removed", [{"a": "multi\nline\n"}], {"a": "multiline"}),
    ("secret-bytes-decoded", [{"a": b"s3cret\n"}], {"a": "s3cret"}),
    ("nothing", [], {}),
]


@pytest.mark.parametrize(
    ("sources", "expected"), [c[1:] for c in MERGE_CASES], ids=[c[0] for c in MERGE_CASES]
)
def test_merge_variables(sources: list, expected: dict) -> None:
    assert merge_variables(*sources) == expected


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("app", True),
        ("_private", True),
        ("CLUSTER_NAME_2", True),
        ("2fast", False),
        ("with-dash", False),
        ("with.dot", False),
        ("ünïcode", False),
        ("trailing\n", False),
        ("", False),
    ],
    ids=["lower", "underscore-first", "upper-digits", "digit-first", "dash", "dot", "non-ascii",
         "trailing-newline", "empty"],
)
def test_variable_names(name: str, valid: bool) -> None:
    if valid:
        validate_variable_names([name])
    else:
        with pytest.raises(InvalidVariableNameError, match="must match"):
            validate_variable_names([name])


def configmap(data: dict, **meta: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "apps", **meta}, "data": data}


def deployment(replicas: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps"}, "spec": {"replicas": replicas}}


OBJECT_CASES = [
    ("number-becomes-int", deployment("${replicas}"), {"replicas": "3"},
     ("spec", "replicas"), 3),
    ("quoted-number-stays-string", configmap({"id": "${q}${replicas}${q}"}),
     {"replicas": "3", "q": '"'}, ("data", "id"), "3"),
    ("bool-word-becomes-bool", configmap({"on": "${flag}"}), {"flag": "yes"},
     ("data", "on"), True),
    ("empty-value-becomes-null", deployment("${replicas}"), {"other": "x"},
     ("spec", "replicas"), None),
    ("string-with-colon-stays-string", configmap({"url": "${url}"}),
     {"url": "http://x:80/y"}, ("data", "url"), "http://x:80/y"),
    ("multiline-string-substituted", configmap({"script": "echo ${app}\necho $HOME\n"}),
     {"app": "podinfo"}, ("data", "script"), "echo podinfo\necho $HOME\n"),
    ("backslash-in-quoted-value-kept", configmap({"re": "${re}"}), {"re": r"a\d+"},
     ("data", "re"), r"a\d+"),
    ("date-like-value-stays-string", configmap({"day": "${day}"}), {"day": "2024-01-31"},
     ("data", "day"), "2024-01-31"),
]


def dig(obj: dict, path: tuple) -> object:
    for key in path:
        obj = obj[key]
    return obj


@pytest.mark.parametrize(
    ("obj", "variables", "path", "expected"),
    [c[1:] for c in OBJECT_CASES],
    ids=[c[0] for c in OBJECT_CASES],
)
def test_object_is_substituted_in_its_yaml_text(
    obj: dict, variables: dict, path: tuple, expected: object
) -> None:
    [out] = substitute_objects([obj], variables)
    assert dig(out, path) == expected


@pytest.mark.parametrize(
    "meta",
    [{"annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}},
     {"labels": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}},
     {"annotations": {"kustomize.toolkit.fluxcd.io/substitute": "Disabled"}}],
    ids=["annotation", "label", "any-case"],
)
def test_disabled_objects_are_left_alone(meta: dict) -> None:
    obj = configmap({"a": "${app}"}, **meta)
    assert substitute_objects([obj], {"app": "podinfo"}) == [obj]


def test_enabled_annotation_value_does_not_disable() -> None:
    obj = configmap({"a": "${app}"},
                    annotations={"kustomize.toolkit.fluxcd.io/substitute": "enabled"})
    assert substitute_objects([obj], {"app": "podinfo"})[0]["data"]["a"] == "podinfo"


def test_nothing_happens_without_variables() -> None:
    obj = configmap({"a": "${env:=dev}"})
    assert substitute_objects([obj], {}) == [obj]


def test_force_runs_without_variables() -> None:
    obj = configmap({"a": "${env:=dev}"})
    assert substitute_objects([obj], {}, force=True)[0]["data"]["a"] == "dev"


def test_invalid_variable_name_is_an_error_before_any_object() -> None:
    with pytest.raises(InvalidVariableNameError, match="'bad-name'"):
        substitute_objects([configmap({"a": "x"})], {"ok": "1", "bad-name": "2"})


def test_strict_error_names_object_and_variable() -> None:
    with pytest.raises(UndefinedVariableError, match="ConfigMap/apps/cfg.*'region'") as info:
        substitute_objects([configmap({"a": "${region}"})], {"x": "1"}, strict=True)
    assert info.value.name == "region"


def test_syntax_error_names_the_object() -> None:
    with pytest.raises(SubstitutionSyntaxError, match="ConfigMap/apps/cfg"):
        substitute_objects([configmap({"a": "${broken"})], {"x": "1"})


def test_value_that_breaks_the_yaml_is_an_error_naming_the_object() -> None:
    with pytest.raises(SubstitutionError, match="ConfigMap/apps/cfg"):
        substitute_object(configmap({"a": "${v}"}), {"v": "[unclosed"})


def test_input_objects_are_not_modified() -> None:
    obj = deployment("${replicas}")
    substitute_objects([obj], {"replicas": "2"})
    assert obj["spec"]["replicas"] == "${replicas}"
