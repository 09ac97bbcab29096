"""Hypothesis-generated *server answers* through both whole clients: nothing but an
``ImgcompatError`` escapes any operation, and no secret appears in any message or log line.

The parsers have their own fuzz tests (``test_fuzz.py``); here the answers go through
everything a caller's call goes through: httpx, the transport (retries, body caps,
decoding), the plan's judging, the codecs, the download engine and the client's one error
exit. A strategy draws a status, headers and a body for each request after discovery,
from the shapes issue 11 found (JSON nested 100k deep, times out of range once in UTC,
5,000-digit integers, bytes that are not UTF-8, compressed and corrupt bodies) and from
records whose fields hold the secrets, raw or escaped, cut where messages cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from imgcompat.core.errors import ImgcompatError
from imgcompat.core.limits import Limits
from imgcompat.core.model import Image
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient

#: Printable ASCII with the characters a repr or JSON escapes: the forms must all be found.
TOKEN = "tok\"en'\\-0123456789abcdef"
SERVICE = "svc-token-ABCDEFGHIJKLMNOP"
PASSWORD = "pass-WORD-1234"
SECRETS = (TOKEN, SERVICE, PASSWORD)
URL = f"http://admin:{PASSWORD}@glance.test"
IMAGE_ID = "6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10"
OPERATIONS = ("show", "detail", "create", "update", "delete", "download")
LIMITS = Limits(max_pages=5, deadline=5.0, max_answer_bytes=1 << 20)

# --------------------------------------------------------------------------- strategies

_HEADER_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_SPECIAL_TEXT = st.sampled_from([
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-01-01T00:00:00Z",
    "active", "queued", "killed", "public", "raw", "bare", IMAGE_ID, "9" * 5000, "%ff%fe",
    "None", "", "-1", "1e400",
])


def _embed(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text holding a secret (or not), with padding that puts it where messages are cut."""
    pad = st.sampled_from(["", "x" * 60, "y" * 470, "z" * 495])
    return st.builds(lambda a, s, b: a + s + b, pad, core, st.text(max_size=10))


SECRET_TEXT = _embed(st.sampled_from((*SECRETS, ""))) | _SPECIAL_TEXT | st.text(max_size=20)
HEADER_TEXT = st.text(_HEADER_CHARS, max_size=30) | _SPECIAL_TEXT | st.sampled_from(SECRETS)
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=True) | SECRET_TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SECRET_TEXT, inner, max_size=3),
    max_leaves=12)
V2_KEYS = ("id", "name", "status", "visibility", "size", "virtual_size", "checksum",
           "os_hash_algo", "os_hash_value", "created_at", "updated_at", "min_disk", "min_ram",
           "protected", "os_hidden", "tags", "disk_format", "container_format", "owner",
           "locations", "direct_url", "a_property")


def v2_record() -> dict[str, Any]:
    """A valid v2 image entity (active, 3 bytes: ``abc``)."""
    return {"id": IMAGE_ID, "name": "n", "status": "active", "visibility": "private",
            "protected": False, "os_hidden": False, "tags": [], "min_disk": 0, "min_ram": 0,
            "size": 3, "checksum": "900150983cd24fb0d6963f7d28e17f72", "disk_format": "raw",
            "container_format": "bare", "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z", "self": f"/v2/images/{IMAGE_ID}",
            "file": f"/v2/images/{IMAGE_ID}/file", "schema": "/v2/schemas/image"}


