"""Streaming engines: verified, resumable downloads and hashed upload sources.

Every decision (what a response means, when to resume, what the digests must be) is taken
by :mod:`imgcompat.core.integrity`; this module only moves bytes. The sync and async loops differ
in how they read the network; both group the network's pieces into batches of about
``chunk_size`` bytes (without copying them) and hand each batch to a small thread pool that
updates md5 and the multihash side by side and writes the batch, while the next one is being
read. hashlib releases the GIL on large buffers, so the digests really run in parallel; at
most two batches are alive, so memory is O(``chunk_size``) whatever the image size.

httpx is not imported: the clients implement :class:`ByteStream` / :class:`AsyncByteStream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
import secrets
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeAlias, cast

from imgcompat.core.errors import (
    ChecksumMismatch,
    SizeMismatch,
    SourceNotRewindable,
    TransferInterrupted,
)
from imgcompat.core.integrity import (
    Action,
    Expected,
    Hasher,
    Resumer,
    Start,
    Verified,
    Verifier,
    new_hasher,
)

if TYPE_CHECKING:
    from imgcompat.core.model import Image

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "AsyncByteStream",
    "AsyncOpenStream",
    "ByteStream",
    "OpenStream",
    "Progress",
    "SourceNotRewindable",
    "UploadSource",
    "adownload_to_file",
    "adownload_to_path",
    "aiter_download",
    "check_uploaded",
    "download_to_file",
    "download_to_path",
    "iter_download",
    "upload_source",
]

#: Buffer size handed to the hashers and the disk: large enough that hashlib drops the GIL
#: for long stretches, small enough that two in flight stay far below the memory budget.
DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024


class ByteStream(Protocol):
    """One HTTP response whose body is being streamed (see docs/design.md)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def iter_chunks(self) -> Iterator[bytes]:
        """The body; raises :class:`TransferInterrupted` on a broken connection."""
        ...


class AsyncByteStream(Protocol):
    """The async twin of :class:`ByteStream`."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_chunks(self) -> AsyncIterator[bytes]:
        """The body; raises :class:`TransferInterrupted` on a broken connection."""
        ...


#: offset -> an open ``GET .../file`` (with ``Range: bytes=offset-`` when offset > 0).
OpenStream: TypeAlias = Callable[[int], AbstractContextManager[ByteStream]]
AsyncOpenStream: TypeAlias = Callable[[int], AbstractAsyncContextManager[AsyncByteStream]]
#: progress(bytes_done, total_or_None); bytes_done drops back to 0 when a download restarts.
Progress: TypeAlias = Callable[[int, "int | None"], None]




# --------------------------------------------------------------------------- byte movers


class _Coalescer:
    """Gathers network chunks into buffers of at least ``size`` bytes (one copy at most)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[bytes] = []
        self._len = 0

    def add(self, chunk: bytes) -> bytes | None:
        if not self._parts and len(chunk) >= self.size:
            return chunk
        self._parts.append(chunk)
        self._len += len(chunk)
        if self._len < self.size:
            return None
        return self.take()

    def take(self) -> bytes:
        out = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts.clear()
        self._len = 0
        return out

    def __len__(self) -> int:
        return self._len


#: Network pieces smaller than this are joined before hashing (hashlib keeps the GIL for
#: tiny buffers, and per-piece overhead would dominate); larger ones are never copied.
_SMALL = 16 * 1024
#: At most this many buffers go to one writev() call (IOV_MAX is 1024 on Linux).
_IOV_BATCH = 512


