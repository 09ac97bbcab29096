"""Faults on demand: each fires for a bounded number of requests, in process and on sockets."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import httpx
import pytest

from imgcompat.testing import Emulator, serve

OCTET = {"Content-Type": "application/octet-stream"}
DATA = os.urandom(3 * 1024 * 1024)


def image_with_data(client: httpx.Client) -> dict[str, Any]:
    image: dict[str, Any] = client.post(
        "/v2/images", json={"disk_format": "raw", "container_format": "bare"}).json()
    client.put(f"/v2/images/{image['id']}/file", content=DATA, headers=OCTET)
    return image


def test_fail_next_k(emu: Emulator, client: httpx.Client) -> None:
    emu.faults.fail_next(2, status=503)
    assert [client.get("/versions").status_code for _ in range(3)] == [503, 503, 200]


def test_reset_after_in_process_is_a_read_error(emu: Emulator, client: httpx.Client) -> None:
    image = image_with_data(client)
    emu.faults.reset_after(1000)
    with pytest.raises(httpx.ReadError):
        client.get(f"/v2/images/{image['id']}/file")
    assert client.get(f"/v2/images/{image['id']}/file").content == DATA


async def test_reset_after_async(emu: Emulator) -> None:
    async with httpx.AsyncClient(transport=emu.async_transport(), base_url="http://g") as c:
        image = (await c.post("/v2/images", json={"disk_format": "raw",
                                                  "container_format": "bare"})).json()
        await c.put(f"/v2/images/{image['id']}/file", content=DATA, headers=OCTET)
        emu.faults.reset_after(2 * 1024 * 1024 + 5)
        received = 0

        async def consume() -> None:
            nonlocal received
            async with c.stream("GET", f"/v2/images/{image['id']}/file") as response:
                async for chunk in response.aiter_raw():
                    received += len(chunk)

        with pytest.raises(httpx.ReadError):
            await consume()
        assert received == 2 * 1024 * 1024 + 5


def test_reset_after_over_socket_drops_connection(emu: Emulator) -> None:
    with serve(emu) as url, httpx.Client(base_url=url) as c:
        image = image_with_data(c)
        emu.faults.reset_after(100_000)
        received = 0

        def consume() -> None:
            nonlocal received
            with c.stream("GET", f"/v2/images/{image['id']}/file") as response:
                for chunk in response.iter_raw():
                    received += len(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            consume()
        assert received == 100_000
        resumed = c.get(f"/v2/images/{image['id']}/file",
                        headers={"Range": f"bytes={received}-"})
        assert resumed.status_code == 206
        assert resumed.content == DATA[received:]


def test_corrupt_next_download_keeps_true_md5(emu: Emulator, client: httpx.Client) -> None:
    image = image_with_data(client)
    emu.faults.corrupt_next_download()
    bad = client.get(f"/v2/images/{image['id']}/file")
    assert bad.headers["Content-MD5"] == hashlib.md5(DATA).hexdigest()
    assert len(bad.content) == len(DATA)
    assert bad.content != DATA
    assert client.get(f"/v2/images/{image['id']}/file").content == DATA


def test_malformed_json_next(emu: Emulator, client: httpx.Client) -> None:
    emu.faults.malformed_json_next()
    with pytest.raises(json.JSONDecodeError):
        client.get("/v2/images").json()
    assert client.get("/v2/images").json()["images"] == []


def test_ignore_range_next(emu: Emulator, client: httpx.Client) -> None:
    image = image_with_data(client)
    emu.faults.ignore_range_next()
    response = client.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=10-"})
    assert response.status_code == 200
    assert len(response.content) == len(DATA)
    again = client.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=10-"})
    assert again.status_code == 206


def test_delay(emu: Emulator, client: httpx.Client) -> None:
    emu.faults.delay(0.2, times=1)
    started = time.monotonic()
    client.get("/versions")
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    client.get("/versions")
    assert time.monotonic() - started < 0.2


def test_fail_over_socket_and_request_log(emu: Emulator) -> None:
    with serve(emu) as url, httpx.Client(base_url=url) as c:
        emu.faults.fail_next(1, status=500)
        assert c.get("/v2/images").status_code == 500
        assert c.get("/v2/images").status_code == 200
    assert emu.requests == [("GET", "/v2/images"), ("GET", "/v2/images")]


def test_clear_disarms(emu: Emulator, client: httpx.Client) -> None:
    emu.faults.fail_next(5)
    emu.faults.clear()
    assert client.get("/versions").status_code == 200
