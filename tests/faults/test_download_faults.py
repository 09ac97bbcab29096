"""Downloads through the real clients against the emulator's fault modes, on v1 and v2.

Every test runs on both APIs (the ``glance`` fixture): v2 resumes with ``Range``; v1 has no
ranges and starts over. Whatever happens, the bytes delivered are exact and verified, or an
error is raised and a destination path is left as it was.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tenacity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgcompat.core.errors import (
    ChecksumMismatch,
    ConnectionFailed,
    ImageUnacceptable,
    TransferInterrupted,
)
from imgcompat.core.integrity import Verified
from imgcompat.core.model import Image
from imgcompat.shell import sinks
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from tests.faults.faultkit import DATA, SIZE, Glance, leftovers

MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()


def client(g: Glance, **kw: Any) -> ImageClient:
    return ImageClient(g.url, backoff=tenacity.wait_none(), **kw)


def aclient(g: Glance, **kw: Any) -> AsyncImageClient:
    return AsyncImageClient(g.url, backoff=tenacity.wait_none(), **kw)


def assert_verified(g: Glance, result: object) -> None:
    assert isinstance(result, Verified)
    assert result.size == SIZE
    # the strongest digest the record publishes: sha512 on v2, md5 on v1 (no multihash)
    want = {"md5": MD5} if g.api == "v1" else {"sha512": SHA512}
    assert dict(result.checked) == want


# ------------------------------------------------------------------ connection resets


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=SIZE - 1), min_size=1, max_size=3))
def test_resets_at_random_offsets_give_exact_verified_bytes(
    glance: Glance, tmp_path_factory: pytest.TempPathFactory, cuts: list[int]
) -> None:
    glance.emulator.faults.clear()
    glance.emulator.requests.clear()
    for cut in cuts:  # each counts from the start of its own response body
        glance.emulator.faults.reset_after(cut)
    directory = tmp_path_factory.mktemp("dl")
    dest = directory / "image.raw"
    with client(glance) as c:
        result = c.download(glance.image_id, dst_path=dest)
    assert dest.read_bytes() == DATA
    assert_verified(glance, result)
    assert leftovers(directory) == []
    # a cut past the end of a (ranged) body never fires; each one that fired cost a request
    assert 2 <= len(glance.file_requests()) <= len(cuts) + 1


def test_resets_iterator_target(g: Glance) -> None:
    g.emulator.faults.reset_after(1_500_000, times=2)
    with client(g) as c:
        chunks = c.download(g.image_id)
        assert isinstance(chunks, Iterator)
        assert b"".join(chunks) == DATA
    assert len(g.file_requests()) == 3


def test_resets_beyond_the_budget_raise_and_leave_destination(
    g: Glance, tmp_path: Path
) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    g.emulator.faults.reset_after(100_000, times=10)
    with client(g) as c, pytest.raises(TransferInterrupted) as info:
        c.download(g.image_id, dst_path=dest)
    assert info.value.image_id == g.image_id
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []
    assert len(g.file_requests()) == 4  # the first try and three resumes


async def test_async_resets_give_exact_verified_bytes(g: Glance, tmp_path: Path) -> None:
    g.emulator.faults.reset_after(2_000_000)
    g.emulator.faults.reset_after(1_000_001)
    dest = tmp_path / "image.raw"
    async with aclient(g) as c:
        result = await c.download(g.image_id, dst_path=dest)
    assert dest.read_bytes() == DATA
    assert_verified(g, result)
    assert len(g.file_requests()) == 3


# ------------------------------------------------------------------ corruption


def test_corrupt_bytes_raise_and_destination_untouched(g: Glance, tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    g.emulator.faults.corrupt_next_download()
    with client(g) as c, pytest.raises(ChecksumMismatch) as info:
        c.download(g.image_id, dst_path=dest)
    assert info.value.expected in (MD5, SHA512)
    assert info.value.actual not in (MD5, SHA512)
    assert info.value.image_id == g.image_id
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


def test_corrupt_iterator_never_hands_over_the_whole_image(g: Glance) -> None:
    g.emulator.faults.corrupt_next_download()
    got: list[int] = []

    def consume(chunks: Iterator[bytes]) -> None:
        for chunk in chunks:
            got.append(len(chunk))

    with client(g) as c:
        chunks = c.download(g.image_id)
        assert isinstance(chunks, Iterator)
        with pytest.raises(ChecksumMismatch):
            consume(chunks)
    assert sum(got) < SIZE


async def test_async_corrupt_raises_and_destination_untouched(
    g: Glance, tmp_path: Path
) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    g.emulator.faults.corrupt_next_download()
    async with aclient(g) as c:
        with pytest.raises(ChecksumMismatch):
            await c.download(g.image_id, dst_path=dest)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ server ignores Range


def test_server_ignoring_range_starts_over_cleanly(g: Glance, tmp_path: Path) -> None:
    g.emulator.faults.reset_after(3_000_000)
    g.emulator.faults.ignore_range_next()
    seen: list[int] = []
    dest = tmp_path / "image.raw"
    with client(g) as c:
        result = c.download(g.image_id, dst_path=dest,
                            progress=lambda done, _total: seen.append(done))
    assert dest.read_bytes() == DATA
    assert_verified(g, result)
    assert len(g.file_requests()) == 2
    restart = seen.index(0, 1)  # the bar went back to zero: a clean restart
    assert max(seen[:restart]) > 0
    assert seen[-1] == SIZE


def test_server_ignoring_range_into_an_unseekable_file(g: Glance) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def write(self, b: Any) -> int:
            self.data += bytes(b)
            return len(b)

    g.emulator.faults.reset_after(2_500_000)
    g.emulator.faults.ignore_range_next()
    pipe = Pipe()
    with client(g) as c:
        result = c.download(g.image_id, data=pipe)  # type: ignore[arg-type]
    assert bytes(pipe.data) == DATA  # the repeated prefix was skipped, not written twice
    assert_verified(g, result)


# ------------------------------------------------------------------ stalls


def test_stall_mid_body_past_the_read_timeout_resumes(
    g: Glance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = g.emulator.blobs.read
    stalled: list[bool] = []

    def stalling(location: str, start: int, end: int, chunk_size: int = 256 * 1024
                 ) -> Iterator[bytes]:
        for i, chunk in enumerate(original(location, start, end, 256 * 1024)):
            if i == 4 and not stalled:
                stalled.append(True)
                time.sleep(1.5)  # blocks the server: the client sees silence mid-body
            yield chunk

    monkeypatch.setattr(g.emulator.blobs, "read", stalling)
    dest = tmp_path / "image.raw"
    with client(g, timeout=0.5) as c:
        result = c.download(g.image_id, dst_path=dest)
    assert stalled
    assert dest.read_bytes() == DATA
    assert_verified(g, result)
    # the resumed request may itself time out while the server still sleeps (then retried)
    assert 2 <= len(g.file_requests()) <= 3


def test_stall_before_the_answer_is_retried(g: Glance) -> None:
    with client(g, timeout=0.5) as c:
        chunks = c.download(g.image_id)  # lazy: the record is read, no data asked yet
        g.emulator.faults.delay(1.5)
        assert b"".join(chunks) == DATA  # type: ignore[arg-type]
    assert len(g.file_requests()) == 2


def test_endless_stall_fails_and_leaves_destination(g: Glance, tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    with client(g, timeout=0.3, num_retries=1) as c:
        c.show(g.image_id)
        g.emulator.faults.delay(1.0, times=10)
        with pytest.raises(ConnectionFailed):
            c.download(g.image_id, dst_path=dest)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ disk full


class DiskFull(io.RawIOBase):
    def __init__(self, room: int) -> None:
        self.room, self.got = room, 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.got + len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.got += len(b)
        return len(b)


def test_disk_full_file_object(g: Glance) -> None:
    target = DiskFull(2_000_000)
    with client(g) as c, pytest.raises(OSError, match="No space") as info:
        c.download(g.image_id, data=target)  # type: ignore[arg-type]
    assert info.value.errno == errno.ENOSPC


def test_disk_full_path_cleans_up(
    g: Glance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sinks.FdSink.write
    written = 0

    def filling(self: sinks.FdSink, parts: list[bytes]) -> None:
        nonlocal written
        n = sum(map(len, parts))
        if written + n > 3_000_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        written += n
        real(self, parts)

    monkeypatch.setattr(sinks.FdSink, "write", filling)
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    with client(g) as c, pytest.raises(OSError, match="No space") as info:
        c.download(g.image_id, dst_path=dest)
    assert info.value.errno == errno.ENOSPC
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ cancellation


def test_keyboard_interrupt_mid_stream(g: Glance, tmp_path: Path) -> None:
    def interrupt(done: int, _total: int | None) -> None:
        if done >= 1_000_000:
            raise KeyboardInterrupt

    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    with client(g) as c, pytest.raises(KeyboardInterrupt):
        c.download(g.image_id, dst_path=dest, progress=interrupt)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


async def test_async_cancellation_mid_stream(g: Glance, tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    cancelled: list[int] = []

    def cancel(done: int, _total: int | None) -> None:
        if done >= 1_000_000 and not cancelled:
            cancelled.append(done)
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    async with aclient(g) as c:
        job = asyncio.create_task(c.download(g.image_id, dst_path=dest, progress=cancel))
        with pytest.raises(asyncio.CancelledError):
            await job
    assert cancelled
    assert cancelled[0] < SIZE
    assert not dest.exists()
    assert leftovers(tmp_path) == []


async def test_async_iterator_abandoned_early(g: Glance) -> None:
    async with aclient(g) as c:
        chunks = await c.download(g.image_id)
        got = 0
        async for chunk in chunks:  # type: ignore[union-attr]
            got += len(chunk)
            break
        await chunks.aclose()  # type: ignore[union-attr]
    assert 0 < got < SIZE


# ------------------------------------------------------------------ no data


def test_image_without_data_is_unacceptable(g: Glance, tmp_path: Path) -> None:
    with client(g) as c:
        queued = c.create(Image(name="empty", disk_format="raw", container_format="bare"),
                          activate_empty=False)
        assert queued.id is not None
        with pytest.raises(ImageUnacceptable):
            c.download(queued.id, dst_path=tmp_path / "x")
    assert list(tmp_path.iterdir()) == []