class _Gatherer:
    """Groups network pieces into batches of at least ``size`` bytes without copying them.

    The hashers and the writer walk a batch piece by piece (``os.writev`` for files), so
    large pieces are never copied; only runs of small pieces are joined.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[bytes] = []
        self._small: list[bytes] = []
        self._small_len = 0
        self._len = 0

    def _flush_small(self) -> None:
        if self._small:
            self._parts.append(self._small[0] if len(self._small) == 1
                               else b"".join(self._small))
            self._small.clear()
            self._small_len = 0

    def add(self, chunk: bytes) -> list[bytes] | None:
        if len(chunk) < _SMALL:
            self._small.append(chunk)
            self._small_len += len(chunk)
            if self._small_len >= _SMALL:
                self._flush_small()
        else:
            self._flush_small()
            self._parts.append(chunk)
        self._len += len(chunk)
        return self.take() if self._len >= self.size else None

    def take(self) -> list[bytes]:
        self._flush_small()
        out, self._parts, self._len = self._parts, [], 0
        return out

    def __len__(self) -> int:
        return self._len


def _writev_all(fd: int, parts: list[bytes]) -> None:
    """Write every byte of ``parts`` in order, with as few system calls as possible."""
    i = 0
    while i < len(parts):
        batch = parts[i : i + _IOV_BATCH]
        done = os.writev(fd, batch)
        for part in batch:
            if done >= len(part):
                done -= len(part)
                i += 1
                continue
            _write_all(lambda b: os.write(fd, b), memoryview(part)[done:])
            i += 1
            break


def _write_all(write: Callable[[Any], int | None], data: bytes | memoryview) -> None:
    """Write every byte (raw files may accept only part of a buffer)."""
    view = memoryview(data)
    while view:
        n = write(view)
        if n is None:  # a buffered or custom file that accepted everything
            return
        if n <= 0:
            raise OSError(errno.EIO, "write accepted no bytes")
        view = view[n:]


class _Sink(Protocol):
    can_rewind: bool
    writes: bool

    def write(self, parts: list[bytes]) -> None: ...

    def rewind(self) -> None: ...


#: A path download tells the kernel every this many bytes to start writing the file back
#: and to drop the pages already on disk: the page cache an image occupies stays bounded
#: (recycled pages are cheap, fresh ones are not, notably in VMs) and the final fsync short.
#: The price: a caller reading the image right away reads it from disk. 0 turns it off.
DROP_BEHIND = 32 * 1024 * 1024
_fadvise: Callable[[int, int, int, int], None] | None = getattr(os, "posix_fadvise", None)


class _FdSink:
    """The temporary file of a path download."""

    can_rewind = True
    writes = True

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._since = 0

    def write(self, parts: list[bytes]) -> None:
        _writev_all(self.fd, parts)
        self._since += sum(map(len, parts))
        if DROP_BEHIND and self._since >= DROP_BEHIND and _fadvise is not None:
            self._since = 0
            # async write-back of what is dirty, and eviction of what is already clean
            _fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def rewind(self) -> None:
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)


class _FileSink:
    """A caller's binary file: rewound (seek + truncate) only if it is seekable."""

    writes = True

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.fileobj = fileobj
        self._start: int | None = None
        try:
            if fileobj.seekable():
                self._start = fileobj.tell()
        except (OSError, ValueError, AttributeError):
            self._start = None
        self.can_rewind = self._start is not None

    def write(self, parts: list[bytes]) -> None:
        for part in parts:
            _write_all(self.fileobj.write, part)

    def rewind(self) -> None:
        if self._start is None:  # pragma: no cover - Resumer never asks without can_rewind
            raise io.UnsupportedOperation("file is not seekable")
        self.fileobj.seek(self._start)
        self.fileobj.truncate()


class _NullSink:
    """The iterator target: buffers go to the caller, not to a file."""

    can_rewind = False
    writes = False

    def write(self, parts: list[bytes]) -> None:  # pragma: no cover - never submitted
        return None

    def rewind(self) -> None:  # pragma: no cover - can_rewind is False
        raise io.UnsupportedOperation("an iterator cannot take back bytes it handed out")


