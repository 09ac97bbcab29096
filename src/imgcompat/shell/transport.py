"""The byte movers: httpx senders (sync and async) with retries over rotating API servers.

Each planned :class:`~imgcompat.core.plan.Request` is tried on the current API server; a
connection failure, a timeout or a 503-like answer moves to the next server and tries again
after an exponential backoff with jitter (tenacity), up to ``num_retries`` more times, as
far as :func:`imgcompat.core.plan.may_retry` allows. When the attempts are over,
:class:`~imgcompat.core.errors.ConnectionFailed` names every server tried.

Every exchange is held to the call's :class:`~imgcompat.shell.bounds.Budget`: its deadline
(attempts, waits and every socket read and write), the decoded size of the answer it reads
(``Accept-Encoding: identity`` is asked; a compressed answer is inflated only up to the
limit), and, for a download, the minimum progress. The token is added to each attempt's
headers and never logged or put in a message: every message built here goes through
:func:`~imgcompat.core.redaction.redact` with every secret the sender holds (the tokens it
sent, the call's identity, the ``user:password`` of a root URL, which travels as an
``Authorization: Basic`` header and never in a URL).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
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
    UnexpectedResponse,
    error_for,
    tag_request_ids,
)
from imgcompat.core.identity import ANONYMOUS, REQUEST_ID_HEADER, TOKEN_HEADER, RequestIdentity
from imgcompat.core.limits import DEFAULT_LIMITS, Limits
from imgcompat.core.plan import Failure, Request, Response, is_retryable_status, may_retry
from imgcompat.core.redaction import Credentials, redact, scrub_error, split_userinfo
from imgcompat.shell.auth import Auth
from imgcompat.shell.bounds import (
    CURRENT,
    BodyReader,
    Budget,
    Deadline,
    Slots,
    current,
    install_deadlines,
)
from imgcompat.shell.stream import HttpxByteStream
from imgcompat.shell.upload import UploadSource

__all__ = ["DEFAULT_BACKOFF", "DEFAULT_MAX_CONNECTIONS", "NO_BACKOFF", "AsyncTransport",
           "HttpxByteStream", "SenderOptions", "Transport", "classify", "verify_option"]

LOG = logging.getLogger("imgcompat")

#: Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... capped at 10 s per wait.
DEFAULT_BACKOFF: wait_base = wait_random_exponential(multiplier=0.5, max=10)
NO_BACKOFF: wait_base = wait_none()
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: How many of the tokens the auth source gave are remembered for redaction.
_RECENT_TOKENS = 4
#: A secret shorter than this is not looked for in outgoing URLs (it would match by chance).
_MIN_URL_SECRET = 8
#: httpx's own default pool size: exchanges in flight at once per client.
DEFAULT_MAX_CONNECTIONS = 100


def _loaded(response: httpx.Response) -> list[bytes]:
    """The body of an answer built in memory (a mock's, already read and decoded by
    httpx), as one piece; nothing for an answer still on the wire."""
    return [response.content] if response.is_stream_consumed else []


async def _unloaded(response: httpx.Response) -> AsyncIterator[bytes]:
    """The raw pieces of an answer still on the wire; nothing for one built in memory."""
    if not response.is_stream_consumed:
        async for raw in response.aiter_raw():
            yield raw


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
    """An upload body that remembers whether httpx pulled a chunk (then it was sent).

    Once the last chunk is out, the wait for the answer is a metadata exchange: its
    sockets get ``budget.exchange()`` (the call itself may have no deadline).
    """

    def __init__(self, chunks: Iterable[bytes], budget: Budget) -> None:
        self._chunks = chunks
        self._budget = budget
        self.started = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.started = True
            yield chunk
        CURRENT.set(self._budget.exchange())  # reset with the attempt's own token


class _ATracked(_Tracked):
    """The async twin (httpx tells sync from async bodies by their iteration protocol)."""

    def __init__(self, chunks: AsyncIterable[bytes], budget: Budget) -> None:
        super().__init__((), budget)
        self._achunks = chunks

    __iter__ = None  # type: ignore[assignment]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._achunks:
            self.started = True
            yield chunk
        CURRENT.set(self._budget.exchange())


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


@attrs.frozen
class _Exchange:
    """One planned request being sent: its body, for whom, within what budget and
    deadline, and the :class:`Limits` field capping an answer read whole (None: the
    answer is streamed to the caller)."""

    request: Request
    body: BodyFactory
    identity: RequestIdentity
    budget: Budget
    deadline: Deadline
    read: str | None = "max_answer_bytes"

    @property
    def doing(self) -> str:
        """The request, as messages name it."""
        return f"{self.request.method} {self.request.path}"


class SenderOptions(TypedDict, total=False):
    """What both senders are built with, besides the roots and the httpx transport.

    ``limits``: the default :class:`~imgcompat.core.limits.Limits` of a call that brings
    no budget of its own. ``credentials``: per root URL, the ``user:password`` to send as
    ``Authorization: Basic`` (a root given with a ``user:password@`` is split the same way).
    ``max_connections``: the pool's size, and how many exchanges are in flight at once
    (the others wait their turn, :class:`~imgcompat.shell.bounds.Slots`).
    """

    auth: Auth | None
    num_retries: int
    backoff: wait_base
    verify: bool | str
    timeout: float
    connect_timeout: float
    limits: Limits
    credentials: Mapping[str, Credentials]
    max_connections: int


def _split_roots(roots: Sequence[str], credentials: Mapping[str, Credentials] | None
                 ) -> tuple[tuple[str, ...], dict[str, Credentials]]:
    """Root URLs without ``user:password@`` (no URL requested or logged holds one), and
    the credentials each carried or was given."""
    clean: list[str] = []
    found = dict(credentials or {})
    for root in roots:
        url, given = split_userinfo(root.rstrip("/"))
        clean.append(url)
        if given is not None:
            found[url] = given
    return tuple(clean), found


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
        limits: Limits = DEFAULT_LIMITS,
        credentials: Mapping[str, Credentials] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if not roots:
            raise ImgcompatError("no API server configured")
        self.roots, self._credentials = _split_roots(roots, credentials)
        self.auth = auth
        self.num_retries = num_retries
        self.backoff = backoff
        self.limits = limits
        #: Seconds per read and per connect, capped per attempt by the call's deadline.
        self._timeouts = (timeout, connect_timeout)
        self._cursor = 0
        self._recent: tuple[str, ...] = ()
        self._slots = Slots(max_connections)
        #: What the httpx client of either flavour is built with. JSON answers are small
        #: and image data is checksummed as stored: compression is never asked for.
        self._client_options: dict[str, Any] = {
            "verify": verify_option(verify), "follow_redirects": False,
            "timeout": httpx.Timeout(timeout, connect=connect_timeout),
            "headers": {"accept-encoding": "identity"},
            "limits": httpx.Limits(max_connections=max_connections,
                                   max_keepalive_connections=min(max_connections, 20))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(roots={list(self.roots)!r}, auth={self.auth!r})"

    @property
    def current_root(self) -> str:
        return self.roots[self._cursor]

    def _advance(self) -> None:
        self._cursor = (self._cursor + 1) % len(self.roots)

    def budget(self) -> Budget:
        """The budget of a call that brings none: this sender's limits, starting now."""
        return Budget.start(self.limits)

    def secrets(self, identity: RequestIdentity = ANONYMOUS) -> tuple[str, ...]:
        """Every secret a message about a call for ``identity`` must not show: the tokens
        the auth source gave lately, the identity's tokens, the roots' credentials."""
        held = tuple(s for c in self._credentials.values() for s in c.secrets())
        return (*self._recent, *identity.secrets(), *held)

    def _token(self, identity: RequestIdentity) -> str | None:
        if identity.token:
            return identity.token
        token = self.auth.token() if self.auth is not None else None
        if token and token not in self._recent:  # one tuple swap: safe across threads
            self._recent = (token, *self._recent)[:_RECENT_TOKENS]
        return token

    def _headers(self, request: Request, identity: RequestIdentity, root: str
                 ) -> list[tuple[str, str]]:
        headers = list(request.headers)
        token = self._token(identity)
        if token:
            headers.append((TOKEN_HEADER, token))
        headers.extend(identity.headers())
        credentials = self._credentials.get(root)
        if credentials is not None:
            headers.append(("authorization", credentials.authorization()))
        return headers

    def _policy(self, deadline: Deadline) -> dict[str, Any]:
        def wait(state: RetryCallState) -> float:  # never past the deadline
            seconds: float = self.backoff(state)
            left = deadline.remaining()
            return seconds if left is None else max(0.0, min(seconds, left))

        return {
            "stop": stop_after_attempt(self.num_retries + 1),
            "wait": wait,
            "retry": retry_if_exception_type(_Retry),
            "reraise": True,
            "before_sleep": self._log_retry,
        }

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        LOG.warning("image API attempt %d of %d failed (%s); trying %s",
                    state.attempt_number, self.num_retries + 1,
                    str(exc), self.current_root)  # a _Retry's detail is redacted already

    def _failed(self, request: Request, root: str, failure: Failure, detail: str,
                identity: RequestIdentity) -> _Retry:
        """The signal for a retryable failure; the next attempt goes to the next server."""
        self._advance()
        return _Retry(failure, root, redact(detail, self.secrets(identity)))

    def _not_replayed(self, request: Request, root: str, exc: Exception,
                      identity: RequestIdentity) -> ConnectionFailed:
        self._advance()
        detail = redact(str(exc), self.secrets(identity)) or type(exc).__name__
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

    def _build(self, client: httpx.Client | httpx.AsyncClient, ex: _Exchange,
               tried: list[str]) -> tuple[httpx.Request, Any, bool, str]:
        """One attempt's request on the current server, its body and whether it replays."""
        request, identity = ex.request, ex.identity
        ex.deadline.check(ex.doing, servers=tuple(dict.fromkeys(tried)),
                          image_id=request.image_id)
        root = self.current_root
        content, replayable = ex.body()
        tried.append(root)
        built = client.build_request(
            request.method, root + request.path, params=request.params,
            headers=self._headers(request, identity, root), content=content,
            timeout=httpx.Timeout(ex.deadline.cap(self._timeouts[0]),
                                  connect=ex.deadline.cap(self._timeouts[1])))
        url = str(built.url)
        long_secrets = [s for s in self.secrets(identity) if len(s) >= _MIN_URL_SECRET]
        if redact(url, long_secrets) != url:
            raise UnexpectedResponse(
                f"{ex.doing}: refused to send a URL holding a secret (a marker or link "
                "named by the server)", image_id=request.image_id)
        return built, content, replayable, root

    def _transport_failure(self, ex: _Exchange, root: str, exc: httpx.TransportError, *,
                           content: Any, replayable: bool) -> Exception:
        """What a broken attempt raises: the deadline's error once it passed, a retry
        signal, or the final error when the body may have reached the server and cannot
        be replayed."""
        request = ex.request
        if ex.deadline.expired():
            return ex.deadline.error(ex.doing, servers=(root,), image_id=request.image_id)
        failure = classify(exc)
        if isinstance(content, _Tracked) and content.started:
            failure = Failure.NO_ANSWER
        if may_retry(request, failure, body_replayable=replayable):
            return self._failed(request, root, failure, f"{type(exc).__name__}: {exc}",
                                ex.identity)
        return self._not_replayed(request, root, exc, ex.identity)

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
        scrub_error(error, self.secrets(identity))
        return tag_request_ids(error, identity.request_id,
                               response.headers.get(REQUEST_ID_HEADER))

    def _log(self, request: Request, root: str, response: httpx.Response,
             identity: RequestIdentity) -> None:
        LOG.debug("%s %s%s -> %d (request id %s, server request id %s)", request.method,
                  root, request.path, response.status_code, identity.request_id or "-",
                  redact(response.headers.get(REQUEST_ID_HEADER) or "-",
                         self.secrets(identity)))

    @staticmethod
    def _reader(response: httpx.Response, limit: str, budget: Budget) -> BodyReader:
        """The reader of a buffered answer: decoded, at most ``limit`` of ``budget``."""
        encoding = None if response.is_stream_consumed else response.headers.get(
            "content-encoding")
        reader = BodyReader(encoding, cap=getattr(budget.limits, limit), limit=limit,
                            status=response.status_code)
        reader.check_declared(response.headers.get("content-length"))
        return reader


