"""The byte movers: httpx senders (sync and async) with retries over rotating API servers.

Each planned :class:`~imgcompat.core.plan.Request` is tried on the current API server; a
connection failure, a timeout or a 503-like answer moves to the next server and tries again
after an exponential backoff with jitter (tenacity), up to ``num_retries`` more times, as
far as :func:`imgcompat.core.plan.may_retry` allows. When the attempts are over,
:class:`~imgcompat.core.errors.ConnectionFailed` names every server tried. The token is added to
each attempt's headers and never logged or put in a message.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypedDict, Unpack

import attrs
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_none,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from imgcompat.core.errors import (
    ConnectionFailed,
    ImgcompatError,
    TransferInterrupted,
    error_for,
    tag_request_ids,
)
from imgcompat.core.identity import REQUEST_ID_HEADER, TOKEN_HEADER, RequestIdentity
from imgcompat.core.plan import Failure, Request, Response, is_retryable_status, may_retry
from imgcompat.shell.auth import Auth, redact
from imgcompat.shell.upload import UploadSource

LOG = logging.getLogger("imgcompat")

#: Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... capped at 10 s per wait.
DEFAULT_BACKOFF: wait_base = wait_random_exponential(multiplier=0.5, max=10)
NO_BACKOFF: wait_base = wait_none()
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Retry(Exception):  # a signal to tenacity, never seen by callers
    """One failed attempt worth another try."""

    def __init__(self, failure: Failure, root: str, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.root = root
        self.detail = detail
        self.server_request_id: str | None = None


def classify(exc: httpx.TransportError) -> Failure:
    """Whether the request can have reached the server before this error."""
    return Failure.NOT_SENT if isinstance(exc, _NOT_SENT) else Failure.NO_ANSWER


def verify_option(verify: bool | str) -> bool | ssl.SSLContext:
    """TLS verification: on by default; a path is a CA bundle."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


class _Tracked:
    """An upload body that remembers whether httpx pulled a chunk (then it was sent)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.started = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.started = True
            yield chunk


class _ATracked(_Tracked):
    """The async twin (httpx tells sync from async bodies by their iteration protocol)."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        super().__init__(())
        self._achunks = chunks

    __iter__ = None  # type: ignore[assignment]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._achunks:
            self.started = True
            yield chunk


#: Per attempt: the body to send, and whether a later attempt can send it again.
BodyFactory = Callable[[], tuple[Any, bool]]


def _buffered(request: Request) -> BodyFactory:
    return lambda: (request.body, True)


def _sized(request: Request, source: UploadSource) -> Request:
    """A known size goes out as Content-Length (no chunked encoding)."""
    if source.declared_size is None:
        return request
    return attrs.evolve(request, headers=(*request.headers,
                                          ("content-length", str(source.declared_size))))


class SenderOptions(TypedDict, total=False):
    """What both senders are built with, besides the roots and the httpx transport."""

    auth: Auth | None
    num_retries: int
    backoff: wait_base
    verify: bool | str
    timeout: float
    connect_timeout: float


