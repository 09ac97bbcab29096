"""Where the limits of :class:`~imgcompat.core.limits.Limits` meet bytes and time.

- :class:`Budget` / :class:`Deadline`: what one call may spend; every attempt, wait and
  read of the call is held to its deadline.
- :func:`install_deadlines`: httpx's own sockets learn the current deadline. httpx's
  ``timeout`` is per read, so a server sending one byte per (timeout - ε) - of the body,
  or of the status line and headers, which the caller never sees arriving - holds a call
  for ever; wrapped in :class:`_DeadlineBackend`, each connect, read and write of the
  call's connection is given at most the time the call has left.
- :class:`BodyReader`: one answer's body, decoded from the raw network pieces with a bound
  on the decoded size. The client asks for ``Accept-Encoding: identity``; a server that
  compresses anyway is inflated piece by bounded piece (``zlib`` with ``max_length``),
  so a 522 KB gzip bomb never grows past the limit.
- :class:`ProgressWatch`: the minimum-progress rule of downloads.
- :class:`Slots`: how many exchanges of one client are in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import attrs
import httpcore
import httpx

from imgcompat.core.errors import DeadlineExceeded, ResponseTooLarge, UnexpectedResponse
from imgcompat.core.limits import Limits

#: The most bytes one inflation step hands on (a compressed piece is inflated in steps).
INFLATE_STEP = 1024 * 1024


class Deadline:
    """When a call (or one exchange of it) must be over: a monotonic instant, or never.

    ``limit`` names the :class:`Limits` field it comes from, for the error.
    """

    __slots__ = ("at", "limit", "seconds")

    def __init__(self, seconds: float | None, *, limit: str = "deadline",
                 at: float | None = None) -> None:
        self.seconds = seconds
        self.limit = limit
        self.at = at if at is not None else (
            None if seconds is None else time.monotonic() + seconds)

    def __repr__(self) -> str:
        return f"Deadline({self.limit}={self.seconds!r}, remaining={self.remaining()!r})"

    def remaining(self) -> float | None:
        """Seconds left (may be negative), None when unbounded."""
        return None if self.at is None else self.at - time.monotonic()

    def expired(self) -> bool:
        """Whether the instant has passed."""
        return self.at is not None and time.monotonic() >= self.at

    def error(self, doing: str, **kw: Any) -> DeadlineExceeded:
        """The error saying that ``doing`` ran past this deadline."""
        return DeadlineExceeded(f"{doing}: gave up after {self.seconds:g} s", limit=self.limit,
                                value=self.seconds, **kw)

    def check(self, doing: str, **kw: Any) -> None:
        """Raise :class:`DeadlineExceeded` when the instant has passed."""
        if self.expired():
            raise self.error(doing, **kw)

    def sooner(self, other: Deadline) -> Deadline:
        """Whichever of the two ends first."""
        if other.at is None or (self.at is not None and self.at <= other.at):
            return self
        return other

    def cap(self, seconds: float | None) -> float | None:
        """``seconds`` (a timeout), shortened to what is left; at least a millisecond."""
        left = self.remaining()
        if left is None:
            return seconds
        left = max(left, 0.001)
        return left if seconds is None else min(seconds, left)


@attrs.frozen
class Budget:
    """What one call may spend: its limits, and the deadline of the call as a whole."""

    limits: Limits
    deadline: Deadline

    @classmethod
    def start(cls, limits: Limits, *, moves_data: bool = False) -> Budget:
        """A call starting now; a call moving image data is held to ``transfer_deadline``."""
        seconds = limits.call_deadline(moves_data=moves_data)
        name = "transfer_deadline" if moves_data else "deadline"
        return cls(limits, Deadline(seconds, limit=name))

    def exchange(self) -> Deadline:
        """The deadline of one metadata request starting now: the call's, or ``deadline``
        from now if that ends first (a call moving data has no short deadline itself)."""
        return self.deadline.sooner(Deadline(self.limits.deadline))


# --------------------------------------------------------------------------- sockets

#: The deadline of the exchange running in this thread or task (None: none).
CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "imgcompat_deadline", default=None)


@contextlib.contextmanager
def current(deadline: Deadline) -> Iterator[None]:
    """Make ``deadline`` the one httpx's sockets obey inside this block."""
    token = CURRENT.set(deadline)
    try:
        yield
    finally:
        CURRENT.reset(token)


