"""The few ASGI pieces the emulator needs: a parsed request and a response writer.

No web framework: Glance's surface is small, and owning the byte-level path keeps request
bodies and downloads streamed chunk by chunk (``receive()`` in, ``send()`` out) and lets
faults cut a body at an exact byte.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import attrs

from .faults import ConnectionDropped, Faults
from .http_errors import HttpError, render

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HeaderList = Iterable[tuple[str, str]]


def json_bytes(value: Any) -> bytes:
    """``value`` as Glance writes JSON: ``ensure_ascii=False`` (UTF-8 on the wire) and
    the default ``", "`` / ``": "`` separators."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def json_array(items: Iterable[bytes]) -> bytes:
    """The array of values already encoded by :func:`json_bytes`: the same bytes as
    :func:`json_bytes` of the list of them."""
    return b"[" + b", ".join(items) + b"]"


def json_object(members: Iterable[tuple[str, bytes]]) -> bytes:
    """The object of (key, value encoded by :func:`json_bytes`) in order: the same bytes
    as :func:`json_bytes` of the dict of them."""
    return b"{" + b", ".join(json_bytes(key) + b": " + value for key, value in members) + b"}"


class BodyBroken(Exception):
    """The client went away before the request body was complete."""


class BodyTooLarge(Exception):
    """A JSON request body went past the emulator's limit (answered 413)."""


@attrs.define
class Request:
    """One request as the handlers see it; the body is read lazily, chunk by chunk."""

    method: str
    path: str
    raw_query: str
    header_pairs: list[tuple[str, str]]
    base_url: str
    receive: Receive
    body_done: bool = False

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        # Header bytes are latin-1 on the wire, as the WSGI servers Glance ran on read them:
        # raw UTF-8 in a v1 header is stored as what latin-1 makes of it.
        pairs = [(k.decode("latin-1").lower(), v.decode("latin-1"))
                 for k, v in scope.get("headers", [])]
        host = next((v for k, v in pairs if k == "host"), None)
        if host is None:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        # PATH_INFO as a WSGI server hands it to Glance: percent-decoded bytes read as
        # latin-1 (a tag ``uni%C3%A9`` arrives as ``uniÃ©``).
        raw = scope.get("raw_path")
        path = (unquote_to_bytes(raw).decode("latin-1") if isinstance(raw, bytes)
                else scope.get("path", "/"))
        return cls(
            method=scope["method"].upper(),
            path=path or "/",
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            header_pairs=pairs,
            base_url=f"{scope.get('scheme', 'http')}://{host}",
            receive=receive,
        )

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; a repeated header keeps its last value."""
        return dict(self.header_pairs)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    @property
    def media_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    @property
    def accept(self) -> str | None:
        """The Accept header as sent (None when absent: webob reads that as empty)."""
        return self.header("accept")

    @property
    def has_body(self) -> bool:
        length = self.header("content-length")
        if length is not None:
            return length.strip() not in ("", "0")
        return "chunked" in (self.header("transfer-encoding") or "").lower()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; :class:`BodyBroken` when the client goes away."""
        while not self.body_done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.body_done = True
                raise BodyBroken()
            self.body_done = not message.get("more_body", False)
            chunk = message.get("body", b"")
            if chunk:
                yield chunk

    async def read(self, limit: int) -> bytes:
        """The whole body, for JSON requests only; :class:`BodyTooLarge` past ``limit``.

        The rest of an oversized body is read and dropped, so the 413 reaches a client
        that is still sending.
        """
        parts: list[bytes] = []
        total = 0
        async for chunk in self.chunks():
            total += len(chunk)
            if total > limit:
                await self.drain()
                raise BodyTooLarge(total)
            parts.append(chunk)
        return b"".join(parts)

    async def drain(self) -> None:
        """Read and drop the rest of the body, so the connection stays usable."""
        try:
            async for _ in self.chunks():
                pass
        except BodyBroken:
            pass


