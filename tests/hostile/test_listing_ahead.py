"""A listing fetches its next page while the caller reads the current one (``shell/listing.py``,
issue 13), on a real socket, with both clients: the server has page N+1's request before
the caller asks for its first record; nothing changes in what is listed; a caller stopping
early has cost one request more at most, and no thread is left behind."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import pytest
import tenacity

from imgcompat.core.errors import InvalidServerRecord
from imgcompat.core.exchange import Request, Response
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.shell.listing import FetchAhead
from tests.hostile.server import HostileServer, Seen, image_record, json_answer, routes, versions

PAGES = 3
PER_PAGE = 4


def image_id(index: int) -> str:
    return f"0f8e2b9c-1d3a-4c5b-8e7f-{index:012d}"


def listing(seen: Seen) -> object:
    """Three pages of four, linked by ``next`` as Glance links them."""
    marker = parse_qs(seen.query).get("marker", [None])[0]
    start = 0 if marker is None else int(marker.rsplit("-", 1)[1]) + 1
    page = list(range(start, min(start + PER_PAGE, PAGES * PER_PAGE)))
    doc: dict[str, object] = {"images": [image_record(image_id(i)) for i in page]}
    if page and page[-1] < PAGES * PER_PAGE - 1:
        doc["next"] = f"/v2/images?limit=1000&marker={image_id(page[-1])}"
    return json_answer(doc)


def serve_listing(server: HostileServer, page: Callable[[Seen], object] = listing) -> None:
    server.script(routes({("GET", "/"): versions(server.url),
                          ("GET", "/v2/images"): page}))  # type: ignore[dict-item]


def list_requests(server: HostileServer) -> int:
    return sum(1 for s in server.seen if s.path == "/v2/images")


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def listing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("imgcompat-listing")]


@pytest.fixture
def client(hostile: HostileServer) -> Iterator[ImageClient]:
    with ImageClient(hostile.url, backoff=tenacity.wait_none()) as c:
        yield c


def test_the_next_page_is_asked_before_the_caller_reads_it(
        hostile: HostileServer, client: ImageClient) -> None:
    serve_listing(hostile)
    records = client.detail()
    first = next(records)
    # the caller has read one record of page 1: page 2 is on its way already
    assert wait_for(lambda: list_requests(hostile) == 2)
    rest = list(records)
    assert [first.id, *(r.id for r in rest)] == [image_id(i) for i in range(PAGES * PER_PAGE)]
    assert list_requests(hostile) == PAGES


def test_stopping_early_costs_one_request_at_most_and_leaves_no_thread(
        hostile: HostileServer, client: ImageClient) -> None:
    serve_listing(hostile)
    records = client.detail()
    next(records)
    records.close()
    assert wait_for(lambda: not listing_threads())
    assert list_requests(hostile) <= 2
    time.sleep(0.05)
    assert list_requests(hostile) <= 2


def test_a_bad_page_after_a_good_one_raises_where_it_is_read(
        hostile: HostileServer, client: ImageClient) -> None:
    """Page 2 is fetched ahead and is broken: its error reaches the caller when the caller
    reaches page 2, typed, after every record of page 1."""
    def page(seen: Seen) -> object:
        if "marker" in seen.query:
            return json_answer({"images": [image_record(image_id(99), status=7)]})
        return listing(seen)

    serve_listing(hostile, page)
    records = client.detail()
    got = [next(records) for _ in range(PER_PAGE)]
    assert [r.id for r in got] == [image_id(i) for i in range(PER_PAGE)]
    with pytest.raises(InvalidServerRecord):
        next(records)


def test_the_async_client_fetches_ahead_too(hostile: HostileServer) -> None:
    serve_listing(hostile)

    async def run() -> list[str | None]:
        async with AsyncImageClient(hostile.url, backoff=tenacity.wait_none()) as c:
            records = await c.detail()
            first = await anext(records)
            for _ in range(500):  # bounded: the page ahead arrives at once on loopback
                if list_requests(hostile) == 2:
                    break
                await asyncio.sleep(0.01)
            assert list_requests(hostile) == 2
            return [first.id, *[r.id async for r in records]]

    assert asyncio.run(run()) == [image_id(i) for i in range(PAGES * PER_PAGE)]
    assert list_requests(hostile) == PAGES


def test_the_async_client_stopping_early_cancels_the_page_ahead(
        hostile: HostileServer) -> None:
    serve_listing(hostile)

    async def run() -> None:
        async with AsyncImageClient(hostile.url, backoff=tenacity.wait_none()) as c:
            records = await c.detail()
            await anext(records)
            await records.aclose()

    asyncio.run(run())
    assert list_requests(hostile) <= 2


def test_an_answer_fetched_for_another_request_is_dropped() -> None:
    """The pager is the authority: when it asks for something else than the guess, the
    guess is dropped and the caller sends the request itself."""
    sent: list[Request] = []

    def send(request: Request) -> Response:
        sent.append(request)
        return Response(200, (), b"{}")

    ahead = FetchAhead(send)
    guess, wanted = Request("GET", "/v2/images", params=(("marker", "a"),)), Request(
        "GET", "/v2/images", params=(("marker", "b"),))
    ahead.fetch(guess)
    assert ahead.take(wanted) is None
    ahead.fetch(guess)
    assert ahead.take(guess) == Response(200, (), b"{}")
    assert ahead.take(guess) is None  # taken once
    ahead.close()
    assert all(r == guess for r in sent)
