"""Commit message templates: the Go template language, sprig helpers and Flux's data."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.image_automation._gotemplate import Template, TemplateError, go_sprintf
from afflux.controllers.image_automation._setters import Change, ObjectIdentifier, Result
from afflux.controllers.image_automation._template import (
    DEFAULT_MESSAGE_TEMPLATE,
    CommitTemplateError,
    NamespacedName,
    TemplateData,
    render_commit_message,
    sprig_functions,
    validate_commit_template,
)
from afflux.controllers.runtime._errors import StallingError

DEPLOY = ObjectIdentifier("apps/v1", "Deployment", "web", "prod")
KUSTOMIZATION = ObjectIdentifier("kustomize.config.k8s.io/v1beta1", "Kustomization", "apps")
CHANGE_APP = Change("ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.2.0", "flux-system:app")
CHANGE_TAG = Change("1.0.0", "1.2.0", "flux-system:app:tag")


def data(values: dict[str, str] | None = None) -> TemplateData:
    result = Result()
    result.add_change("apps/deploy.yaml", DEPLOY, CHANGE_APP)
    result.add_change("apps/kustomization.yaml", KUSTOMIZATION, CHANGE_TAG)
    result.add_change("other/deploy.yaml", DEPLOY, CHANGE_APP)
    return TemplateData(NamespacedName("flux-system", "auto"), result, values or {"env": "prod"})


# Templates written after the examples in Flux's ImageUpdateAutomation documentation.
FLUX_FILES_AND_OBJECTS = """Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""
FLUX_FILES_AND_OBJECTS_OUT = """Automated image update

Automation name: flux-system/auto

Files:
- apps/deploy.yaml
- apps/kustomization.yaml
- other/deploy.yaml
Objects:
- Deployment web
  Changes:
    - ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.2.0
- Kustomization apps
  Changes:
    - 1.0.0 -> 1.2.0
"""
FLUX_SPRIG = """{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}
{{- range $_, $change := $changes }}
  {{ if contains "1.2.0" $change.NewValue -}}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
  {{ else -}}
    [skip ci] wrong image
  {{ end -}}
{{ end -}}
{{ end -}}"""
FLUX_SPRIG_OUT = """- deployment web
  - ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.2.0
  - kustomization apps
  - 1.0.0 -> 1.2.0
  """
FLUX_GITEA = "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}"

MESSAGES = [
    ("flux-files-and-objects", FLUX_FILES_AND_OBJECTS, FLUX_FILES_AND_OBJECTS_OUT),
    ("flux-sprig-lower-contains", FLUX_SPRIG, FLUX_SPRIG_OUT),
    (
        "flux-gitea-print-println",
        FLUX_GITEA,
        "ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.2.0\n1.0.0 -> 1.2.0\n",
    ),
    (
        "flux-values",
        "Automated image update by Flux for cluster {{ .Values.env }}.",
        "Automated image update by Flux for cluster prod.",
    ),
    ("default-message", "", DEFAULT_MESSAGE_TEMPLATE),
    (
        "automation-fields",
        "{{ .AutomationObject.Namespace }}|{{ .AutomationObject.Name }}",
        "flux-system|auto",
    ),
    (
        "object-api-version",
        "{{ range $o, $_ := .Changed.Objects }}[{{ $o.APIVersion }}]{{ end }}",
        "[apps/v1][kustomize.config.k8s.io/v1beta1]",
    ),
    (
        "count-changes",
        "{{ len .Changed.Changes }} changes in {{ len .Changed.FileChanges }} files",
        "2 changes in 3 files",
    ),
    (
        "setter-names",
        "{{ range .Changed.Changes }}{{ .Setter }};{{ end }}",
        "flux-system:app;flux-system:app:tag;",
    ),
    ("missing-value-key", "[{{ .Values.nope }}]", "[<no value>]"),
    ("index-missing-value", '[{{ index .Values "nope" }}]', "[]"),
    ("join-and-list", '{{ list "a" "b" | join ", " }}', "a, b"),
    (
        "file-changes-to-string",
        '{{ index .Changed.FileChanges "apps/kustomization.yaml" | toString }}',
        "map[{{{kustomize.config.k8s.io/v1beta1 Kustomization} {apps }}}:[{1.0.0 1.2.0 flux-system:app:tag}]]",
    ),
    (
        "gerrit-change-id-shape",
        '{{ printf "I%s" (sha256sum "x" | trunc 40) }}',
        "I2d711642b726b04401627ca9fbac32f5c8530fb1",
    ),
]