class Transport(_Base):
    """Synchronous sender over one ``httpx.Client`` (one connection pool per client)."""

    def __init__(self, roots: Sequence[str], *, transport: httpx.BaseTransport | None = None,
                 **options: Unpack[SenderOptions]) -> None:
        super().__init__(roots, **options)
        self._client = httpx.Client(transport=transport, **self._client_options)
        install_deadlines(self._client)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _read(self, response: httpx.Response, limit: str, ex: _Exchange,
              deadline: Deadline) -> bytes:
        """A whole answer, decoded, within ``limit`` and ``deadline``; closed after."""
        try:
            reader = self._reader(response, limit, ex.budget)
            parts: list[bytes] = []
            for raw in _loaded(response) or response.iter_raw():
                parts.extend(reader.feed(raw))
                deadline.check(ex.doing)
            return b"".join(parts)
        finally:
            response.close()

    def _attempt(self, ex: _Exchange, tried: list[str]) -> tuple[httpx.Response, bytes]:
        """One try, in a slot of its own unless streamed (``open_stream`` holds one)."""
        built, content, replayable, root = self._build(self._client, ex, tried)
        if ex.read is not None:
            self._slots.take(ex.deadline, ex.doing)
        try:
            with current(ex.deadline):
                response = self._client.send(built, stream=True)
                if self._retry_status(ex.request, root, response, replayable, ex.identity):
                    data = self._read(response, "max_answer_bytes", ex, ex.deadline)
                    raise self._status_retry(ex.request, root, response, data, ex.identity)
                if ex.read is None:
                    return response, b""
                answer = ex.deadline.sooner(ex.budget.exchange())  # an upload's: fresh
                with current(answer):
                    return response, self._read(response, ex.read, ex, answer)
        except httpx.TransportError as exc:
            raise self._transport_failure(ex, root, exc, content=content,
                                          replayable=replayable) from exc
        finally:
            if ex.read is not None:
                self._slots.give()

    def _run(self, ex: _Exchange) -> tuple[httpx.Response, bytes]:
        tried: list[str] = []
        try:
            for attempt in Retrying(**self._policy(ex.deadline)):
                with attempt:
                    return self._attempt(ex, tried)
        except _Retry as last:
            raise self._exhausted(ex.request, tried, last, ex.identity) from last
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, request: Request, identity: RequestIdentity, budget: Budget | None = None,
             *, limit: str = "max_answer_bytes") -> Response:
        """Send a planned request with its buffered body; the answer's facts, its body at
        most ``limit`` (a :class:`Limits` field) of ``budget`` (default: this sender's)."""
        budget = budget or self.budget()
        response, data = self._run(_Exchange(request, _buffered(request), identity, budget,
                                             budget.exchange(), limit))
        return self._facts(response, data)

    def send_stream(self, request: Request, source: UploadSource,
                    identity: RequestIdentity, budget: Budget | None = None) -> Response:
        """Send a request whose body is streamed from an upload source."""
        budget = budget or Budget.start(self.limits, moves_data=True)
        response, data = self._run(_Exchange(
            _sized(request, source),
            lambda: (_Tracked(source.iter_chunks(), budget), source.rewindable),
            identity, budget, budget.deadline))
        return self._facts(response, data)

    @contextmanager
    def open_stream(self, request: Request, offset: int, identity: RequestIdentity,
                    budget: Budget | None = None) -> Iterator[HttpxByteStream]:
        """A streamed answer (a download); a status of 400 or more raises the typed error."""
        budget = budget or Budget.start(self.limits, moves_data=True)
        ex = _Exchange(request, _buffered(request), identity, budget, budget.exchange(), None)
        self._slots.take(ex.deadline, ex.doing)
        try:
            response, _ = self._run(ex)
        except BaseException:
            self._slots.give()
            raise
        try:
            if response.status_code >= 400:
                with current(ex.deadline):
                    body = self._read(response, "max_answer_bytes", ex, ex.deadline)
                raise self._status_error(request, response, body, identity)
            yield HttpxByteStream(response, offset, self.current_root, request.image_id,
                                  budget)
        finally:
            response.close()
            self._slots.give()