class _Base:
    """What both senders share: servers, rotation, headers, the retry policy, messages."""

    def __init__(
        self,
        roots: Sequence[str],
        *,
        auth: Auth | None = None,
        num_retries: int = 3,
        backoff: wait_base = DEFAULT_BACKOFF,
        verify: bool | str = True,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not roots:
            raise ImgcompatError("no API server configured")
        self.roots = tuple(r.rstrip("/") for r in roots)
        self.auth = auth
        self.num_retries = num_retries
        self.backoff = backoff
        self._cursor = 0
        #: What the httpx client of either flavour is built with.
        self._client_options: dict[str, Any] = {
            "verify": verify_option(verify), "follow_redirects": False,
            "timeout": httpx.Timeout(timeout, connect=connect_timeout)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roots={list(self.roots)!r}, auth={self.auth!r})"

    @property
    def current_root(self) -> str:
        return self.roots[self._cursor]

    def _advance(self) -> None:
        self._cursor = (self._cursor + 1) % len(self.roots)

    def _token(self, identity: RequestIdentity) -> str | None:
        if identity.token:
            return identity.token
        return self.auth.token() if self.auth is not None else None

    def _headers(self, request: Request, identity: RequestIdentity) -> list[tuple[str, str]]:
        headers = list(request.headers)
        token = self._token(identity)
        if token:
            headers.append((TOKEN_HEADER, token))
        headers.extend(identity.headers())
        return headers

    def _policy(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.num_retries + 1),
            "wait": self.backoff,
            "retry": retry_if_exception_type(_Retry),
            "reraise": True,
            "before_sleep": self._log_retry,
        }

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        LOG.warning("image API attempt %d of %d failed (%s); trying %s",
                    state.attempt_number, self.num_retries + 1,
                    str(exc), self.current_root)  # a _Retry's detail is redacted already

    def _secrets(self, identity: RequestIdentity) -> tuple[str | None, ...]:
        try:
            own = self.auth.token() if self.auth is not None else None
        except Exception:  # a failing token source must not hide the real error
            own = None
        return (own, *identity.secrets())

    def _failed(self, request: Request, root: str, failure: Failure, detail: str,
                identity: RequestIdentity) -> _Retry:
        """The signal for a retryable failure; the next attempt goes to the next server."""
        self._advance()
        return _Retry(failure, root, redact(detail, *self._secrets(identity)))

    def _not_replayed(self, request: Request, root: str, exc: Exception,
                      identity: RequestIdentity) -> ConnectionFailed:
        self._advance()
        detail = redact(str(exc), *self._secrets(identity)) or type(exc).__name__
        error = ConnectionFailed(
            f"{request.method} {request.path} failed after its body was sent "
            f"({detail}); not replayed: the server may have acted",
            servers=(root,), image_id=request.image_id)
        tag_request_ids(error, identity.request_id, None)
        return error

    def _exhausted(self, request: Request, tried: list[str], last: _Retry,
                   identity: RequestIdentity) -> ConnectionFailed:
        servers = list(dict.fromkeys(tried))
        error = ConnectionFailed(
            f"{request.method} {request.path}: {last.detail} "
            f"({len(tried)} attempt{'s' if len(tried) != 1 else ''})",
            servers=servers, image_id=request.image_id)
        tag_request_ids(error, identity.request_id, last.server_request_id)
        return error

    def _build(self, client: httpx.Client | httpx.AsyncClient, request: Request,
               tried: list[str], body: BodyFactory, identity: RequestIdentity
               ) -> tuple[httpx.Request, Any, bool, str]:
        """One attempt's request on the current server, its body and whether it replays."""
        root = self.current_root
        content, replayable = body()
        tried.append(root)
        built = client.build_request(
            request.method, root + request.path, params=request.params,
            headers=self._headers(request, identity), content=content)
        return built, content, replayable, root

    def _transport_failure(self, request: Request, root: str, exc: httpx.TransportError, *,
                           content: Any, replayable: bool, identity: RequestIdentity
                           ) -> Exception:
        """What a broken attempt raises: a retry signal, or the final error when the body
        may have reached the server and cannot be replayed."""
        failure = classify(exc)
        if isinstance(content, _Tracked) and content.started:
            failure = Failure.NO_ANSWER
        if may_retry(request, failure, body_replayable=replayable):
            return self._failed(request, root, failure, f"{type(exc).__name__}: {exc}",
                                identity)
        return self._not_replayed(request, root, exc, identity)

    def _retry_status(self, request: Request, root: str, response: httpx.Response,
                      replayable: bool, identity: RequestIdentity) -> bool:
        """Whether this answer's status asks for the next server (after logging it)."""
        self._log(request, root, response, identity)
        return is_retryable_status(request, response.status_code) and may_retry(
            request, Failure.RETRYABLE_STATUS, body_replayable=replayable)

    def _status_retry(self, request: Request, root: str, response: httpx.Response,
                      body: bytes, identity: RequestIdentity) -> _Retry:
        signal = self._failed(request, root, Failure.RETRYABLE_STATUS,
                              str(error_for(response.status_code, body, None)), identity)
        signal.server_request_id = response.headers.get(REQUEST_ID_HEADER)
        return signal

    def _facts(self, response: httpx.Response, body: bytes) -> Response:
        return Response(response.status_code, tuple(response.headers.multi_items()), body)

    def _status_error(self, request: Request, response: httpx.Response, body: bytes,
                      identity: RequestIdentity) -> Exception:
        error = error_for(response.status_code, body, request.image_id)
        secrets = self._secrets(identity)
        if redact(error.message, *secrets) != error.message:
            error = type(error)(redact(error.message, *secrets), image_id=error.image_id,
                                status=error.status)
        return tag_request_ids(error, identity.request_id,
                               response.headers.get(REQUEST_ID_HEADER))

    def _log(self, request: Request, root: str, response: httpx.Response,
             identity: RequestIdentity) -> None:
        LOG.debug("%s %s%s -> %d (request id %s, server request id %s)", request.method,
                  root, request.path, response.status_code, identity.request_id or "-",
                  response.headers.get(REQUEST_ID_HEADER) or "-")