@pytest.mark.parametrize(
    ("template", "expected"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES]
)
def test_commit_messages(template: str, expected: str) -> None:
    assert render_commit_message(template, data()) == expected


LANGUAGE: list[tuple[str, str, Any, str]] = [
    # (id, template, data, expected)
    ("text-only", "plain text", None, "plain text"),
    ("trim-both-sides", "a  {{- 1 -}}  \n b", None, "a1b"),
    ("no-trim-without-space", "a {{-1}} b", None, "a -1 b"),
    ("comment", "a{{/* gone */}}b{{- /* also */ -}} c", None, "abc"),
    ("dot", "{{ . }}", "x", "x"),
    ("nested-fields", "{{ .a.b }}", {"a": {"b": 1}}, "1"),
    ("variable-field", "{{ $x := .a }}{{ $x.b }}", {"a": {"b": 2}}, "2"),
    ("paren-field", '{{ (index . "a").b }}', {"a": {"b": 3}}, "3"),
    ("assign", "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", None, "2"),
    (
        "if-else-if-else",
        "{{ if eq . 1 }}one{{ else if eq . 2 }}two{{ else }}many{{ end }}",
        2,
        "two",
    ),
    ("if-empty-list-false", "{{ if . }}yes{{ else }}no{{ end }}", [], "no"),
    ("with-sets-dot", "{{ with .a }}{{ . }}{{ end }}", {"a": "v"}, "v"),
    ("with-else", "{{ with .a }}{{ . }}{{ else }}none{{ end }}", {"a": ""}, "none"),
    ("else-with", "{{ with .a }}a{{ else with .b }}{{ . }}{{ end }}", {"a": 0, "b": "bee"}, "bee"),
    (
        "range-slice-index",
        "{{ range $i, $e := . }}{{ $i }}{{ $e }} {{ end }}",
        ["a", "b"],
        "0a 1b ",
    ),
    ("range-one-var-is-element", "{{ range $e := . }}{{ $e }}{{ end }}", ["a", "b"], "ab"),
    (
        "range-map-sorted",
        "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
        {"b": 2, "a": 1},
        "a=1;b=2;",
    ),
    ("range-else", "{{ range . }}x{{ else }}empty{{ end }}", {}, "empty"),
    ("range-int", "{{ range 3 }}{{ . }}{{ end }}", None, "012"),
    (
        "range-break-continue",
        "{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        [1, 2, 3, 4, 5],
        "13",
    ),
    ("pipeline-last-arg", '{{ "a" | printf "%s-%s" "b" }}', None, "b-a"),
    ("and-or-not", '{{ and 1 0 }} {{ or 0 "" "x" }} {{ not 0 }}', None, "0 x true"),
    ("and-short-circuits", "{{ and false (index . 9) }}", [1], "false"),
    (
        "comparisons",
        '{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 3 2 }} {{ ne "a" "b" }} {{ eq 1 2 3 1 }}',
        None,
        "true true false true true true",
    ),
    ("len-bytes", '{{ len "héllo" }}', None, "6"),
    ("index-nested", "{{ index . 1 0 }}", [[1], [2, 3]], "2"),
    ("slice", '{{ slice "abcdef" 1 3 }}', None, "bc"),
    ("print-spacing", '{{ print 1 2 "a" "b" 3 }}', None, "1 2ab3"),
    ("println", '{{ println "a" 1 }}', None, "a 1\n"),
    ("string-escapes", '{{ "tab\\there\\u00e9" }}', None, "tab\there\u00e9"),
    ("raw-string", "{{ `a\\nb` }}", None, "a\\nb"),
    ("char-constant", "{{ 'a' }}", None, "97"),
    ("numbers", "{{ 0x1F }} {{ 1.5 }} {{ -3 }} {{ 1e6 }}", None, "31 1.5 -3 1e+06"),
    ("nil-prints", "{{ . }}", None, "<nil>"),
    ("map-and-slice-format", "{{ . }}", {"b": [1, 2], "a": True}, "map[a:true b:[1 2]]"),
    (
        "define-template",
        '{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" "x" }}{{ template "t" 2 }}',
        None,
        "<x><2>",
    ),
    ("block", '{{ block "b" . }}[{{ . }}]{{ end }}', "v", "[v]"),
    (
        "html-js-urlquery",
        '{{ html "<a&b>" }} {{ urlquery "a b&c" }} {{ js "it\'s" }}',
        None,
        "&lt;a&amp;b&gt; a+b%26c it\\'s",
    ),
    (
        "sprig-strings",
        '{{ "  x " | trim }}|{{ upper "a" }}|{{ title "hello world" }}|{{ repeat 3 "ab" }}|{{ trunc -2 "abcd" }}',
        None,
        "x|A|Hello World|ababab|cd",
    ),
    (
        "sprig-quote-cat",
        '{{ quote "a" "b" }} {{ squote "c" }} {{ cat "x" 1 }}',
        None,
        '"a" "b" \'c\' x 1',
    ),
    (
        "sprig-replace-split",
        '{{ replace "-" "_" "a-b" }} {{ (split "," "x,y")._1 }} {{ splitList "," "p,q" | last }}',
        None,
        "a_b y q",
    ),
    (
        "sprig-default-empty",
        '{{ default "d" "" }} {{ default "d" "v" }} {{ empty list }} {{ coalesce "" 0 "c" }}',
        None,
        "d v true c",
    ),
    (
        "sprig-dict",
        '{{ $d := dict "a" 1 "b" 2 }}{{ keys $d | sortAlpha | join "," }} {{ get $d "a" }} {{ hasKey $d "z" }}',
        None,
        "a,b 1 false",
    ),
    (
        "sprig-math",
        "{{ add 1 2 3 }} {{ sub 5 7 }} {{ mul 2 3 }} {{ div -7 2 }} {{ mod -7 2 }} {{ max 1 9 3 }}",
        None,
        "6 -2 6 -3 -1 9",
    ),
    (
        "sprig-encodings",
        '{{ b64enc "hi" }} {{ b64dec "aGk=" }} {{ sha1sum "a" | trunc 7 }} {{ adler32sum "a" }}',
        None,
        "aGk= hi 86f7e43 6422626",
    ),
    (
        "sprig-regex",
        '{{ regexMatch "^v[0-9]+" "v12" }} {{ regexFind "[0-9]+" "ab12cd" }} {{ regexReplaceAll "(?P<n>[0-9]+)" "a1b22" "<${n}>" }}',
        None,
        "true 12 a<1>b<22>",
    ),
    (
        "sprig-list-ops",
        "{{ list 3 1 3 | uniq }} {{ first (list 1 2) }} {{ rest (list 1 2 3) }} {{ has 2 (list 1 2) }}",
        None,
        "[3 1] 1 [2 3] true",
    ),
    (
        "sprig-ternary-indent",
        '{{ ternary "y" "n" true }}{{ nindent 2 "a\\nb" }}',
        None,
        "y\n  a\n  b",
    ),
    (
        "sprig-case",
        '{{ snakecase "FooBar" }} {{ kebabcase "fooBar" }} {{ camelcase "foo_bar" }}',
        None,
        "foo_bar foo-bar FooBar",
    ),
    ("sprig-json", '{{ dict "b" 1 "a" "<x>" | toJson }}', None, '{"a":"\\u003cx\\u003e","b":1}'),
]


