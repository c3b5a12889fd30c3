"""CEL with cel-go's optional types (`a.?b`, `m[?k]`, `[?x]`, `{?k: v}`, `optional.*`,
`.orValue()`, ...), as Flux's CEL environment has them, on cel-python."""

from __future__ import annotations

from typing import Any

import celpy
import pytest

from afflux.controllers.runtime import CelOptional, cel_parse, cel_program

OBJ = {
    "metadata": {"name": "w", "labels": {}},
    "status": {"phase": "Ready", "replicas": 0,
               "conditions": [{"type": "Ready", "status": "True"}]},
    "items": [1, 2],
}


def run(expression: str) -> Any:
    program = cel_program(cel_parse(expression))
    return program.evaluate({"obj": celpy.json_to_cel(OBJ)})


VALUES: dict[str, tuple[str, Any]] = {
    # optional field selection
    "select-present-has-value": ("obj.?status.hasValue()", True),
    "select-missing-has-no-value": ("obj.?spec.hasValue()", False),
    "select-present-value": ("obj.status.?phase.value()", "Ready"),
    "select-result-is-an-optional": ("obj.?status.?phase", CelOptional("Ready")),
    "orValue-of-missing-is-the-default": ("obj.status.?message.orValue('none')", "none"),
    "orValue-of-present-is-the-value": ("obj.status.?phase.orValue('x')", "Ready"),
    "present-null-is-a-value": ("optional.of(null).hasValue()", True),
    # chains
    "chain-all-present": ("obj.?status.?phase.orValue(1)", "Ready"),
    "chain-missing-in-the-middle": ("obj.?spec.?replicas.orValue(1)", 1),
    "chain-plain-select-after-missing": ("obj.?spec.replicas.orValue(1)", 1),
    "chain-plain-select-of-missing-leaf": ("obj.?status.message.orValue(2)", 2),
    "chain-plain-index-after-optional": ("obj.?status.conditions[0].type.value()", "Ready"),
    "chain-parenthesised": ("(obj.?spec).replicas.orValue(3)", 3),
    # optional index
    "index-map-present": ("obj.metadata[?'name'].value()", "w"),
    "index-map-missing": ("obj.metadata[?'namespace'].hasValue()", False),
    "index-list-in-range": ("obj.items[?1].value()", 2),
    "index-list-out-of-range": ("obj.items[?5].orValue(0)", 0),
    "index-list-negative": ("obj.items[?-1].hasValue()", False),
    "index-of-optional-map": ("obj.?metadata[?'name'].value()", "w"),
    # constructors
    "optional-of": ("optional.of(3).value()", 3),
    "optional-none": ("optional.none().hasValue()", False),
    "of-non-zero-of-zero": ("optional.ofNonZeroValue(obj.status.replicas).hasValue()", False),
    "of-non-zero-of-empty-string": ("optional.ofNonZeroValue('').hasValue()", False),
    "of-non-zero-of-empty-map": ("optional.ofNonZeroValue(obj.metadata.labels).hasValue()",
                                 False),
    "of-non-zero-of-a-value": ("optional.ofNonZeroValue('x').value()", "x"),
    "unwrap-keeps-the-values": ("optional.unwrap([optional.of(1), optional.none()])", [1]),
    "unwrapOpt-method": ("[optional.none(), optional.of(2)].unwrapOpt()", [2]),
    # or / orValue, lazily
    "or-first-has-value": ("optional.of(1).or(optional.of(2)).value()", 1),
    "or-falls-back": ("optional.none().or(optional.of(2)).value()", 2),
    "or-does-not-evaluate-the-fallback": ("optional.of(1).or(obj.nope).value()", 1),
    "orValue-does-not-evaluate-the-default": ("obj.?status.orValue(obj.nope).phase", "Ready"),
    # optMap / optFlatMap
    "optMap-of-a-value": ("obj.status.?phase.optMap(p, p + '!').value()", "Ready!"),
    "optMap-of-none": ("obj.status.?nope.optMap(p, p + '!').hasValue()", False),
    "optFlatMap": ("obj.?status.optFlatMap(s, s.?phase).value()", "Ready"),
    # equality and control flow
    "none-equals-none": ("obj.?spec == optional.none()", True),
    "of-equals-of": ("obj.status.?phase == optional.of('Ready')", True),
    "of-differs-from-none": ("obj.status.?phase != optional.none()", True),
    "in-a-condition": ("obj.?spec.hasValue() ? 1 : 2", 2),
    # list functions of the optional library
    "first-of-a-list": ("obj.items.first().value()", 1),
    "last-of-a-list": ("obj.items.last().value()", 2),
    "last-of-empty-list": ("[].last().hasValue()", False),
    "split-then-first": ("'a-b'.split('-').first().value()", "a"),
    # community health expressions, and what worked before still works
    "community-conditions-or-empty": (
        "obj.status.?conditions.orValue([]).exists(e, e.type == 'Ready' && "
        "e.status == 'True')", True),
    "community-missing-conditions": (
        "obj.?spec.?conditions.orValue([]).exists(e, e.type == 'Ready')", False),
    "filter-all": ("obj.status.conditions.filter(e, e.type == 'Ready')"
                   ".all(e, e.status == 'True')", True),
    "has-of-present": ("has(obj.status.phase)", True),
    "has-of-missing": ("has(obj.status.message)", False),
    "map-macro": ("obj.items.map(i, i * 2)", [2, 4]),
    "string-functions": ("'  A '.trim().lowerAscii()", "a"),
    # the rest of cel-go's Strings extension (code points, not bytes)
    "charAt": ("'héllo'.charAt(1)", "é"),
    "charAt-at-the-end-is-empty": ("'ab'.charAt(2)", ""),
    "indexOf": ("'hello hello'.indexOf('llo')", 2),
    "indexOf-from-offset": ("'hello hello'.indexOf('llo', 3)", 8),
    "indexOf-missing": ("'hello'.indexOf('x')", -1),
    "lastIndexOf": ("'hello hello'.lastIndexOf('llo')", 8),
    "lastIndexOf-before-offset": ("'hello hello'.lastIndexOf('llo', 7)", 2),
    "substring-from": ("'v1.2.3'.substring(1)", "1.2.3"),
    "substring-range": ("'v1.2.3'.substring(1, 4)", "1.2"),
    "replace-with-limit": ("'a-b-c'.replace('-', '.', 1)", "a.b-c"),
    "reverse": ("'abc'.reverse()", "cba"),
    # optional entries in list and map literals: there when the optional has a value
    "list-optional-entries": ("[?obj.?status.phase, ?obj.?spec, 1]", ["Ready", 1]),
    "list-only-empty-optionals": ("[?optional.none()]", []),
    "list-optional-of-null-is-there": ("[?optional.of(null)]", [None]),
    "map-optional-entries": ("{?'phase': obj.?status.phase, ?'spec': obj.?spec, 'n': 1}",
                             {"phase": "Ready", "n": 1}),
    "map-optional-entry-by-computed-key": ("{?obj.metadata.name: obj.items[?0]}", {"w": 1}),
    "optional-entry-with-a-conditional": ("[?true ? optional.of(1) : optional.none()]", [1]),
    "conditional-map-key-still-parses": ("{true ? 'a' : 'b': 1}", {"a": 1}),
}


