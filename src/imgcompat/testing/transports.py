"""httpx transports that call the emulator's ASGI app in process, streaming both ways.

``httpx.ASGITransport`` collects the whole response body before returning, which would
hold a large image in memory and hide a dropped connection. These transports run the
app as a task and hand body chunks over through a small bounded queue, so a download
is consumed as the app produces it, request bodies are fed to ``receive()`` chunk by
chunk, and a fault that drops the connection surfaces as an ``httpx`` read error.
The sync transport runs the same machinery on a private event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast
from urllib.parse import unquote

import httpx

from .http import Message, Receive, Scope, Send

ASGIApp = Any  # Callable[[Scope, Receive, Send], Awaitable[None]]
_QUEUE_CHUNKS = 8
_DONE = object()


class _ResponseStream(httpx.AsyncByteStream):
    """The body chunks the app sends; a broken app body becomes ``httpx.ReadError``."""

    def __init__(self, queue: asyncio.Queue[object], task: asyncio.Task[None],
                 disconnected: asyncio.Event) -> None:
        self._queue = queue
        self._task = task
        self._disconnected = disconnected
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._finished:
            item = await self._queue.get()
            if item is _DONE:
                self._finished = True
                return
            if isinstance(item, BaseException):
                self._finished = True
                raise httpx.ReadError(
                    f"peer closed connection without sending complete message body "
                    f"({item})") from item
            yield cast(bytes, item)

    async def aclose(self) -> None:
        self._disconnected.set()
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _scope(request: httpx.Request) -> Scope:
    url = request.url
    raw_path = url.raw_path.split(b"?", 1)[0]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme,
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": url.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "client": ("127.0.0.1", 0),
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
    }


async def exchange(app: ASGIApp, request: httpx.Request,
                   body: AsyncIterator[bytes]) -> httpx.Response:
    """Run one request through ``app`` on the running loop; the body streams afterwards."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = loop.create_future()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_CHUNKS)
    disconnected = asyncio.Event()
    request_error: list[BaseException] = []
    body_done = False

    async def receive() -> Message:
        nonlocal body_done
        if not body_done:
            try:
                chunk = await body.__anext__()
            except StopAsyncIteration:
                body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except Exception as exc:  # the caller's body source failed
                body_done = True
                request_error.append(exc)
                disconnected.set()
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": chunk, "more_body": True}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.set_result((message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if chunk:
                await queue.put(bytes(chunk))
            if not message.get("more_body", False):
                await queue.put(_DONE)

    async def run() -> None:
        try:
            await cast(Any, app)(_scope(request), cast(Receive, receive), cast(Send, send))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if started.done():
                await queue.put(exc)
            else:
                started.set_exception(exc)
            return
        if not started.done():
            started.set_exception(request_error[0] if request_error else
                                  httpx.RemoteProtocolError("the app sent no response"))

    task = loop.create_task(run())
    try:
        status, headers = await started
    except BaseException:
        disconnected.set()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise
    stream = _ResponseStream(queue, task, disconnected)
    return httpx.Response(status, headers=headers, stream=stream, request=request)


async def _async_body(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


class AsyncEmulatorTransport(httpx.AsyncBaseTransport):
    """Drive the emulator in process from an ``httpx.AsyncClient``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return await exchange(self.app, request, _async_body(stream))


class _SyncResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop

    def __iter__(self) -> Iterator[bytes]:
        chunks = self._stream.__aiter__()
        while True:
            try:
                chunk = asyncio.run_coroutine_threadsafe(
                    _next(chunks), self._loop).result()
            except StopAsyncIteration:
                return
            yield chunk

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stream.aclose(), self._loop).result()


async def _next(chunks: AsyncIterator[bytes]) -> bytes:
    return await chunks.__anext__()


async def _sync_body(stream: httpx.SyncByteStream) -> AsyncIterator[bytes]:
    """A sync request body as async chunks; file-like sources are read off the loop."""
    if isinstance(stream, httpx.ByteStream):
        for chunk in stream:
            yield chunk
        return
    chunks = iter(stream)
    while True:
        item = await asyncio.to_thread(_next_or_none, chunks)
        if item is None:
            return
        yield item


def _next_or_none(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


class SyncEmulatorTransport(httpx.BaseTransport):
    """Drive the emulator in process from an ``httpx.Client`` (or any sync code)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever,
                                          name="imgcompat-emulator", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        loop = self._running_loop()
        stream = request.stream
        assert isinstance(stream, httpx.SyncByteStream)
        future = asyncio.run_coroutine_threadsafe(
            exchange(self.app, request, _sync_body(stream)), loop)
        response = future.result()
        async_stream = response.stream
        assert isinstance(async_stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers.raw,
                              stream=_SyncResponseStream(async_stream, loop),
                              request=request)

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