class HttpxByteStream:
    """One download response: the :class:`ByteStream` the transfer engine reads.

    Chunks are handed on as the network delivers them (the engine coalesces), so a broken
    connection loses no byte that already arrived and ``offset`` is exact.
    """

    def __init__(self, response: httpx.Response, offset: int, root: str,
                 image_id: str | None) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self._response = response
        self._offset = offset if response.status_code == 206 else 0
        self._root = root
        self._image_id = image_id

    def _interrupted(self, got: int, exc: Exception) -> TransferInterrupted:
        return TransferInterrupted(
            f"the connection broke after {got} bytes ({type(exc).__name__}: {exc})",
            offset=self._offset + got, servers=(self._root,), image_id=self._image_id)

    def _raw(self) -> bool:
        return "content-encoding" not in self.headers

    def iter_chunks(self) -> Iterator[bytes]:
        got = 0
        chunks = (self._response.iter_raw() if self._raw()
                  else self._response.iter_bytes())
        try:
            for chunk in chunks:
                got += len(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise self._interrupted(got, exc) from exc

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        got = 0
        chunks = (self._response.aiter_raw() if self._raw()
                  else self._response.aiter_bytes())
        try:
            async for chunk in chunks:
                got += len(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise self._interrupted(got, exc) from exc


class Transport(_Base):
    """Synchronous sender over one ``httpx.Client`` (one connection pool per client)."""

    def __init__(self, roots: Sequence[str], *, transport: httpx.BaseTransport | None = None,
                 **options: Unpack[SenderOptions]) -> None:
        super().__init__(roots, **options)
        self._client = httpx.Client(transport=transport, **self._client_options)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _attempt(self, request: Request, tried: list[str], body: BodyFactory, stream: bool,
                 identity: RequestIdentity) -> httpx.Response:
        built, content, replayable, root = self._build(self._client, request, tried, body,
                                                       identity)
        try:
            response = self._client.send(built, stream=stream)
        except httpx.TransportError as exc:
            raise self._transport_failure(request, root, exc, content=content,
                                          replayable=replayable, identity=identity) from exc
        if self._retry_status(request, root, response, replayable, identity):
            body_bytes = response.read()
            response.close()
            raise self._status_retry(request, root, response, body_bytes, identity)
        return response

    def _run(self, request: Request, body: BodyFactory, identity: RequestIdentity, *,
             stream: bool = False) -> httpx.Response:
        tried: list[str] = []
        try:
            for attempt in Retrying(**self._policy()):
                with attempt:
                    return self._attempt(request, tried, body, stream, identity)
        except _Retry as last:
            raise self._exhausted(request, tried, last, identity) from last
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, request: Request, identity: RequestIdentity) -> Response:
        """Send a planned request with its buffered body; the answer's facts."""
        response = self._run(request, _buffered(request), identity)
        return self._facts(response, response.content)

    def send_stream(self, request: Request, source: UploadSource,
                    identity: RequestIdentity) -> Response:
        """Send a request whose body is streamed from an upload source."""
        response = self._run(_sized(request, source),
                             lambda: (_Tracked(source.iter_chunks()), source.rewindable),
                             identity)
        return self._facts(response, response.content)

    @contextmanager
    def open_stream(self, request: Request, offset: int,
                    identity: RequestIdentity) -> Iterator[HttpxByteStream]:
        """A streamed answer (a download); a status of 400 or more raises the typed error."""
        response = self._run(request, _buffered(request), identity, stream=True)
        try:
            if response.status_code >= 400:
                raise self._status_error(request, response, response.read(), identity)
            yield HttpxByteStream(response, offset, self.current_root, request.image_id)
        finally:
            response.close()


class AsyncTransport(_Base):
    """The asyncio twin of :class:`Transport` (``httpx.AsyncClient``)."""

    def __init__(self, roots: Sequence[str], *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 **options: Unpack[SenderOptions]) -> None:
        super().__init__(roots, **options)
        self._client = httpx.AsyncClient(transport=transport, **self._client_options)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _attempt(self, request: Request, tried: list[str], body: BodyFactory,
                       stream: bool, identity: RequestIdentity) -> httpx.Response:
        built, content, replayable, root = self._build(self._client, request, tried, body,
                                                       identity)
        try:
            response = await self._client.send(built, stream=stream)
        except httpx.TransportError as exc:
            raise self._transport_failure(request, root, exc, content=content,
                                          replayable=replayable, identity=identity) from exc
        if self._retry_status(request, root, response, replayable, identity):
            body_bytes = await response.aread()
            await response.aclose()
            raise self._status_retry(request, root, response, body_bytes, identity)
        return response

    async def _run(self, request: Request, body: BodyFactory, identity: RequestIdentity, *,
                   stream: bool = False) -> httpx.Response:
        tried: list[str] = []
        try:
            async for attempt in AsyncRetrying(**self._policy()):
                with attempt:
                    return await self._attempt(request, tried, body, stream, identity)
        except _Retry as last:
            raise self._exhausted(request, tried, last, identity) from last
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(self, request: Request, identity: RequestIdentity
                   ) -> Response:
        """Send a planned request with its buffered body; the answer's facts."""
        response = await self._run(request, _buffered(request), identity)
        return self._facts(response, response.content)

    async def send_stream(self, request: Request, source: UploadSource,
                          identity: RequestIdentity) -> Response:
        """Send a request whose body is streamed from an upload source."""
        response = await self._run(
            _sized(request, source),
            lambda: (_ATracked(source.aiter_chunks()), source.rewindable), identity)
        return self._facts(response, response.content)

    @asynccontextmanager
    async def open_stream(self, request: Request, offset: int,
                          identity: RequestIdentity
                          ) -> AsyncIterator[HttpxByteStream]:
        """A streamed answer (a download); a status of 400 or more raises the typed error."""
        response = await self._run(request, _buffered(request), identity, stream=True)
        try:
            if response.status_code >= 400:
                raise self._status_error(request, response, await response.aread(),
                                         identity)
            yield HttpxByteStream(response, offset, self.current_root, request.image_id)
        finally:
            await response.aclose()