class AsyncTransport(_Base):
    """The asyncio twin of :class:`Transport` (``httpx.AsyncClient``)."""

    def __init__(self, roots: Sequence[str], *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 **options: Unpack[SenderOptions]) -> None:
        super().__init__(roots, **options)
        self._client = httpx.AsyncClient(transport=transport, **self._client_options)
        install_deadlines(self._client)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _read(self, response: httpx.Response, limit: str, ex: _Exchange,
                    deadline: Deadline) -> bytes:
        """A whole answer, decoded, within ``limit`` and ``deadline``; closed after."""
        try:
            reader = self._reader(response, limit, ex.budget)
            parts: list[bytes] = []
            for raw in _loaded(response):
                parts.extend(reader.feed(raw))
            async for raw in _unloaded(response):
                parts.extend(reader.feed(raw))
                deadline.check(ex.doing)
            return b"".join(parts)
        finally:
            await response.aclose()

    async def _attempt(self, ex: _Exchange, tried: list[str]
                       ) -> tuple[httpx.Response, bytes]:
        """One try, in a slot of its own unless streamed (``open_stream`` holds one)."""
        built, content, replayable, root = self._build(self._client, ex, tried)
        slot = await self._slots.atake(ex.deadline, ex.doing) if ex.read is not None else None
        try:
            with current(ex.deadline):
                response = await self._client.send(built, stream=True)
                if self._retry_status(ex.request, root, response, replayable, ex.identity):
                    data = await self._read(response, "max_answer_bytes", ex, ex.deadline)
                    raise self._status_retry(ex.request, root, response, data, ex.identity)
                if ex.read is None:
                    return response, b""
                answer = ex.deadline.sooner(ex.budget.exchange())
                with current(answer):
                    return response, await self._read(response, ex.read, ex, answer)
        except httpx.TransportError as exc:
            raise self._transport_failure(ex, root, exc, content=content,
                                          replayable=replayable) from exc
        finally:
            if slot is not None:
                self._slots.agive(slot)

    async def _run(self, ex: _Exchange) -> tuple[httpx.Response, bytes]:
        tried: list[str] = []
        try:
            async for attempt in AsyncRetrying(**self._policy(ex.deadline)):
                with attempt:
                    return await self._attempt(ex, tried)
        except _Retry as last:
            raise self._exhausted(ex.request, tried, last, ex.identity) from last
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(self, request: Request, identity: RequestIdentity,
                   budget: Budget | None = None, *, limit: str = "max_answer_bytes"
                   ) -> Response:
        """Send a planned request with its buffered body; the answer's facts (see
        :meth:`Transport.send`)."""
        budget = budget or self.budget()
        response, data = await self._run(_Exchange(request, _buffered(request), identity,
                                                   budget, budget.exchange(), limit))
        return self._facts(response, data)

    async def send_stream(self, request: Request, source: UploadSource,
                          identity: RequestIdentity, budget: Budget | None = None
                          ) -> Response:
        """Send a request whose body is streamed from an upload source."""
        budget = budget or Budget.start(self.limits, moves_data=True)
        response, data = await self._run(_Exchange(
            _sized(request, source),
            lambda: (_ATracked(source.aiter_chunks(), budget), source.rewindable),
            identity, budget, budget.deadline))
        return self._facts(response, data)

    @asynccontextmanager
    async def open_stream(self, request: Request, offset: int, identity: RequestIdentity,
                          budget: Budget | None = None) -> AsyncIterator[HttpxByteStream]:
        """A streamed answer (a download); a status of 400 or more raises the typed error."""
        budget = budget or Budget.start(self.limits, moves_data=True)
        ex = _Exchange(request, _buffered(request), identity, budget, budget.exchange(), None)
        slot = await self._slots.atake(ex.deadline, ex.doing)
        try:
            response, _ = await self._run(ex)
        except BaseException:
            self._slots.agive(slot)
            raise
        try:
            if response.status_code >= 400:
                with current(ex.deadline):
                    body = await self._read(response, "max_answer_bytes", ex, ex.deadline)
                raise self._status_error(request, response, body, identity)
            yield HttpxByteStream(response, offset, self.current_root, request.image_id,
                                  budget)
        finally:
            await response.aclose()
            self._slots.agive(slot)
