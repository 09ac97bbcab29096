"""The limits record and where it is enforced: the pager's page cap and loop rule, the
capped body reader, the deadline and progress rules, the clients' views and defaults."""

from __future__ import annotations

import gzip
import json
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator

import attrs
import httpx
import pytest
from tenacity import wait_none

from imgcompat.core import plan
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api
from imgcompat.core.errors import (
    DeadlineExceeded,
    InvalidRecord,
    InvalidServerRecord,
    LimitExceeded,
    PagingLoop,
    ResponseTooLarge,
    TooManyPages,
    UnexpectedResponse,
)
from imgcompat.core.identity import ANONYMOUS
from imgcompat.core.limits import DEFAULT_LIMITS, Limits, MiB
from imgcompat.core.plan import Request, Response
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.bounds import (
    INFLATE_STEP,
    BodyReader,
    Budget,
    Deadline,
    ProgressWatch,
    _AsyncDeadlineBackend,
    _DeadlineBackend,
)
from imgcompat.shell.client import ImageClient
from imgcompat.shell.transport import AsyncTransport, Transport

V2 = VersionChoice(api=Api.V2, minor=9, root_url="http://h", reason="test")
V1 = VersionChoice(api=Api.V1, minor=1, root_url="http://h", reason="test")


def test_the_defaults() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert (Limits().max_answer_bytes, Limits().max_versions_bytes) == (16 * MiB, 256 * 1024)
    assert (Limits().max_pages, Limits().deadline, Limits().transfer_deadline) == (
        10_000, 300.0, None)
    assert (Limits().min_transfer_bytes, Limits().min_transfer_window) == (64 * 1024, 60.0)
    assert Limits().call_deadline(moves_data=False) == 300.0
    assert Limits().call_deadline(moves_data=True) is None


@pytest.mark.parametrize("change", [
    {"max_answer_bytes": 0}, {"max_pages": -1}, {"max_pages": True}, {"deadline": 0},
    {"deadline": float("inf")}, {"deadline": "5"}, {"min_transfer_window": -1.0},
])
def test_invalid_limits_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(InvalidRecord) as info:
        Limits(**change)  # type: ignore[arg-type]
    assert info.value.field == next(iter(change))


def test_a_limit_error_names_the_limit_and_how_to_raise_it() -> None:
    error = TooManyPages("more after 5 pages", limit="max_pages", value=5)
    assert isinstance(error, LimitExceeded)
    assert (error.limit, error.value) == ("max_pages", 5)
    assert "Limits(max_pages=...)" in str(error)
    assert "with_limits(max_pages=...)" in str(error)


# --------------------------------------------------------------------------- the pager


