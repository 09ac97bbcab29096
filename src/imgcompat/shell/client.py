"""``ImageClient``: the synchronous seam client, a thin loop over :mod:`imgcompat.core.plan`.

The plan decides every request and judges every answer; this class sends the requests
(:class:`~imgcompat.shell.transport.Transport`), streams the bytes
(:mod:`imgcompat.shell.download`, :mod:`imgcompat.shell.upload`) and
keeps the per-client state: the discovery cache, the v1 warning, the loss callback. The
state shared with :class:`~imgcompat.shell.aclient.AsyncImageClient` lives in
:class:`ClientState`, so the two clients differ only in how they move bytes.

Every call runs inside :meth:`ClientViews._guard`, the one place an error leaves the
client: it is tagged with the request ids and scrubbed of every secret the client holds
(:func:`~imgcompat.core.redaction.scrub_error`), whichever layer raised it. Each call gets a
:class:`~imgcompat.shell.bounds.Budget` from the view's :class:`Limits`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, Generic, Protocol, Self, TypedDict, TypeVar, Unpack

import attrs
import httpx
from tenacity.wait import wait_base

from imgcompat.core import plan
from imgcompat.core.discovery import Endpoint, VersionChoice, choose_version, normalize_endpoint
from imgcompat.core.download import DownloadOptions, DownloadPolicy, Progress, Verification
from imgcompat.core.enums import Api, ContainerFormat, DiskFormat
from imgcompat.core.errors import (
    ImgcompatError,
    InvalidRecord,
    UnexpectedResponse,
    tag_request_ids,
)
from imgcompat.core.exchange import PARSER_FAILURES
from imgcompat.core.identity import ANONYMOUS, REQUEST_ID_HEADER, RequestIdentity
from imgcompat.core.integrity import Expected, Verified
from imgcompat.core.limits import Limits
from imgcompat.core.listing import ListingOptions, OpenPage
from imgcompat.core.model import Image, Loss
from imgcompat.core.plan import SnapshotOptions
from imgcompat.core.redaction import redact, scrub_error
from imgcompat.shell.auth import Auth, make_auth
from imgcompat.shell.bounds import Budget
from imgcompat.shell.config import ClientConfig, from_env, parse_version
from imgcompat.shell.download import download
from imgcompat.shell.listing import FetchAhead, Listing
from imgcompat.shell.transport import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_CONNECTIONS,
    SenderOptions,
    Transport,
)
from imgcompat.shell.upload import UploadSource, check_uploaded, upload_source

LOG = logging.getLogger("imgcompat")
T = TypeVar("T")
LossCallback = Callable[[Sequence[Loss]], None]


def log_losses(losses: Sequence[Loss]) -> None:
    """The default ``on_loss``: one warning per loss, nothing dropped silently."""
    for loss in losses:
        LOG.warning("image record translation: %s", loss)


class ClientState:
    """What every view of one client shares: configuration, discovery cache, warnings.

    A pinned view (:meth:`ImageClient.pinned`) holds the same state object, so it reuses
    the connection pool and the versions document and does not warn twice.
    """

    def __init__(self, config: ClientConfig, on_loss: LossCallback | None) -> None:
        self.config = config
        self.endpoints: tuple[Endpoint, ...] = tuple(
            normalize_endpoint(s) for s in config.api_servers)
        self.auth: Auth | None = make_auth(config.token, config.session)
        self.on_loss: LossCallback = on_loss or log_losses
        self.versions: Mapping[str, Any] | None = None
        self.choices: dict[Api | None, VersionChoice] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        for endpoint in self.endpoints:
            if endpoint.warning:
                self.warn_once(endpoint.warning)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(e.root for e in self.endpoints)

    def warn_once(self, message: str, secrets: Sequence[str] = ()) -> None:
        """Log ``message`` (without ``secrets``) unless it was logged already."""
        message = redact(message, secrets)
        with self._lock:
            if message in self._warned:
                return
            self._warned.add(message)
        LOG.warning("%s", message)

    def cached_choice(self, pin: Api | None) -> VersionChoice | None:
        choice = self.choices.get(pin)
        if choice is None and self.versions is not None:
            choice = self.remember(self.versions, choose_version(
                self.versions, pin, endpoint=self.endpoints[0].root), pin)
        return choice

    def remember(self, versions: Mapping[str, Any], choice: VersionChoice,
                 pin: Api | None, secrets: Sequence[str] = ()) -> VersionChoice:
        self.versions = versions
        self.choices[pin] = choice
        for warning in choice.warnings:  # v1: one deprecation warning per client
            self.warn_once(warning, secrets)
        return choice

    def report(self, losses: Sequence[Loss], secrets: Sequence[str] = ()) -> None:
        """Hand ``losses`` to ``on_loss``, their reasons without ``secrets``."""
        if losses:
            self.on_loss(tuple(attrs.evolve(loss, reason=redact(loss.reason, secrets))
                               for loss in losses))


def response_of(outcome: object) -> plan.Response | None:
    """The server's answer inside a step's outcome, if it holds one."""
    if isinstance(outcome, plan.Response):
        return outcome
    if isinstance(outcome, plan.Uploaded):
        return outcome.response
    return None


def snapshot_record(name: str, instance_uuid: str, options: SnapshotOptions) -> Image:
    """The snapshot record both clients create: raw/bare data unless the caller says."""
    details: SnapshotOptions = {"disk_format": DiskFormat.RAW,
                                     "container_format": ContainerFormat.BARE, **options}
    return plan.snapshot_image(name, instance_uuid, **details)


class OpRun(Generic[T]):
    """One operation being run by a client's loop: what both loops share (they differ only
    in awaiting the step). It sends each outcome into the generator, or throws the failure
    in, keeps the last server answer seen, and tags an error leaving the operation with
    the view's request id and that answer's."""

    step: plan.Step  #: the step to perform next (unset once done)

    def __init__(self, views: ClientViews, op: plan.Op[T]) -> None:
        self._views = views
        self._op = op
        self._last: plan.Response | None = None
        self._result: T | None = None
        self.done = False
        self._advance(lambda: next(op))

    def _advance(self, move: Callable[[], plan.Step]) -> None:
        try:
            self.step = move()
        except StopIteration as stop:
            self.done, self._result = True, stop.value
        except ImgcompatError as exc:
            self._views._tagged(exc, self._last)
            raise

    def succeeded(self, outcome: Any) -> None:
        """The step was performed: its outcome goes back into the operation."""
        self._last = response_of(outcome) or self._last
        self._advance(lambda: self._op.send(outcome))

    def failed(self, exc: Exception) -> None:
        """The step failed: the operation may clean up (a snapshot deletes its record)."""
        self._advance(lambda: self._op.throw(exc))

    def value(self) -> T:
        """The operation's result, once it is done."""
        return self._result  # type: ignore[return-value]  # set by StopIteration