@pytest.mark.parametrize(
    ("template", "value", "expected"), [c[1:] for c in LANGUAGE], ids=[c[0] for c in LANGUAGE]
)
def test_go_template_language(template: str, value: Any, expected: str) -> None:
    assert Template("t", template, sprig_functions()).render(value) == expected


ERRORS = [
    # (id, template, fragment of the message)
    (
        "unknown-function",
        "line1\n{{ frobnicate 1 }}",
        'template: commit message:2: function "frobnicate" not defined',
    ),
    ("unclosed-action", "{{ .AutomationObject ", "commit message:1: unclosed action"),
    ("missing-end", "{{ if true }}x", "commit message:1: unexpected EOF"),
    ("stray-end", "x{{ end }}", "unexpected {{end}}"),
    ("undefined-variable", "{{ $nope }}", 'undefined variable "$nope"'),
    ("unterminated-string", '{{ "abc }}', "unterminated quoted string"),
    ("break-outside-range", "{{ break }}", "{{break}} outside {{range}}"),
    ("unclosed-comment", "{{/* never closed }}", "unclosed comment"),
    ("empty-pipeline", "{{ }}", "missing value for command"),
    ("bad-number", "{{ 12ab }}", "bad number syntax"),
]


@pytest.mark.parametrize(
    ("template", "fragment"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_parse_errors_stall_with_position(template: str, fragment: str) -> None:
    with pytest.raises(CommitTemplateError) as info:
        validate_commit_template(template)
    assert isinstance(info.value, StallingError)
    assert info.value.message.startswith(
        "unable to create commit message template from spec: template: "
    )
    assert fragment in info.value.message


EXEC_ERRORS = [
    (
        "unknown-field",
        "x\n  {{ .Nope }}",
        'commit message:2:5: executing "commit message" at <.Nope>: can\'t evaluate field Nope in type source.TemplateData',
    ),
    ("unexported-field", "{{ .changed }}", "changed is an unexported field"),
    ("wrong-arg-count", '{{ lower "a" "b" }}', "wrong number of args for lower: want 1 got 2"),
    ("compare-mismatch", '{{ lt 1 "a" }}', "error calling lt: incompatible types for comparison"),
    (
        "index-out-of-range",
        "{{ index .Changed.Changes 9 }}",
        "error calling index: index out of range: 9",
    ),
    ("range-over-string", '{{ range "abc" }}{{ end }}', "range can't iterate over abc"),
    ("sprig-fail", '{{ fail "stop here" }}', "error calling fail: stop here"),
    (
        "argument-to-field",
        "{{ .Values 1 }}",
        "Values has arguments but cannot be invoked as function",
    ),
    ("argument-to-map-key", "{{ .Values.env 1 }}", "env is not a method but has arguments"),
]


@pytest.mark.parametrize(
    ("template", "fragment"), [e[1:] for e in EXEC_ERRORS], ids=[e[0] for e in EXEC_ERRORS]
)
def test_execution_errors_stall_with_position(template: str, fragment: str) -> None:
    with pytest.raises(CommitTemplateError) as info:
        render_commit_message(template, data())
    assert info.value.message.startswith(
        "failed to run template from spec: template: commit message:"
    )
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("{{ .Updated }}", ".Updated"),
        ("{{ range .Changed.ImageResult }}{{ end }}", ".Changed.ImageResult"),
    ],
    ids=["updated", "image-result"],
)
def test_removed_fields_point_to_their_replacement(template: str, field: str) -> None:
    with pytest.raises(CommitTemplateError) as info:
        render_commit_message(template, data())
    assert info.value.message.startswith(
        f"template uses removed '{field}' field. Please use '.Changed"
    )