class _Engine:
    """The state shared by the sync and async download loops: verifier, resumer, pipeline.

    :meth:`submit` hands one buffer to the workers; the loops wait for its futures (sync:
    :meth:`done_with_previous`; async: awaiting them first) before submitting the next, which
    keeps every digest's updates in order and at most two buffers in memory.
    """

    def __init__(
        self,
        expected: Expected,
        sink: _Sink,
        *,
        image_id: str | None,
        progress: Progress | None,
        max_resumes: int,
        resumable: bool,
        chunk_size: int,
        parallel: bool,
        off_loop: bool,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.image_id = image_id
        self.sink = sink
        self.progress = progress
        self.verifier = Verifier(expected, image_id=image_id)
        self.resumer = Resumer(
            max_resumes=max_resumes,
            resumable=resumable,
            can_rewind=sink.can_rewind,
            image_id=image_id,
        )
        self.gatherer = _Gatherer(chunk_size)
        self.pending: list[Future[None]] = []
        # parallel: one worker per digest plus the writer; serial but off the event loop:
        # one worker doing all three in turn; serial sync: no threads at all.
        self.serial = not parallel
        workers = 3 if parallel else 1 if off_loop else 0
        self.pool: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgcompat-transfer")
            if workers
            else None
        )
        self.skip = 0

    # -- responses

    def start(self, status: int, headers: Mapping[str, str]) -> Start:
        """Judge a response and rewind the target if it starts over (nothing in flight)."""
        if self.pending:  # pragma: no cover - the loops drain before asking again
            raise AssertionError("a new response while buffers are in flight")
        start = self.resumer.on_response(status, headers)
        expected = self.verifier.expected.with_headers(
            headers, start.total, image_id=self.image_id
        )
        if start.action is Action.RESTART:
            self.verifier.reset()
            self.sink.rewind()
            self._report()
        self.verifier.learn(expected)
        self.skip = start.skip
        return start

    # -- bytes

    def accept(self, chunk: bytes) -> list[bytes] | None:
        """Take one network chunk; a full batch comes back when one is ready to submit."""
        if self.skip:
            if len(chunk) <= self.skip:
                self.skip -= len(chunk)
                return None
            chunk = chunk[self.skip :]
            self.skip = 0
        if not chunk:
            return None
        return self.gatherer.add(chunk)

    def leftover(self) -> list[bytes] | None:
        """The partial batch, once the body ended or broke."""
        return self.gatherer.take() if len(self.gatherer) else None

    def submit(self, parts: list[bytes]) -> list[Future[None]]:
        """Hash and write a batch; the previous batch's futures must be done already."""
        n = sum(map(len, parts))
        self.verifier.count(n)
        self.resumer.advance(n)
        jobs: list[Callable[[], None]] = [_bind(h, parts) for h in self.verifier.hashers]
        if self.sink.writes:
            jobs.append(lambda: self.sink.write(parts))
        if self.pool is None:
            for job in jobs:
                job()
            self._report()
        elif self.serial:
            self.pending = [self.pool.submit(_chain(jobs))]
        else:
            self.pending = [self.pool.submit(job) for job in jobs]
        return self.pending

    def done_with_previous(self) -> None:
        """Reached once the previous buffer's futures completed (raises their errors)."""
        if not self.pending:
            return
        for fut in self.pending:
            fut.result()
        self.pending = []
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.resumer.offset, self.resumer.total)

    def interrupted(self, exc: TransferInterrupted) -> bool:
        """True if every byte had arrived anyway; else spend one resume (or raise)."""
        if self.resumer.complete:
            return True
        self.resumer.on_interrupted(exc)
        return False

    def body_ended(self) -> bool:
        """True when the download is complete; False when a clean EOF came up short."""
        if not self.resumer.ended_early():
            return True
        self.resumer.on_interrupted(
            TransferInterrupted(
                f"the body ended at byte {self.resumer.offset} of {self.resumer.total}",
                offset=self.resumer.offset,
                image_id=self.image_id,
            )
        )
        return False

    def finish(self) -> Verified:
        return self.verifier.finish()

    def abandon(self) -> None:
        """Let in-flight work end (never cancel a write halfway) and stop the pool."""
        for fut in self.pending:
            fut.cancel()
        wait_futures(self.pending)
        self.pending = []
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


