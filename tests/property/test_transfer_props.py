"""Properties of the transfer engine: whatever the chunking, cuts and server misbehaviour,
the bytes delivered are exactly the image's and verified, or an error is raised."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgcompat.core.download import DownloadOptions, Verification
from imgcompat.core.errors import ChecksumMismatch, SizeMismatch, TransferInterrupted
from imgcompat.core.integrity import Expected
from imgcompat.shell.download import download
from imgcompat.shell.upload import UploadOptions, upload_source


class Stream:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, *, chunk: int,
                 cut: int | None, log: list[int]) -> None:
        self.status_code, self.headers = status, headers
        self._body, self._chunk, self._cut, self._log = body, chunk, cut, log

    def iter_chunks(self) -> Iterator[bytes]:
        body = self._body if self._cut is None else self._body[: self._cut]
        for i in range(0, len(body), self._chunk):
            piece = body[i : i + self._chunk]
            self._log.append(len(piece))
            yield piece
        if self._cut is not None:
            raise TransferInterrupted("cut")


class Server:
    """``cuts[i]``: the i-th body breaks after that many bytes (if it is that long)."""

    def __init__(self, data: bytes, chunk: int, cuts: list[int], ignore: set[int],
                 ranges: bool) -> None:
        self.data, self.chunk, self.cuts, self.ignore = data, chunk, cuts, ignore
        self.ranges = ranges
        self.asked: list[int] = []
        self.sent: list[int] = []
        self.fired = 0

    @contextlib.contextmanager
    def open(self, offset: int) -> Iterator[Stream]:
        n = len(self.asked)
        self.asked.append(offset)
        headers = {"content-md5": hashlib.md5(self.data).hexdigest()}
        if offset and self.ranges and n not in self.ignore:
            status, body = 206, self.data[offset:]
            headers["content-range"] = f"bytes {offset}-{len(self.data) - 1}/{len(self.data)}"
        else:
            status, body = 200, self.data
        headers["content-length"] = str(len(body))
        cut = self.cuts[n] if n < len(self.cuts) and self.cuts[n] < len(body) else None
        self.fired += cut is not None
        yield Stream(status, headers, body, chunk=self.chunk, cut=cut, log=self.sent)


images = st.binary(min_size=1, max_size=64 * 1024)
faults = st.fixed_dictionaries({
    "net_chunk": st.integers(min_value=1, max_value=20_000),
    "buf_chunk": st.integers(min_value=64, max_value=80_000),
    "cuts": st.lists(st.integers(min_value=0, max_value=64 * 1024), max_size=3),
    "ignore": st.sets(st.integers(min_value=1, max_value=3), max_size=3),
    "ranges": st.booleans(),
    "seekable": st.booleans(),
    "parallel": st.booleans(),
})


@given(data=images, f=faults)
def test_download_delivers_exact_verified_bytes(data: bytes, f: dict[str, Any]) -> None:
    net_chunk = max(f["net_chunk"], len(data) // 200)  # bound the number of pieces
    buf_chunk, cuts, ignore = f["buf_chunk"], f["cuts"], f["ignore"]
    ranges, seekable, parallel = f["ranges"], f["seekable"], f["parallel"]
    server = Server(data, net_chunk, cuts, ignore, ranges)
    expected = Expected(len(data), hashlib.md5(data).hexdigest(), "sha512",
                        hashlib.sha512(data).hexdigest())

    class Unseekable(io.BytesIO):
        def seekable(self) -> bool:
            return False

    out = io.BytesIO() if seekable else Unseekable()
    result = download(server.open, expected, into=out,
                      options=DownloadOptions(image_id="i", chunk_size=buf_chunk, resumable=ranges,
                                              parallel=parallel,
                                              verification=Verification.ALL))
    assert out.getvalue() == data
    assert set(result.checked) == {"md5", "sha512"}
    assert len(server.asked) == server.fired + 1
    if not ranges:
        assert set(server.asked) == {0}
    if ranges and not ignore & set(range(len(server.asked))):
        assert sum(server.sent) == len(data)  # a resumed download repeats no byte


@given(
    data=images,
    flip=st.integers(min_value=0),
    net_chunk=st.integers(min_value=1, max_value=20_000),
    buf_chunk=st.integers(min_value=64, max_value=80_000),
    cut=st.integers(min_value=0, max_value=64 * 1024),
)
def test_any_flipped_byte_is_caught_and_never_fully_handed_out(
    data: bytes, flip: int, net_chunk: int, buf_chunk: int, cut: int
) -> None:
    net_chunk = max(net_chunk, len(data) // 200)
    corrupt = bytearray(data)
    corrupt[flip % len(data)] ^= 0x01
    server = Server(bytes(corrupt), net_chunk, [cut], set(), True)
    expected = Expected(len(data), hashlib.md5(data).hexdigest(), "sha512",
                        hashlib.sha512(data).hexdigest())
    got = bytearray()

    def consume() -> None:
        for piece in download(server.open, expected,
                              options=DownloadOptions(image_id="i", chunk_size=buf_chunk)):
            got.extend(piece)

    with pytest.raises(ChecksumMismatch):
        consume()
    assert len(got) < len(data)


@given(
    pieces=st.lists(st.binary(max_size=5000), max_size=30),
    chunk_size=st.integers(min_value=1, max_value=20_000),
    kind=st.sampled_from(["iter", "bytes", "file"]),
    declare=st.booleans(),
)
def test_upload_source_reads_exact_bytes_and_digests(
    pieces: list[bytes], chunk_size: int, kind: str, declare: bool
) -> None:
    data = b"".join(pieces)
    chunk_size = max(chunk_size, len(data) // 200 + 1)
    source_data: Any = {"iter": iter(pieces), "bytes": data, "file": io.BytesIO(data)}[kind]
    source = upload_source(source_data, len(data) if declare else None,
                           options=UploadOptions(chunk_size=chunk_size))
    chunks = list(source.iter_chunks())
    assert b"".join(chunks) == data
    assert all(len(c) >= chunk_size for c in chunks[:-1])
    assert all(chunks)
    assert source.size == len(data)
    assert source.md5 == hashlib.md5(data).hexdigest()
    assert source.sha512 == hashlib.sha512(data).hexdigest()


@given(pieces=st.lists(st.binary(min_size=1, max_size=500), min_size=1, max_size=10),
       delta=st.integers(min_value=-400, max_value=400).filter(bool))
def test_upload_wrong_declared_size_always_raises(pieces: list[bytes], delta: int) -> None:
    data = b"".join(pieces)
    declared = len(data) + delta
    if declared < 0:
        return
    source = upload_source(iter(pieces), declared, options=UploadOptions(chunk_size=100))
    with pytest.raises(SizeMismatch):
        for _ in source.iter_chunks():
            pass
    assert not source.complete