class _Keep:
    """The default of a :meth:`ClientViews.for_request` argument that was not named."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


class ClientOptions(TypedDict, total=False):
    """The keyword options both clients take, documented once.

    ``num_retries``: further attempts after a failed one, each on the next API server
    (default 3). ``version``: pin an API major (``"1"``/``"2"``; default: discover, v2
    preferred). ``token``: a token, or a callable returning the current one. ``session``: a
    keystoneauth1 session (tokens and re-auth come from it). ``verify``: TLS verification,
    or a CA bundle path. ``timeout`` / ``connect_timeout``: seconds per read / connect.
    ``on_loss``: called with what a write could not carry (default: one warning per loss).
    ``backoff``: a tenacity wait between attempts (tests pass ``tenacity.wait_none()``).
    ``limits``: the safety limits (:class:`~imgcompat.core.limits.Limits`: answer sizes,
    pages, deadlines, download progress); :meth:`ClientViews.with_limits` changes them for
    the calls of one view. ``max_connections``: the connection pool's size, and how many
    requests are in flight at once (default 100); more calls than that wait their turn.
    """

    num_retries: int
    version: Api | str | None
    token: str | Callable[[], str | None] | None
    session: Any
    verify: bool | str
    timeout: float
    connect_timeout: float
    on_loss: LossCallback | None
    backoff: wait_base
    limits: Limits
    max_connections: int


def build_state(api_servers: str | Sequence[str], options: ClientOptions
                ) -> tuple[ClientState, SenderOptions]:
    """The shared state of a new client, and what its sender is built with."""
    token = options.get("token")
    config = ClientConfig(
        api_servers=api_servers,  # the converter normalises
        num_retries=options.get("num_retries", 3), version=options.get("version"),
        token=token if isinstance(token, str) else None, session=options.get("session"),
        verify=options.get("verify", True), timeout=options.get("timeout", 60.0),
        connect_timeout=options.get("connect_timeout", 10.0),
        limits=options.get("limits", Limits()))
    state = ClientState(config, options.get("on_loss"))
    if token is not None and not isinstance(token, str):
        state.auth = make_auth(token)
    sender: SenderOptions = {
        "auth": state.auth, "num_retries": config.num_retries,
        "backoff": options.get("backoff", DEFAULT_BACKOFF), "verify": config.verify,
        "timeout": config.timeout, "connect_timeout": config.connect_timeout,
        "limits": config.limits,
        "credentials": {e.root: e.credentials for e in state.endpoints if e.credentials},
        "max_connections": options.get("max_connections", DEFAULT_MAX_CONNECTIONS)}
    return state, sender


def _raised_in_core(exc: BaseException) -> bool:
    """Whether ``exc`` came out of :mod:`imgcompat.core` (its innermost frame is there)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith("imgcompat.core.")


