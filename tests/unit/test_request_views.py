"""Per-request views: each carries exactly its own identity headers, shares the pool and the
discovery cache, refuses malformed values before the wire, and errors name both request ids."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from imgcompat import (
    AsyncImageClient,
    Image,
    ImageClient,
    ImageNotFound,
    InvalidRecord,
    InvalidResponse,
)
from imgcompat.core.identity import REQUEST_ID_HEADER
from imgcompat.testing import Emulator

URL = "http://glance.test"
Seen = tuple[str, str, str | None, str | None, str | None]  # method, path, token, service, rid


def rid() -> str:
    return f"req-{uuid.uuid4()}"


def _seen(request: httpx.Request) -> Seen:
    h = request.headers
    return (request.method, request.url.path, h.get("x-auth-token"),
            h.get("x-service-token"), h.get("x-openstack-request-id"))


class Recording(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.seen.append(_seen(request))
        return self.inner.handle_request(request)


class ARecording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[Seen] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(_seen(request))
        return await self.inner.handle_async_request(request)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api="v2")


@pytest.fixture
def sync_client(emulator: Emulator) -> Iterator[tuple[ImageClient, Recording]]:
    recording = Recording(emulator.sync_transport())
    with ImageClient(URL, token="service-own", transport=recording) as client:
        yield client, recording


def _identities(seen: list[Seen]) -> set[tuple[str | None, str | None, str | None]]:
    return {(token, service, req) for method, path, token, service, req in seen if path != "/"}


def test_views_in_threads_carry_exactly_their_headers(
        sync_client: tuple[ImageClient, Recording]) -> None:
    client, recording = sync_client
    made = client.create(Image(name="shared", disk_format="raw", container_format="bare"),
                         data=b"abc")
    image_id = made.id
    assert image_id is not None
    views = {name: (client.for_request(f"tok-{name}", service_token=f"svc-{name}",
                                       request_id=rid())) for name in "ABCD"}
    recording.seen.clear()

    def work(name: str) -> None:
        view = views[name]
        for _ in range(10):
            assert view.show(image_id).id == image_id
            assert [i.id for i in view.detail()] == [image_id]

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, "ABCD" * 2))
    expected = {(f"tok-{n}", f"svc-{n}", views[n]._identity.request_id) for n in "ABCD"}
    assert _identities(recording.seen) == expected
    assert len(recording.seen) == 4 * 2 * 10 * 2
    # the views share the client's discovery: no request went to the unversioned root
    assert not [s for s in recording.seen if s[1] == "/"]


async def test_views_in_tasks_carry_exactly_their_headers(emulator: Emulator) -> None:
    recording = ARecording(emulator.async_transport())
    async with AsyncImageClient(URL, transport=recording) as client:
        made = await client.create(Image(name="t", disk_format="raw", container_format="bare"),
                                   data=b"xyz")
        image_id = made.id
        assert image_id is not None
        ids = {n: rid() for n in "AB"}
        views = {n: client.for_request(f"tok-{n}", service_token=f"svc-{n}", request_id=ids[n])
                 for n in "AB"}

        async def work(name: str) -> None:
            for _ in range(10):
                assert (await views[name].show(image_id)).id == image_id
                await asyncio.sleep(0)

        recording.seen.clear()
        await asyncio.gather(*(work(n) for n in "ABAB"))
    assert _identities(recording.seen) == {(f"tok-{n}", f"svc-{n}", ids[n]) for n in "AB"}
    assert len(recording.seen) == 40


def test_discovery_happens_once_for_a_client_and_all_its_views(emulator: Emulator) -> None:
    recording = Recording(emulator.sync_transport())
    client = ImageClient(URL, transport=recording)
    for view in (client.for_request("a"), client.for_request("b", request_id=rid()),
                 client.pinned("2").for_request("c"), client):
        list(view.detail())
    # one discovery, made with the identity of the view that needed it first
    assert [s for s in recording.seen if s[1] == "/"] == [("GET", "/", "a", None, None)]


def test_without_a_view_the_client_sends_its_own_token_and_no_request_id(
        sync_client: tuple[ImageClient, Recording]) -> None:
    client, recording = sync_client
    list(client.detail())
    assert _identities(recording.seen) == {("service-own", None, None)}
    list(client.for_request(service_token="svc").detail())  # token not named: client's own
    assert ("service-own", "svc", None) in _identities(recording.seen)


def test_a_view_of_a_view_replaces_what_it_names() -> None:
    client = ImageClient(URL, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    first = rid()
    view = client.for_request("t1", service_token="s1", request_id=first)
    again = view.for_request("t2")
    assert (again._identity.token, again._identity.service_token,
            again._identity.request_id) == ("t2", "s1", first)
    cleared = again.for_request(service_token=None)
    assert cleared._identity.service_token is None
    assert cleared._identity.token == "t2"
    pinned = cleared.pinned("1")
    assert pinned._identity == cleared._identity
    assert pinned._pin is not None
    assert view._identity.token == "t1"  # views never change the one they came from


@pytest.mark.parametrize("bad", [
    "req-123", "req-" + str(uuid.uuid4()).upper(), "req-" + str(uuid.uuid4()) + "\r\nX-Evil: 1",
    str(uuid.uuid4()), "", " req-" + str(uuid.uuid4()), "req-" + str(uuid.uuid4()) + "\n",
])
def test_malformed_request_id_is_refused_before_the_wire(
        sync_client: tuple[ImageClient, Recording], bad: str) -> None:
    client, recording = sync_client
    with pytest.raises(InvalidRecord) as info:
        client.for_request("tok", request_id=bad)
    assert info.value.field == "request_id"
    assert recording.seen == []


@pytest.mark.parametrize("field", ["token", "service_token"])
@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "has space", "", "nul\x00", "é"])
def test_malformed_tokens_are_refused_and_never_echoed(
        sync_client: tuple[ImageClient, Recording], field: str, bad: str) -> None:
    client, recording = sync_client
    with pytest.raises(InvalidRecord) as info:
        client.for_request(**{field: bad})
    assert info.value.field == field
    if bad.strip():
        assert bad not in str(info.value)
    assert recording.seen == []


def test_views_show_no_secret_in_their_repr(sync_client: tuple[ImageClient, Recording]) -> None:
    client, _ = sync_client
    view = client.for_request("user-secret-token", service_token="svc-secret-token",
                              request_id=rid())
    text = repr(view) + repr(view._identity)
    assert "user-secret-token" not in text
    assert "svc-secret-token" not in text


def test_errors_carry_both_request_ids(emulator: Emulator, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    ours = rid()
    client = ImageClient(URL, transport=emulator.sync_transport())
    view = client.for_request("tok", request_id=ours)
    with caplog.at_level(logging.DEBUG, logger="imgcompat"), \
            pytest.raises(ImageNotFound) as info:
        view.show(str(uuid.uuid4()))
    assert info.value.request_id == ours
    theirs = info.value.server_request_id
    assert theirs is not None
    assert theirs.startswith("req-")
    assert theirs != ours
    lines = [r.getMessage() for r in caplog.records if "-> 404" in r.getMessage()]
    assert lines
    assert ours in lines[-1]
    assert theirs in lines[-1]


def test_an_answer_the_plan_refuses_names_both_request_ids() -> None:
    theirs = rid()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(300, json={"versions": [
                {"id": "v2.17", "status": "CURRENT", "links": [
                    {"rel": "self", "href": f"{URL}/v2/"}]}]})
        return httpx.Response(200, content=b"{not json", headers={REQUEST_ID_HEADER: theirs})

    ours = rid()
    view = ImageClient(URL, transport=httpx.MockTransport(answer)).for_request(request_id=ours)
    with pytest.raises(InvalidResponse) as info:
        view.show(str(uuid.uuid4()))
    assert info.value.request_id == ours
    assert info.value.server_request_id == theirs


def test_a_view_costs_no_io() -> None:
    transport = httpx.MockTransport(lambda r: pytest.fail("a view must not send anything"))
    client = ImageClient(URL, transport=transport)
    for _ in range(100):
        client.for_request("t", service_token="s", request_id=rid()).pinned("2")
