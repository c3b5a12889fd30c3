"""The cel-go extensions of Flux's CEL environment that cel-python lacks: `format` and
`strings.quote` (Strings), `sets.*` (Sets), `base64.*` (Encoders). The expected values are
cel-go's documented results (its README and the examples of its tests)."""

from __future__ import annotations

from typing import Any

import celpy
import pytest

from afflux.controllers.runtime import cel_parse, cel_program

OBJ = {"metadata": {"name": "web", "labels": {"tier": "front", "team": "a"}},
       "data": {"token": "c2VjcmV0"},
       "status": {"replicas": 3, "ready": 2.5, "zones": ["a", "b"]}}


def run(expression: str) -> Any:
    return cel_program(cel_parse(expression)).evaluate({"obj": celpy.json_to_cel(OBJ)})


VALUES: dict[str, tuple[str, Any]] = {
    # format: the clauses
    "format-no-substitution": ("'no substitution'.format([])", "no substitution"),
    "format-mid-string": ("'str is %s and some more'.format(['filler'])",
                          "str is filler and some more"),
    "format-percent-escapes": ("'%% and also %%'.format([])", "% and also %"),
    "format-inside-escaped-percents": ("'%%%s%%'.format(['text'])", "%text%"),
    "format-many": ("'%d %d %d, %s %s %s'.format([1, 2, 3, 'A', 'B', 'C'])",
                    "1 2 3, A B C"),
    "format-string-and-integer": ("'this is a string: %s, an integer: %d'.format(['str', 42])",
                                  "this is a string: str, an integer: 42"),
    "format-fixed-precision": ("'%.3f'.format([1.2345])", "1.234"),
    "format-fixed-default-precision": ("'%f'.format([2.71828])", "2.718280"),
    "format-fixed-nan": ("'%f'.format([double('NaN')])", "NaN"),
    "format-fixed-infinity": ("'%f'.format([double('Infinity')])", "Infinity"),
    "format-fixed-negative-infinity": ("'%f'.format([double('-Infinity')])", "-Infinity"),
    "format-scientific": ("'%.6e'.format([1052.032911275])", "1.052033e+03"),
    "format-scientific-default-precision": ("'%e'.format([2.71828])", "2.718280e+00"),
    "format-binary": ("'this is 5 in binary: %b'.format([5])", "this is 5 in binary: 101"),
    "format-binary-negative": ("'%b'.format([-5])", "-101"),
    "format-binary-uint": ("'%b'.format([uint(64)])", "1000000"),
    "format-binary-bool": ("'bit set from bool: %b'.format([true])", "bit set from bool: 1"),
    "format-octal": ("'%o'.format([11])", "13"),
    "format-octal-negative": ("'%o'.format([-11])", "-13"),
    "format-octal-uint": ("'%o'.format([uint(65535)])", "177777"),
    "format-hex": ("'%x is 30 in hexadecimal'.format([30])", "1e is 30 in hexadecimal"),
    "format-hex-upper": ("'%X'.format([30])", "1E"),
    "format-hex-negative": ("'%x'.format([-30])", "-1e"),
    "format-hex-uint": ("'%X'.format([uint(6000)])", "1770"),
    "format-hex-of-a-string": ("'%x'.format(['Hello world!'])", "48656c6c6f20776f726c6421"),
    "format-hex-upper-of-a-string": ("'%X'.format(['Hello world!'])",
                                     "48656C6C6F20776F726C6421"),
    "format-hex-of-bytes": ("'%x'.format([b'byte string'])", "6279746520737472696e67"),
    "format-hex-of-bytes-leading-zeros": ("'%x'.format([b'\\x00\\x00byte string\\x00'])",
                                          "00006279746520737472696e6700"),
    "format-decimal-uint": ("'%d'.format([uint(64)])", "64"),
    # format: %s of every kind of value
    "format-s-double-shortest": ("'%s'.format([2.71])", "2.71"),
    "format-s-double-without-exponent": ("'%s'.format([0.000000002])", "0.000000002"),
    "format-s-double-in-a-list": ("'%s'.format([[2.71]])", "[2.71]"),
    "format-s-a-double": ("'a double substituted with %%s: %s'.format([64.2])",
                          "a double substituted with %s: 64.2"),
    "format-s-special-doubles": (
        "'%s'.format([[double('NaN'), double('Infinity'), double('-Infinity')]])",
        "[NaN, Infinity, -Infinity]"),
    "format-s-null": ("'null: %s'.format([null])", "null: null"),
    "format-s-int": ("'%s'.format([999999999999])", "999999999999"),
    "format-s-bytes": ("'some bytes: %s'.format([b'xyz'])", "some bytes: xyz"),
    "format-s-type": ("'type is %s'.format([type('test string')])", "type is string"),
    "format-s-timestamp": ("'%s'.format([timestamp('2023-02-03T23:31:20+00:00')])",
                           "2023-02-03T23:31:20Z"),
    "format-s-duration": ("'%s'.format([duration('1h45m47s')])", "6347s"),
    "format-s-list": ("'%s'.format([['abc', 3.14, null, [9, 8, 7, 6], "
                      "timestamp('2023-02-03T23:31:20Z')]])",
                      "[abc, 3.14, null, [9, 8, 7, 6], 2023-02-03T23:31:20Z]"),
    "format-s-map-sorted-by-key": (
        "'%s'.format([{'key1': b'xyz', 'key5': null, 'key2': duration('2h'), "
        "'key4': true, 'key3': 2.71828}])",
        "{key1: xyz, key2: 7200s, key3: 2.71828, key4: true, key5: null}"),
    "format-s-bools": ("'true bool: %s, false bool: %s'.format([true, false])",
                       "true bool: true, false bool: false"),
    "format-of-object-fields": ("'%s has %d replicas in %s'.format([obj.metadata.name, "
                                "obj.status.replicas, obj.status.zones])",
                                "web has 3 replicas in [a, b]"),
    # strings.quote
    "quote-double-quotes": ("strings.quote('single-quote with \"double quote\"')",
                            '"single-quote with \\"double quote\\""'),
    "quote-escape-sequences": ('strings.quote("two escape sequences \\a\\n")',
                               '"two escape sequences \\a\\n"'),
    "quote-backslash-and-tab": ("strings.quote('a\\\\b\\t')", '"a\\\\b\\t"'),
    # sets
    "contains-empty-in-empty": ("sets.contains([], [])", True),
    "contains-not-in-empty": ("sets.contains([], [1])", False),
    "contains-sublist": ("sets.contains([1, 2, 3, 4], [2, 3])", True),
    "contains-across-numeric-types": ("sets.contains([1, 2.0, 3u], [1.0, 2u, 3])", True),
    "contains-missing-element": ("sets.contains([1, 2], [2, 5])", False),
    "equivalent-empty": ("sets.equivalent([], [])", True),
    "equivalent-repeats": ("sets.equivalent([1], [1, 1])", True),
    "equivalent-numeric-types": ("sets.equivalent([1], [1u, 1.0])", True),
    "equivalent-any-order": ("sets.equivalent([1, 2, 3], [3u, 2.0, 1])", True),
    "equivalent-not": ("sets.equivalent([1, 2], [1])", False),
    "intersects-empty": ("sets.intersects([1], [])", False),
    "intersects-one": ("sets.intersects([1], [1, 2])", True),
    "intersects-nested-lists": ("sets.intersects([[1], [2, 3]], [[1, 2], [2, 3.0]])", True),
    "intersects-none": ("sets.intersects(['a'], ['b', 1])", False),
    "sets-of-object-fields": ("sets.contains(obj.status.zones, ['b'])", True),
    "sets-of-map-keys": ("sets.equivalent(obj.metadata.labels.map(k, k), ['team', 'tier'])",
                         True),
    # encoders
    "base64-decode": ("base64.decode('aGVsbG8=')", b"hello"),
    "base64-decode-unpadded": ("base64.decode('aGVsbG8')", b"hello"),
    "base64-encode": ("base64.encode(b'hello')", "aGVsbG8="),
    "base64-round-trip": ("base64.encode(base64.decode(obj.data.token))", "c2VjcmV0"),
    "base64-decode-compared": ("base64.decode(obj.data.token) == b'secret'", True),
}


