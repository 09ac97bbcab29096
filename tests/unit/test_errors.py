"""The exception hierarchy and error_for: every status mapping with concrete values."""

from __future__ import annotations

import pytest

import imgcompat
from imgcompat.core import errors
from imgcompat.core.errors import (
    RETRYABLE_STATUSES,
    ChecksumMismatch,
    Conflict,
    ConnectionFailed,
    Forbidden,
    ImageBadRequest,
    ImageChecksumMismatch,
    ImageNotAuthorized,
    ImageNotFound,
    ImageQuotaExceeded,
    ImageUnacceptable,
    ImgcompatError,
    Invalid,
    InvalidRecord,
    NotFound,
    RangeNotSatisfiable,
    ServerError,
    ServiceUnavailable,
    TransferInterrupted,
    UnexpectedResponse,
    UnsupportedMediaType,
    error_for,
    message_from_body,
)

IMAGE = "985df77b-9844-478d-943c-c2e15fe354f3"


@pytest.mark.parametrize(
    "kind",
    [ImageNotFound, NotFound, ImageNotAuthorized, Forbidden, ImageBadRequest, Invalid, Conflict,
     ImageQuotaExceeded, UnsupportedMediaType, RangeNotSatisfiable, ServiceUnavailable,
     ServerError, UnexpectedResponse, ChecksumMismatch, ImageUnacceptable, ConnectionFailed,
     InvalidRecord, TransferInterrupted],
)
def test_every_error_is_an_imgcompat_error(kind: type[Exception]) -> None:
    assert issubclass(kind, ImgcompatError)


def test_public_names() -> None:
    for name in ("ImgcompatError", "ImageNotFound", "ImageNotAuthorized", "ImageBadRequest",
                 "Conflict", "ImageQuotaExceeded", "ChecksumMismatch", "ImageUnacceptable",
                 "ConnectionFailed", "InvalidRecord"):
        assert getattr(imgcompat, name) is getattr(errors, name)
    assert ImageChecksumMismatch is ChecksumMismatch
    assert issubclass(InvalidRecord, ValueError)


@pytest.mark.parametrize(
    ("status", "image_id", "kind"),
    [
        (401, IMAGE, ImageNotAuthorized),
        (403, IMAGE, ImageNotAuthorized),
        (401, None, Forbidden),
        (403, None, Forbidden),
        (404, IMAGE, ImageNotFound),
        (404, None, NotFound),
        (400, IMAGE, ImageBadRequest),
        (400, None, Invalid),
        (409, IMAGE, Conflict),
        (409, None, Conflict),
        (413, IMAGE, ImageQuotaExceeded),
        (413, None, ImageQuotaExceeded),
        (415, IMAGE, UnsupportedMediaType),
        (416, IMAGE, RangeNotSatisfiable),
        (502, None, ServiceUnavailable),
        (503, IMAGE, ServiceUnavailable),
        (504, None, ServiceUnavailable),
        (500, IMAGE, ServerError),
        (501, None, ServerError),
        (300, None, UnexpectedResponse),
        (418, IMAGE, UnexpectedResponse),
    ],
)
def test_error_for(status: int, image_id: str | None, kind: type[ImgcompatError]) -> None:
    error = error_for(status, b'{"message": "boom"}', image_id)
    assert type(error) is kind
    assert error.status == status
    assert error.image_id == image_id
    assert error.message == "boom"
    assert f"(HTTP {status})" in str(error)


def test_retryable_statuses() -> None:
    assert frozenset({502, 503, 504}) == RETRYABLE_STATUSES


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, ""),
        (b"", ""),
        ('{"message": "No image found with ID x", "code": "404 Not Found", "title": "Not Found"}',
         "No image found with ID x"),
        (b'{"badRequest": {"message": "Invalid marker"}}', "Invalid marker"),
        ("<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
         "Attribute &#x27;size&#x27; is read-only.<br /><br /></body></html>",
         "403 Forbidden 403 Forbidden Attribute 'size' is read-only."),
        ("409 Conflict\n\nImage status transition from active to saving is not allowed\n\n   ",
         "409 Conflict Image status transition from active to saving is not allowed"),
        (b"\xff\xfe bad", "\ufffd\ufffd bad"),
    ],
)
def test_message_from_body(body: bytes | str | None, message: str) -> None:
    assert message_from_body(body) == message


def test_long_messages_are_cut() -> None:
    assert len(message_from_body("x" * 5000)) == 500


def test_error_texts() -> None:
    assert str(ImageNotFound("gone", image_id="abc", status=404)) == "image abc: gone (HTTP 404)"
    assert str(ImgcompatError()) == "ImgcompatError"
    assert str(InvalidRecord("bad", field="size")) == "size: bad"
    assert InvalidRecord("bad", field="size").field == "size"
    mismatch = ChecksumMismatch(algorithm="md5", expected="a", actual="b", image_id="i")
    assert (mismatch.algorithm, mismatch.expected, mismatch.actual) == ("md5", "a", "b")
    assert "md5 mismatch" in str(mismatch)
    failed = ConnectionFailed("no answer", servers=["http://a", "http://b"])
    assert failed.servers == ("http://a", "http://b")
    assert "tried: http://a, http://b" in str(failed)
    assert TransferInterrupted("cut", offset=10).offset == 10


def test_real_server_error_samples(samples_dir: object) -> None:
    import json
    from pathlib import Path

    real = Path(str(samples_dir)) / "glance-v2-real"
    cases = {
        "image-show-badid-404.json": ImageNotFound,
        "image-show-deleted-404.json": ImageNotFound,
        "image-patch-nonstring-400.json": ImageBadRequest,
        "image-patch-readonly-403.json": ImageNotAuthorized,
        "image-patch-wrongtype-415.json": UnsupportedMediaType,
        "image-reupload-409.json": Conflict,
        "image-delete-protected-403.json": ImageNotAuthorized,
    }
    for name, kind in cases.items():
        doc = json.loads((real / name).read_text())
        body = doc.get("body_text", doc.get("body"))
        body = json.dumps(body) if isinstance(body, dict) else body
        error = error_for(doc["status"], body, IMAGE)
        assert type(error) is kind, name
        assert error.message, name
    listing = json.loads((real / "images-list-bad-operator-400.json").read_text())
    body = listing.get("body_text", listing.get("body"))
    body = json.dumps(body) if isinstance(body, dict) else body
    assert type(error_for(400, body, None)) is Invalid


def test_a_record_error_blamed_on_the_server_keeps_what_the_parser_said() -> None:
    parsed = errors.InvalidRecord("must be an integer (got 'x')", field="size")
    blamed = errors.InvalidServerRecord.from_record(parsed, image_id=IMAGE, status=200)
    assert isinstance(blamed, errors.InvalidRecord)
    assert isinstance(blamed, errors.InvalidResponse)
    assert (blamed.message, blamed.field) == (parsed.message, "size")
    assert (blamed.image_id, blamed.status) == (IMAGE, 200)
    assert str(blamed) == f"image {IMAGE}: size: must be an integer (got 'x') (HTTP 200)"
    unnamed = errors.InvalidServerRecord.from_record(errors.InvalidRecord("bad"))
    assert (unnamed.message, unnamed.field, unnamed.image_id, unnamed.status) == (
        "bad", None, None, None)
    # What the record already carried wins over the call's guess.
    own = errors.InvalidRecord("bad", field="id", image_id="other", status=201)
    kept = errors.InvalidServerRecord.from_record(own, image_id=IMAGE, status=200)
    assert (kept.message, kept.image_id, kept.status) == ("id: bad", "other", 201)
