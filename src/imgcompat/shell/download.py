"""Verified, resumable downloads: the sync and async drivers over :mod:`imgcompat.core.download`.

Every decision (what a response means, when to resume, how pieces form batches, what the
digests must be) is taken by :class:`~imgcompat.core.download.DownloadState`; this module
reads the network and hands each batch to a small thread pool that updates md5 and the
multihash side by side and writes the batch (:mod:`imgcompat.shell.sinks`), while the next
one is being read. hashlib releases the GIL on large buffers, so the digests really run in
parallel; at most two batches are alive, so memory is O(``chunk_size``) whatever the size.

httpx is not imported: the clients implement :class:`ByteStream` / :class:`AsyncByteStream`.

A download nothing could verify is never silent: it is logged as a warning naming the image,
whether it then succeeds (``require_verified=False``, the library's default) or is refused
(:class:`~imgcompat.core.errors.ImageNotVerifiable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Protocol, TypeAlias, overload

from imgcompat.core.download import DownloadOptions, DownloadState
from imgcompat.core.errors import ImageNotVerifiable, TransferInterrupted
from imgcompat.core.integrity import Action, Expected, Hasher, Verified
from imgcompat.core.redaction import redact
from imgcompat.shell.sinks import BinaryFile, FileSink, NullSink, Sink, TempFile, acommit

__all__ = [
    "AsyncByteStream",
    "AsyncOpenStream",
    "ByteStream",
    "OpenStream",
    "ResponseHead",
    "Target",
    "adownload",
    "download",
]


class ResponseHead(Protocol):
    """The status and headers of a download response, what the resume rules judge."""

    @property
    def status_code(self) -> int:
        """200, 204 or 206: the client raised for anything else already."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers, looked up by lower-case name."""
        ...


class ByteStream(ResponseHead, Protocol):
    """One HTTP response whose body is being streamed (see docs/design.md)."""

    def iter_chunks(self) -> Iterator[bytes]:
        """The body; raises :class:`TransferInterrupted` on a broken connection."""
        ...


class AsyncByteStream(ResponseHead, Protocol):
    """The async twin of :class:`ByteStream`."""

    def aiter_chunks(self) -> AsyncIterator[bytes]:
        """The body; raises :class:`TransferInterrupted` on a broken connection."""
        ...


LOG = logging.getLogger("imgcompat")

#: offset -> an open ``GET .../file`` (with ``Range: bytes=offset-`` when offset > 0).
OpenStream: TypeAlias = Callable[[int], AbstractContextManager[ByteStream]]
AsyncOpenStream: TypeAlias = Callable[[int], AbstractAsyncContextManager[AsyncByteStream]]
#: Where a download goes: a path (written atomically) or an open binary file.
Target: TypeAlias = "str | os.PathLike[str] | BinaryFile"


class _Transfer:
    """One download's movers around its :class:`DownloadState`: target, threads, progress.

    :meth:`submit` hands one batch to the workers; the drivers wait for its futures (sync:
    :meth:`done_with_previous`; async: awaiting them first) before submitting the next,
    which keeps every digest's updates in order and at most two batches in memory.
    """

    def __init__(self, expected: Expected, sink: Sink, options: DownloadOptions, *,
                 off_loop: bool, secrets: Sequence[str] = ()) -> None:
        self.state = DownloadState(expected, options, can_rewind=sink.can_rewind)
        self.secrets = tuple(secrets)
        self.sink = sink
        self.progress = options.progress
        self.pending: list[Future[None]] = []
        # parallel: one worker per digest plus the writer; serial but off the event loop:
        # one worker doing all three in turn; serial sync: no threads at all.
        self.serial = not options.parallel
        workers = 3 if options.parallel else 1 if off_loop else 0
        self.pool: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgcompat-transfer")
            if workers
            else None
        )

    def start(self, response: ResponseHead) -> None:
        """Judge a response and rewind the target if it starts over (nothing in flight)."""
        if self.pending:  # pragma: no cover - the drivers drain before asking again
            raise AssertionError("a new response while batches are in flight")
        with self._warn_if_refused():
            start = self.state.start(response.status_code, response.headers)
        if start.action is Action.RESTART:
            self.sink.rewind()
            self._report()

    def finish(self) -> Verified:
        """Every digest compared (raises on a difference); an unverified result is logged.

        Its reasons quote the server: the caller's secrets are taken out of them.
        """
        with self._warn_if_refused():
            result = self.state.finish()
        result = result.redacted(self.secrets)
        if not result.verified:
            self._warn(f"downloaded but {result.reason}")
        return result

    @contextlib.contextmanager
    def _warn_if_refused(self) -> Iterator[None]:
        """Log a download refused for want of a digest (the caller may not log errors)."""
        try:
            yield
        except ImageNotVerifiable as exc:
            self._warn("download refused: "
                       + ("; ".join(exc.reasons) or "the server published no checksum"))
            raise

    def _warn(self, text: str) -> None:
        """One warning naming the image; its reasons quote the server, so every secret
        the caller holds is taken out."""
        LOG.warning("image %s: %s", self.state.image_id or "?", redact(text, self.secrets))

    def submit(self, parts: list[bytes]) -> None:
        """Hash and write a batch; the previous batch's futures must be done already."""
        self.state.account(parts)
        jobs: list[Callable[[], None]] = [partial(_feed, h, parts) for h in self.state.hashers]
        if self.sink.writes:
            jobs.append(partial(self.sink.write, parts))
        if self.pool is None:
            _run_all(jobs)
            self._report()
        elif self.serial:
            self.pending = [self.pool.submit(_run_all, jobs)]
        else:
            self.pending = [self.pool.submit(job) for job in jobs]

    def done_with_previous(self) -> None:
        """Reached once the previous batch's futures completed (raises their errors)."""
        if not self.pending:
            return
        for fut in self.pending:
            fut.result()
        self.pending = []
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(*self.state.position)

    def abandon(self) -> None:
        """Let in-flight work end (never cancel a write halfway) and stop the pool."""
        for fut in self.pending:
            fut.cancel()
        wait_futures(self.pending)
        self.pending = []
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