def _bind(h: Hasher, parts: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        for part in parts:
            h.update(part)

    return run


def _chain(jobs: list[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:
        for job in jobs:
            job()

    return run


def _run_sync(
    engine: _Engine, open_stream: OpenStream
) -> Generator[list[bytes], None, None]:
    """The sync download loop; yields each batch once it was submitted."""
    while True:
        try:
            with open_stream(engine.resumer.ask()) as stream:
                engine.start(stream.status_code, stream.headers)
                for chunk in stream.iter_chunks():
                    batch = engine.accept(chunk)
                    if batch is not None:
                        engine.done_with_previous()
                        engine.submit(batch)
                        yield batch
        except TransferInterrupted as exc:
            batch = engine.leftover()
            if batch is not None:
                engine.done_with_previous()
                engine.submit(batch)
                yield batch
            engine.done_with_previous()
            if engine.interrupted(exc):
                return
            continue
        batch = engine.leftover()
        if batch is not None:
            engine.done_with_previous()
            engine.submit(batch)
            yield batch
        engine.done_with_previous()
        if engine.body_ended():
            return


async def _run_async(
    engine: _Engine, open_stream: AsyncOpenStream
) -> AsyncGenerator[list[bytes], None]:
    """The async download loop: the same steps, awaiting the pool instead of blocking."""

    async def drain() -> None:
        if engine.pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in engine.pending])
        engine.done_with_previous()

    async def submit(parts: list[bytes]) -> None:
        await drain()
        engine.submit(parts)

    while True:
        try:
            async with open_stream(engine.resumer.ask()) as stream:
                engine.start(stream.status_code, stream.headers)
                async for chunk in stream.aiter_chunks():
                    batch = engine.accept(chunk)
                    if batch is not None:
                        await submit(batch)
                        yield batch
        except TransferInterrupted as exc:
            batch = engine.leftover()
            if batch is not None:
                await submit(batch)
                yield batch
            await drain()
            if engine.interrupted(exc):
                return
            continue
        batch = engine.leftover()
        if batch is not None:
            await submit(batch)
            yield batch
        await drain()
        if engine.body_ended():
            return


# --------------------------------------------------------------------------- targets


class _TempFile:
    """``.<name>.imgcompat-XXXX.part`` beside the destination; committed or discarded once."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_BINARY", 0)
        for _ in range(16):
            tmp = dest.with_name(f".{dest.name}.imgcompat-{secrets.token_hex(4)}.part")
            try:
                self.fd: int | None = os.open(tmp, flags, 0o666)
            except FileExistsError:
                continue
            self.path = tmp
            return
        raise FileExistsError(errno.EEXIST, "no free temporary name beside", str(dest))

    def sink(self) -> _FdSink:
        assert self.fd is not None
        return _FdSink(self.fd)

    def commit(self) -> None:
        """fsync, rename over the destination, fsync the directory (the rename's record)."""
        fd, self.fd = self.fd, None
        assert fd is not None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, self.dest)
        _fsync_dir(self.dest.parent)

    def discard(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


async def _acommit(tmp: _TempFile) -> None:
    """Commit on a thread; a cancellation waits for it, so a commit is never half done."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="imgcompat-commit")
    try:
        fut = executor.submit(tmp.commit)
        try:
            await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            wait_futures([fut])  # blocks the loop for at most one fsync
            raise
    finally:
        executor.shutdown(wait=True)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); directories cannot be opened on every platform."""
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drain(engine: _Engine, open_stream: OpenStream) -> Verified:
    """Run a download to its end into the engine's sink; the verdict of every digest."""
    try:
        with contextlib.closing(_run_sync(engine, open_stream)) as run:
            for _ in run:
                pass
        return engine.finish()
    finally:
        engine.abandon()


async def _adrain(engine: _Engine, open_stream: AsyncOpenStream) -> Verified:
    """The async twin of :func:`_drain`."""
    try:
        run = _run_async(engine, open_stream)
        try:
            async for _ in run:
                pass
        finally:
            await run.aclose()
        return engine.finish()
    finally:
        engine.abandon()


def download_to_path(
    open_stream: OpenStream,
    expected: Expected,
    path: str | os.PathLike[str],
    *,
    image_id: str | None,
    progress: Progress | None = None,
    max_resumes: int = 3,
    resumable: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel: bool = True,
) -> Verified:
    """Download into ``path`` atomically: verified bytes appear there, or nothing changes.

    The bytes go to a temporary file beside ``path``, which is fsynced and renamed over it
    only after every digest matched; on any failure, including KeyboardInterrupt, the
    temporary file is removed and a file already at ``path`` is left as it was.
    """
    tmp = _TempFile(Path(path))
    try:
        engine = _Engine(
            expected, tmp.sink(), image_id=image_id, progress=progress,
            max_resumes=max_resumes, resumable=resumable, chunk_size=chunk_size,
            parallel=parallel, off_loop=False,
        )
        result = _drain(engine, open_stream)
        tmp.commit()
    except BaseException:
        tmp.discard()
        raise
    return result


async def adownload_to_path(
    open_stream: AsyncOpenStream,
    expected: Expected,
    path: str | os.PathLike[str],
    *,
    image_id: str | None,
    progress: Progress | None = None,
    max_resumes: int = 3,
    resumable: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel: bool = True,
) -> Verified:
    """The async twin of :func:`download_to_path` (writes and fsync run off the loop)."""
    tmp = _TempFile(Path(path))  # not in a thread: a cancelled await would leak the file
    try:
        engine = _Engine(
            expected, tmp.sink(), image_id=image_id, progress=progress,
            max_resumes=max_resumes, resumable=resumable, chunk_size=chunk_size,
            parallel=parallel, off_loop=True,
        )
        result = await _adrain(engine, open_stream)
        await _acommit(tmp)
    except BaseException:
        tmp.discard()
        raise
    return result


def download_to_file(
    open_stream: OpenStream,
    expected: Expected,
    fileobj: IO[bytes],
    *,
    image_id: str | None,
    progress: Progress | None = None,
    max_resumes: int = 3,
    resumable: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel: bool = True,
) -> Verified:
    """Download into an open binary file (flushed, not closed or fsynced).

    A caller's file cannot be rolled back: on failure it holds what was written. A seekable
    file is rewound and truncated when the server starts over; an unseekable one (a pipe)
    receives each byte once, the repeated ones being skipped.
    """
    engine = _Engine(
        expected, _FileSink(fileobj), image_id=image_id, progress=progress,
        max_resumes=max_resumes, resumable=resumable, chunk_size=chunk_size,
        parallel=parallel, off_loop=False,
    )
    result = _drain(engine, open_stream)
    fileobj.flush()
    return result


async def adownload_to_file(
    open_stream: AsyncOpenStream,
    expected: Expected,
    fileobj: IO[bytes],
    *,
    image_id: str | None,
    progress: Progress | None = None,
    max_resumes: int = 3,
    resumable: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel: bool = True,
) -> Verified:
    """The async twin of :func:`download_to_file` (writes run on worker threads)."""
    engine = _Engine(
        expected, _FileSink(fileobj), image_id=image_id, progress=progress,
        max_resumes=max_resumes, resumable=resumable, chunk_size=chunk_size,
        parallel=parallel, off_loop=True,
    )
    result = await _adrain(engine, open_stream)
    await asyncio.to_thread(fileobj.flush)
    return result


def iter_download(
    open_stream: OpenStream,
    expected: Expected,
    *,
    image_id: str | None,
    progress: Progress | None = None,
    max_resumes: int = 3,
    resumable: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel: bool = True,
) -> Iterator[bytes]:
    """Yield the image's bytes, verified as they pass.

    Pieces come as the network delivered them. The last ``chunk_size`` bytes or so are held
    back until every digest matched, so a corrupt image never reaches its caller complete:
    the final ``next()`` raises :class:`ChecksumMismatch`.
    Bytes repeated by a server that ignored ``Range`` are skipped, never yielded twice.
    Nothing happens until the first ``next()``.
    """
    engine = _Engine(
        expected, _NullSink(), image_id=image_id, progress=progress,
        max_resumes=max_resumes, resumable=resumable, chunk_size=chunk_size,
        parallel=parallel, off_loop=False,
    )
    try:
        held: list[bytes] = []
        with contextlib.closing(_run_sync(engine, open_stream)) as run:
            for parts in run:
                yield from held
                held = parts
        engine.finish()
        yield from held
    finally:
        engine.abandon()


async def aiter_download(
    open_stream: AsyncOpenStream,
    expected: Expected,
    *,
    image_id: str | None,
    progress: Progress | None = None,
    max_resumes: int = 3,
    resumable: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel: bool = True,
) -> AsyncIterator[bytes]:
    """The async twin of :func:`iter_download` (hashing runs off the loop)."""
    engine = _Engine(
        expected, _NullSink(), image_id=image_id, progress=progress,
        max_resumes=max_resumes, resumable=resumable, chunk_size=chunk_size,
        parallel=parallel, off_loop=True,
    )
    try:
        held: list[bytes] = []
        run = _run_async(engine, open_stream)
        try:
            async for parts in run:
                for piece in held:
                    yield piece
                held = parts
        finally:
            await run.aclose()
        engine.finish()
        for piece in held:
            yield piece
    finally:
        engine.abandon()


# --------------------------------------------------------------------------- uploads

#: What an upload may read from.
UploadData: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"
    " | Iterable[bytes] | AsyncIterable[bytes] | UploadSource"
)


class UploadSource:
    """Image bytes to upload, hashed (md5 and sha512, side by side) as they are read.

    ``size`` is known up front for paths, bytes and seekable files (or when given);
    after a complete iteration ``size``, ``md5`` and ``sha512`` describe what was read.
    A path, bytes or a seekable file can be read again (a retried upload); a one-shot
    iterator raises :class:`SourceNotRewindable` on a second read.
    """

    def __init__(
        self,
        data: UploadData,
        size: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if size is not None and size < 0:
            raise ValueError("size must be >= 0")
        self.chunk_size = chunk_size
        self._data: Any = cast(Any, data)
        self._kind, known, self.rewindable = _classify(data)
        if known is not None and size is not None and known != size:
            raise SizeMismatch(expected=size, actual=known)
        self.declared_size = size if size is not None else known
        self._start = self._data.tell() if self._kind == "file" and self.rewindable else 0
        self._started = False
        self._read = 0
        self._done: dict[str, str] | None = None
        self._hashers: tuple[Hasher, Hasher] = _upload_hashers()

    # -- results

    @property
    def size(self) -> int | None:
        """The byte count: declared/known before reading, measured after."""
        return self._read if self._done is not None else self.declared_size

    @property
    def complete(self) -> bool:
        return self._done is not None

    def _digest(self, name: str) -> str:
        if self._done is None:
            raise RuntimeError("the upload source has not been read to the end yet")
        return self._done[name]

    @property
    def md5(self) -> str:
        return self._digest("md5")

    @property
    def sha512(self) -> str:
        return self._digest("sha512")

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
        self._hashers = _upload_hashers()
        if self._kind == "file" and self.rewindable:
            self._data.seek(self._start)

    def _account(self, n: int) -> None:
        self._read += n
        if self.declared_size is not None and self._read > self.declared_size:
            raise SizeMismatch(expected=self.declared_size, actual=self._read)

    def _end(self) -> None:
        if self.declared_size is not None and self._read != self.declared_size:
            raise SizeMismatch(expected=self.declared_size, actual=self._read)
        md5, sha = self._hashers
        self._done = {"md5": md5.hexdigest(), "sha512": sha.hexdigest()}

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
            yield from _coalesce(data, n)
        else:  # pragma: no cover - iter_chunks refuses async sources first
            raise TypeError("an async iterable source can only be read with aiter_chunks()")

    def iter_chunks(self) -> Iterator[bytes]:
        """The bytes, in ``chunk_size`` pieces; each is hashed while the next is sent."""
        if self._kind == "aiter":
            raise TypeError("an async iterable source can only be read with aiter_chunks()")
        self._begin()
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="imgcompat-upload")
        pending: list[Future[None]] = []
        try:
            for block in self._blocks():
                _finish_all(pending)
                self._account(len(block))
                pending = [pool.submit(_bind(h, [block])) for h in self._hashers]
                yield block
            _finish_all(pending)
            self._end()
        finally:
            for fut in pending:
                fut.cancel()
            wait_futures(pending)
            pool.shutdown(wait=True)

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        """The async twin: file reads and hashing run on worker threads, not on the loop."""
        self._begin()
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="imgcompat-upload")
        pending: list[Future[None]] = []
        loop = asyncio.get_running_loop()
        try:
            async for block in self._ablocks(pool, loop):
                if pending:
                    await asyncio.wait([asyncio.wrap_future(f) for f in pending])
                _finish_all(pending)
                self._account(len(block))
                pending = [pool.submit(_bind(h, [block])) for h in self._hashers]
                yield block
            if pending:
                await asyncio.wait([asyncio.wrap_future(f) for f in pending])
            _finish_all(pending)
            self._end()
        finally:
            for fut in pending:
                fut.cancel()
            wait_futures(pending)
            pool.shutdown(wait=True)

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
            parts: list[bytes] = []
            have = 0
            async for chunk in data:
                parts.append(bytes(chunk))
                have += len(chunk)
                if have >= n:
                    yield b"".join(parts)
                    parts, have = [], 0
            if have:
                yield b"".join(parts)
        else:
            for block in self._blocks():
                yield block


