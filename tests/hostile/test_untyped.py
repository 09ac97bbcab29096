"""What parsers really raise on hostile answers reaches the caller typed (issue 11:
"Untyped failures"): each shape once through a real socket, with both clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from imgcompat.core.errors import ImageBadRequest, ImgcompatError, InvalidResponse
from tests.hostile.drivers import Driver
from tests.hostile.server import Answer, HostileServer, image_record, json_answer, versions

TOKEN = "gAAAAABhostile-token-0123456789"
IMAGE_ID = "6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10"
NESTED = b"[" * 100_000 + b"]" * 100_000
JSON = ("content-type", "application/json")
V1_BASE = (("x-image-meta-id", IMAGE_ID), ("x-image-meta-status", "active"),
           ("x-image-meta-is_public", "True"))

#: name -> (API, the answer to the call, the call and its arguments)
SHAPES: dict[str, tuple[str, Answer, tuple[str, ...]]] = {
    "json nested 100k deep": ("v2.9", Answer(200, [JSON], NESTED), ("show", IMAGE_ID)),
    "an error body nested 100k deep": ("v2.9", Answer(400, [JSON], NESTED),
                                       ("show", IMAGE_ID)),  # ImageBadRequest
    "a listing nested 100k deep": ("v2.9", Answer(200, [JSON], NESTED), ("detail",)),
    "a time before year 1 in UTC": (
        "v2.9", json_answer(image_record(IMAGE_ID, created_at="0001-01-01T00:00:00+01:00")),
        ("show", IMAGE_ID)),
    "a time after 9999 in UTC": (
        "v2.9", json_answer(image_record(IMAGE_ID, updated_at="9999-12-31T23:59:59-01:00")),
        ("show", IMAGE_ID)),
    "a 5,000-digit v1 size": ("v1.1", Answer(200, [*V1_BASE, ("x-image-meta-size", "9" * 5000)]),
                              ("show", IMAGE_ID)),
    "a v1 time before year 1": (
        "v1.1", Answer(200, [*V1_BASE, ("x-image-meta-created_at", "0001-01-01T00:00:00+01:00")]),
        ("show", IMAGE_ID)),
    "a v1 header that is not UTF-8": (
        "v1.1", Answer(200, [*V1_BASE, ("x-image-meta-property-a", b"%ff%fe\xff")]),
        ("show", IMAGE_ID)),
    "a body that is not UTF-8": ("v2.9", Answer(200, [JSON], b'{"id": "\xff\xfe"}'),
                                 ("show", IMAGE_ID)),
    "a corrupt gzip body": ("v2.9", Answer(200, [JSON, ("content-encoding", "gzip")],
                                           b"\x1f\x8b\x08\x00garbage"), ("show", IMAGE_ID)),
    "an encoding not asked for": ("v2.9", Answer(200, [JSON, ("content-encoding", "br")],
                                                 b"\x0b\x02\x80{}\x03"), ("show", IMAGE_ID)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_hostile_shape_is_a_typed_error(
        hostile: HostileServer, driver: Callable[..., Driver], shape: str) -> None:
    api, answer, call = SHAPES[shape]
    hostile.script(lambda seen: versions(hostile.url, api) if seen.path == "/" else answer)
    client = driver(hostile.url, token=TOKEN)
    with pytest.raises(ImgcompatError) as info:
        client.call(*call)
    kind = ImageBadRequest if answer.status == 400 else InvalidResponse
    assert isinstance(info.value, kind), repr(info.value)


def test_a_versions_document_with_a_5000_digit_version_is_typed(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    doc = {"versions": [{"id": "v2." + "9" * 5000, "status": "CURRENT", "links": []}]}
    hostile.script(lambda seen: json_answer(doc, status=300))
    client = driver(hostile.url, token=TOKEN)
    with pytest.raises(ImgcompatError):
        client.call("discover")
