"""A ``detail`` listing as a sequence of pages: where it stands, and the next request.

The pager is written once; its dialect says the path, the page size asked by default and
how a page tells whether more follow (see :mod:`imgcompat.core.dialect`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, Unpack

import attrs

from imgcompat.core.dialect import Dialect, dialect_for
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.exchange import (
    Pairs,
    Request,
    Response,
    check_image_id,
    from_server,
    judge,
    without_locations,
)
from imgcompat.core.model import Image, Loss
from imgcompat.core.query import filters_for, is_paging_key


@attrs.frozen
class Pager:
    """Where a listing stands: the next request to send, or None when it is over.

    v2 continues while the answer has a ``next`` link (its marker is taken, the caller's
    own parameters are re-sent: the link loses a path prefix and repeated parameters);
    v1 continues while a page comes back full. ``remaining`` is the caller's total limit.
    """

    choice: VersionChoice
    params: Pairs
    marker: str | None = None
    page_size: int | None = None
    remaining: int | None = None
    strictly_after: datetime | None = None
    losses: tuple[Loss, ...] = ()
    done: bool = False

    @property
    def dialect(self) -> Dialect:
        """The dialect of the API this listing speaks."""
        return dialect_for(self.choice)

    def request(self) -> Request | None:
        """The next page's request, or None when the listing is over."""
        if self.done or self.remaining == 0:
            return None
        params = list(self.params)
        limit = self._limit()
        if limit is not None:
            params.append(("limit", str(limit)))
        if self.marker is not None:
            params.append(("marker", self.marker))
        return Request("GET", self.dialect.list_path, params=tuple(params))

    def _limit(self) -> int | None:
        size = self.page_size
        if size is None:
            size = self.dialect.default_page_size
        if self.remaining is not None:
            size = self.remaining if size is None else min(size, self.remaining)
        return size

    def feed(self, response: Response) -> tuple[tuple[Image, ...], Pager]:
        """The records of one page (filtered, capped) and the pager for the next one."""
        request = self.request()
        if request is None:
            return (), self
        judge(request, response)
        with from_server(None, response.status):
            page = self.dialect.read_page(response, self._limit())
        more, marker = page.more, page.marker
        if marker is None and page.images:
            marker = page.images[-1].id
        if marker is None or marker == self.marker:
            more = False
        kept = tuple(without_locations(i) for i in page.images if self._keeps(i))
        remaining = self.remaining
        if remaining is not None:
            kept = kept[:remaining]
            remaining -= len(kept)
        return kept, attrs.evolve(self, marker=marker, remaining=remaining, done=not more)

    def _keeps(self, image: Image) -> bool:
        after = self.strictly_after
        return after is None or image.updated_at is None or image.updated_at > after


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
    **options: Unpack[ListingOptions],
) -> Pager:
    """The first pager of a ``detail`` call; paging keys may also come inside ``filters``."""
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