def _feed(h: Hasher, parts: list[bytes]) -> None:
    for part in parts:
        h.update(part)


def _run_all(jobs: list[Callable[[], None]]) -> None:
    for job in jobs:
        job()


# --------------------------------------------------------------------------- the drivers


def _run_sync(tr: _Transfer, open_stream: OpenStream) -> Generator[list[bytes], None, None]:
    """The sync download loop; yields each batch once it was submitted."""
    state = tr.state
    while True:
        broke: TransferInterrupted | None = None
        try:
            with open_stream(state.ask()) as stream:
                tr.start(stream)
                for chunk in stream.iter_chunks():
                    if (batch := state.accept(chunk)) is not None:
                        tr.done_with_previous()
                        tr.submit(batch)
                        yield batch
        except TransferInterrupted as exc:
            broke = exc
        if (batch := state.leftover()) is not None:
            tr.done_with_previous()
            tr.submit(batch)
            yield batch
        tr.done_with_previous()
        if state.body_ended(broke):
            return


async def _run_async(
    tr: _Transfer, open_stream: AsyncOpenStream
) -> AsyncGenerator[list[bytes], None]:
    """The async download loop: the same steps, awaiting the pool instead of blocking."""
    state = tr.state

    async def drain() -> None:
        if tr.pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in tr.pending])
        tr.done_with_previous()

    while True:
        broke: TransferInterrupted | None = None
        try:
            async with open_stream(state.ask()) as stream:
                tr.start(stream)
                async for chunk in stream.aiter_chunks():
                    if (batch := state.accept(chunk)) is not None:
                        await drain()
                        tr.submit(batch)
                        yield batch
        except TransferInterrupted as exc:
            broke = exc
        if (batch := state.leftover()) is not None:
            await drain()
            tr.submit(batch)
            yield batch
        await drain()
        if state.body_ended(broke):
            return


def _drain(tr: _Transfer, open_stream: OpenStream) -> Verified:
    """Run a download to its end into its sink; the verdict of every digest."""
    try:
        with contextlib.closing(_run_sync(tr, open_stream)) as run:
            for _ in run:
                pass
        return tr.finish()
    finally:
        tr.abandon()


async def _adrain(tr: _Transfer, open_stream: AsyncOpenStream) -> Verified:
    """The async twin of :func:`_drain`."""
    try:
        run = _run_async(tr, open_stream)
        try:
            async for _ in run:
                pass
        finally:
            await run.aclose()
        return tr.finish()
    finally:
        tr.abandon()


def _iterate(open_stream: OpenStream, expected: Expected, options: DownloadOptions,
             secrets: Sequence[str]) -> Iterator[bytes]:
    """The bytes as they pass, the last batch held back until every digest matched."""
    tr = _Transfer(expected, NullSink(), options, off_loop=False, secrets=secrets)
    try:
        held: list[bytes] = []
        with contextlib.closing(_run_sync(tr, open_stream)) as run:
            for parts in run:
                yield from held
                held = parts
        tr.finish()
        yield from held
    finally:
        tr.abandon()


