"""The senders on ``httpx.MockTransport``: auth headers, token redaction, rotation,
the idempotency rule, streamed uploads and downloads."""

from __future__ import annotations

import logging

import httpx
import pytest
from tenacity import wait_none

from imgcompat.core.errors import (
    ConnectionFailed,
    ImageNotFound,
    ImgcompatError,
    ServiceUnavailable,
    TransferInterrupted,
)
from imgcompat.core.identity import ANONYMOUS
from imgcompat.core.plan import Request, Response
from imgcompat.shell.auth import CallableToken, SessionAuth, StaticToken, make_auth, redact
from imgcompat.shell.transport import AsyncTransport, Transport
from imgcompat.shell.upload import upload_source

TOKEN = "tok+en/secret=="


def _transport(handler: object, roots: tuple[str, ...] = ("http://a", "http://b"),
               **kw: object) -> Transport:
    return Transport(roots, auth=StaticToken(TOKEN), backoff=wait_none(),
                     transport=httpx.MockTransport(handler), **kw)  # type: ignore[arg-type]


def test_the_token_is_sent_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, json={"message": f"token {TOKEN} overloaded"})
        return httpx.Response(404, json={"message": f"no such image (token {TOKEN})"})

    sender = _transport(handler)
    with caplog.at_level(logging.DEBUG, logger="imgcompat"):
        response = sender.send(Request("GET", "/v2/images/x", image_id="x"), ANONYMOUS)
    assert response.status == 404
    assert all(r.headers["x-auth-token"] == TOKEN for r in seen)
    assert TOKEN not in caplog.text
    assert "***" in caplog.text
    assert TOKEN not in repr(sender)
    with pytest.raises(ImageNotFound) as info, sender.open_stream(
            Request("GET", "/v2/images/x/file", image_id="x"), 0, ANONYMOUS):
        pass
    assert TOKEN not in str(info.value)


def test_rotation_and_the_final_error() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        raise httpx.ConnectError("refused", request=request)

    sender = _transport(handler, roots=("http://a", "http://b", "http://c"), num_retries=3)
    with pytest.raises(ConnectionFailed) as info:
        sender.send(Request("GET", "/"), ANONYMOUS)
    assert hosts == ["a", "b", "c", "a"]
    assert info.value.servers == ("http://a", "http://b", "http://c")
    assert "4 attempts" in str(info.value)


def test_a_non_idempotent_request_is_not_replayed_without_an_answer() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    sender = _transport(handler)
    with pytest.raises(ConnectionFailed, match="not replayed"):
        sender.send(Request("POST", "/v2/images", body=b"{}", idempotent=False), ANONYMOUS)
    assert calls == ["POST"]
    calls.clear()
    with pytest.raises(ConnectionFailed):
        sender.send(Request("GET", "/v2/images"), ANONYMOUS)
    assert calls == ["GET"] * 4  # an idempotent one is


def test_a_503_to_a_one_shot_upload_is_returned_not_replayed() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(503)

    sender = _transport(handler)
    upload = Request("PUT", "/v2/images/x/file", idempotent=False, image_id="x")
    response = sender.send_stream(upload, upload_source(iter([b"ab", b"cd"])), ANONYMOUS)
    assert response.status == 503
    assert bodies == [b"abcd"]
    bodies.clear()
    with pytest.raises(ConnectionFailed):
        sender.send_stream(upload, upload_source(b"abcd"), ANONYMOUS)
    assert bodies == [b"abcd"] * 4  # bytes can be produced again: replayed


def test_a_known_size_is_sent_as_content_length() -> None:
    headers: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers)
        request.read()
        return httpx.Response(204)

    sender = _transport(handler)
    upload = Request("PUT", "/v2/images/x/file", idempotent=False)
    sender.send_stream(upload, upload_source(b"12345"), ANONYMOUS)
    sender.send_stream(upload, upload_source(iter([b"12345"])), ANONYMOUS)
    assert headers[0]["content-length"] == "5"
    assert headers[1].get("transfer-encoding") == "chunked"


def test_a_broken_download_says_where_it_stopped() -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield b"12345"
            raise httpx.ReadError("reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, headers={"content-range": "bytes 10-99/100"},
                              stream=Broken())

    sender = _transport(handler)
    with sender.open_stream(Request("GET", "/f", image_id="x"), 10, ANONYMOUS) as stream:
        chunks = stream.iter_chunks()
        assert next(chunks) == b"12345"
        with pytest.raises(TransferInterrupted) as info:
            next(chunks)
    assert info.value.offset == 15


async def test_the_async_sender_retries_the_same_way() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(503 if len(hosts) < 3 else 200, json={})

    sender = AsyncTransport(("http://a", "http://b"), backoff=wait_none(),
                            transport=httpx.MockTransport(handler))
    assert (await sender.send(Request("GET", "/"), ANONYMOUS)).status == 200
    assert hosts == ["a", "b", "a"]
    hosts.clear()
    sender.num_retries = 0
    with pytest.raises(ConnectionFailed) as info:
        await sender.send(Request("GET", "/x"), ANONYMOUS)
    assert isinstance(info.value.__cause__, Exception)
    await sender.aclose()


def test_auth_sources() -> None:
    assert StaticToken("s3cr3t").token() == "s3cr3t"
    assert "s3cr3t" not in repr(StaticToken("s3cr3t"))
    with pytest.raises(ImgcompatError):
        StaticToken("bad\r\nheader")
    tokens = iter(["one", "two"])
    source = make_auth(lambda: next(tokens))
    assert isinstance(source, CallableToken)
    assert (source.token(), source.token()) == ("one", "two")

    class Session:
        invalidated = False

        def get_token(self) -> str:
            return "ks-token"

        def invalidate(self) -> None:
            self.invalidated = True

    session = Session()
    auth = make_auth(session=session)
    assert isinstance(auth, SessionAuth)
    assert auth.token() == "ks-token"
    auth.invalidate()
    assert session.invalidated
    with pytest.raises(ImgcompatError):
        make_auth("t", session)
    assert redact(f"x {TOKEN} y", TOKEN, None) == "x *** y"


def test_service_unavailable_is_the_typed_answer_when_not_retried() -> None:
    from imgcompat.core.plan import judge

    request = Request("PUT", "/v2/images/x/file", idempotent=False, image_id="x",
                      expect=frozenset({204}))
    with pytest.raises(ServiceUnavailable):
        judge(request, Response(503))
