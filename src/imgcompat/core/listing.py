"""A ``detail`` listing as a sequence of pages: where it stands, and the next request.

The pager is written once; its dialect says the path, the page sizes to ask and how a page
tells whether more follow (see :mod:`imgcompat.core.dialect`). How large a page to ask for
is :class:`Paging`'s business: a listing costs one request per page, so it asks for the
largest page Glance serves unless the caller chose a size.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, Unpack

import attrs

from imgcompat.core.dialect import Dialect, Frame, Page, dialect_for
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.errors import ImgcompatError, InvalidRecord, PagingLoop, TooManyPages
from imgcompat.core.exchange import (
    Pairs,
    Request,
    Response,
    answer_object,
    check_image_id,
    from_server,
    judge,
    without_locations,
)
from imgcompat.core.limits import DEFAULT_LIMITS
from imgcompat.core.model import Image, Loss
from imgcompat.core.query import filters_for, is_paging_key


@attrs.frozen
class Paging:
    """How many records each request of a listing asks for, and what the server has shown.

    Without a caller's ``page_size`` the listing asks for Glance's ``api_limit_max`` (which
    Glance caps a larger ``limit`` at) and, when a deployment refuses the first request with
    a 400 instead, walks down ``fallbacks`` (from the dialect); once a page has come back a
    400 is about something else and is the caller's to see. A caller's size is kept: its 400
    is the caller's, and only a v1 server shown to serve fewer (below) makes it smaller.

    ``served`` is the longest page the server has returned. A v1 page shorter than asked is
    the end only when the server has already served pages at least as long as the one asked;
    before that, the server may have capped it silently, so the next request asks for the
    size it got (:meth:`after`): a listing that did end costs one more request, an empty
    page, and a capped one never ends early.
    """

    size: int | None
    fallbacks: tuple[int | None, ...] = ()
    served: int = 0

    @classmethod
    def start(cls, dialect: Dialect, page_size: int | None) -> Paging:
        """The paging of a new listing: the caller's size, else the dialect's ladder."""
        if page_size is not None:
            return cls(page_size)
        first, *rest = dialect.large_page_sizes
        return cls(first, (*rest, dialect.default_page_size))

    def limit(self, remaining: int | None) -> int | None:
        """The ``limit`` to send when ``remaining`` records are still wanted (None: all);
        None when the size is the server's own default (the pager drops what is not
        wanted)."""
        if self.size is None or remaining is None:
            return self.size
        return min(self.size, remaining)

    def refused(self, remaining: int | None) -> Paging | None:
        """The paging to ask with after a 400 to the request this one sent, or None when
        the 400 cannot be about the page size: a page was served already, or no smaller
        size is left to try (a server refusing a size refuses every larger one)."""
        asked = self.limit(remaining)
        if self.served or asked is None:
            return None
        for index, size in enumerate(self.fallbacks):
            smaller = attrs.evolve(self, size=size, fallbacks=self.fallbacks[index + 1:])
            limit = smaller.limit(remaining)
            if limit is None or limit < asked:
                return smaller
        return None

    def after(self, asked: int | None, page: Page | Frame) -> tuple[Paging, bool]:
        """The paging once ``page`` (an answer to ``limit=asked``) is read, and whether
        another page is to be asked for."""
        seen = attrs.evolve(self, served=max(self.served, page.count))
        if page.maybe_capped and asked is not None and asked > self.served:
            return attrs.evolve(seen, size=page.count), True
        return seen, page.more


def _paging_of(pager: Pager) -> Paging:
    return Paging.start(pager.dialect, pager.page_size)


@attrs.frozen
class Pager:
    """Where a listing stands: the next request to send, or None when it is over.

    v2 continues while the answer has a ``next`` link (its marker is taken, the caller's
    own parameters are re-sent: the link loses a path prefix and repeated parameters);
    v1 continues while a page comes back full (or may have been capped: :class:`Paging`
    asks once more). ``remaining`` is the caller's total limit;
    ``paging`` the page size asked (:class:`Paging`, from ``page_size``, the caller's).

    A server cannot keep a listing going for ever: a marker the server names must be an
    image id, the marker just used ends the listing, one used before raises
    :class:`~imgcompat.core.errors.PagingLoop` (an A→B→A cycle), and more than
    ``max_pages`` pages raise :class:`~imgcompat.core.errors.TooManyPages` (a fresh marker
    every page, or a v1 server whose pages are always full). ``seen`` holds every marker
    sent so far (at most ``max_pages`` ids).
    """

    choice: VersionChoice
    params: Pairs
    marker: str | None = None
    page_size: int | None = None
    remaining: int | None = None
    strictly_after: datetime | None = None
    losses: tuple[Loss, ...] = ()
    done: bool = False
    paging: Paging = attrs.field(default=attrs.Factory(_paging_of, takes_self=True))
    max_pages: int = DEFAULT_LIMITS.max_pages
    pages: int = 0
    seen: frozenset[str] = frozenset()

    @property
    def dialect(self) -> Dialect:
        """The dialect of the API this listing speaks."""
        return dialect_for(self.choice)

    def request(self) -> Request | None:
        """The next page's request, or None when the listing is over."""
        if self.done or self.remaining == 0:
            return None
        if self.pages >= self.max_pages:
            raise TooManyPages(f"the listing still had more after {self.pages} pages",
                               limit="max_pages", value=self.max_pages)
        params = list(self.params)
        limit = self._limit()
        if limit is not None:
            params.append(("limit", str(limit)))
        if self.marker is not None:
            params.append(("marker", self.marker))
        return Request("GET", self.dialect.list_path, params=tuple(params))

    def _limit(self) -> int | None:
        return self.paging.limit(self.remaining)

    def feed(self, response: Response) -> tuple[tuple[Image, ...], Pager]:
        """The records of one page (filtered, capped) and the pager for the next one."""
        return self.open(response).read()

    def open(self, response: Response) -> OpenPage:
        """One answer decoded, its records not read yet (:class:`OpenPage`): what a shell
        that fetches the next page while it reads this one asks first."""
        doc = None
        if response.status == 200 and self.request() is not None:
            try:
                doc = answer_object(response, None)
            except ImgcompatError:
                doc = None  # ``read`` decodes it again and says what is wrong
        return OpenPage(self, response, doc)

    def _next(self, response: Response, doc: Mapping[str, Any] | None
              ) -> tuple[tuple[Image, ...], Pager]:
        request = self.request()
        if request is None:
            return (), self
        smaller = self.paging.refused(self.remaining) if response.status == 400 else None
        if smaller is not None:  # the same page again, asking for fewer records
            return (), attrs.evolve(self, paging=smaller)
        judge(request, response)
        with from_server(None, response.status):
            page = (self.dialect.read_page(response, self._limit()) if doc is None
                    else self.dialect.read_document(doc, self._limit()))
            marker = page.marker
            if marker is None and page.images:
                marker = page.images[-1].id
        paging, more = self.paging.after(self._limit(), page)
        if marker is not None and more:
            with from_server(None, response.status):
                check_image_id(marker)
        if marker is None or marker == self.marker:
            more = False
        seen = self.seen
        if more and marker is not None:
            if marker in seen:
                raise PagingLoop(f"the next page starts after {marker} again: the listing "
                                 "goes round in a loop", status=response.status)
            seen = seen | {marker}
        kept = tuple(without_locations(i) for i in page.images if self._keeps(i))
        remaining = self.remaining
        if remaining is not None:
            kept = kept[:remaining]
            remaining -= len(kept)
        return kept, attrs.evolve(self, marker=marker, remaining=remaining, done=not more,
                                  paging=paging, pages=self.pages + 1, seen=seen)

    def _ahead(self, doc: Mapping[str, Any]) -> Request | None:
        """The request :meth:`feed` will most likely ask next, from the page's framing
        alone; None when that cannot be known before the records are read (a ``limit``
        counts the records kept) or the listing seems to end."""
        if self.remaining is not None:
            return None
        frame = self.dialect.frame(doc, self._limit())
        if frame is None or frame.marker is None or frame.marker in self.seen:
            return None
        paging, more = self.paging.after(self._limit(), frame)
        if not more or frame.marker == self.marker:
            return None
        try:
            check_image_id(frame.marker)
            return attrs.evolve(self, marker=frame.marker, paging=paging,
                                pages=self.pages + 1).request()
        except ImgcompatError:
            return None

    def _keeps(self, image: Image) -> bool:
        after = self.strictly_after
        return after is None or image.updated_at is None or image.updated_at > after


@attrs.frozen
class OpenPage:
    """A listing answer decoded, its records not read yet.

    :attr:`ahead` is the request that will most likely follow, known from the page's
    framing (the ``next`` link, the page's size, its last id): a shell may send it while
    :meth:`read` reads the records, so the server prepares page N+1 while the client reads
    page N. It is a guess, never a verdict: :meth:`read` is the pager's authority, and a
    fetched-ahead answer is used only when the pager it returns asks for that very request.
    """

    pager: Pager
    response: Response
    doc: Mapping[str, Any] | None

    @property
    def ahead(self) -> Request | None:
        """The next page's request, when the framing tells it (None otherwise)."""
        return None if self.doc is None else self.pager._ahead(self.doc)

    def read(self) -> tuple[tuple[Image, ...], Pager]:
        """The records of the page (filtered, capped) and the pager for the next one."""
        return self.pager._next(self.response, self.doc)


class ListingOptions(TypedDict, total=False):
    """How a listing pages, besides its filters (the keywords of ``detail``).

    ``marker``: start after this image id. ``limit``: the most records in all.
    ``page_size``: records per request. ``sort_key`` / ``sort_dir``: the server's order.
    """

    marker: str | None
    limit: int | None
    page_size: int | None
    sort_key: str | None
    sort_dir: str | None


def start_listing(
    choice: VersionChoice,
    filters: Mapping[str, Any] | None = None,
    *,
    max_pages: int = DEFAULT_LIMITS.max_pages,
    **options: Unpack[ListingOptions],
) -> Pager:
    """The first pager of a ``detail`` call; paging keys may also come inside ``filters``;
    ``max_pages`` is the client's limit (:class:`~imgcompat.core.limits.Limits`)."""
    given = dict(filters or {})
    paging = {k: given.pop(k) for k in list(given) if is_paging_key(k)}
    paging.update({k: v for k, v in options.items() if v is not None})
    losses: list[Loss] = []
    if "os_hidden" in given and not dialect_for(choice).filters_os_hidden:
        given.pop("os_hidden")
        losses.append(Loss("os_hidden", f"{choice.label} has no os_hidden filter (v2.7+): "
                                        "not sent"))
    plan = filters_for(choice.api, given)
    params = list(plan.params)
    for key in ("sort_key", "sort_dir"):
        if paging.get(key) is not None:
            params.append((key, str(paging[key])))
    first_marker = paging.get("marker")
    if first_marker is not None:
        check_image_id(first_marker)
    return Pager(
        choice=choice,
        params=tuple(params),
        marker=first_marker,
        page_size=_positive(paging.get("page_size"), "page_size"),
        remaining=_positive(paging.get("limit"), "limit", zero_ok=True),
        strictly_after=plan.strictly_after,
        losses=tuple(losses) + plan.losses,
        max_pages=max_pages,
        seen=frozenset({first_marker}) if first_marker is not None else frozenset(),
    )


def _positive(value: Any, name: str, *, zero_ok: bool = False) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"must be an integer, got {value!r}", field=name) from exc
    if number < (0 if zero_ok else 1):
        raise InvalidRecord(f"out of range: {number}", field=name)
    return number