SPRINTF = [
    ("strings-and-width", "%5s|%-5s|%.2s", ("ab", "ab", "abc"), "   ab|ab   |ab"),
    (
        "ints",
        "%d|%05d|%+d|%x|%X|%o|%b|%#x",
        (42, 42, 42, 255, 255, 8, 5, 255),
        "42|00042|+42|ff|FF|10|101|0xff",
    ),
    ("floats", "%.2f|%e|%g|%v", (3.14159, 1234.5, 0.5, 2.0), "3.14|1.234500e+03|0.5|2"),
    ("quote-and-bool", "%q|%t|%c", ('a"b', True, 65), '"a\\"b"|true|A'),
    ("hex-of-string", "%x", ("hi",), "6869"),
    ("type-and-percent", "%T %T 100%%", ("s", 1), "string int 100%"),
    ("wrong-verb", "%d", ("x",), "%!d(string=x)"),
    ("missing-arg", "%s %s", ("a",), "a %!s(MISSING)"),
    ("extra-arg", "%s", ("a", 1), "a%!(EXTRA int=1)"),
    ("star-width", "%*d", (4, 7), "   7"),
]


@pytest.mark.parametrize(
    ("fmt", "args", "expected"), [s[1:] for s in SPRINTF], ids=[s[0] for s in SPRINTF]
)
def test_printf_verbs(fmt: str, args: tuple[Any, ...], expected: str) -> None:
    assert go_sprintf(fmt, *args) == expected


def test_template_error_is_not_raised_for_valid_templates() -> None:
    validate_commit_template(FLUX_FILES_AND_OBJECTS)
    validate_commit_template(None)
    with pytest.raises(TemplateError):
        Template("t", "{{ end }}")