@pytest.mark.parametrize(("expression", "expected"), VALUES.values(), ids=VALUES.keys())
def test_optional_values(expression: str, expected: Any) -> None:
    assert run(expression) == expected


ERRORS: dict[str, tuple[str, str]] = {
    "value-of-none": ("optional.none().value()", "optional.none() dereference"),
    "value-of-a-missing-field": ("obj.?spec.value()", "optional.none() dereference"),
    "optional-method-of-a-plain-value": ("obj.status.phase.orValue('x')", "not an optional"),
    "hasValue-of-a-plain-value": ("obj.status.hasValue()", "not an optional"),
    "macro-of-an-optional": ("obj.?status.exists(e, true)", "no such overload"),
    "value-with-an-argument": ("optional.of(1).value(2)", "no such overload"),
    "or-with-a-plain-value": ("optional.none().or(1)", "or() takes an optional"),
    "optFlatMap-to-a-plain-value": ("optional.of(1).optFlatMap(x, x)", "must give an optional"),
    "charAt-out-of-range": ("'ab'.charAt(3)", "index out of range: 3"),
    "substring-end-before-start": ("'abc'.substring(2, 1)", "substring out of range"),
    "indexOf-offset-out-of-range": ("'abc'.indexOf('a', 9)", "index out of range: 9"),
    "unwrap-of-plain-values": ("optional.unwrap([1])", "no such overload"),
    "unknown-optional-function": ("optional.some(1)", "undeclared reference to 'optional.some'"),
    "optional-select-of-a-string": ("obj.status.phase.?x", "no such overload"),
    "optional-index-of-a-list-by-string": ("obj.items[?'a']", "no such overload"),
    "plain-select-of-a-missing-field": ("obj.status.message == 'x'", "no such member"),
    "error-before-the-optional-wins": ("obj.nope.?x.orValue(1)", "no such member"),
    "optional-list-entry-of-a-plain-value": ("[?1]", "not an optional"),
    "optional-map-entry-of-a-plain-value": ("{?'a': 1}", "not an optional"),
    "error-in-an-optional-entry": ("[?obj.nope]", "no such member"),
    "repeated-map-key": ("{'a': 1, ?'a': optional.of(2)}", "repeated key"),
}


@pytest.mark.parametrize(("expression", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_misuse_is_an_evaluation_error(expression: str, message: str) -> None:
    with pytest.raises(celpy.CELEvalError) as caught:
        run(expression)
    assert message in str(caught.value.args[0])


SYNTAX: dict[str, str] = {
    "question-mark-without-field": "obj.?",
    "double-question-mark": "obj.??x",
    "optional-list-element-without-expression": "[?]",
    "optional-map-entry-without-value": "{?'a'}",
    "optional-map-value-marker": "{'a': ?obj.?x}",
    "optional-function-argument": "size(?obj.?x)",
    "optional-index-without-expression": "obj[?]",
}


@pytest.mark.parametrize("expression", SYNTAX.values(), ids=SYNTAX.keys())
def test_syntax_errors_are_parse_errors(expression: str) -> None:
    with pytest.raises(celpy.CELParseError):
        cel_parse(expression)


def test_the_syntax_error_points_at_the_column() -> None:
    with pytest.raises(celpy.CELParseError) as caught:
        cel_parse("status.?phase.orValue(")
    assert caught.value.line == 1
    assert caught.value.column is not None and caught.value.column > 20
