"""One download response as the transfer engine reads it: :class:`HttpxByteStream`.

The senders (:mod:`imgcompat.shell.transport`) open the response; this adapter hands its
body on piece by piece, held to the call's :class:`~imgcompat.shell.bounds.Budget`: the
deadline, the minimum progress, and a bounded inflation when a server compressed the
bytes although ``identity`` was asked for. The engine (:mod:`imgcompat.shell.download`)
sees only the ``ByteStream`` protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx

from imgcompat.core.errors import TransferInterrupted, TransferStalled
from imgcompat.core.limits import DEFAULT_LIMITS
from imgcompat.shell.bounds import CURRENT, BodyReader, Budget, ProgressWatch


class HttpxByteStream:
    """One download response: the :class:`ByteStream` the transfer engine reads.

    Chunks are handed on as the network delivers them (the engine coalesces), so a broken
    connection loses no byte that already arrived and ``offset`` is exact. Each read is
    held to the call's deadline (:class:`~imgcompat.core.errors.DeadlineExceeded`) and to
    the minimum progress (:class:`~imgcompat.core.errors.TransferStalled`); a body the
    server compressed anyway is inflated in bounded steps.
    """

    def __init__(self, response: httpx.Response, offset: int, root: str,
                 image_id: str | None, budget: Budget | None = None) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self._response = response
        self._offset = offset if response.status_code == 206 else 0
        self._root = root
        self._image_id = image_id
        self._budget = budget or Budget.start(DEFAULT_LIMITS, moves_data=True)
        self._got = 0
        self._watch = ProgressWatch.of(self._budget.limits)
        self._loaded = response.is_stream_consumed  # built in memory: read and decoded
        self._reader = BodyReader(None if self._loaded else self.headers.get(
            "content-encoding"), status=self.status_code)

    def _interrupted(self, exc: Exception) -> Exception:
        deadline = self._budget.deadline
        if deadline.expired():
            return deadline.error(f"the download stopped after {self._got} bytes",
                                  servers=(self._root,), image_id=self._image_id)
        return TransferInterrupted(
            f"the connection broke after {self._got} bytes ({type(exc).__name__}: {exc})",
            offset=self._offset + self._got, servers=(self._root,), image_id=self._image_id)

    def _judge(self, raw: bytes) -> Iterator[bytes]:
        """The decoded bytes of one raw piece, once the limits allow it."""
        self._budget.deadline.check(f"the download stopped after {self._got} bytes",
                                    servers=(self._root,), image_id=self._image_id)
        for piece in self._reader.feed(raw):
            self._got += len(piece)
            yield piece
        if self._watch is not None and self._watch.stalled(len(raw)):
            watch = self._watch
            raise TransferStalled(
                f"fewer than {watch.min_bytes} bytes arrived in {watch.window:g} s "
                f"(after {self._got} bytes)", limit="min_transfer_bytes",
                value=watch.min_bytes, servers=(self._root,), image_id=self._image_id)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One read of the body: under the call's deadline, a broken connection typed."""
        token = CURRENT.set(self._budget.deadline)
        try:
            yield
        except httpx.TransportError as exc:
            raise self._interrupted(exc) from exc
        finally:
            CURRENT.reset(token)

    def iter_chunks(self) -> Iterator[bytes]:
        """The body, piece by piece; raises :class:`TransferInterrupted` on a broken
        connection."""
        raw = iter([self._response.content]) if self._loaded else self._response.iter_raw()
        while True:
            with self._reading():
                piece = next(raw, None)
            if piece is None:
                return
            yield from self._judge(piece)

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        """The async twin of :meth:`iter_chunks`."""
        if self._loaded:
            for decoded in self._judge(self._response.content):
                yield decoded
            return
        raw = self._response.aiter_raw()
        while True:
            with self._reading():
                piece = await anext(raw, None)
            if piece is None:
                return
            for decoded in self._judge(piece):
                yield decoded