async def _aiterate(open_stream: AsyncOpenStream, expected: Expected,
                    options: DownloadOptions, secrets: Sequence[str]) -> AsyncIterator[bytes]:
    """The async twin of :func:`_iterate` (hashing runs off the loop)."""
    tr = _Transfer(expected, NullSink(), options, off_loop=True, secrets=secrets)
    try:
        held: list[bytes] = []
        run = _run_async(tr, open_stream)
        try:
            async for parts in run:
                for piece in held:
                    yield piece
                held = parts
        finally:
            await run.aclose()
        tr.finish()
        for piece in held:
            yield piece
    finally:
        tr.abandon()


# --------------------------------------------------------------------------- the entry points


@overload
def download(open_stream: OpenStream, expected: Expected, *, into: Target,
             options: DownloadOptions | None = None,
             secrets: Sequence[str] = ()) -> Verified: ...


@overload
def download(open_stream: OpenStream, expected: Expected, *, into: None = None,
             options: DownloadOptions | None = None,
             secrets: Sequence[str] = ()) -> Iterator[bytes]: ...


def download(
    open_stream: OpenStream,
    expected: Expected,
    *,
    into: Target | None = None,
    options: DownloadOptions | None = None,
    secrets: Sequence[str] = (),
) -> Verified | Iterator[bytes]:
    """Download an image's bytes, verified against ``expected``, resuming where it broke.

    ``into`` a path: atomically. The bytes go to a temporary file beside it, fsynced and
    renamed over it only after every digest matched; on any failure, KeyboardInterrupt
    included, the temporary file is removed and a file already at the path is left as it was.

    ``into`` an open binary file: flushed, not closed or fsynced. It cannot be rolled back:
    on failure it holds what was written. A seekable file is rewound and truncated when the
    server starts over; an unseekable one (a pipe) receives each byte once.

    ``into=None``: an iterator of the bytes, in the pieces the network delivered. The last
    ``chunk_size`` bytes or so are held back until every digest matched, so a corrupt image
    never reaches its caller complete: the final ``next()`` raises :class:`ChecksumMismatch`.
    Bytes repeated by a server that ignored ``Range`` are skipped, never yielded twice.
    Nothing happens until the first ``next()``.

    ``secrets`` (the caller's tokens) are kept out of the warning logged when nothing could
    be verified: its reasons quote the server.
    """
    options = options or DownloadOptions()
    if into is None:
        return _iterate(open_stream, expected, options, secrets)
    if not isinstance(into, str | os.PathLike):
        result = _drain(_Transfer(expected, FileSink(into), options, off_loop=False,
                                  secrets=secrets), open_stream)
        into.flush()
        return result
    tmp = TempFile(Path(into))
    try:
        result = _drain(_Transfer(expected, tmp.sink(), options, off_loop=False,
                                  secrets=secrets), open_stream)
        tmp.commit()
    except BaseException:
        tmp.discard()
        raise
    return result


@overload
async def adownload(open_stream: AsyncOpenStream, expected: Expected, *, into: Target,
                    options: DownloadOptions | None = None,
                    secrets: Sequence[str] = ()) -> Verified: ...


@overload
async def adownload(open_stream: AsyncOpenStream, expected: Expected, *, into: None = None,
                    options: DownloadOptions | None = None,
                    secrets: Sequence[str] = ()) -> AsyncIterator[bytes]: ...


async def adownload(
    open_stream: AsyncOpenStream,
    expected: Expected,
    *,
    into: Target | None = None,
    options: DownloadOptions | None = None,
    secrets: Sequence[str] = (),
) -> Verified | AsyncIterator[bytes]:
    """The async twin of :func:`download`: hashing, writes and fsync run off the loop.

    A cancellation removes the temporary file like any other failure; one that arrives
    during the final commit waits for it, so the destination is never half replaced.
    ``into=None`` returns the async iterator (nothing is requested until it is iterated).
    """
    options = options or DownloadOptions()
    if into is None:
        return _aiterate(open_stream, expected, options, secrets)
    if not isinstance(into, str | os.PathLike):
        result = await _adrain(_Transfer(expected, FileSink(into), options, off_loop=True,
                                         secrets=secrets), open_stream)
        await asyncio.to_thread(into.flush)
        return result
    tmp = TempFile(Path(into))  # not in a thread: a cancelled await would leak the file
    try:
        result = await _adrain(_Transfer(expected, tmp.sink(), options, off_loop=True,
                                         secrets=secrets), open_stream)
        await acommit(tmp)
    except BaseException:
        tmp.discard()
        raise
    return result
