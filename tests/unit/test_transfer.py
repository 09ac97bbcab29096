"""The transfer engine against in-memory fake streams: resume, restarts, atomicity, uploads."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgcompat.core.download import Batcher, DownloadOptions, Verification
from imgcompat.core.errors import (
    ChecksumMismatch,
    ImageUnacceptable,
    SizeMismatch,
    SourceNotRewindable,
    TransferInterrupted,
    UnexpectedResponse,
    UnexpectedTransferResponse,
)
from imgcompat.core.integrity import Expected
from imgcompat.core.model import Image
from imgcompat.shell import sinks
from imgcompat.shell.download import adownload, download
from imgcompat.shell.upload import UploadOptions, UploadSource, check_uploaded, upload_source

DATA = os.urandom(300_000)
MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
EXPECTED = Expected(len(DATA), MD5, "sha512", SHA512)


class FakeStream:
    """One response: headers plus a body that may break after ``cut`` bytes."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes, *,
                 chunk: int, cut: int | None, server: FakeServer) -> None:
        self.status_code = status
        self.headers = headers
        if cut is not None and cut >= len(body):
            cut = None  # a cut past the end of this body never fires
        self._body, self._chunk, self._cut, self._server = body, chunk, cut, server

    def _pieces(self) -> Iterator[bytes]:
        body = self._body if self._cut is None else self._body[: self._cut]
        for i in range(0, len(body), self._chunk):
            yield body[i : i + self._chunk]

    def iter_chunks(self) -> Iterator[bytes]:
        for piece in self._pieces():
            self._server.sent += len(piece)
            yield piece
        if self._cut is not None:
            raise TransferInterrupted("fake reset", offset=self._cut)

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            self._server.sent += len(piece)
            await asyncio.sleep(0)
            yield piece
        if self._cut is not None:
            raise TransferInterrupted("fake reset", offset=self._cut)


