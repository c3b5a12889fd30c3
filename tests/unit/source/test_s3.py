"""The S3 client's pure parts: SigV4 against AWS's published examples, encoding, endpoint,
the Bucket revision, and S3's XML answers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from afflux.controllers.source._s3 import (
    EMPTY_SHA256,
    ObjectInfo,
    S3Error,
    etag_revision,
    parse_endpoint,
    parse_error,
    parse_list_result,
    sign_v4,
    uri_encode,
)

# The example credentials and date of AWS's "Signature Calculations for the Authorization
# Header: Transferring Payload in a Single Chunk" page (S3 API reference).
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
HOST = "examplebucket.s3.amazonaws.com"
PUT_BODY = b"Welcome to Amazon S3."

AWS_EXAMPLES = [
    pytest.param(
        "GET", "/test.txt", None, {"Host": HOST, "Range": "bytes=0-9"}, EMPTY_SHA256,
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        id="get-object-with-range",
    ),
    pytest.param(
        "PUT", "/test%24file.text", None,
        {"Host": HOST, "Date": "Fri, 24 May 2013 00:00:00 GMT",
         "x-amz-storage-class": "REDUCED_REDUNDANCY"},
        hashlib.sha256(PUT_BODY).hexdigest(),
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        id="put-object-with-payload",
    ),
    pytest.param(
        "GET", "/", {"lifecycle": ""}, {"Host": HOST}, EMPTY_SHA256,
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        id="get-bucket-lifecycle-subresource",
    ),
    pytest.param(
        "GET", "/", {"max-keys": "2", "prefix": "J"}, {"Host": HOST}, EMPTY_SHA256,
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        id="list-objects-with-query",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "params", "headers", "payload", "signed", "signature"), AWS_EXAMPLES
)
def test_sigv4_matches_the_aws_examples(method, path, params, headers, payload, signed,
                                        signature) -> None:
    result = sign_v4(method=method, path=path, params=params, headers=headers,
                     access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-east-1",
                     now=WHEN, payload_hash=payload)
    assert result.signature == signature
    assert result.headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}"
    )
    assert result.headers["x-amz-date"] == "20130524T000000Z"
    assert result.headers["x-amz-content-sha256"] == payload


def test_sigv4_intermediate_steps_of_the_get_object_example() -> None:
    result = sign_v4(method="GET", path="/test.txt", params=None,
                     headers={"Host": HOST, "Range": "bytes=0-9"}, access_key=ACCESS_KEY,
                     secret_key=SECRET_KEY, region="us-east-1", now=WHEN)
    assert result.canonical_request == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    )
    assert result.string_to_sign == (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    )


def test_header_values_are_trimmed_and_names_lowered() -> None:
    result = sign_v4(method="GET", path="/", params=None,
                     headers={"Host": HOST, "X-Custom": "  a   b  "}, access_key=ACCESS_KEY,
                     secret_key=SECRET_KEY, region="eu-west-1", now=WHEN)
    assert "x-custom:a b\n" in result.canonical_request
    assert "/eu-west-1/s3/aws4_request" in result.headers["Authorization"]


@pytest.mark.parametrize(
    ("value", "keep_slash", "expected"),
    [
        pytest.param("a-b_c.d~e", False, "a-b_c.d~e", id="unreserved-kept"),
        pytest.param("dir/file name.yaml", True, "dir/file%20name.yaml", id="path-space"),
        pytest.param("dir/file", False, "dir%2Ffile", id="query-slash-encoded"),
        pytest.param("a+b=c&d", False, "a%2Bb%3Dc%26d", id="reserved-encoded"),
        pytest.param("ünï", True, "%C3%BCn%C3%AF", id="utf8-upper-hex"),
        pytest.param("$", True, "%24", id="dollar"),
    ],
)
def test_uri_encode(value: str, keep_slash: bool, expected: str) -> None:
    assert uri_encode(value, keep_slash=keep_slash) == expected


@pytest.mark.parametrize(
    ("endpoint", "insecure", "expected"),
    [
        pytest.param("minio:9000", False, "https://minio:9000", id="host-port-tls"),
        pytest.param("minio:9000", True, "http://minio:9000", id="insecure-plain-http"),
        pytest.param("s3.amazonaws.com", False, "https://s3.amazonaws.com", id="aws"),
        pytest.param("http://127.0.0.1:9000/", False, "http://127.0.0.1:9000", id="scheme-kept"),
        pytest.param(" minio.example.com ", False, "https://minio.example.com", id="trimmed"),
    ],
)
def test_parse_endpoint(endpoint: str, insecure: bool, expected: str) -> None:
    assert parse_endpoint(endpoint, insecure) == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("", id="empty"),
        pytest.param("ftp://minio:21", id="other-scheme"),
        pytest.param("minio:9000/bucket", id="with-path"),
        pytest.param("https://minio/bucket", id="url-with-path"),
    ],
)
def test_parse_endpoint_rejects(endpoint: str) -> None:
    with pytest.raises(S3Error) as err:
        parse_endpoint(endpoint)
    assert err.value.kind == "invalid"


def test_etag_revision_is_sha256_of_sorted_key_etag_lines() -> None:
    index = {"b.yaml": "e2", "a/x.yaml": "e1", "a.yaml": "e0"}
    expected = hashlib.sha256(b"a.yaml e0\na/x.yaml e1\nb.yaml e2\n").hexdigest()
    assert etag_revision(index) == f"sha256:{expected}"


@pytest.mark.parametrize(
    ("before", "after", "same"),
    [
        pytest.param({"a": "1"}, {"a": "1"}, True, id="unchanged"),
        pytest.param({"a": "1", "b": "2"}, {"b": "2", "a": "1"}, True, id="order-irrelevant"),
        pytest.param({"a": "1"}, {"a": "2"}, False, id="etag-changed"),
        pytest.param({"a": "1"}, {"a": "1", "b": "2"}, False, id="object-added"),
        pytest.param({"a": "1"}, {"c": "1"}, False, id="object-renamed"),
    ],
)
def test_etag_revision_changes_only_with_keys_or_etags(before, after, same) -> None:
    assert (etag_revision(before) == etag_revision(after)) is same


def test_empty_bucket_revision_is_the_empty_digest() -> None:
    assert etag_revision({}) == f"sha256:{EMPTY_SHA256}"


LIST_PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok-1</NextContinuationToken>
  <Contents><Key>a.yaml</Key><ETag>&quot;e0&quot;</ETag><Size>12</Size></Contents>
  <Contents><Key>dir/b.yaml</Key><ETag>"e1-2"</ETag><Size>3</Size></Contents>
</ListBucketResult>"""

LAST_PAGE = b"""<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <IsTruncated>false</IsTruncated>
  <Contents><Key>z.yaml</Key><ETag>e9</ETag><Size>1</Size></Contents>
</ListBucketResult>"""


def test_parse_list_result_pages() -> None:
    objects, token = parse_list_result(LIST_PAGE)
    assert objects == [ObjectInfo("a.yaml", "e0", 12), ObjectInfo("dir/b.yaml", "e1-2", 3)]
    assert token == "tok-1"
    objects, token = parse_list_result(LAST_PAGE)
    assert objects == [ObjectInfo("z.yaml", "e9", 1)] and token is None


def test_parse_list_result_rejects_garbage() -> None:
    with pytest.raises(S3Error):
        parse_list_result(b"<not xml")
    with pytest.raises(S3Error, match="continuation"):
        parse_list_result(b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>",
                     ("NoSuchBucket", "gone"), id="error-document"),
        pytest.param(b"", (None, None), id="empty"),
        pytest.param(b"<html>", (None, None), id="not-xml"),
    ],
)
def test_parse_error(body: bytes, expected: tuple[str | None, str | None]) -> None:
    assert parse_error(body) == expected
