"""FHIR R4 primitive types on raw JSON (gateway.services.primitives): no coercion, R4 regexes,
grammars of non-enumerable value sets, and the forms of Reference.reference."""
from __future__ import annotations

import pytest

from gateway.services.primitives import check_primitive, check_syntax, parse_reference


@pytest.mark.parametrize("kind, value", [
    ("boolean", True), ("integer", -5), ("integer", 0), ("positiveInt", 1), ("unsignedInt", 0),
    ("decimal", 1.5), ("decimal", 3), ("string", "x"), ("markdown", "*x*"), ("code", "a b"),
    ("id", "a-1.B"), ("uri", "urn:x"), ("url", "http://x"), ("canonical", "http://x|1"),
    ("date", "2020"), ("date", "2020-02"), ("date", "2020-02-29"), ("dateTime", "2020-02-29T23:59:59.5-05:00"),
    ("instant", "2020-01-01T00:00:00Z"), ("time", "23:59:59"), ("base64Binary", "aGVsbG8="),
    ("oid", "urn:oid:1.2.840"), ("uuid", "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"),
])
def test_valid_primitives(kind, value):
    assert check_primitive(kind, value) is None


@pytest.mark.parametrize("kind, value", [
    ("boolean", "true"), ("boolean", 1), ("integer", "1"), ("integer", 1.0), ("integer", True),
    ("integer", 2**31), ("positiveInt", 0), ("unsignedInt", -1), ("decimal", "1.5"),
    ("decimal", True), ("decimal", float("nan")), ("decimal", float("inf")), ("string", 5),
    ("string", ""), ("string", " \t"), ("code", " lead"), ("code", "two  spaces"), ("id", "a_b"),
    ("uri", "has space"), ("date", "2020-2-1"), ("date", "2021-02-29"), ("date", "0000"),
    ("dateTime", "2020-01-01T10:00"), ("dateTime", "2020-01-01T10:00:00"),
    ("instant", "2020-01-01"), ("time", "24:00:00"), ("base64Binary", "abc"),
    ("oid", "1.2.3"), ("uuid", "urn:uuid:61EBE359-BFDC-4613-8BF2-C5E300945F0A"),
    ("xhtml", "<p>x</p>"), ("string", "x" * (1024 * 1024 + 1)),
])
def test_invalid_primitives(kind, value):
    assert check_primitive(kind, value)


@pytest.mark.parametrize("grammar, value, ok", [
    ("mimetype", "application/pdf", True), ("mimetype", "text/plain;charset=UTF-8", True),
    ("mimetype", "application/fhir+json; fhirVersion=4.0", True), ("mimetype", "pdf", False),
    ("mimetype", "text/ plain", False), ("language", "en", True), ("language", "zh-Hant-TW", True),
    ("language", "en_US", False), ("language", "english please", False),
    ("currency", "EUR", True), ("currency", "eur", False), ("currency", "EURO", False),
])
def test_grammars_of_non_enumerable_value_sets(grammar, value, ok):
    assert (check_syntax(grammar, value) is None) is ok


@pytest.mark.parametrize("reference, expected", [
    ("Patient/1", ("relative", "Patient")), ("Patient/1/_history/2", ("relative", "Patient")),
    ("http://x.example/fhir/Patient/1", ("absolute", "Patient")),
    ("https://x.example/fhir/Patient/1/_history/3", ("absolute", "Patient")),
    ("https://x.example/some/document", ("absolute", None)), ("#c1", ("local", None)),
    ("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", ("urn", None)),
    ("urn:uuid:nope", ("invalid", None)), ("Patient/", ("invalid", None)), ("patient/1", ("invalid", None)),
    ("Patient/1/2", ("invalid", None)), ("mailto:x@y", ("invalid", None)), ("http:///x", ("invalid", None)),
])
def test_reference_forms(reference, expected):
    assert parse_reference(reference) == expected
