"""One download response as the transfer engine reads it: :class:`HttpxByteStream`.

The senders (:mod:`imgcompat.shell.transport`) open the response; this adapter hands its
body on piece by piece, held to the call's :class:`~imgcompat.shell.bounds.Budget`: the
deadline, the minimum progress, and a bounded inflation when a server compressed the
bytes although ``identity`` was asked for. The engine (:mod:`imgcompat.shell.download`)
sees only the ``ByteStream`` protocol.

**Direct reads.** httpx hands a body on in 64 KiB pieces, each copied twice on its way
through h11's buffer; for an image that is most of the client's cost after the digest
(0.5-0.8 CPU-s per GiB measured here, against 0.2 for plain socket reads). When the body's
framing is trivial - HTTP/1.1, a ``Content-Length``, no transfer or content coding - and
the connection is a real socket whose reads this library already holds to the call's
deadline (:func:`~imgcompat.shell.bounds.install_deadlines`), the first piece still comes
through httpx (it empties whatever h11 buffered beyond the headers) and the rest is read
straight from httpcore's ``network_stream`` extension in pieces of up to
:data:`DIRECT_READ_BYTES`, exactly ``Content-Length`` bytes and never one more. h11 then
thinks the body unfinished, so httpcore closes that connection rather than reuse it: one
new connection per download, nothing to mis-frame. Anything else (chunked, compressed,
HTTP/2, a mock or in-process transport) takes the httpx path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from imgcompat.core.errors import TransferInterrupted, TransferStalled
from imgcompat.core.limits import DEFAULT_LIMITS
from imgcompat.shell.bounds import CURRENT, BodyReader, Budget, ProgressWatch, owned_stream

#: The largest piece one direct read asks the socket for: large enough that the per-piece
#: cost vanishes, small enough that a read never holds more than this in memory.
DIRECT_READ_BYTES = 1024 * 1024

#: What a direct read raises when the connection breaks or a read times out.
_NETWORK_ERRORS = (httpx.TransportError, httpcore.TimeoutException, httpcore.NetworkError)


class _ClosedEarly(Exception):
    """The server closed the connection before ``Content-Length`` bytes arrived."""


def direct_length(response: httpx.Response) -> int | None:
    """The body's length when the rest of it may be read straight from the socket, else
    None (see the module docstring for when)."""
    if response.extensions.get("http_version") != b"HTTP/1.1":
        return None
    if not owned_stream(response.extensions.get("network_stream")):
        return None
    headers = response.headers
    if "transfer-encoding" in headers:
        return None
    if headers.get("content-encoding", "identity").strip().lower() != "identity":
        return None
    length = headers.get("content-length", "")
    return int(length) if length.isascii() and length.isdigit() else None


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
        self._direct = None if self._loaded else direct_length(response)
        timeouts = response.request.extensions.get("timeout") or {}
        self._read_timeout: float | None = timeouts.get("read")

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
        except (*_NETWORK_ERRORS, _ClosedEarly) as exc:
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
            if self._direct is not None:
                break
        # h11's buffer is empty now: the rest comes straight from the socket (``raw`` stays
        # referenced until the response closes, which closes the connection)
        stream = self._response.extensions["network_stream"]
        while (left := self._left()) > 0:
            with self._reading():
                piece = stream.read(min(left, DIRECT_READ_BYTES), self._read_timeout)
                if not piece:
                    raise _ClosedEarly("the server closed the connection before the end")
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
            if self._direct is not None:
                break
        stream = self._response.extensions["network_stream"]
        while (left := self._left()) > 0:
            with self._reading():
                piece = await stream.read(min(left, DIRECT_READ_BYTES), self._read_timeout)
                if not piece:
                    raise _ClosedEarly("the server closed the connection before the end")
            for decoded in self._judge(piece):
                yield decoded

    def _left(self) -> int:
        """Bytes of a directly read body still to come (its Content-Length less what came)."""
        return (self._direct or 0) - self._got