def v1_record() -> dict[str, Any]:
    """A valid v1 JSON image (the body of a v1 create or a listing entry)."""
    return {"id": IMAGE_ID, "name": "n", "status": "active", "is_public": False,
            "deleted": False, "protected": False, "size": 3, "min_disk": 0, "min_ram": 0,
            "checksum": "900150983cd24fb0d6963f7d28e17f72", "disk_format": "raw",
            "container_format": "bare", "created_at": "2024-01-01T00:00:00",
            "updated_at": "2024-01-01T00:00:00", "properties": {}}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid v2 entity or v1 JSON image with a few fields made hostile."""
    record: dict[str, Any] = draw(st.sampled_from([v2_record, v1_record]))()
    for key in draw(st.lists(st.sampled_from(V2_KEYS), max_size=2, unique=True)):
        record[key] = draw(JSON_VALUES)
    for key in draw(st.lists(st.sampled_from(_TEXT_KEYS), max_size=2, unique=True)):
        record[key] = draw(_SPECIAL_TEXT | SECRET_TEXT)
    return record


#: Fields parsed from text (times, enums), where the issue's shapes bite.
_TEXT_KEYS = ("created_at", "updated_at", "status", "visibility", "checksum", "name")


NESTED = b"[" * 100_000 + b"]" * 100_000
YEAR_1 = "0001-01-01T00:00:00+01:00"  # before year 1 once in UTC
YEAR_10000 = "9999-12-31T23:59:59-01:00"


def _changed(make: Any, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = make()
    record.update(fields)
    return record


#: The exact shapes issue 11 found (and their neighbours), each a whole body.
SHAPES = (
    NESTED, b'{"size": ' + b"9" * 5000 + b"}", b'{"id": "\xff\xfe"}', b"\xff\xfe",
    b"[" * 2000 + b"]" * 2000, b"{" * 990, b"",
    json.dumps(_changed(v2_record, created_at=YEAR_1)).encode(),
    json.dumps(_changed(v2_record, updated_at=YEAR_10000)).encode(),
    json.dumps(_changed(v1_record, created_at=YEAR_1)).encode(),
    json.dumps({"images": [_changed(v2_record, created_at=YEAR_1)]}).encode(),
    json.dumps({"images": [_changed(v1_record, updated_at=YEAR_10000)]}).encode(),
    json.dumps({"image": _changed(v1_record, created_at=YEAR_1)}).encode(),
)
#: Framing header values of a hostile download (Content-Range, Content-Length).
FRAMING = ("bytes 0-2/3", "bytes 5-1/*", "bytes 0-" + "9" * 5000 + "/*", "99999999999",
           "bytes 0-2/" + "9" * 5000, "9" * 5000, "-1", "bytes */3")
#: The v1 header forms of the same shapes.
V1_SHAPES = (("x-image-meta-created_at", YEAR_1), ("x-image-meta-updated_at", YEAR_10000),
             ("x-image-meta-size", "9" * 5000), ("x-image-meta-min_ram", "9" * 5000),
             ("x-image-meta-property-p", "%ff%fe"), ("x-image-meta-name", "\xff\xfe"))


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """An answer's body, in one of the shapes a server (or an attacker) sends."""
    kind = draw(st.sampled_from(["record", "record", "page", "message", "json", "special",
                                 "special", "special", "binary", "html", "versions"]))
    if kind == "record":
        return json.dumps(draw(records())).encode()
    if kind == "page":
        page: dict[str, Any] = {"images": draw(st.lists(records(), max_size=3))}
        if draw(st.booleans()):
            page["next"] = "/v2/images?marker=" + draw(SECRET_TEXT | st.just(IMAGE_ID))
        return json.dumps(page).encode()
    if kind == "message":
        return json.dumps({"message": draw(SECRET_TEXT), "code": 400}).encode()
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "html":
        return f"<html><body><h1>Error</h1>{draw(SECRET_TEXT)}</body></html>".encode()
    if kind == "versions":
        entry = {"id": draw(st.sampled_from(["v2.9", "v1.1", "v2." + "9" * 5000, "vX"])),
                 "status": draw(SECRET_TEXT),
                 "links": [{"rel": "self", "href": draw(SECRET_TEXT)}]}
        return json.dumps({"versions": [entry]}).encode()
    if kind == "binary":
        return draw(st.binary(max_size=64))
    return draw(st.sampled_from(SHAPES))


