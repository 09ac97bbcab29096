"""Limits under a hostile server (issue 11: "Unbounded memory", "Endless paging",
"No deadline"): each reproduction ends with the typed error that names the limit, on a
real socket, with both clients."""

from __future__ import annotations

import functools
import hashlib
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tenacity

from imgcompat.core.errors import (
    ConnectionFailed,
    DeadlineExceeded,
    InvalidResponse,
    LimitExceeded,
    PagingLoop,
    ResponseTooLarge,
    TooManyPages,
    TransferStalled,
)
from imgcompat.core.limits import Limits, MiB
from tests.hostile.drivers import Driver
from tests.hostile.server import (
    Answer,
    BodyPiece,
    HostileServer,
    Seen,
    image_record,
    json_answer,
    routes,
    trickle,
    versions,
)

TOKEN = "gAAAAABhostile-token-0123456789"
IMAGE_ID = "6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10"
JSON = ("content-type", "application/json")


def endless(piece: bytes = b" " * 65536) -> Callable[[], Iterator[BodyPiece]]:
    """A body that never ends (the server sends until the client hangs up)."""
    def pieces() -> Iterator[BodyPiece]:
        yield b'{"id": "'
        while True:
            yield piece
    return pieces


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of spaces, gzipped: about 1 MB on the wire (the issue's was 522 KB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * MiB
    out = [packer.compress(b'{"id": "')]
    out.extend(packer.compress(block) for _ in range(1024))
    out.append(packer.flush())
    return b"".join(out)


def _show_answering(server: HostileServer, answer: Answer, api: str = "v2.9") -> None:
    server.script(lambda seen: versions(server.url, api) if seen.path == "/" else answer)


# --------------------------------------------------------------------------- memory


def test_an_endless_json_answer_stops_at_the_limit(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    _show_answering(hostile, Answer(200, [JSON], endless(), framing="close"))
    client = driver(hostile.url, token=TOKEN)
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge) as info:
        client.call("show", IMAGE_ID)
    assert time.monotonic() - started < 10
    assert (info.value.limit, info.value.value) == ("max_answer_bytes", 16 * MiB)
    assert "max_answer_bytes" in str(info.value)
    assert isinstance(info.value, InvalidResponse)


def test_a_gzip_bomb_is_not_inflated_past_the_limit(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 2 * MiB
    _show_answering(hostile, Answer(200, [JSON, ("content-encoding", "gzip")], bomb))
    client = driver(hostile.url, token=TOKEN)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge):
            client.call("show", IMAGE_ID)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert hostile.seen[-1].header("accept-encoding") == "identity"


def test_an_endless_error_body_stops_at_the_limit(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    _show_answering(hostile, Answer(404, [JSON], endless(), framing="close"))
    client = driver(hostile.url, token=TOKEN, limits=Limits(max_answer_bytes=MiB))
    with pytest.raises(ResponseTooLarge) as info:
        client.call("show", IMAGE_ID)
    assert (info.value.status, info.value.value) == (404, MiB)


def test_the_versions_document_has_its_own_cap(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    padding = [{"id": f"v9.{i}", "status": "EXPERIMENTAL", "links": []} for i in range(9000)]
    hostile.script(routes({("GET", "/"): json_answer({"versions": padding}, status=300)}))
    client = driver(hostile.url, token=TOKEN)
    with pytest.raises(ResponseTooLarge) as info:
        client.call("discover")
    assert info.value.limit == "max_versions_bytes"
    assert "with_limits(max_versions_bytes=...)" in str(info.value)


# --------------------------------------------------------------------------- paging


def _page(*ids: str, next_marker: str | None = None) -> Answer:
    doc: dict[str, object] = {"images": [image_record(i) for i in ids]}
    if next_marker is not None:
        doc["next"] = f"/v2/images?marker={next_marker}"
    return json_answer(doc)


def test_a_fresh_marker_every_page_ends_at_max_pages(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    def page(seen: Seen) -> Answer:
        fresh = str(uuid.uuid4())
        return _page(fresh, next_marker=fresh)
    hostile.script(routes({("GET", "/"): versions(hostile.url), ("GET", "/v2/images"): page}))
    client = driver(hostile.url, token=TOKEN, limits=Limits(max_pages=30))
    with pytest.raises(TooManyPages) as info:
        client.call("detail")
    assert (info.value.limit, info.value.value) == ("max_pages", 30)
    assert len([s for s in hostile.seen if s.path == "/v2/images"]) == 30


def test_a_marker_cycle_is_an_error(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())

    def page(seen: Seen) -> Answer:
        if f"marker={a}" in seen.query:
            return _page(b, next_marker=b)
        if f"marker={b}" in seen.query:
            return _page(a, next_marker=a)
        return _page(a, next_marker=a)
    hostile.script(routes({("GET", "/"): versions(hostile.url), ("GET", "/v2/images"): page}))
    client = driver(hostile.url, token=TOKEN)
    with pytest.raises(PagingLoop) as info:
        client.call("detail")
    assert a in str(info.value)
    assert len([s for s in hostile.seen if s.path == "/v2/images"]) == 3


def test_a_v1_server_always_answering_full_pages_ends_at_max_pages(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    def page(seen: Seen) -> Answer:
        limit = int(dict(p.split("=") for p in seen.query.split("&"))["limit"])
        images = [{"id": str(uuid.uuid4()), "name": "n", "status": "active",
                   "is_public": False, "protected": False, "deleted": False, "size": 1,
                   "properties": {}} for _ in range(limit)]
        return json_answer({"images": images})
    hostile.script(routes({("GET", "/"): versions(hostile.url, "v1.1"),
                           ("GET", "/v1/images/detail"): page}))
    client = driver(hostile.url, token=TOKEN)
    limited = client.view(client.client.with_limits(max_pages=12))
    with pytest.raises(TooManyPages):
        limited.call("detail")
    assert len([s for s in hostile.seen if s.path == "/v1/images/detail"]) == 12


# --------------------------------------------------------------------------- time


def test_a_body_trickling_under_the_read_timeout_meets_the_deadline(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    body = b'{"id": "' + b"x" * 200 + b'"}'
    _show_answering(hostile, Answer(200, [JSON], trickle(body, 0.3), framing="close"))
    client = driver(hostile.url, token=TOKEN, timeout=0.5, limits=Limits(deadline=2.0))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        client.call("show", IMAGE_ID)
    assert time.monotonic() - started < 3.0
    assert isinstance(info.value, ConnectionFailed)
    assert info.value.limit == "deadline"


def test_headers_trickling_under_the_read_timeout_meet_the_deadline(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    slow = Answer(200, [JSON, ("x-padding", "p" * 500)], b"{}", head_pause=0.2)
    _show_answering(hostile, slow)
    client = driver(hostile.url, token=TOKEN, timeout=0.5)
    client.call("discover")  # discovery answers at once
    hurried = client.view(client.client.with_limits(deadline=1.5))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        hurried.call("show", IMAGE_ID)
    assert time.monotonic() - started < 2.5


def test_the_deadline_covers_retries_and_their_waits(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    _show_answering(hostile, Answer(503, body=b"busy"))
    client = driver(hostile.url, token=TOKEN, num_retries=50,
                    backoff=tenacity.wait_fixed(0.4), limits=Limits(deadline=1.5))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.call("show", IMAGE_ID)
    assert time.monotonic() - started < 2.5
    assert 2 < len(hostile.seen) < 10


def _downloadable(server: HostileServer, body: Answer, data: bytes) -> None:
    record = image_record(IMAGE_ID, size=len(data), checksum=hashlib.md5(data).hexdigest())
    server.script(routes({("GET", "/"): versions(server.url),
                          ("GET", f"/v2/images/{IMAGE_ID}"): json_answer(record),
                          ("GET", f"/v2/images/{IMAGE_ID}/file"): body}))


def test_a_download_under_the_minimum_progress_stalls(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    data = b"d" * 4096
    _downloadable(hostile, Answer(200, [("content-type", "application/octet-stream")],
                                  trickle(data, 0.05), framing="close"), data)
    limits = Limits(min_transfer_bytes=1024, min_transfer_window=0.4)
    client = driver(hostile.url, token=TOKEN, timeout=5.0, limits=limits)
    started = time.monotonic()
    with pytest.raises(TransferStalled) as info:
        client.call("download", IMAGE_ID, tmp_path / "image")
    assert time.monotonic() - started < 8
    assert info.value.limit == "min_transfer_bytes"
    assert isinstance(info.value, ConnectionFailed)
    assert len([s for s in hostile.seen if s.path.endswith("/file")]) == 1  # not asked again
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_download_keeps_its_transfer_deadline(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    data = b"d" * 4096
    _downloadable(hostile, Answer(200, [("content-type", "application/octet-stream")],
                                  trickle(data, 0.01, piece=16), framing="close"), data)
    client = driver(hostile.url, token=TOKEN, limits=Limits(transfer_deadline=1.0))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        client.call("download", IMAGE_ID, tmp_path / "image")
    assert time.monotonic() - started < 2.5
    assert info.value.limit == "transfer_deadline"
    assert isinstance(info.value, LimitExceeded)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
