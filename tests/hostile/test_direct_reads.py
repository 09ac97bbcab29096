"""Direct body reads (``shell/stream.py``, issue 13): when a download reads the rest of its
body straight from the socket, and that nothing a caller sees changes - the exact bytes,
verified; not one byte past ``Content-Length``; a body cut short typed and resumed; any
other framing left to httpx. On a real socket, with both clients."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import imgcompat.shell.stream as stream_module
from imgcompat.core.integrity import Verified
from imgcompat.core.limits import MiB
from imgcompat.core.model import Image
from imgcompat.shell.client import ImageClient
from tests.hostile.drivers import Driver
from tests.hostile.server import Answer, HostileServer, Seen, image_record, trickle
from tests.hostile.test_verify import IMAGE_A, OCTET, digests, file_requests, serve_image

DATA = os.urandom(3 * MiB + 17)
RECORD = image_record(IMAGE_A, **digests(DATA))


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """What :func:`direct_length` decided for each download response (None: httpx path);
    direct reads made small, so a body takes many of them."""
    decided: list[int | None] = []
    real = stream_module.direct_length

    def spy(response: object) -> int | None:
        decided.append(real(response))  # type: ignore[arg-type]
        return decided[-1]

    monkeypatch.setattr(stream_module, "direct_length", spy)
    monkeypatch.setattr(stream_module, "DIRECT_READ_BYTES", 64 * 1024 + 1)
    return decided


def _download(client: Driver, tmp_path: Path) -> bytes:
    result = client.call("download", IMAGE_A, dst_path=tmp_path / "image.raw")
    assert isinstance(result, Verified)
    assert result.verified, result
    return (tmp_path / "image.raw").read_bytes()


def _bytes(client: ImageClient, image: Image) -> bytes:
    assert image.id is not None
    pieces = client.download(image.id)
    assert not isinstance(pieces, Verified)
    return b"".join(pieces)


def test_a_plain_body_is_read_directly_and_verified(
        hostile: HostileServer, driver: Callable[..., Driver], direct: list[int | None],
        tmp_path: Path) -> None:
    serve_image(hostile, RECORD, Answer(200, [OCTET], DATA))
    assert _download(driver(hostile.url), tmp_path) == DATA
    assert direct == [len(DATA)]


def test_a_trickled_body_arrives_whole(
        hostile: HostileServer, driver: Callable[..., Driver], direct: list[int | None]) -> None:
    """Pieces of every size, paused between: each direct read takes what is there."""
    serve_image(hostile, RECORD, Answer(200, [OCTET, ("content-length", str(len(DATA)))],
                                        trickle(DATA, 0.0, 700_001)))
    assert driver(hostile.url).call("download", IMAGE_A) == DATA
    assert direct == [len(DATA)]


def test_bytes_past_content_length_are_never_read(
        hostile: HostileServer, driver: Callable[..., Driver], direct: list[int | None],
        tmp_path: Path) -> None:
    body = DATA + b"not part of the image" * 1000
    serve_image(hostile, RECORD, Answer(200, [OCTET, ("content-length", str(len(DATA)))],
                                        body))
    assert _download(driver(hostile.url), tmp_path) == DATA
    assert direct == [len(DATA)]


def test_a_body_cut_short_is_resumed_where_it_broke(
        hostile: HostileServer, driver: Callable[..., Driver], direct: list[int | None],
        tmp_path: Path) -> None:
    """The server closes mid-body: TransferInterrupted at the exact offset, then a
    ``Range`` request for the rest, itself read directly."""
    cut = MiB + 12345

    def body(seen: Seen) -> Answer:
        asked = seen.header("range")
        if asked is None:
            return Answer(200, [OCTET], DATA, drop_after=cut)
        start = int(asked.removeprefix("bytes=").split("-")[0])
        return Answer(206, [OCTET, ("content-range",
                                    f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")],
                      DATA[start:])

    serve_image(hostile, RECORD, body)  # type: ignore[arg-type]
    assert _download(driver(hostile.url), tmp_path) == DATA
    assert [s.header("range") for s in hostile.seen if s.path.endswith("/file")] == [
        None, f"bytes={cut}-"]
    assert direct == [len(DATA), len(DATA) - cut]


@pytest.mark.parametrize("framing", ["chunked", "close", "gzip"])
def test_other_framings_take_the_httpx_path(
        hostile: HostileServer, driver: Callable[..., Driver], direct: list[int | None],
        framing: str) -> None:
    if framing == "gzip":
        answer = Answer(200, [OCTET, ("content-encoding", "gzip")], gzip.compress(DATA))
    else:
        answer = Answer(200, [OCTET], DATA, framing=framing)  # type: ignore[arg-type]
    serve_image(hostile, RECORD, answer)
    assert driver(hostile.url).call("download", IMAGE_A) == DATA
    assert direct == [None]
    assert file_requests(hostile) == 1


def test_an_in_process_transport_takes_the_httpx_path(direct: list[int | None]) -> None:
    """No socket of ours (the in-process emulator): nothing to read directly."""
    from imgcompat.testing import Emulator

    with ImageClient("http://glance.test", transport=Emulator(api="v2").sync_transport()) as client:
        image = client.create(Image(name="in-process", disk_format="raw",
                                    container_format="bare"), data=DATA)
        assert _bytes(client, image) == DATA
    assert direct == [None]


def test_the_emulator_over_a_socket_is_read_directly(direct: list[int | None]) -> None:
    """What the benchmarks measure: the emulator's file answers qualify."""
    from imgcompat.testing import Emulator, serve

    with serve(Emulator(api="v2")) as url, ImageClient(url) as client:
        image = client.create(Image(name="socket", disk_format="raw",
                                    container_format="bare"), data=DATA)
        assert _bytes(client, image) == DATA
    assert direct == [len(DATA)]


def test_json_answers_are_unaffected(hostile: HostileServer, driver: Callable[..., Driver],
                                     direct: list[int | None]) -> None:
    """Only download bodies are read directly; a record still goes through httpx."""
    serve_image(hostile, RECORD)
    assert driver(hostile.url).call("show", IMAGE_A).size == len(DATA)
    assert direct == []