class Sender(Protocol):
    """What the views need of either client's sender."""

    def secrets(self, identity: RequestIdentity = ...) -> tuple[str, ...]:
        """Every secret a message about a call for ``identity`` must not show."""
        ...


class ClientViews:
    """What the sync and async clients share beyond the plans: construction from the
    environment, views (pinned, per request, with other limits), the repr, naming a
    v1-pinning caller in a warning, and the one exit of every error (:meth:`_guard`)."""

    _state: ClientState
    _pin: Api | None
    _caller: str | None = None
    _identity: RequestIdentity = ANONYMOUS
    _limits: Limits
    _transport: Sender

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Self:
        """A client from ``OS_*`` variables (:mod:`imgcompat.shell.config`); ``options`` win."""
        config = from_env(environ)
        kwargs: dict[str, Any] = {
            "num_retries": config.num_retries, "version": config.version,
            "token": config.token, "session": config.session, "verify": config.verify,
            "timeout": config.timeout, "connect_timeout": config.connect_timeout,
            "limits": config.limits}
        kwargs.update(options)
        return cls(config.api_servers, **kwargs)  # type: ignore[call-arg]  # a subclass __init__

    def pinned(self, version: Api | str | int | None, *, caller: str | None = None) -> Self:
        """A view of this client speaking ``version`` (``None``: discover): same pool,
        same discovery cache. The per-call-site pin of a driver that cannot use v2 yet;
        ``caller`` names it in the deprecation warning when the pin is v1."""
        return self._view(_pin=parse_version(version), _caller=caller)

    def for_request(
        self,
        token: str | _Keep | None = KEEP,
        *,
        service_token: str | _Keep | None = KEEP,
        request_id: str | _Keep | None = KEEP,
    ) -> Self:
        """A view acting for one incoming request: every request it sends carries this
        ``token`` (``X-Auth-Token``; the client's own auth when None), ``service_token``
        (``X-Service-Token``, so a long upload survives the user's token expiring) and
        ``request_id`` (``X-OpenStack-Request-ID``, ``req-<uuid>``, so the two services'
        logs join). Cheap (no I/O), thread- and task-safe: it shares the pool, the
        discovery cache, the retry policy and :meth:`pinned` with its client. A view of a
        view replaces what it names and keeps the rest. Malformed values raise
        :class:`~imgcompat.core.errors.InvalidRecord` here, before anything is sent."""
        named = {name: value for name, value in (
            ("token", token), ("service_token", service_token), ("request_id", request_id))
            if not isinstance(value, _Keep)}
        return self._view(_identity=attrs.evolve(self._identity, **named))

    def with_limits(self, limits: Limits | None = None, **changes: Any) -> Self:
        """A view whose calls keep ``limits`` (default: this view's) with ``changes``
        applied, e.g. ``client.with_limits(deadline=5).show(image_id)``. Cheap (no I/O),
        sharing the pool and discovery cache like :meth:`for_request`; an unknown or
        invalid limit raises :class:`~imgcompat.core.errors.InvalidRecord` here."""
        unknown = sorted(set(changes) - set(attrs.fields_dict(Limits)))
        if unknown:
            raise InvalidRecord(f"no such limit: {', '.join(unknown)}", field="limits")
        return self._view(_limits=attrs.evolve(limits or self._limits, **changes))

    @property
    def limits(self) -> Limits:
        """The limits this view's calls keep."""
        return self._limits

    def _view(self, **changes: Any) -> Self:
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.__dict__.update(changes)
        return view

    def _secrets(self) -> tuple[str, ...]:
        """Every secret a message about this view's calls must not show."""
        return self._transport.secrets(self._identity)

    def _budget(self, *, moves_data: bool = False) -> Budget:
        """What a call starting now may spend."""
        return Budget.start(self._limits, moves_data=moves_data)

    def _download_setup(self, choice: VersionChoice, image_id: str, image: Image, *,
                        progress: Progress | None, policy: DownloadPolicy, budget: Budget
                        ) -> tuple[Expected, DownloadOptions, Callable[[int], Any]]:
        """What a download needs beyond its destination: the digests to expect (from the
        record, refused when it has no data yet), the options, and how to open the bytes
        at an offset (``Range`` on v2) with this view's identity, within the call's budget."""
        image = plan.check_downloadable(image)
        expected = Expected.from_image(image, image_id=image_id)
        options = DownloadOptions(image_id=image_id, progress=progress,
                                  resumable=plan.resumable(choice), **policy)
        transport: Any = getattr(self, "_transport")  # noqa: B009  # each client's own kind

        def open_stream(offset: int) -> Any:
            return transport.open_stream(plan.download_request(choice, image_id, offset),
                                         offset, self._identity, budget)

        return expected, options, open_stream

    def _upload_source(self, step: plan.Upload) -> UploadSource:
        """What an upload step streams, hashing the digests its plan chose."""
        return upload_source(step.data, step.size, digests=step.digests)

    def _check_upload(self, step: plan.CheckUpload) -> Verified:
        """The server's record held to what was sent (a difference raises). An upload
        nothing could verify is never silent: one warning names the image and says why,
        its reasons (which quote the server) without any secret the caller holds."""
        secrets = self._secrets()
        result = check_uploaded(step.source, step.image).redacted(secrets)
        if not result.verified:
            LOG.warning("image %s: uploaded but %s", step.image.id or "?",
                        redact(result.reason, secrets))
        return result

    def _tagged(self, error: ImgcompatError, last: plan.Response | None) -> ImgcompatError:
        """An error leaving an operation names this view's request id and the server's,
        and shows no secret (the one redaction point of every error a caller sees)."""
        theirs = last.header(REQUEST_ID_HEADER) if last is not None else None
        tag_request_ids(error, self._identity.request_id, theirs)
        scrub_error(error, self._secrets())
        return error

    def _read_page(self, page: OpenPage) -> tuple[tuple[Image, ...], plan.Pager]:
        """A page's records and the pager after it; its errors name the answer's ids."""
        try:
            return page.read()
        except ImgcompatError as exc:
            self._tagged(exc, page.response)
            raise

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Every call runs in here: an error leaves it through :meth:`_tagged`.

        It is also the last boundary of the server's answers: what a parser raised on one
        (:data:`~imgcompat.core.exchange.PARSER_FAILURES`) from inside the pure core, where
        the caller's own values raise :class:`InvalidRecord` and only a server's can crash
        a parser, leaves as :class:`UnexpectedResponse`; the ``from_server`` blocks of the
        core catch it first wherever they can.
        """
        try:
            yield
        except ImgcompatError as exc:
            self._tagged(exc, None)
            raise
        except PARSER_FAILURES as exc:
            if not _raised_in_core(exc):
                raise
            error = UnexpectedResponse(
                f"the server's answer cannot be read ({type(exc).__name__})")
            raise self._tagged(error, None) from exc

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(api_servers={list(self._state.roots)!r}, "
                f"version={self._pin.value if self._pin else None!r}, "
                f"auth={self._state.auth!r})")

    @property
    def version_choice(self) -> VersionChoice | None:
        """The API this view speaks, once discovered (None before the first call)."""
        return self._state.cached_choice(self._pin)

    def _speaking(self, choice: VersionChoice) -> VersionChoice:
        if choice.api is Api.V1 and self._caller:
            self._state.warn_once(
                f"{self._caller} pins the deprecated Glance v1 API at {choice.root_url}; "
                "it must move to v2 before v1 is gone", self._secrets())
        return choice


class ImageClient(ClientViews):
    """The image seam over Glance v1, v2 or both (``seam-contract.md``).

    ``transport`` injects an httpx transport (tests: ``emulator.sync_transport()``);
    ``api_servers`` still gives the URLs. ``backoff`` is a tenacity wait (tests pass
    ``tenacity.wait_none()``).
    """

    _transport: Transport

    def __init__(self, api_servers: str | Sequence[str], *,
                 transport: httpx.BaseTransport | None = None,
                 **options: Unpack[ClientOptions]) -> None:
        """A client of the API servers ``api_servers`` (one URL, several, or a
        comma-separated text); see :class:`ClientOptions` for ``options``."""
        self._state, sender = build_state(api_servers, options)
        self._pin: Api | None = self._state.config.version
        self._limits = self._state.config.limits
        self._transport = Transport(self._state.roots, transport=transport, **sender)

    # ------------------------------------------------------------------ the loop

    def discover(self) -> VersionChoice:
        """The API this view speaks: discovered once per client, then cached."""
        with self._guard():
            return self._discover(self._budget())

    def _discover(self, budget: Budget) -> VersionChoice:
        cached = self._state.cached_choice(self._pin)
        if cached is not None:
            return self._speaking(cached)
        response = self._transport.send(plan.discovery_request(), self._identity, budget,
                                        limit="max_versions_bytes")
        versions, choice = plan.judge_versions(response, self._pin,
                                               endpoint=self._state.endpoints[0].root)
        return self._speaking(self._state.remember(versions, choice, self._pin,
                                                   self._secrets()))

    def _perform(self, step: plan.Step, budget: Budget) -> Any:
        if isinstance(step, plan.Request):
            return self._transport.send(step, self._identity, budget)
        if isinstance(step, plan.Upload):
            source = self._upload_source(step)
            return plan.Uploaded(self._transport.send_stream(step.request, source,
                                                             self._identity, budget), source)
        if isinstance(step, plan.CheckUpload):
            return self._check_upload(step)
        self._state.report(step.losses, self._secrets())
        return None

    def _run(self, op: plan.Op[T], budget: Budget) -> T:
        run = OpRun(self, op)
        while not run.done:
            try:
                outcome = self._perform(run.step, budget)
            except Exception as exc:
                run.failed(exc)
            else:
                run.succeeded(outcome)
        return run.value()

    def _call(self, make: Callable[[VersionChoice], plan.Op[T]], *,
              moves_data: bool = False) -> T:
        """One seam call: discover, then run the operation, within one budget."""
        with self._guard():
            budget = self._budget(moves_data=moves_data)
            return self._run(make(self._discover(budget)), budget)

    # ------------------------------------------------------------------ the seam

    def show(self, image_id: str, include_locations: bool = False,
             show_deleted: bool = True) -> Image:
        """The seam record of one image (``ImageNotFound`` if absent; a deleted one too
        when ``show_deleted`` is false). Locations are stripped unless asked for: they can
        hold credentials of the store."""
        return self._call(lambda choice: plan.show_op(
            choice, image_id, include_locations=include_locations, show_deleted=show_deleted))

    def detail(self, filters: Mapping[str, Any] | None = None,
               **options: Unpack[ListingOptions]) -> Listing:
        """Every matching record, fetched page by page as the caller iterates; filters
        as the classic seam takes them, paging as :class:`ListingOptions` says. Each page
        is a call of its own (its own deadline); ``max_pages`` bounds them all."""
        with self._guard():
            pager = plan.start_listing(self._discover(self._budget()), filters,
                                       max_pages=self._limits.max_pages, **options)
            self._state.report(pager.losses, self._secrets())
        return Listing(self._pages(pager), pager.losses)

    def _pages(self, pager: plan.Pager) -> Generator[Image, None, None]:
        """The pages in turn, the next one fetched while this one is read (:mod:`.listing`)."""
        ahead = FetchAhead(lambda request: self._transport.send(request, self._identity,
                                                                 self._budget()))
        try:
            while True:
                with self._guard():
                    request = pager.request()
                    if request is None:
                        return
                    response = ahead.take(request) or self._transport.send(
                        request, self._identity, self._budget())
                    page = pager.open(response)
                    ahead.fetch(page.ahead)
                    images, pager = self._read_page(page)
                yield from images
        finally:
            ahead.close()

    def create(self, image: Image | Mapping[str, Any], data: Any = None, *, size: int | None = None,
               activate_empty: bool = True,
               verification: Verification = Verification.STRONGEST) -> Image:
        """A new image; with data, uploaded and active; ``size == 0`` without data ends
        active too unless ``activate_empty=False`` (a queued reservation).

        ``verification``: which digests the upload computes and compares with the
        server's record, as for :meth:`download`: the strongest the API publishes by
        default (sha512 on v2, md5 on v1), every one with ``Verification.ALL`` (md5 and
        sha512 on v2). An upload nothing could verify (the record publishes none of them)
        is logged as a warning naming the image; a difference raises
        :class:`~imgcompat.core.errors.ChecksumMismatch`."""
        return self._call(lambda choice: plan.create_op(
            choice, image, data, size=size, activate_empty=activate_empty,
            verification=verification), moves_data=data is not None)

    def update(self, image_id: str, image: Image | Mapping[str, Any], data: Any = None,
               purge_props: bool = True, *, size: int | None = None,
               current: Image | Mapping[str, Any] | None = None,
               verification: Verification = Verification.STRONGEST) -> Image:
        """Change the record to ``image`` with the minimal request (v2 JSON patch, v1
        headers); ``purge_props`` removes properties ``image`` lacks; with ``data``, upload
        it afterwards. The record after the change. ``current``: the record the caller
        holds (from show, create or the last update): the change is computed against it
        without reading the image first (one request on v2); a stale view that the server
        refuses (409) is read again once and the change retried
        (:func:`~imgcompat.core.plan.update_op` says what stale means on v1).
        ``verification``: the digests the upload of ``data`` computes, as for
        :meth:`create`."""
        return self._call(lambda choice: plan.update_op(
            choice, image_id, image, data, size=size, purge_props=purge_props,
            current=current, verification=verification), moves_data=data is not None)

    def delete(self, image_id: str) -> None:
        """Delete the image (``ImageNotFound`` if it does not exist)."""
        self._call(lambda choice: plan.delete_op(choice, image_id))

    def upload(self, image_id: str, data: Any, size: int | None = None, *,
               verification: Verification = Verification.STRONGEST) -> Image:
        """Stream data into a queued image; the record after, checked against the bytes
        (the digests ``verification`` chooses, as for :meth:`create`)."""
        return self._call(lambda choice: plan.upload_op(
            choice, image_id, data, size, verification=verification), moves_data=True)

    def snapshot(self, name: str, instance_uuid: str, *, data: Any = None,
                 size: int | None = None,
                 verification: Verification = Verification.STRONGEST,
                 **options: Unpack[SnapshotOptions]) -> Image:
        """Create the private snapshot record and upload; a failed upload deletes it.
        The record's details are :class:`SnapshotOptions` (raw/bare unless given);
        ``verification``: the digests the upload computes, as for :meth:`create`."""
        record = snapshot_record(name, instance_uuid, options)
        return self._call(lambda choice: plan.snapshot_op(
            choice, record, data, size=size, verification=verification),
            moves_data=data is not None)

    def download(
        self,
        image_id: str,
        dst_path: str | os.PathLike[str] | None = None,
        data: IO[bytes] | None = None,
        progress: Progress | None = None,
        **policy: Unpack[DownloadPolicy],
    ) -> Verified | Iterator[bytes]:
        """Verified bytes: into ``dst_path`` (atomically), into ``data``, or as an iterator.

        ``policy``: which digests are computed (the strongest published, by default),
        whether a download nothing can verify is refused (not by default: it is logged), and
        the most bytes accepted (:class:`~imgcompat.core.download.DownloadPolicy`).
        """
        with self._guard():
            budget = self._budget(moves_data=True)
            choice = self._discover(budget)
            image = self._run(plan.show_op(choice, image_id), budget)
            expected, options, open_stream = self._download_setup(
                choice, image_id, image, progress=progress, policy=policy, budget=budget)
            into = dst_path if dst_path is not None else data
            result = download(open_stream, expected, into=into, options=options,
                              secrets=self._secrets())
        return result if isinstance(result, Verified) else self._guarded(result)

    def _guarded(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """``chunks`` with every error leaving through :meth:`_guard`."""
        with contextlib.closing(chunks):  # type: ignore[type-var]  # a generator
            while True:
                with self._guard():
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield chunk

    def close(self) -> None:
        """Close the connection pool (pinned views share it: close the client once)."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