def _page(*ids: str, marker: str | None = None) -> Response:
    doc: dict[str, object] = {"images": [
        {"id": i, "name": "n", "status": "active", "visibility": "private",
         "protected": False, "tags": [], "min_disk": 0, "min_ram": 0,
         "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}
        for i in ids]}
    if marker is not None:
        doc["next"] = f"/v2/images?marker={marker}"
    return Response(200, (), json.dumps(doc).encode())


def test_the_pager_stops_at_max_pages() -> None:
    pager = plan.start_listing(V2, max_pages=3)
    for _ in range(3):
        fresh = str(uuid.uuid4())
        _, pager = pager.feed(_page(fresh, marker=fresh))
    with pytest.raises(TooManyPages):
        pager.request()
    assert pager.pages == 3


def test_the_pager_refuses_a_marker_seen_before() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    pager = plan.start_listing(V2)
    _, pager = pager.feed(_page(a, marker=a))
    _, pager = pager.feed(_page(b, marker=b))
    with pytest.raises(PagingLoop):
        pager.feed(_page(a, marker=a))
    start = plan.start_listing(V2, marker=a)  # a loop back to the caller's own marker
    _, start = start.feed(_page(b, marker=b))
    with pytest.raises(PagingLoop):
        start.feed(_page(a, marker=a))


def test_a_marker_the_server_names_must_be_an_image_id() -> None:
    pager = plan.start_listing(V2)
    with pytest.raises(InvalidServerRecord):
        pager.feed(_page(str(uuid.uuid4()), marker="x" * 300))
    done, pager = pager.feed(_page(marker="x" * 300))  # no image: no next page to ask
    assert (done, pager.request()) == ((), None)


def test_v1_full_pages_for_ever_stop_at_max_pages() -> None:
    pager = plan.start_listing(V1, page_size=1, max_pages=2)

    def page() -> Response:
        image = {"id": str(uuid.uuid4()), "name": "n", "status": "active",
                 "is_public": False, "protected": False, "deleted": False, "size": 1,
                 "properties": {}}
        return Response(200, (), json.dumps({"images": [image]}).encode())

    _, pager = pager.feed(page())
    _, pager = pager.feed(page())
    with pytest.raises(TooManyPages):
        pager.request()


# --------------------------------------------------------------------------- bodies


def _read(reader: BodyReader, *pieces: bytes) -> bytes:
    return b"".join(out for piece in pieces for out in reader.feed(piece))


def test_identity_bodies_are_capped() -> None:
    reader = BodyReader(None, cap=10)
    assert _read(reader, b"12345", b"67890") == b"1234567890"
    with pytest.raises(ResponseTooLarge) as info:
        _read(reader, b"x")
    assert (info.value.limit, info.value.value) == ("max_answer_bytes", 10)
    with pytest.raises(ResponseTooLarge):
        BodyReader(None, cap=10, limit="max_versions_bytes").check_declared("11")
    BodyReader(None, cap=10).check_declared("10")
    BodyReader(None, cap=10).check_declared("junk")  # framing is httpx's business
    with pytest.raises(ResponseTooLarge):
        BodyReader(None, cap=10).check_declared("9" * 5000)


def test_a_compressed_body_is_inflated_in_bounded_steps() -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB))
    assert len(bomb) < MiB
    with pytest.raises(ResponseTooLarge):
        _read(BodyReader("gzip", cap=2 * MiB), bomb)
    pieces = list(BodyReader("gzip").feed(bomb))  # uncapped (a download): bounded steps
    assert max(map(len, pieces)) <= INFLATE_STEP
    assert sum(map(len, pieces)) == 64 * MiB


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "deflate-raw",
                                      "identity, gzip"])
def test_what_a_server_compressed_anyway_is_decoded(encoding: str) -> None:
    data = b'{"a": 1}' * 1000
    if encoding == "deflate":
        body = zlib.compress(data)
    elif encoding == "deflate-raw":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, encoding = packer.compress(data) + packer.flush(), "deflate"
    else:
        body = gzip.compress(data)
    reader = BodyReader(encoding, cap=len(data))
    assert _read(reader, body[:7], body[7:]) == data


@pytest.mark.parametrize(("encoding", "body"), [
    ("br", b"x"), ("gzip, gzip", b"x"), ("compress", b"x"), ("gzip", b"\x1f\x8bnot gzip"),
])
def test_an_unusable_encoding_is_a_typed_error(encoding: str, body: bytes) -> None:
    with pytest.raises(UnexpectedResponse):
        _read(BodyReader(encoding, cap=100), body)


# --------------------------------------------------------------------------- time


def test_deadlines() -> None:
    never = Deadline(None)
    assert (never.remaining(), never.expired(), never.cap(5.0)) == (None, False, 5.0)
    soon = Deadline(0.05, limit="transfer_deadline")
    capped = soon.cap(5.0)
    assert capped is not None
    assert capped <= 0.05
    assert never.sooner(soon) is soon
    assert soon.sooner(never) is soon
    time.sleep(0.06)
    assert soon.expired()
    assert soon.cap(5.0) == 0.001
    with pytest.raises(DeadlineExceeded) as info:
        soon.check("GET /x")
    assert info.value.limit == "transfer_deadline"
    budget = Budget.start(Limits(deadline=10.0), moves_data=True)
    assert budget.deadline.at is None
    exchange = budget.exchange().remaining()
    assert exchange is not None
    assert 9 < exchange <= 10


def test_the_progress_rule() -> None:
    watch = ProgressWatch(min_bytes=100, window=0.05)
    assert not watch.stalled(10)
    time.sleep(0.06)
    assert watch.stalled(10)
    fast = ProgressWatch(min_bytes=100, window=0.05)
    time.sleep(0.06)
    assert not fast.stalled(1000)  # a window that reached its minimum starts a new one
    assert ProgressWatch.of(Limits(min_transfer_window=None)) is None


