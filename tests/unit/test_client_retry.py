"""Retries and API-server rotation against the emulator's faults: 503 bursts, a refused
first server, timeouts; the retry count, the rotation and the final error."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from tenacity import wait_none

from imgcompat.core.errors import ConnectionFailed, ServerError, ServiceUnavailable
from imgcompat.core.model import Image
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.testing import Emulator, serve

A, B = "http://a.test", "http://b.test"


class Recording(httpx.BaseTransport):
    """Remembers which server each attempt went to (both names reach one emulator)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.hosts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(f"http://{request.url.host}")
        return self.inner.handle_request(request)


class ARecording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(f"http://{request.url.host}")
        return await self.inner.handle_async_request(request)


def _image() -> Image:
    return Image(name="r", disk_format="raw", container_format="bare")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api="v2")


def _client(emulator: Emulator, num_retries: int = 3) -> tuple[ImageClient, Recording]:
    recording = Recording(emulator.sync_transport())
    client = ImageClient([A, B], transport=recording, num_retries=num_retries,
                         backoff=wait_none())
    client.discover()
    recording.hosts.clear()
    return client, recording


def test_a_503_burst_is_retried_on_the_next_servers(
        emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    client, recording = _client(emulator)
    made = client.create(_image(), b"abc")
    assert made.id is not None
    emulator.faults.fail_next(2)
    recording.hosts.clear()
    with caplog.at_level(logging.WARNING, logger="imgcompat"):
        assert client.show(made.id).id == made.id
    assert recording.hosts == [A, B, A]  # two failures, each on the next server
    retries = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert len(retries) == 2
    assert "attempt 1 of 4" in retries[0]
    assert "HTTP 503" in retries[0]


def test_after_the_last_attempt_every_server_is_named(emulator: Emulator) -> None:
    client, recording = _client(emulator, num_retries=2)
    emulator.faults.fail_next(10)
    with pytest.raises(ConnectionFailed) as info:
        client.show("0f0e0d0c-0000-4000-8000-000000000000")
    assert recording.hosts == [A, B, A]
    assert info.value.servers == (A, B)
    assert "3 attempts" in str(info.value)
    assert info.value.image_id == "0f0e0d0c-0000-4000-8000-000000000000"


def test_other_errors_are_not_retried(emulator: Emulator) -> None:
    client, recording = _client(emulator)
    emulator.faults.fail_next(1, status=500)
    with pytest.raises(ServerError) as info:
        client.show("0f0e0d0c-0000-4000-8000-000000000000")
    assert info.value.status == 500
    assert recording.hosts == [A]


def test_a_create_is_retried_after_503_and_made_once(emulator: Emulator) -> None:
    client, recording = _client(emulator)
    emulator.faults.fail_next(1)
    made = client.create(_image(), activate_empty=False)
    assert [r.name for r in emulator.store.all()] == ["r"]
    assert made.id == emulator.store.all()[0].id
    assert recording.hosts[:2] == [A, B]


def test_a_one_shot_upload_stream_is_not_replayed(emulator: Emulator) -> None:
    client, recording = _client(emulator)
    queued = client.create(_image(), activate_empty=False)
    assert queued.id is not None
    emulator.faults.fail_next(1)
    recording.hosts.clear()
    with pytest.raises(ServiceUnavailable):
        client.upload(queued.id, iter([b"one-", b"shot"]))
    assert len(recording.hosts) == 1
    emulator.faults.fail_next(1)  # bytes can be read again: replayed on the next server
    assert client.upload(queued.id, b"replayable").size == len(b"replayable")


def test_a_refused_first_server_moves_to_the_next(
        emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    with serve(emulator) as url:
        client = ImageClient([dead, url], backoff=wait_none(), num_retries=1)
        with caplog.at_level(logging.WARNING, logger="imgcompat"):
            made = client.create(_image(), b"data")  # a refused POST never reached a server
        assert made.status == "active"
        assert "ConnectError" in " ".join(r.getMessage() for r in caplog.records)
        client.close()
        only_dead = ImageClient([dead], backoff=wait_none(), num_retries=2)
        with pytest.raises(ConnectionFailed) as info:
            only_dead.discover()
        assert info.value.servers == (dead,)
        assert "3 attempts" in str(info.value)


def test_a_timeout_is_retried(emulator: Emulator) -> None:
    with serve(emulator) as url:
        client = ImageClient([url], backoff=wait_none(), timeout=0.3, num_retries=2)
        made = client.create(_image(), b"x")
        assert made.id is not None
        emulator.faults.delay(1.0, times=1)
        before = len(emulator.requests)
        assert client.show(made.id).id == made.id
        assert len(emulator.requests) - before == 2
        client.close()


def test_a_create_that_timed_out_after_sending_is_not_replayed(emulator: Emulator) -> None:
    with serve(emulator) as url:
        client = ImageClient([url, url], backoff=wait_none(), timeout=0.3)
        client.discover()
        emulator.faults.delay(1.0, times=1)
        with pytest.raises(ConnectionFailed, match="not replayed"):
            client.create(_image(), activate_empty=False)
        posts = [r for r in emulator.requests if r[0] == "POST"]
        assert len(posts) == 1
        client.close()


@pytest.fixture
def hosts_async(emulator: Emulator) -> ARecording:
    return ARecording(emulator.async_transport())


async def test_the_async_client_rotates_and_gives_up_the_same_way(
        emulator: Emulator, hosts_async: ARecording) -> None:
    client = AsyncImageClient([A, B], transport=hosts_async, num_retries=2,
                              backoff=wait_none())
    await client.discover()
    made = await client.create(_image(), b"abc")
    assert made.id is not None
    emulator.faults.fail_next(1)
    hosts_async.hosts.clear()
    assert (await client.show(made.id)).id == made.id
    assert hosts_async.hosts == [A, B]
    emulator.faults.fail_next(10)
    with pytest.raises(ConnectionFailed) as info:
        await client.show(made.id)
    assert info.value.servers == (B, A)  # rotation continues from the last good server
    await client.close()