def _value_bytes(value: str) -> bytes:
    # What arrived as latin-1 goes back byte for byte; other text (a v2 property read
    # through v1) goes out as raw UTF-8, as the py2 v1 server sent it.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _encode(headers: HeaderList) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), _value_bytes(v)) for k, v in headers]


class Responder:
    """Writes one response; applies the body faults of the emulator it belongs to."""

    def __init__(self, send: Send, request: Request, faults: Faults) -> None:
        self._send = send
        self._request = request
        self._faults = faults
        self.status: int | None = None
        #: ``x-openstack-request-id`` of this answer (Glance's context middleware adds
        #: it to every answer past it; version documents and 401s go without).
        self.request_id: str | None = None

    async def _start(self, status: int, headers: HeaderList) -> None:
        self.status = status
        out = list(headers)
        if self.request_id is not None:
            out.append(("x-openstack-request-id", self.request_id))
        await self._send({"type": "http.response.start", "status": status,
                          "headers": _encode(out)})

    async def body(self, status: int, body: bytes, content_type: str | None,
                   headers: HeaderList = ()) -> None:
        out = list(headers)
        if content_type is not None:
            out.append(("Content-Type", content_type))
        out.append(("Content-Length", str(len(body))))
        await self._start(status, out)
        await self._send({"type": "http.response.body", "body": body})

    async def json(self, status: int, doc: Any, headers: HeaderList = ()) -> None:
        """``doc`` as Glance writes it (see :func:`json_bytes`)."""
        await self.encoded_json(status, json_bytes(doc), headers)

    async def encoded_json(self, status: int, body: bytes, headers: HeaderList = ()) -> None:
        """A JSON answer already encoded (:func:`json_bytes`, or a join of such pieces by
        :func:`json_object` / :func:`json_array`); the malformed-JSON fault applies."""
        if self._faults.take_malformed():
            body = body[: max(1, len(body) // 2)]
        await self.body(status, body, "application/json", headers)

    async def empty(self, status: int, headers: HeaderList = (),
                    content_type: str | None = "text/html; charset=UTF-8") -> None:
        out = list(headers)
        if content_type is not None:
            out.append(("Content-Type", content_type))
        if status not in (204, 304):
            out.append(("Content-Length", "0"))
        await self._start(status, out)
        await self._send({"type": "http.response.body", "body": b""})

    async def error(self, error: HttpError, *, body_on_head: bool = False) -> None:
        """``error`` as webob writes it for this request's Accept (no body for HEAD,
        unless ``body_on_head``: the v1 emulator has always sent one)."""
        req = self._request
        content_type, body = render(error, accept=req.accept, method=req.method,
                                    content_type=req.header("content-type"))
        if req.method == "HEAD" and not body_on_head:
            await self.body(error.status, b"", "text/html; charset=UTF-8", error.headers)
            return
        await self.body(error.status, body, content_type, error.headers)

    async def stream(self, status: int, headers: HeaderList, chunks: Iterator[bytes],
                     *, download: bool = False) -> None:
        """Send ``chunks`` as the body; for downloads, apply reset/corrupt faults."""
        await self._start(status, headers)
        limit = self._faults.take_reset() if download else None
        corrupt = download and self._faults.take_corrupt()
        sent = 0
        for original in chunks:
            chunk = original
            if corrupt and chunk:
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                corrupt = False
            if limit is not None and sent + len(chunk) >= limit:
                part = chunk[: limit - sent]
                if part:
                    await self._send({"type": "http.response.body", "body": part,
                                      "more_body": True})
                raise ConnectionDropped(f"fault: connection dropped after {limit} bytes")
            sent += len(chunk)
            await self._send({"type": "http.response.body", "body": chunk,
                              "more_body": True})
        await self._send({"type": "http.response.body", "body": b""})


def capitalize(name: str) -> str:
    """Header-name case as eventlet wrote it: ``X-Image-Meta-Is_public``."""
    return "-".join(word.capitalize() for word in name.split("-"))


def merged(*parts: Mapping[str, str] | HeaderList) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for part in parts:
        out.extend(part.items() if isinstance(part, Mapping) else part)
    return out