@pytest.mark.parametrize(("expression", "expected"), VALUES.values(), ids=VALUES.keys())
def test_extension_values(expression: str, expected: Any) -> None:
    assert run(expression) == expected


ERRORS: dict[str, tuple[str, str]] = {
    "format-unknown-clause": ("'%a'.format([1])",
                              'could not parse formatting clause: unrecognized formatting '
                              'clause "a"'),
    "format-too-few-arguments": ("'%d %d %d'.format([0, 1])", "index 2 out of range"),
    "format-binary-of-a-string": ("'string is %b'.format(['abc'])",
                                  "error during formatting: only ints, uints, and bools can "
                                  "be formatted as binary, was given string"),
    "format-decimal-of-a-duration": ("'%d'.format([duration('30m2s')])",
                                     "error during formatting: decimal clause can only be "
                                     "used on ints, uints, and doubles, was given "
                                     "google.protobuf.Duration"),
    "format-octal-of-a-string": ("'octal: %o'.format(['a string'])",
                                 "error during formatting: octal clause can only be used on "
                                 "ints and uints, was given string"),
    "format-hex-of-a-double": ("'double is %x'.format([0.5])",
                               "error during formatting: only ints, uints, bytes, and "
                               "strings can be formatted as hex, was given double"),
    "format-uppercase-scientific": ("'double is %E'.format([0.5])",
                                    'unrecognized formatting clause "E"'),
    "format-decimal-of-null": ("'null: %d'.format([null])",
                               "decimal clause can only be used on ints, uints, and "
                               "doubles, was given null_type"),
    "format-scientific-of-null": ("'null: %e'.format([null])",
                                  "scientific clause can only be used on ints, uints, and "
                                  "doubles, was given null_type"),
    "format-percent-at-the-end": ("'100%'.format([1])", "unexpected end of string"),
    "format-of-a-non-list": ("'%s'.format('x')", "no such overload"),
    "quote-of-a-non-string": ("strings.quote(1)", "no such overload"),
    "sets-of-a-non-list": ("sets.contains([1], 1)", "no such overload"),
    "sets-with-one-argument": ("sets.contains([1])", "no such overload"),
    "unknown-sets-function": ("sets.union([1], [2])", "undeclared reference to 'sets.union'"),
    "base64-decode-invalid": ("base64.decode('a')", "illegal base64 data"),
    "base64-decode-of-bytes": ("base64.decode(b'aGVsbG8=')", "no such overload"),
    "base64-encode-of-a-string": ("base64.encode('hello')", "no such overload"),
}


@pytest.mark.parametrize(("expression", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_extension_misuse_is_an_evaluation_error(expression: str, message: str) -> None:
    with pytest.raises(celpy.CELEvalError) as caught:
        run(expression)
    assert message in str(caught.value.args[0])


def test_a_failed_decode_does_not_repeat_its_input() -> None:
    """The input may be a Secret's value: the error does not say it."""
    with pytest.raises(celpy.CELEvalError) as caught:
        run("base64.decode('s3cr3t-p@ss')")
    assert "s3cr3t" not in str(caught.value.args)
