"""Upload sources: image bytes read in ``chunk_size`` blocks, hashed on the fly.

A source hashes the digests it is given: the verification policy's choice for the API
(:func:`~imgcompat.core.plan.upload_digests`: sha512 alone on v2 by default, md5 on v1, both
with ``Verification.ALL``), so nothing is hashed that will not be compared. Each block is
hashed on one thread per digest (hashlib releases the GIL) while it is being sent, so the
digests cost no extra pass over the data; :func:`check_uploaded` then holds the server's
record to them (:func:`~imgcompat.core.integrity.verify_upload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import IO, TYPE_CHECKING, Any, TypeAlias, cast

import attrs

from imgcompat.core.download import DEFAULT_CHUNK_SIZE, Batcher
from imgcompat.core.errors import (
    DigestNotComputed,
    SizeMismatch,
    SourceNotRewindable,
    UnexpectedResponse,
)
from imgcompat.core.immutable import FrozenDict
from imgcompat.core.integrity import UPLOAD_DIGESTS, Hasher, Verified, new_hasher, verify_upload

if TYPE_CHECKING:
    from imgcompat.core.model import Image

__all__ = [
    "UploadData",
    "UploadOptions",
    "UploadSource",
    "check_uploaded",
    "upload_source",
]

#: What an upload may read from.
UploadData: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"
    " | Iterable[bytes] | AsyncIterable[bytes] | UploadSource"
)


@attrs.frozen
class UploadOptions:
    """How an upload source reads: ``chunk_size`` is the block sent and hashed at a time."""

    chunk_size: int = attrs.field(default=DEFAULT_CHUNK_SIZE,
                                  validator=attrs.validators.gt(0))


class UploadSource:
    """Image bytes to upload, hashed (each of ``digests``, side by side) as they are read.

    ``digests`` names the algorithms to compute (any hashlib name; default md5 and sha512,
    all a default Glance publishes: the clients pass their verification policy's choice).
    ``declared_size`` is known up front for paths, bytes and seekable files (or when given);
    after a complete iteration ``size`` and ``digests`` describe what was read (``md5`` /
    ``sha512`` too, when computed). A path, bytes or a seekable file can be read again (a
    retried upload); a one-shot iterator raises :class:`SourceNotRewindable` on a second
    read.
    """

    def __init__(
        self,
        data: UploadData,
        size: int | None = None,
        *,
        options: UploadOptions | None = None,
        digests: Sequence[str] = UPLOAD_DIGESTS,
    ) -> None:
        if size is not None and size < 0:
            raise ValueError("size must be >= 0")
        self.computes = _algorithms(digests)
        self.chunk_size = (options or UploadOptions()).chunk_size
        self._data: Any = cast(Any, data)
        self._kind, known, self.rewindable = _classify(data)
        if known is not None and size is not None and known != size:
            raise SizeMismatch(expected=size, actual=known)
        self.declared_size = size if size is not None else known
        self._start = self._data.tell() if self._kind == "file" and self.rewindable else 0
        self._started = False
        self._read = 0
        self._done: FrozenDict[str, str] | None = None
        self._hashing: tuple[str, ...] = ()
        self._hashers: tuple[Hasher, ...] = ()

    # -- results

    @property
    def size(self) -> int | None:
        """The byte count: declared/known before reading, measured after."""
        return self._read if self._done is not None else self.declared_size

    @property
    def complete(self) -> bool:
        """True once the source was read to its end (the digests are then known)."""
        return self._done is not None

    @property
    def digests(self) -> FrozenDict[str, str]:
        """Algorithm -> hex digest of what was read, for each one computed (RuntimeError
        before the end)."""
        if self._done is None:
            raise RuntimeError("the upload source has not been read to the end yet")
        return self._done

    def _digest(self, name: str) -> str:
        done = self.digests
        if name not in done:
            raise DigestNotComputed(name, tuple(done))
        return done[name]

    @property
    def md5(self) -> str:
        """Hex md5 of what was read (RuntimeError before the end;
        :class:`DigestNotComputed` when this read did not compute it)."""
        return self._digest("md5")

    @property
    def sha512(self) -> str:
        """Hex sha512 of what was read (RuntimeError before the end;
        :class:`DigestNotComputed` when this read did not compute it)."""
        return self._digest("sha512")

    def compute(self, digests: Sequence[str]) -> None:
        """Hash ``digests`` from the next read on (the digests of a read already done
        stay as they were computed)."""
        self.computes = _algorithms(digests)

    # -- reading

    def _begin(self) -> None:
        if self._started and not self.rewindable:
            raise SourceNotRewindable(
                "this upload source is a one-shot stream and was already read; pass a path, "
                "bytes or a seekable file to allow a retry"
            )
        self._started = True
        self._read = 0
        self._done = None
        self._hashing = self.computes  # what this read computes, whatever compute() says
        self._hashers = tuple(new_hasher(name) for name in self._hashing)
        if self._kind == "file" and self.rewindable:
            self._data.seek(self._start)

    def _account(self, n: int) -> None:
        self._read += n
        if self.declared_size is not None and self._read > self.declared_size:
            raise SizeMismatch(expected=self.declared_size, actual=self._read)

    def _end(self) -> None:
        if self.declared_size is not None and self._read != self.declared_size:
            raise SizeMismatch(expected=self.declared_size, actual=self._read)
        self._done = FrozenDict({name: h.hexdigest()
                                 for name, h in zip(self._hashing, self._hashers, strict=True)})

    def _blocks(self) -> Iterator[bytes]:
        """Raw blocks of the source, coalesced to ``chunk_size`` (sync reading)."""
        kind, data, n = self._kind, self._data, self.chunk_size
        if kind == "bytes":
            view = memoryview(data).cast("B")
            for i in range(0, len(view), n):
                yield bytes(view[i : i + n])
        elif kind in ("path", "file"):
            with contextlib.ExitStack() as stack:
                fh = (
                    stack.enter_context(open(data, "rb", buffering=0))
                    if kind == "path"
                    else data
                )
                while block := _read_block(fh, n):
                    yield block
        elif kind == "iter":
            batcher = Batcher(n)
            for chunk in data:
                if (parts := batcher.add(_as_bytes(chunk))) is not None:
                    yield _joined(parts)
            if len(batcher):
                yield _joined(batcher.take())
        else:  # pragma: no cover - iter_chunks refuses async sources first
            raise TypeError("an async iterable source can only be read with aiter_chunks()")

    def iter_chunks(self) -> Iterator[bytes]:
        """The bytes, in ``chunk_size`` pieces; each is hashed while the next is sent."""
        if self._kind == "aiter":
            raise TypeError("an async iterable source can only be read with aiter_chunks()")
        self._begin()
        pool = ThreadPoolExecutor(max_workers=len(self._hashers),
                                  thread_name_prefix="imgcompat-upload")
        pending: list[Future[None]] = []
        try:
            for block in self._blocks():
                _finish_all(pending)
                self._account(len(block))
                pending = [pool.submit(h.update, block) for h in self._hashers]
                yield block
            _finish_all(pending)
            self._end()
        finally:
            _abandon(pool, pending)

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        """The async twin: file reads and hashing run on worker threads, not on the loop."""
        self._begin()
        pool = ThreadPoolExecutor(max_workers=len(self._hashers) + 1,
                                  thread_name_prefix="imgcompat-upload")
        pending: list[Future[None]] = []
        loop = asyncio.get_running_loop()
        try:
            async for block in self._ablocks(pool, loop):
                await _settled(pending)
                self._account(len(block))
                pending = [pool.submit(h.update, block) for h in self._hashers]
                yield block
            await _settled(pending)
            self._end()
        finally:
            _abandon(pool, pending)

    async def _ablocks(
        self, pool: Executor, loop: asyncio.AbstractEventLoop
    ) -> AsyncIterator[bytes]:
        kind, data, n = self._kind, self._data, self.chunk_size
        if kind in ("path", "file"):
            fh: IO[bytes] = (
                await loop.run_in_executor(pool, lambda: open(data, "rb", buffering=0))  # noqa: SIM115
                if kind == "path"
                else data
            )
            try:
                while block := await loop.run_in_executor(pool, _read_block, fh, n):
                    yield block
            finally:
                if kind == "path":
                    fh.close()
        elif kind == "aiter":
            batcher = Batcher(n)
            async for chunk in data:
                if (parts := batcher.add(_as_bytes(chunk))) is not None:
                    yield _joined(parts)
            if len(batcher):
                yield _joined(batcher.take())
        else:
            for block in self._blocks():
                yield block


def _finish_all(pending: list[Future[None]]) -> None:
    for fut in pending:
        fut.result()


async def _settled(pending: list[Future[None]]) -> None:
    """Wait for the previous block's hashing without blocking the loop; raise its errors."""
    if pending:
        await asyncio.wait([asyncio.wrap_future(f) for f in pending])
    _finish_all(pending)


def _abandon(pool: ThreadPoolExecutor, pending: list[Future[None]]) -> None:
    for fut in pending:
        fut.cancel()
    wait_futures(pending)
    pool.shutdown(wait=True)


def _algorithms(digests: Sequence[str]) -> tuple[str, ...]:
    """The algorithms to compute, normalised and checked now (not at the first block)."""
    if isinstance(digests, str):
        raise TypeError("digests is a sequence of algorithm names, not one name")
    names = tuple(dict.fromkeys(name.strip().lower() for name in digests))
    if not names:
        raise ValueError("an upload source computes at least one digest")
    for name in names:
        new_hasher(name)  # ValueError if this Python cannot compute it
    return names


def _as_bytes(chunk: object) -> bytes:
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise TypeError(f"upload iterables must yield bytes, got {type(chunk).__name__}")
    return bytes(chunk)


def _joined(parts: list[bytes]) -> bytes:
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_block(fh: IO[bytes], n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads (pipes, raw files); b"" at EOF."""
    first = fh.read(n)
    if not first or len(first) >= n:
        return first or b""
    parts, have = [first], len(first)
    while have < n:
        more = fh.read(n - have)
        if not more:
            break
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def _classify(data: Any) -> tuple[str, int | None, bool]:
    """(kind, known size, rewindable) of an upload source."""
    if isinstance(data, bytes | bytearray | memoryview):
        return "bytes", memoryview(data).nbytes, True
    if isinstance(data, str | os.PathLike):
        return "path", os.stat(data).st_size, True
    if hasattr(data, "read"):
        try:
            seekable = bool(data.seekable())
        except (OSError, ValueError, AttributeError):
            seekable = False
        if not seekable:
            return "file", None, False
        here = data.tell()
        end = data.seek(0, os.SEEK_END)
        data.seek(here)
        return "file", end - here, True
    if hasattr(data, "__aiter__"):
        return "aiter", None, False
    if isinstance(data, Iterable):
        return "iter", None, iter(data) is not data
    raise TypeError(f"cannot upload a {type(data).__name__}")


def upload_source(
    data: UploadData, size: int | None = None, *, options: UploadOptions | None = None,
    digests: Sequence[str] | None = None,
) -> UploadSource:
    """The one way to upload: wrap a path, binary file, bytes or (async) iterable of bytes.

    ``size``, when given, is what the source must hold (a difference raises
    :class:`SizeMismatch`). ``digests``: what to hash (default: md5 and sha512). An
    existing :class:`UploadSource` is returned as is (a retry reuses its rewind rules),
    set to compute ``digests`` when they are given.
    """
    if isinstance(data, UploadSource):
        if size is not None and data.declared_size is not None and size != data.declared_size:
            raise SizeMismatch(expected=size, actual=data.declared_size)
        if digests is not None:
            data.compute(digests)
        return data
    return UploadSource(data, size, options=options,
                        digests=UPLOAD_DIGESTS if digests is None else digests)


def check_uploaded(source: UploadSource, image: Image) -> Verified:
    """Compare what was sent with the server's record of it; a difference raises.

    The record's size is always compared, and each digest the source computed that the
    record publishes; when none could be, ``unverified`` says why and what would verify
    it (:func:`~imgcompat.core.integrity.verify_upload`).
    """
    if not source.complete and source.declared_size == 0 and source.rewindable:
        for _ in source.iter_chunks():  # nothing to send: a server may rightly not read it
            pass
    if not source.complete:
        raise UnexpectedResponse(
            "the server accepted the upload without reading all of its data "
            f"(image {image.id or '?'})", image_id=image.id)
    return verify_upload(source.size or 0, source.digests, image)