V1_META = ("id", "status", "size", "checksum", "created_at", "updated_at", "is_public",
           "min_ram", "deleted", "property-a", "name", "disk_format")


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Headers a server may send: v1 metadata, framing, digests, ids, all maybe hostile."""
    out: list[tuple[str, str]] = []
    if draw(st.booleans()):
        out += [("x-image-meta-id", IMAGE_ID), ("x-image-meta-status", "active"),
                ("x-image-meta-size", "3")]
        out += draw(st.lists(st.sampled_from(V1_SHAPES), max_size=1))
    for key in draw(st.lists(st.sampled_from(V1_META), max_size=3, unique=True)):
        out.append((f"x-image-meta-{key}", draw(_SPECIAL_TEXT | HEADER_TEXT)))
    for name in draw(st.lists(st.sampled_from([
            "content-length", "content-range", "content-range", "content-md5",
            "x-openstack-request-id", "location", "content-type", "x-image-meta-checksum"]),
            max_size=3, unique=True)):
        out.append((name, draw(st.sampled_from(FRAMING) | HEADER_TEXT)))
    return out


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, list[tuple[str, str]], bytes]:
    """One answer: status, headers, raw body (compressed when the headers say so)."""
    status = draw(st.sampled_from([200, 200, 200, 201, 204, 206, 206, 300, 302, 400, 401,
                                   403, 404, 409, 413, 415, 416, 418, 500, 503])
                  | st.integers(200, 599))
    heads = draw(headers())
    body = draw(bodies())
    encoding = draw(st.sampled_from([None, None, None, "gzip", "deflate", "br", "gzip-bad"]))
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = gzip.compress(body)[10:-8]  # a raw deflate stream
    elif encoding == "gzip-bad":
        body, encoding = b"\x1f\x8b" + body, "gzip"
    if encoding is not None:
        heads.append(("content-encoding", encoding))
    return status, heads, body


# --------------------------------------------------------------------------- the server


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body httpx has not read yet (as on a socket), in two pieces."""

    def __init__(self, data: bytes) -> None:
        self._pieces = [data[: len(data) // 2], data[len(data) // 2:]]

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


def _versions(api: str) -> httpx.Response:
    doc = {"versions": [{"id": f"v{api}", "status": "CURRENT",
                         "links": [{"rel": "self", "href": f"http://glance.test/v{api[0]}/"}]}]}
    return httpx.Response(300, json=doc)


Drawn = tuple[int, list[tuple[str, str]], bytes]
#: Per API, a valid answer to the first request of every operation (a show or a create):
#: drawn answers then reach what follows it (a download's body, an update's patch).
VALID_FIRST: dict[str, Drawn] = {
    "2.9": (200, [("content-type", "application/json")], json.dumps(v2_record()).encode()),
    "1.1": (200, [("x-image-meta-id", IMAGE_ID), ("x-image-meta-status", "active"),
                  ("x-image-meta-size", "3"),
                  ("x-image-meta-checksum", "900150983cd24fb0d6963f7d28e17f72")], b""),
}


class Script:
    """Discovery first (well-formed, or hostile too), then the drawn answers, in turn
    (after a valid first answer when ``valid_first``)."""

    def __init__(self, api: str, hostile_discovery: bool, drawn: list[Drawn],
                 valid_first: bool = False) -> None:
        self.api = api
        self.hostile_discovery = hostile_discovery
        self.drawn = [VALID_FIRST[api], *drawn] if valid_first else drawn
        self.count = 0
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if request.url.path == "/" and not self.hostile_discovery:
            return _versions(self.api)
        status, heads, body = self.drawn[self.count % len(self.drawn)]
        self.count += 1
        raw = [(k.encode(), v.encode("latin-1")) for k, v in heads]  # as bytes on a wire
        return httpx.Response(status, headers=raw, stream=_Body(body))


def _options() -> dict[str, Any]:
    return {"token": lambda: TOKEN, "num_retries": 1, "backoff": tenacity.wait_none(),
            "limits": LIMITS, "timeout": 5.0}


def _sync_call(operation: str, script: Script) -> None:
    client = ImageClient(URL, transport=httpx.MockTransport(script), **_options())
    view = client.for_request(service_token=SERVICE)
    try:
        _run_sync(view, operation)
    finally:
        client.close()


def _run_sync(view: ImageClient, operation: str) -> None:
    if operation == "show":
        view.show(IMAGE_ID)
    elif operation == "detail":
        list(view.detail())
    elif operation == "create":
        view.create(Image(name="n", disk_format="raw", container_format="bare"), data=b"abc")
    elif operation == "update":
        view.update(IMAGE_ID, {"name": "m"})
    elif operation == "delete":
        view.delete(IMAGE_ID)
    else:
        result = view.download(IMAGE_ID)
        assert isinstance(result, Iterator)
        b"".join(result)


async def _async_call(operation: str, script: Script) -> None:
    client = AsyncImageClient(URL, transport=httpx.MockTransport(script), **_options())
    view = client.for_request(service_token=SERVICE)
    try:
        if operation == "show":
            await view.show(IMAGE_ID)
        elif operation == "detail":
            [i async for i in await view.detail()]
        elif operation == "create":
            await view.create(Image(name="n", disk_format="raw", container_format="bare"),
                              data=b"abc")
        elif operation == "update":
            await view.update(IMAGE_ID, {"name": "m"})
        elif operation == "delete":
            await view.delete(IMAGE_ID)
        else:
            result = await view.download(IMAGE_ID)
            assert isinstance(result, AsyncIterator)
            [piece async for piece in result]
    finally:
        await client.close()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:3000])


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("flavour", ["sync", "async"])
@given(api=st.sampled_from(["2.9", "1.1"]),
       start=st.sampled_from(["discovery", "discovery and a valid record", "hostile"]),
       drawn=st.lists(answers(), min_size=1, max_size=4))
