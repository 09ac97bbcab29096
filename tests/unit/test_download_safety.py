"""What a download refuses or guards against (issue 11.5): nothing to verify, no size bound,
a destination's mode, a SHAKE digest too short to mean anything. Driven through the
engine (shell/download.py) with in-memory streams; both clients against a scripted server
are in tests/hostile/test_verify.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from imgcompat.core.download import DEFAULT_MAX_SIZE, DownloadOptions, DownloadState
from imgcompat.core.errors import ImageNotVerifiable, ImageTooLarge, ImageUnacceptable
from imgcompat.core.integrity import MIN_SHAKE_DIGEST_BYTES, Expected, Verifier, new_hasher
from imgcompat.shell.download import adownload, download

DATA = os.urandom(200_000)
MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
#: A body that would never end: the test fails instead of filling the disk.
HARD_STOP = 64 * 1024 * 1024


class Stream:
    """One answer: ``headers`` and a body of ``data``, or an endless one (``data=None``)."""

    def __init__(self, headers: Mapping[str, str], data: bytes | None, log: list[int]) -> None:
        self.status_code = 200
        self.headers = dict(headers)
        self.data = data
        self.log = log

    def _pieces(self) -> Iterator[bytes]:
        if self.data is not None:
            for i in range(0, len(self.data), 16_384):
                self.log.append(len(self.data[i:i + 16_384]))
                yield self.data[i:i + 16_384]
            return
        piece = b"\0" * 65_536
        while sum(self.log) < HARD_STOP:
            self.log.append(len(piece))
            yield piece
        raise AssertionError("the download did not stop at max_size")

    def iter_chunks(self) -> Iterator[bytes]:
        yield from self._pieces()

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            await asyncio.sleep(0)
            yield piece


class Server:
    """Answers every request with the same headers and body; counts the bytes sent."""

    def __init__(self, data: bytes | None = DATA, headers: Mapping[str, str] | None = None,
                 ) -> None:
        self.data, self.headers = data, dict(headers or {})
        self.sent: list[int] = []

    @contextlib.contextmanager
    def open(self, offset: int) -> Iterator[Stream]:
        yield Stream(self.headers, self.data, self.sent)

    @contextlib.asynccontextmanager
    async def aopen(self, offset: int) -> AsyncIterator[Stream]:
        yield Stream(self.headers, self.data, self.sent)


def parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# ------------------------------------------------------------------ nothing to verify

NOTHING = Expected(size=len(DATA))  # the record publishes no checksum, no multihash


def test_an_unverifiable_download_is_refused_before_any_byte_when_required(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server()
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    with pytest.raises(ImageNotVerifiable) as info:
        download(server.open, NOTHING, into=dest,
                 options=DownloadOptions(image_id="img-1", require_verified=True))
    assert isinstance(info.value, ImageUnacceptable)
    assert info.value.image_id == "img-1"
    assert "no usable checksum" in str(info.value)
    assert server.sent == []  # refused on the answer's headers, before its body
    assert dest.read_bytes() == b"previous"
    assert parts(tmp_path) == []
    assert any("img-1" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


async def test_an_unverifiable_async_download_is_refused_when_required(tmp_path: Path) -> None:
    server = Server()
    with pytest.raises(ImageNotVerifiable):
        await adownload(server.aopen, NOTHING, into=tmp_path / "x",
                        options=DownloadOptions(image_id="img-1", require_verified=True))
    assert server.sent == []
    assert list(tmp_path.iterdir()) == []


def test_an_unverifiable_iterator_is_refused_at_the_first_next() -> None:
    chunks = download(Server().open, NOTHING,
                      options=DownloadOptions(image_id="img-1", require_verified=True))
    with pytest.raises(ImageNotVerifiable):
        next(chunks)


def test_an_unverifiable_download_is_allowed_by_default_but_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="imgcompat")
    assert DownloadOptions().require_verified is False
    result = download(Server().open, NOTHING, into=tmp_path / "x",
                      options=DownloadOptions(image_id="img-2"))
    assert (tmp_path / "x").read_bytes() == DATA
    assert not result.verified
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("img-2" in w and "NOT verified" in w for w in warnings)


def test_a_content_md5_header_is_enough_to_verify(tmp_path: Path) -> None:
    server = Server(headers={"content-md5": MD5})
    result = download(server.open, NOTHING, into=tmp_path / "x",
                      options=DownloadOptions(image_id="i", require_verified=True))
    assert dict(result.checked) == {"md5": MD5}


def test_an_unknown_multihash_alone_cannot_verify(tmp_path: Path) -> None:
    unknown = Expected(len(DATA), None, "sha3_1024", "ab" * 64)
    with pytest.raises(ImageNotVerifiable) as info:
        download(Server().open, unknown, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i", require_verified=True))
    assert "sha3_1024" in str(info.value)


# ------------------------------------------------------------------ SHAKE digests


def test_a_shake_digest_shorter_than_32_bytes_is_not_a_digest() -> None:
    with pytest.raises(ValueError, match="too short"):
        new_hasher("shake_256", digest_hex_len=2)
    new_hasher("shake_128", digest_hex_len=2 * MIN_SHAKE_DIGEST_BYTES)  # accepted


@pytest.mark.parametrize("nbytes", [1, 16, MIN_SHAKE_DIGEST_BYTES - 1])
def test_a_short_shake_digest_never_counts_as_verified(tmp_path: Path, nbytes: int) -> None:
    short = Expected(len(DATA), None, "shake_256", hashlib.shake_256(DATA).hexdigest(nbytes))
    assert short.strongest() == short  # not a usable multihash: nothing to prefer
    result = download(Server().open, short, into=tmp_path / "x",
                      options=DownloadOptions(image_id="i"))
    assert not result.verified
    assert "too short" in result.reason
    with pytest.raises(ImageNotVerifiable):
        download(Server().open, short, into=tmp_path / "y",
                 options=DownloadOptions(image_id="i", require_verified=True))


def test_a_short_shake_digest_beside_md5_leaves_md5_as_the_check() -> None:
    short = Expected(len(DATA), MD5, "shake_128", hashlib.shake_128(DATA).hexdigest(1))
    verifier = Verifier(short.strongest())
    verifier.update(DATA)
    assert dict(verifier.finish().checked) == {"md5": MD5}


def test_a_32_byte_shake_digest_verifies(tmp_path: Path) -> None:
    value = hashlib.shake_128(DATA).hexdigest(MIN_SHAKE_DIGEST_BYTES)
    result = download(Server().open, Expected(len(DATA), MD5, "shake_128", value),
                      into=tmp_path / "x", options=DownloadOptions(image_id="i"))
    assert dict(result.checked) == {"shake_128": value}


# ------------------------------------------------------------------ max_size

UNSIZED = Expected(size=None, md5=MD5)  # size 0/None in the record, no Content-Length


def test_the_default_bound_is_glance_image_size_cap() -> None:
    assert DownloadOptions().max_size == DEFAULT_MAX_SIZE == 1024 ** 4
    with pytest.raises(ValueError, match="max_size"):
        DownloadOptions(max_size=-1)


def test_an_endless_body_of_unknown_size_stops_at_max_size(tmp_path: Path) -> None:
    server = Server(data=None)
    limit = 1_000_000
    with pytest.raises(ImageTooLarge) as info:
        download(server.open, UNSIZED, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i", max_size=limit, chunk_size=65_536))
    assert info.value.limit == limit
    assert info.value.size > limit
    assert "max_size" in str(info.value)
    assert sum(server.sent) < limit + 2 * 65_536  # read at most one batch past the bound
    assert list(tmp_path.iterdir()) == []


async def test_an_endless_async_body_stops_at_max_size(tmp_path: Path) -> None:
    server = Server(data=None)
    with pytest.raises(ImageTooLarge):
        await adownload(server.aopen, UNSIZED, into=tmp_path / "x",
                        options=DownloadOptions(image_id="i", max_size=500_000,
                                                chunk_size=65_536))
    assert list(tmp_path.iterdir()) == []


def test_an_endless_iterator_stops_at_max_size() -> None:
    got: list[int] = []

    def consume() -> None:
        for piece in download(Server(data=None).open, UNSIZED,
                              options=DownloadOptions(image_id="i", max_size=300_000,
                                                      chunk_size=65_536)):
            got.append(len(piece))

    with pytest.raises(ImageTooLarge):
        consume()
    assert sum(got) <= 300_000


def test_an_announced_size_over_max_size_is_refused_before_the_body(tmp_path: Path) -> None:
    server = Server(headers={"content-length": str(len(DATA))})
    with pytest.raises(ImageTooLarge) as info:
        download(server.open, UNSIZED, into=tmp_path / "x",
                 options=DownloadOptions(image_id="i", max_size=len(DATA) - 1))
    assert info.value.size == len(DATA)
    assert server.sent == []
    record_says = Expected(size=len(DATA), md5=MD5)
    with pytest.raises(ImageTooLarge):
        DownloadState(record_says, DownloadOptions(max_size=10), can_rewind=True).start(200, {})


def test_an_image_exactly_max_size_passes(tmp_path: Path) -> None:
    result = download(Server().open, UNSIZED, into=tmp_path / "x",
                      options=DownloadOptions(image_id="i", max_size=len(DATA)))
    assert result.size == len(DATA)
    unbounded = download(Server().open, UNSIZED, into=tmp_path / "y",
                         options=DownloadOptions(image_id="i", max_size=None))
    assert unbounded.verified


# ------------------------------------------------------------------ file modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("before", [0o600, 0o640, 0o604, 0o755])
def test_a_replaced_destination_keeps_its_mode(tmp_path: Path, before: int) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    dest.chmod(before)
    download(Server().open, Expected(len(DATA), MD5), into=dest,
             options=DownloadOptions(image_id="i"))
    assert dest.read_bytes() == DATA
    assert mode(dest) == before


def test_set_id_bits_are_not_carried_to_new_bytes(tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    dest.chmod(0o6750)
    download(Server().open, Expected(len(DATA), MD5), into=dest,
             options=DownloadOptions(image_id="i"))
    assert mode(dest) == 0o750


def test_the_part_file_is_private_while_written(tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    seen: list[int] = []

    def watch(done: int, total: int | None) -> None:
        seen.extend(mode(p) for p in tmp_path.iterdir() if p.name.endswith(".part"))

    old = os.umask(0o022)
    try:
        download(Server().open, Expected(len(DATA), MD5), into=dest,
                 options=DownloadOptions(image_id="i", progress=watch, chunk_size=16_384,
                                         parallel=False))
    finally:
        os.umask(old)
    assert seen
    assert set(seen) == {0o600}
    assert mode(dest) == 0o644  # a new file: 0666 less the umask
    assert [p.name for p in tmp_path.iterdir()] == ["image.raw"]  # no probe left behind


async def test_async_replaced_destination_keeps_its_mode(tmp_path: Path) -> None:
    dest = tmp_path / "image.raw"
    dest.write_bytes(b"previous")
    dest.chmod(0o600)
    await adownload(Server().aopen, Expected(len(DATA), MD5), into=dest,
                    options=DownloadOptions(image_id="i"))
    assert mode(dest) == 0o600