def test_the_sockets_of_the_default_transport_obey_the_deadline() -> None:
    sync = Transport(("http://h",))
    asynchronous = AsyncTransport(("http://h",))
    assert isinstance(sync._client._transport._pool._network_backend,  # type: ignore[attr-defined]
                      _DeadlineBackend)
    assert isinstance(
        asynchronous._client._transport._pool._network_backend,  # type: ignore[attr-defined]
        _AsyncDeadlineBackend)
    sync.close()


class _Slow(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body arriving one byte every ``pause`` seconds (each read within any timeout)."""

    def __init__(self, pause: float) -> None:
        self.pause = pause

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(1000):
            time.sleep(self.pause)
            yield b" "

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import asyncio

        for _ in range(1000):
            await asyncio.sleep(self.pause)
            yield b" "


def test_a_trickling_body_meets_the_deadline_of_the_sender() -> None:
    sender = Transport(("http://h",), backoff=wait_none(), limits=Limits(deadline=0.3),
                       transport=httpx.MockTransport(lambda r: httpx.Response(
                           200, stream=_Slow(0.02))))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        sender.send(Request("GET", "/"), ANONYMOUS)
    assert time.monotonic() - started < 1.0


async def test_a_trickling_body_meets_the_deadline_of_the_async_sender() -> None:
    sender = AsyncTransport(("http://h",), backoff=wait_none(), limits=Limits(deadline=0.3),
                            transport=httpx.MockTransport(lambda r: httpx.Response(
                                200, stream=_Slow(0.02))))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await sender.send(Request("GET", "/"), ANONYMOUS)
    assert time.monotonic() - started < 1.0
    await sender.aclose()


# --------------------------------------------------------------------------- the clients


def test_limits_reach_the_clients_and_their_views() -> None:
    handler = httpx.MockTransport(lambda r: httpx.Response(500))
    client = ImageClient("http://h", transport=handler, limits=Limits(max_pages=7))
    assert client.limits.max_pages == 7
    view = client.with_limits(deadline=5)
    assert (view.limits.max_pages, view.limits.deadline) == (7, 5)
    assert client.limits.deadline == 300.0  # the client itself is unchanged
    assert view.for_request(request_id=None).limits == view.limits
    assert client.with_limits(Limits(), max_pages=3).limits == attrs.evolve(Limits(),
                                                                             max_pages=3)
    with pytest.raises(InvalidRecord, match="no such limit"):
        client.with_limits(max_page=3)
    with pytest.raises(InvalidRecord):
        client.with_limits(max_pages=0)
    aclient = AsyncImageClient("http://h", limits=Limits(deadline=1))
    assert aclient.with_limits(max_pages=2).limits == Limits(deadline=1, max_pages=2)


def test_json_requests_ask_for_no_compression() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    Transport(("http://h",), transport=httpx.MockTransport(handler)).send(
        Request("GET", "/"), ANONYMOUS)
    assert seen[0].headers["accept-encoding"] == "identity"


class _Gate(httpx.AsyncBaseTransport):
    """Answers after a pause, counting how many requests are inside at once."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.inside = 0
        self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        self.inside += 1
        self.most = max(self.most, self.inside)
        await asyncio.sleep(self.pause)
        self.inside -= 1
        return httpx.Response(200, json={})


async def test_no_more_exchanges_in_flight_than_connections() -> None:
    import asyncio

    gate = _Gate(0.02)
    sender = AsyncTransport(("http://h",), transport=gate, max_connections=3)
    await asyncio.gather(*(sender.send(Request("GET", "/"), ANONYMOUS) for _ in range(20)))
    assert gate.most == 3
    slow = _Gate(0.5)
    hurried = AsyncTransport(("http://h",), transport=slow, max_connections=1,
                             limits=Limits(deadline=0.2))
    results = await asyncio.gather(
        *(hurried.send(Request("GET", "/"), ANONYMOUS) for _ in range(2)),
        return_exceptions=True)
    assert any(isinstance(r, DeadlineExceeded) and "waited for a connection" in str(r)
               for r in results), results
    await sender.aclose()
    await hurried.aclose()


def test_an_async_client_outlives_its_first_event_loop() -> None:
    import asyncio

    gate = _Gate(0.0)
    sender = AsyncTransport(("http://h",), transport=gate, max_connections=1)
    for _ in range(2):  # each asyncio.run is a new loop: the slots follow it
        asyncio.run(sender.send(Request("GET", "/"), ANONYMOUS))