class FakeServer:
    """A Glance ``.../file`` endpoint: 200/206 with Content-MD5, scripted faults per request.

    ``cuts[i]`` breaks the i-th response after that many body bytes; ``ignore_range`` lists
    the requests answered 200 despite a Range; ``corrupt`` flips a byte of every body.
    """

    def __init__(self, data: bytes = DATA, *, chunk: int = 8192, cuts: list[int] | None = None,
                 ignore_range: set[int] | None = None, corrupt: bool = False,
                 status: int | None = None, headers: Mapping[str, str] | None = None,
                 v1: bool = False) -> None:
        self.data = bytearray(data)
        if corrupt and data:
            self.data[len(data) // 2] ^= 0xFF
        self.md5 = hashlib.md5(data).hexdigest()
        self.chunk, self.cuts = chunk, list(cuts or [])
        self.ignore_range = ignore_range or set()
        self.status, self.extra = status, dict(headers or {})
        self.v1 = v1
        self.asked: list[int] = []
        self.open_count = self.closed = self.sent = 0

    def _respond(self, offset: int) -> FakeStream:
        n = len(self.asked)
        self.asked.append(offset)
        self.open_count += 1
        cut = self.cuts[n] if n < len(self.cuts) else None
        body = bytes(self.data)
        headers = {"content-md5": self.md5} if not self.v1 else {
            "x-image-meta-checksum": self.md5}
        if self.status is not None:
            return FakeStream(self.status, {**headers, **self.extra}, b"", chunk=self.chunk,
                              cut=None, server=self)
        if offset and not self.v1 and n not in self.ignore_range:
            part = body[offset:]
            headers["content-range"] = f"bytes {offset}-{len(body) - 1}/{len(body)}"
            headers["content-length"] = str(len(part))
            return FakeStream(206, {**headers, **self.extra}, part, chunk=self.chunk,
                              cut=cut, server=self)
        headers["content-length"] = str(len(body))
        return FakeStream(200, {**headers, **self.extra}, body, chunk=self.chunk, cut=cut,
                          server=self)

    @contextlib.contextmanager
    def open(self, offset: int) -> Iterator[FakeStream]:
        try:
            yield self._respond(offset)
        finally:
            self.closed += 1

    @contextlib.asynccontextmanager
    async def aopen(self, offset: int) -> AsyncIterator[FakeStream]:
        try:
            yield self._respond(offset)
        finally:
            self.closed += 1


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# ------------------------------------------------------------------ downloads to a path


def test_path_download_writes_verified_bytes_and_no_temp(tmp_path: Path) -> None:
    server = FakeServer()
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "image.raw"
    result = download(server.open, EXPECTED, into=dest, options=DownloadOptions(
        image_id="i", progress=lambda done, total: seen.append((done, total)),
        chunk_size=64 * 1024, verification=Verification.ALL))
    assert dest.read_bytes() == DATA
    assert dict(result.checked) == {"md5": MD5, "sha512": SHA512}
    assert leftovers(tmp_path) == []
    assert server.closed == server.open_count == 1
    dones = [d for d, _ in seen]
    assert dones == sorted(dones)
    assert seen[-1] == (len(DATA), len(DATA))


def test_path_download_file_mode_follows_umask(tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    download(FakeServer().open, EXPECTED, into=dest, options=DownloadOptions(image_id="i"))
    umask = os.umask(0o022)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("parallel", [True, False])
def test_resume_with_range_after_drops(tmp_path: Path, parallel: bool) -> None:
    server = FakeServer(cuts=[50_000, 70_001, 33])
    dest = tmp_path / "image.raw"
    result = download(server.open, EXPECTED, into=dest, options=DownloadOptions(
        image_id="i", chunk_size=16 * 1024, parallel=parallel))
    assert dest.read_bytes() == DATA
    assert result.verified
    assert server.asked == [0, 50_000, 120_001, 120_034]
    assert server.sent == len(DATA)  # every byte crossed the wire exactly once


def test_server_ignoring_range_restarts_cleanly(tmp_path: Path) -> None:
    server = FakeServer(cuts=[100_000], ignore_range={1})
    dest = tmp_path / "image.raw"
    download(server.open, EXPECTED, into=dest,
             options=DownloadOptions(image_id="i", chunk_size=32 * 1024))
    assert server.asked == [0, 100_000]
    assert dest.read_bytes() == DATA


def test_v1_restarts_from_zero_without_range(tmp_path: Path) -> None:
    server = FakeServer(cuts=[100_000, 200_000], v1=True)
    progress: list[int] = []
    dest = tmp_path / "image.raw"
    download(server.open, EXPECTED, into=dest, options=DownloadOptions(
        image_id="i", resumable=False, progress=lambda d, _t: progress.append(d),
        chunk_size=50_000))
    assert server.asked == [0, 0, 0]
    assert dest.read_bytes() == DATA
    assert 0 in progress[1:]  # the bar went back to zero on the restart


def test_resumes_are_bounded_and_temp_removed(tmp_path: Path) -> None:
    server = FakeServer(cuts=[10, 20, 30, 40, 50])
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous image")
    with pytest.raises(TransferInterrupted) as info:
        download(server.open, EXPECTED, into=dest,
                 options=DownloadOptions(image_id="i", max_resumes=2))
    assert server.asked == [0, 10, 30]  # cuts count from the start of each body
    assert info.value.offset == 60
    assert dest.read_bytes() == b"previous image"
    assert leftovers(tmp_path) == []


def test_corrupt_bytes_raise_and_leave_destination_untouched(tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous image")
    with pytest.raises(ChecksumMismatch) as info:
        download(FakeServer(corrupt=True).open, EXPECTED, into=dest,
                 options=DownloadOptions(image_id="i", verification=Verification.ALL))
    assert info.value.expected == MD5
    assert info.value.actual != MD5
    assert dest.read_bytes() == b"previous image"
    assert leftovers(tmp_path) == []


def test_missing_destination_stays_missing_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    with pytest.raises(ChecksumMismatch):
        download(FakeServer(corrupt=True).open, EXPECTED, into=dest,
                 options=DownloadOptions(image_id="i"))
    assert list(tmp_path.iterdir()) == []


def test_204_is_unacceptable_and_cleans_up(tmp_path: Path) -> None:
    with pytest.raises(ImageUnacceptable):
        download(FakeServer(status=204).open, EXPECTED, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i"))
    assert list(tmp_path.iterdir()) == []


def test_content_md5_contradicting_record_fails_before_writing(tmp_path: Path) -> None:
    server = FakeServer(headers={"content-md5": "0" * 32})
    with pytest.raises(ChecksumMismatch):
        download(server.open, EXPECTED, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i", verification=Verification.ALL))
    assert server.sent == 0
    assert list(tmp_path.iterdir()) == []


def test_content_length_contradicting_record_fails_early(tmp_path: Path) -> None:
    server = FakeServer(headers={"content-length": str(len(DATA) + 1)})
    with pytest.raises(SizeMismatch):
        download(server.open, EXPECTED, into=tmp_path / "x", options=DownloadOptions(image_id="i"))
    assert server.sent == 0


def test_more_bytes_than_the_record_stop_at_once(tmp_path: Path) -> None:
    server = FakeServer(DATA + b"extra" * 100_000, chunk=4096,
                        headers={"content-md5": "", "content-length": ""})
    exp = Expected(len(DATA), MD5)
    with pytest.raises(SizeMismatch):
        download(server.open, exp, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i", chunk_size=4096))
    assert server.sent < len(DATA) + 3 * 4096
    assert list(tmp_path.iterdir()) == []


def test_short_clean_body_is_treated_as_a_drop(tmp_path: Path) -> None:
    class Truncating(FakeServer):
        def _respond(self, offset: int) -> FakeStream:
            stream = super()._respond(offset)
            if len(self.asked) == 1:
                stream._body = stream._body[:1000]
            return stream

    server = Truncating()
    download(server.open, EXPECTED, into=tmp_path / "x", options=DownloadOptions(image_id="i"))
    assert server.asked == [0, 1000]
    assert (tmp_path / "x").read_bytes() == DATA


def test_unexpected_content_range_raises(tmp_path: Path) -> None:
    server = FakeServer(cuts=[10], headers={"content-range": "bytes 0-9/10"})
    with pytest.raises((UnexpectedTransferResponse, SizeMismatch)):
        download(server.open, EXPECTED, into=tmp_path / "x", options=DownloadOptions(image_id="i"))
    assert list(tmp_path.iterdir()) == []


def test_no_checksum_downloads_but_says_not_verified(tmp_path: Path) -> None:
    server = FakeServer(v1=True, headers={"x-image-meta-checksum": ""})
    result = download(server.open, Expected(), into=tmp_path / "x",
                      options=DownloadOptions(image_id="i"))
    assert not result.verified
    assert result.size == len(DATA)


def test_checksum_learned_from_response_headers(tmp_path: Path) -> None:
    result = download(FakeServer().open, Expected(), into=tmp_path / "x",
                      options=DownloadOptions(image_id="i"))
    assert dict(result.checked) == {"md5": MD5}


def test_disk_full_on_path_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = 0

    def full(self: Any, parts: list[bytes]) -> None:
        nonlocal written
        written += sum(map(len, parts))
        if written > 100_000:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks.FdSink, "write", full)
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"old")
    with pytest.raises(OSError, match="No space") as info:
        download(FakeServer().open, EXPECTED, into=dest,
                 options=DownloadOptions(image_id="i", chunk_size=32768))
    assert info.value.errno == errno.ENOSPC
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_path_download_drops_written_pages_behind_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(sinks, "DROP_BEHIND", 64 * 1024)
    monkeypatch.setattr(sinks, "_fadvise", lambda fd, off, n, advice: calls.append(
        (off, n, advice)))
    dest = tmp_path / "image.raw"
    download(FakeServer().open, EXPECTED, into=dest,
             options=DownloadOptions(image_id="i", chunk_size=32 * 1024))
    assert dest.read_bytes() == DATA
    assert len(calls) >= 3
    assert set(calls) == {(0, 0, os.POSIX_FADV_DONTNEED)}
    monkeypatch.setattr(sinks, "DROP_BEHIND", 0)
    calls.clear()
    download(FakeServer().open, EXPECTED, into=dest,
             options=DownloadOptions(image_id="i", chunk_size=32 * 1024))
    assert calls == []


def test_writev_handles_short_writes_and_many_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.writev
    calls: list[int] = []

    def short_writev(fd: int, buffers: list[bytes]) -> int:
        calls.append(len(buffers))
        assert len(buffers) <= 512
        joined = b"".join(buffers)[:70_001]  # the kernel took only part of it
        return real(fd, [joined])

    monkeypatch.setattr(os, "writev", short_writev)
    parts = [bytes([i % 256]) * 20_000 for i in range(600)]
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        sinks.writev_all(fd, parts)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(parts)
    assert len(calls) > 2


def test_small_network_pieces_are_joined_large_ones_are_not() -> None:
    gatherer = Batcher(100_000)
    big = b"B" * 40_000
    assert gatherer.add(b"a" * 10) is None
    assert gatherer.add(big) is None
    assert gatherer.add(b"c" * 20_000) is None
    batch = gatherer.add(b"d" * 40_000)
    assert batch is not None
    assert b"".join(batch) == b"a" * 10 + big + b"c" * 20_000 + b"d" * 40_000
    assert any(part is big for part in batch)  # not copied
    assert len(gatherer) == 0


def test_keyboard_interrupt_mid_stream_cleans_up(tmp_path: Path) -> None:
    def stop(done: int, _total: int | None) -> None:
        if done > 100_000:
            raise KeyboardInterrupt

    server = FakeServer()
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        download(server.open, EXPECTED, into=dest,
                 options=DownloadOptions(image_id="i", progress=stop, chunk_size=16384))
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []
    assert server.closed == server.open_count


def test_missing_directory_fails_before_any_request(tmp_path: Path) -> None:
    server = FakeServer()
    with pytest.raises(FileNotFoundError):
        download(server.open, EXPECTED, into=tmp_path / "no" / "x",
                 options=DownloadOptions(image_id="i"))
    assert server.asked == []


def test_bad_chunk_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        download(FakeServer().open, EXPECTED, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i", chunk_size=0))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ downloads to a file


class DiskFull(io.RawIOBase):
    """A file that fills up after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        self.room, self.got = room, 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.got + len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.got += len(b)
        return len(b)


def test_file_target_disk_full_raises_enospc() -> None:
    server = FakeServer()
    with pytest.raises(OSError, match="No space") as info:
        download(server.open, EXPECTED, into=DiskFull(100_000),
                 options=DownloadOptions(image_id="i", chunk_size=16384))
    assert info.value.errno == errno.ENOSPC
    assert server.closed == server.open_count


def test_seekable_file_is_rewound_on_restart() -> None:
    buf = io.BytesIO(b"HEADER")
    buf.seek(6)
    server = FakeServer(cuts=[120_000], ignore_range={1})
    download(server.open, EXPECTED, into=buf,
             options=DownloadOptions(image_id="i", chunk_size=10_000))
    assert buf.getvalue() == b"HEADER" + DATA


class Pipe(io.RawIOBase):
    """An unseekable sink that accepts at most 1000 bytes per write call."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: Any) -> int:
        n = min(len(b), 1000)
        self.data += bytes(b[:n])
        return n


def test_unseekable_file_skips_repeated_bytes_and_short_writes_are_completed() -> None:
    pipe = Pipe()
    server = FakeServer(cuts=[120_000], ignore_range={1})
    download(server.open, EXPECTED, into=pipe,
             options=DownloadOptions(image_id="i"))
    assert bytes(pipe.data) == DATA


# ------------------------------------------------------------------ iterator target


def test_iterator_yields_exact_bytes_across_drops_and_ignored_range() -> None:
    server = FakeServer(cuts=[10_000, 5], ignore_range={1})
    out = b"".join(download(server.open, EXPECTED,
                            options=DownloadOptions(image_id="i", chunk_size=7000)))
    assert out == DATA
    assert server.asked == [0, 10_000, 10_000]


def test_iterator_withholds_the_last_buffer_of_a_corrupt_image() -> None:
    got = bytearray()

    def consume() -> None:
        for chunk in download(FakeServer(corrupt=True).open, EXPECTED,
                              options=DownloadOptions(image_id="i", chunk_size=64 * 1024)):
            got.extend(chunk)

    with pytest.raises(ChecksumMismatch):
        consume()
    assert 0 < len(got) < len(DATA)


def test_iterator_abandoned_early_closes_the_stream() -> None:
    server = FakeServer()
    it = download(server.open, EXPECTED, options=DownloadOptions(image_id="i", chunk_size=16384))
    next(it)
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert server.closed == server.open_count == 1
    assert server.sent < len(DATA)


def test_iterator_is_lazy() -> None:
    server = FakeServer()
    download(server.open, EXPECTED, options=DownloadOptions(image_id="i"))
    assert server.asked == []


# ------------------------------------------------------------------ async twins


async def test_async_path_resume_and_restart(tmp_path: Path) -> None:
    server = FakeServer(cuts=[50_000, 70_000], ignore_range={2})
    dest = tmp_path / "image.raw"
    result = await adownload(server.aopen, EXPECTED, into=dest,
                             options=DownloadOptions(image_id="i", chunk_size=20_000))
    assert dest.read_bytes() == DATA
    assert result.verified
    assert server.asked == [0, 50_000, 120_000]


@pytest.mark.parametrize("parallel", [True, False])
async def test_async_corrupt_leaves_destination(tmp_path: Path, parallel: bool) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"old")
    with pytest.raises(ChecksumMismatch):
        await adownload(FakeServer(corrupt=True).aopen, EXPECTED, into=dest,
                        options=DownloadOptions(image_id="i", parallel=parallel))
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


async def test_async_cancellation_mid_stream_cleans_up(tmp_path: Path) -> None:
    reached = asyncio.Event()

    class Slow(FakeServer):
        @contextlib.asynccontextmanager
        async def aopen(self, offset: int) -> AsyncIterator[FakeStream]:
            stream = self._respond(offset)
            inner = stream.aiter_chunks

            async def slow() -> AsyncIterator[bytes]:
                async for piece in inner():
                    if self.sent > 100_000:
                        reached.set()
                        await asyncio.sleep(3600)
                    yield piece

            stream.aiter_chunks = slow  # type: ignore[method-assign]
            try:
                yield stream
            finally:
                self.closed += 1

    server = Slow()
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"old")
    task = asyncio.create_task(
        adownload(server.aopen, EXPECTED, into=dest,
                  options=DownloadOptions(image_id="i", chunk_size=16384)))
    await asyncio.wait_for(reached.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []
    assert server.closed == 1


async def test_async_cancellation_during_commit_never_half_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    real = sinks.TempFile.commit
    entered = threading.Event()

    def slow_commit(self: sinks.TempFile) -> None:
        entered.set()
        threading.Event().wait(0.3)  # a long fsync
        real(self)

    monkeypatch.setattr(sinks.TempFile, "commit", slow_commit)
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"old")
    task = asyncio.create_task(adownload(FakeServer().aopen, EXPECTED, into=dest,
                                         options=DownloadOptions(image_id="i")))
    while not entered.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert dest.read_bytes() == DATA  # verified before the cancel: committed whole
    assert leftovers(tmp_path) == []


async def test_async_file_and_iterator_targets() -> None:
    buf = io.BytesIO()
    server = FakeServer(cuts=[1234])
    result = await adownload(server.aopen, EXPECTED, into=buf,
                             options=DownloadOptions(image_id="i"))
    assert buf.getvalue() == DATA
    assert result.verified
    chunks = await adownload(FakeServer(cuts=[99_999], ignore_range={1}).aopen, EXPECTED,
                             options=DownloadOptions(image_id="i", chunk_size=30_000))
    parts = [c async for c in chunks]
    assert b"".join(parts) == DATA


async def test_async_iterator_corrupt_raises() -> None:
    with pytest.raises(ChecksumMismatch):
        async for _ in await adownload(FakeServer(corrupt=True).aopen, EXPECTED,
                                       options=DownloadOptions(image_id="i")):
            pass


async def test_async_204_unacceptable(tmp_path: Path) -> None:
    with pytest.raises(ImageUnacceptable):
        await adownload(FakeServer(status=204).aopen, EXPECTED, into=tmp_path / "x",
                        options=DownloadOptions(image_id="i"))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ Hypothesis


@settings(max_examples=60)
@given(
    net_chunk=st.integers(min_value=512, max_value=70_000),
    buf_chunk=st.integers(min_value=256, max_value=200_000),
    cuts=st.lists(st.integers(min_value=0, max_value=len(DATA) - 1), max_size=3),
    ignore=st.sets(st.integers(min_value=0, max_value=3), max_size=2),
    target=st.sampled_from(["path", "seekable", "pipe", "iter"]),
)
def test_any_chunking_and_cuts_yield_exact_bytes(  # noqa: PLR0917 - one per strategy
    tmp_path_factory: pytest.TempPathFactory, net_chunk: int, buf_chunk: int,
    cuts: list[int], ignore: set[int], target: str,
) -> None:
    # each cut counts from where its response body starts; one past a body never fires
    server = FakeServer(chunk=net_chunk, cuts=cuts, ignore_range=ignore)
    opts: dict[str, Any] = {"image_id": "i", "chunk_size": buf_chunk, "max_resumes": 3,
                            "verification": Verification.ALL}
    if target == "path":
        d = tmp_path_factory.mktemp("dl")
        result = download(server.open, EXPECTED, into=d / "x", options=DownloadOptions(**opts))
        out = (d / "x").read_bytes()
        assert leftovers(d) == []
    elif target == "seekable":
        buf = io.BytesIO()
        result = download(server.open, EXPECTED, into=buf, options=DownloadOptions(**opts))
        out = buf.getvalue()
    elif target == "pipe":
        pipe = Pipe()
        result = download(server.open, EXPECTED, into=pipe,
                          options=DownloadOptions(**opts))
        out = bytes(pipe.data)
    else:
        out = b"".join(download(server.open, EXPECTED, options=DownloadOptions(**opts)))
        result = None
    assert out == DATA
    if result is not None:
        assert dict(result.checked) == {"md5": MD5, "sha512": SHA512}
    assert server.closed == server.open_count


# ------------------------------------------------------------------ uploads


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


def read_all(source: UploadSource) -> bytes:
    return b"".join(source.iter_chunks())


def test_upload_from_path_bytes_and_file_rereadable(tmp_path: Path) -> None:
    path = tmp_path / "img"
    path.write_bytes(DATA)
    fh = io.BytesIO(b"skip" + DATA)
    fh.seek(4)
    for data in (path, str(path), DATA, bytearray(DATA), memoryview(DATA), fh):
        source = upload_source(data, options=UploadOptions(chunk_size=65536))
        assert source.size == len(DATA)
        assert source.rewindable
        for _ in range(2):
            assert read_all(source) == DATA
            assert (source.md5, source.sha512) == digests(DATA)
            assert source.size == len(DATA)


def test_upload_from_iterator_is_one_shot() -> None:
    source = upload_source(iter([DATA[:1000], DATA[1000:]]),
                           options=UploadOptions(chunk_size=65536))
    assert (source.size, source.rewindable) == (None, False)
    assert read_all(source) == DATA
    assert source.size == len(DATA)
    assert source.md5 == MD5
    with pytest.raises(SourceNotRewindable):
        read_all(source)


def test_upload_partial_read_of_one_shot_cannot_be_retried() -> None:
    source = upload_source(iter([DATA[:1000], DATA[1000:]]), options=UploadOptions(chunk_size=100))
    it = source.iter_chunks()
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert not source.complete
    with pytest.raises(RuntimeError):
        _ = source.md5
    with pytest.raises(SourceNotRewindable):
        next(source.iter_chunks())


def test_upload_unseekable_file_is_one_shot() -> None:
    r, w = os.pipe()
    os.write(w, DATA[:50_000])
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        source = upload_source(fh)
        assert not source.rewindable
        assert read_all(source) == DATA[:50_000]
        with pytest.raises(SourceNotRewindable):
            read_all(source)


def test_upload_sequence_iterable_is_rereadable() -> None:
    source = upload_source([DATA[:10], DATA[10:]])
    assert source.rewindable
    assert read_all(source) == read_all(source) == DATA


def test_upload_declared_size_is_enforced() -> None:
    with pytest.raises(SizeMismatch):
        upload_source(DATA, size=5)
    long = upload_source(iter([b"x" * 100, b"y" * 100]), size=150,
                         options=UploadOptions(chunk_size=100))
    it = long.iter_chunks()
    assert next(it) == b"x" * 100
    with pytest.raises(SizeMismatch):
        next(it)
    short = upload_source(iter([b"x" * 100]), size=150)
    with pytest.raises(SizeMismatch):
        read_all(short)


def test_upload_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        upload_source(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        read_all(upload_source(iter(["text"])))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        upload_source(DATA, options=UploadOptions(chunk_size=0))


def test_upload_source_passes_through() -> None:
    source = upload_source(DATA)
    assert upload_source(source) is source
    with pytest.raises(SizeMismatch):
        upload_source(source, size=1)


async def test_async_upload_sources(tmp_path: Path) -> None:
    path = tmp_path / "img"
    path.write_bytes(DATA)

    async def agen() -> AsyncIterator[bytes]:
        for i in range(0, len(DATA), 7777):
            yield DATA[i : i + 7777]

    for data in (path, DATA, agen()):
        source = upload_source(data, options=UploadOptions(chunk_size=50_000))
        got = b"".join([c async for c in source.aiter_chunks()])
        assert got == DATA
        assert (source.md5, source.sha512) == digests(DATA)
    one_shot = upload_source(agen())
    with pytest.raises(TypeError):
        read_all(one_shot)
    assert b"".join([c async for c in one_shot.aiter_chunks()]) == DATA


def uploaded(**kw: Any) -> Image:
    base: dict[str, Any] = {"id": "u", "size": len(DATA), "checksum": MD5,
                            "os_hash_algo": "sha512", "os_hash_value": SHA512}
    base.update(kw)
    return Image(**base)


def test_check_uploaded_matches_and_raises_on_difference() -> None:
    source = upload_source(DATA)
    with pytest.raises(UnexpectedResponse, match="without reading all of its data"):
        check_uploaded(source, uploaded())
    read_all(source)
    ok = check_uploaded(source, uploaded())
    assert dict(ok.checked) == {"md5": MD5, "sha512": SHA512}
    with pytest.raises(ChecksumMismatch) as info:
        check_uploaded(source, uploaded(checksum="0" * 32))
    assert (info.value.expected, info.value.actual) == (MD5, "0" * 32)
    with pytest.raises(ChecksumMismatch):
        check_uploaded(source, uploaded(os_hash_value="0" * 128))
    with pytest.raises(SizeMismatch):
        check_uploaded(source, uploaded(size=len(DATA) - 1))


def test_check_uploaded_reports_what_it_could_not_compare() -> None:
    source = upload_source(DATA)
    read_all(source)
    other = check_uploaded(source, uploaded(os_hash_algo="sha256",
                                            os_hash_value=hashlib.sha256(DATA).hexdigest()))
    assert set(other.checked) == {"md5"}
    assert any("sha256" in n for n in other.unverified)
    bare = check_uploaded(source, Image(id="u"))
    assert not bare.verified
    assert bare.unverified
