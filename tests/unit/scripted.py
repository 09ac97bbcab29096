"""A Glance v2 whose answers each test scripts, behind ``httpx.MockTransport`` (no socket).

``record(image_id)`` gives the JSON entity a show answers with (the test may change it to
lie), ``file(image_id)`` the headers and body of ``.../file`` (bytes, or an iterator for an
endless one). Every request is logged as ``(method, path)``. Both clients can use it: the
transport serves sync and async requests alike.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import tenacity

from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient

URL = "http://glance.test"
IMAGE_A = "2d5e5e6a-6a1c-4d6e-9b4e-0a7c9a8f0d11"
IMAGE_B = "8f1c3a42-0b7d-4c55-a1e2-6b9d4f3e2c77"
DATA = bytes(range(256)) * 1024

VERSIONS = {"versions": [{"id": "v2.17", "status": "CURRENT",
                          "links": [{"rel": "self", "href": f"{URL}/v2/"}]}]}

Body = bytes | Iterator[bytes]


@functools.lru_cache(maxsize=8)
def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


def v2_record(image_id: str, data: bytes | None = DATA, **changes: Any) -> dict[str, Any]:
    """An active v2 image entity with ``data``'s size and digests (``changes`` win)."""
    md5, sha512 = _digests(data) if data is not None else (None, None)
    doc: dict[str, Any] = {
        "id": image_id, "name": "scripted", "status": "active", "visibility": "private",
        "protected": False, "os_hidden": False, "disk_format": "raw",
        "container_format": "bare", "min_ram": 0, "min_disk": 0, "owner": None,
        "size": None if data is None else len(data), "virtual_size": None,
        "checksum": md5, "os_hash_algo": None if data is None else "sha512",
        "os_hash_value": sha512,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "tags": [], "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    doc.update(changes)
    return doc


class ScriptedGlance:
    """The answers of one test; ``transport()`` plugs them into a client."""

    def __init__(self) -> None:
        self.record: Callable[[str], dict[str, Any]] = v2_record
        self.file: Callable[[str], tuple[dict[str, str], Body]] = (
            lambda _id: ({"content-length": str(len(DATA))}, DATA))
        self.requests: list[tuple[str, str]] = []

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if path in ("", "/"):
            return httpx.Response(300, json=VERSIONS)
        parts = path.strip("/").split("/")
        if parts[:2] == ["v2", "images"] and len(parts) == 3:
            if request.method == "GET":
                return httpx.Response(200, json=self.record(parts[2]))
            if request.method == "PATCH":
                return httpx.Response(200, json=self.record(parts[2]))
        if parts[:2] == ["v2", "images"] and parts[3:] == ["file"] and request.method == "GET":
            headers, body = self.file(parts[2])
            # a stream even for bytes: a Response made from bytes counts as already read
            pieces = iter([body]) if isinstance(body, bytes) else body
            return httpx.Response(200, headers=headers, stream=_Body(pieces))
        return httpx.Response(404, json={"message": "not scripted"})

    def handle(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)

    def client(self) -> ImageClient:
        return ImageClient(URL, transport=httpx.MockTransport(self.handle),
                           backoff=tenacity.wait_none(), num_retries=0)

    def aclient(self) -> AsyncImageClient:
        return AsyncImageClient(URL, transport=httpx.MockTransport(self.ahandle),
                                backoff=tenacity.wait_none(), num_retries=0)

    def file_requests(self) -> int:
        return sum(1 for _, path in self.requests if path.endswith("/file"))


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A streamed body from an iterator, readable by either client."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def endless(piece: int = 65_536, stop: int = 64 * 1024 * 1024) -> Iterator[bytes]:
    """A body that does not end (up to ``stop`` bytes, where it fails the test instead)."""
    sent = 0
    while sent < stop:
        sent += piece
        yield b"\0" * piece
    raise AssertionError("the client kept reading an endless body")