def test_only_typed_errors_escape_and_no_secret_is_shown(
        flavour: str, operation: str, api: str, start: str, drawn: list[Drawn]) -> None:
    script = Script(api, start == "hostile" and drawn[0][0] in (200, 300), drawn,
                    valid_first=start == "discovery and a valid record")
    lines = _Lines()
    loggers = [logging.getLogger(name) for name in ("imgcompat", "httpx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(lines)
        logger.setLevel(logging.DEBUG)
    try:
        if flavour == "sync":
            _sync_call(operation, script)
        else:
            asyncio.run(_async_call(operation, script))
    except ImgcompatError as exc:
        _assert_no_secret("".join(traceback.format_exception(exc)), repr(exc),
                          repr(vars(exc)))
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(lines)
            logger.setLevel(level)
    _assert_no_secret(*lines.lines, *script.urls)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@given(api=st.sampled_from(["2.9", "1.1"]), status=st.sampled_from([200, 204, 206]),
       heads=headers(), body=st.binary(max_size=8) | st.just(b"abc"))
def test_a_hostile_download_answer_is_typed(flavour: str, api: str, status: int,
                                            heads: list[tuple[str, str]], body: bytes) -> None:
    """The bytes' answer after a valid record: framing headers the resume rules judge."""
    script = Script(api, False, [(status, heads, body)], valid_first=True)
    with contextlib.suppress(ImgcompatError):
        if flavour == "sync":
            _sync_call("download", script)
        else:
            asyncio.run(_async_call("download", script))


@pytest.mark.parametrize(("api", "answer"), sorted(VALID_FIRST.items()))
def test_the_base_answers_are_accepted(api: str, answer: Drawn) -> None:
    """What the strategies make hostile starts valid: the fuzzing reaches the fields."""
    client = ImageClient(URL, transport=httpx.MockTransport(Script(api, False, [answer])),
                         **_options())
    assert client.show(IMAGE_ID).id == IMAGE_ID
    client.close()


def test_the_strategies_reach_the_shapes_of_issue_11() -> None:
    """The shapes the issue names are among what the strategy draws (not left to chance)."""
    seen: set[str] = set()

    @given(bodies())
    def look(body: bytes) -> None:
        if body == NESTED:
            seen.add("nested")
        if b"9" * 5000 in body:
            seen.add("digits")
        if b'"created_at": "0001-01-01T00:00:00+01:00"' in body:
            seen.add("year-1")

    from hypothesis import settings
    settings(max_examples=2000, database=None)(look)()
    assert seen == {"nested", "digits", "year-1"}