def _capped(timeout: float | None, kind: type[Exception]) -> float | None:
    deadline = CURRENT.get()
    if deadline is None:
        return timeout
    if deadline.expired():
        raise kind(f"the call's {deadline.limit} passed")
    return deadline.cap(timeout)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname,
                                             _capped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync sockets, each connect, read and write held to :data:`CURRENT`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None
                    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(
            host, port, _capped(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(
            path, _capped(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.start_tls(
            ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncDeadlineBackend(httpcore.AsyncNetworkBackend):
    """The asyncio twin of :class:`_DeadlineBackend`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None
                          ) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_tcp(
            host, port, _capped(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_unix_socket(
            path, _capped(timeout, httpcore.ConnectTimeout), socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def owned_stream(stream: object) -> bool:
    """True for a connection's stream that :func:`install_deadlines` wrapped: a real socket
    whose reads obey the call's deadline (not a mock or in-process transport)."""
    return isinstance(stream, _Stream | _AsyncStream)


def install_deadlines(client: httpx.Client | httpx.AsyncClient) -> int:
    """Wrap the network backend of every httpx transport of ``client`` that has one (its
    default transport and any proxy mounts); the number wrapped. Transports given by the
    caller (a mock, the in-process emulator) have no sockets and are left alone: for them
    the body reading still checks the deadline between pieces."""
    transports = [getattr(client, "_transport", None),
                  *getattr(client, "_mounts", {}).values()]
    wrapped = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, _DeadlineBackend | _AsyncDeadlineBackend):
            continue
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
        elif isinstance(backend, httpcore.AsyncNetworkBackend):
            pool._network_backend = _AsyncDeadlineBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
    return wrapped


# --------------------------------------------------------------------------- slots


class Slots:
    """At most ``size`` exchanges of one sender in flight; the others wait here.

    httpcore's pool keeps waiting requests too, but assigns them by scanning every waiting
    request against every connection on each event: past ``max_connections`` waiting
    requests its cost grows with their square (200 concurrent calls ran at half the
    throughput of 50). Here a wait costs nothing, and ends at the call's deadline.
    A slot is held from the request's sending until its answer is closed.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._threads = threading.BoundedSemaphore(size)
        #: One semaphore per event loop (an asyncio one belongs to the loop it waited on).
        self._tasks: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def take(self, deadline: Deadline, doing: str) -> None:
        """Wait for a slot (threads)."""
        left = deadline.remaining()
        if not self._threads.acquire(timeout=None if left is None else max(left, 0.0)):
            raise deadline.error(f"{doing}: waited for a connection")

    def give(self) -> None:
        """Hand a slot back (threads)."""
        self._threads.release()

    async def atake(self, deadline: Deadline, doing: str) -> asyncio.Semaphore:
        """Wait for a slot (tasks); what to hand it back to with :meth:`agive`."""
        loop = asyncio.get_running_loop()
        if self._tasks is None or self._tasks[0] is not loop:
            self._tasks = (loop, asyncio.Semaphore(self.size))
        semaphore = self._tasks[1]
        left = deadline.remaining()
        try:
            await asyncio.wait_for(semaphore.acquire(),
                                   timeout=None if left is None else max(left, 0.0))
        except TimeoutError:
            raise deadline.error(f"{doing}: waited for a connection") from None
        return semaphore

    @staticmethod
    def agive(taken: asyncio.Semaphore) -> None:
        """Hand back the slot :meth:`atake` gave."""
        taken.release()


# --------------------------------------------------------------------------- bodies


class BodyReader:
    """One answer's body from its raw pieces: decoded, and at most ``cap`` bytes of it.

    ``encoding`` is the answer's ``Content-Encoding``: identity, gzip or deflate (anything
    else was not asked for and is refused). ``cap`` None reads without a size bound (a
    download: its size is the transfer engine's business), still inflating in bounded
    steps. ``limit`` names the :class:`Limits` field of ``cap``, for the error.
    """

    def __init__(self, encoding: str | None, *, cap: int | None = None,
                 limit: str = "max_answer_bytes", status: int | None = None) -> None:
        self.cap = cap
        self.limit = limit
        self.status = status
        self.size = 0
        self._inflater = _inflater(encoding, status)
        self._deflate_first = encoding is not None and _codings(encoding) == ["deflate"]

    def check_declared(self, length: str | None) -> None:
        """Refuse at once an identity body whose ``Content-Length`` is past the cap."""
        if self.cap is None or self._inflater is not None or not length:
            return
        text = length.strip()
        if text.isdigit() and (len(text) > 20 or int(text) > self.cap):
            raise self._too_large(f"the answer announces {text[:20]} bytes")

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of one raw piece (each at most :data:`INFLATE_STEP`)."""
        if self._inflater is None:
            self._count(len(raw))
            if raw:
                yield raw
            return
        data = raw
        while data:
            try:
                piece = self._inflater.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                if self._deflate_first and self.size == 0:  # raw deflate, no zlib header
                    self._deflate_first = False
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise UnexpectedResponse("the answer's compressed body is corrupt",
                                         status=self.status) from exc
            self._deflate_first = False
            data = self._inflater.unconsumed_tail
            if piece:
                self._count(len(piece))
                yield piece
            elif not data or self._inflater.eof:
                break

    def _count(self, n: int) -> None:
        self.size += n
        if self.cap is not None and self.size > self.cap:
            raise self._too_large(f"the answer holds more than {self.cap} bytes")

    def _too_large(self, what: str) -> ResponseTooLarge:
        return ResponseTooLarge(what, limit=self.limit, value=self.cap, status=self.status)


def _codings(encoding: str) -> list[str]:
    return [c.strip().lower() for c in encoding.split(",")
            if c.strip() and c.strip().lower() != "identity"]


def _inflater(encoding: str | None, status: int | None) -> Any:
    codings = _codings(encoding or "")
    if not codings:
        return None
    if codings in (["gzip"], ["x-gzip"]):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if codings == ["deflate"]:
        return zlib.decompressobj()
    raise UnexpectedResponse(f"the answer is encoded as {(encoding or '')[:40]!r}, which was not "
                             "asked for", status=status)


# --------------------------------------------------------------------------- progress


class ProgressWatch:
    """The minimum-progress rule: fewer than ``min_bytes`` in a ``window`` of seconds is a
    stall. Windows follow each other from the first piece asked for."""

    def __init__(self, min_bytes: int, window: float) -> None:
        self.min_bytes = min_bytes
        self.window = window
        self._start = time.monotonic()
        self._bytes = 0

    @classmethod
    def of(cls, limits: Limits) -> ProgressWatch | None:
        """The watch ``limits`` asks for, or None when the rule is off."""
        if limits.min_transfer_window is None:
            return None
        return cls(limits.min_transfer_bytes, limits.min_transfer_window)

    def stalled(self, n: int) -> bool:
        """Count ``n`` bytes that just arrived; True when their window fell short."""
        self._bytes += n
        now = time.monotonic()
        if now - self._start < self.window:
            return False
        if self._bytes < self.min_bytes:
            return True
        self._start, self._bytes = now, 0
        return False