def _finish_all(pending: list[Future[None]]) -> None:
    for fut in pending:
        fut.result()


def _upload_hashers() -> tuple[Hasher, Hasher]:
    return new_hasher("md5"), new_hasher("sha512")


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


def _coalesce(chunks: Iterable[bytes], n: int) -> Iterator[bytes]:
    co = _Coalescer(n)
    for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"upload iterables must yield bytes, got {type(chunk).__name__}")
        buf = co.add(bytes(chunk))
        if buf is not None:
            yield buf
    if len(co):
        yield co.take()


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
    data: UploadData, size: int | None = None, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> UploadSource:
    """Wrap a path, binary file, bytes or (async) iterable of bytes as an :class:`UploadSource`.

    An existing :class:`UploadSource` is returned as is (a retry reuses its rewind rules).
    """
    if isinstance(data, UploadSource):
        if size is not None and data.declared_size is not None and size != data.declared_size:
            raise SizeMismatch(expected=size, actual=data.declared_size)
        return data
    return UploadSource(data, size, chunk_size=chunk_size)


def check_uploaded(source: UploadSource, image: Image) -> Verified:
    """Compare what was sent with the server's record of it; a difference raises.

    The record's size and ``checksum`` must equal what was read; its multihash is compared
    when it is md5 or sha512 (another algorithm is reported in ``unverified``).
    """
    if not source.complete:
        raise RuntimeError("check_uploaded needs an upload source that was read to the end")
    sent = source.size or 0
    notes: list[str] = []
    checked: dict[str, str] = {}
    if image.checksum is None and image.os_hash_value is None and image.size == 0 and sent:
        notes.append("the server's record has no size or checksum after the upload")
    elif image.size != sent:
        raise SizeMismatch(expected=sent, actual=image.size, image_id=image.id)
    ours = {"md5": source.md5, "sha512": source.sha512}
    theirs: list[tuple[str, str]] = []
    if image.checksum:
        theirs.append(("md5", image.checksum.strip().lower()))
    else:
        notes.append("the server's record has no md5 checksum")
    if image.os_hash_algo and image.os_hash_value:
        algo = image.os_hash_algo.strip().lower()
        if algo in ours:
            theirs.append((algo, image.os_hash_value.strip().lower()))
        elif algo in hashlib.algorithms_available:
            notes.append(f"the server hashes with {algo}; only md5 and sha512 were computed")
        else:
            notes.append(f"os_hash_algo {image.os_hash_algo!r} is unknown to this Python")
    for algo, value in theirs:
        if ours[algo] != value:
            raise ChecksumMismatch(
                algorithm=algo, expected=ours[algo], actual=value, image_id=image.id
            )
        checked[algo] = value
    return Verified(sent, checked, tuple(notes))
