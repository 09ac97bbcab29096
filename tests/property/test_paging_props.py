"""A listing never ends early and never repeats, whatever the server does to page sizes.

Against :class:`~tests.unit.test_paging.ListingServer` (Glance's paging: a silent cap at
``api_limit_max``, v2 ``next`` links iff a page is as long as the capped limit, optionally
a 400 for a limit above some size), any caller page size and total limit lists exactly the
images there are, in order, in a bounded number of requests.
"""

from __future__ import annotations

import math

from hypothesis import assume, given
from hypothesis import strategies as st

from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api
from imgcompat.core.listing import start_listing
from tests.unit.test_paging import V1, V2, ListingServer, ids, list_all

#: The smallest page a listing may end up asking for: v1's classic 20 (v2's last fallback
#: is the server's own default, 25 here).
_SMALLEST_FALLBACK = 20


#: A Glance-behaved store and a caller's paging (the keywords of both tests).
LISTINGS = {
    "choice": st.sampled_from([V1, V2]),
    "count": st.integers(0, 60),
    "cap": st.integers(1, 70),
    "page_size": st.none() | st.integers(1, 70),
    "limit": st.none() | st.integers(0, 70),
}


@given(**LISTINGS, refuse_above=st.none() | st.integers(1, 1200))
def test_every_image_once_in_order(*, choice: VersionChoice, count: int, cap: int,
                                   page_size: int | None, limit: int | None,
                                   refuse_above: int | None) -> None:
    if refuse_above is not None:
        # a refusal the pager cannot step around is the caller's to see (unit tests)
        first_ask = min(page_size or 1000, limit if limit is not None else 1000)
        assume(first_ask <= refuse_above or (page_size is None and (
            choice.api is Api.V2 or refuse_above >= _SMALLEST_FALLBACK)))
    server = ListingServer(choice.api, count, cap=cap, refuse_above=refuse_above)
    seen = list_all(start_listing(choice, page_size=page_size, limit=limit), server)
    assert seen == ids(count if limit is None else min(count, limit))
    wanted = len(seen)
    smallest = min(cap, page_size or _SMALLEST_FALLBACK)
    # the pages holding the records, one page to learn the end, one v1 probe of a possible
    # cap, and two refused sizes at most
    assert len(server.sent) <= math.ceil(wanted / smallest) + 4


@given(**LISTINGS)
def test_the_page_fetched_ahead_is_the_one_the_pager_asks_next(
        *, choice: VersionChoice, count: int, cap: int, page_size: int | None,
        limit: int | None) -> None:
    """Against a Glance-behaved server the early guess (:attr:`OpenPage.ahead`) is always
    the pager's own next request when there is no total ``limit``, and there is none with
    one (its next request counts the records kept); the walk lists the same images."""
    server = ListingServer(choice.api, count, cap=cap)
    pager = start_listing(choice, page_size=page_size, limit=limit)
    seen: list[str] = []
    for _ in range(10_000):
        request = pager.request()
        if request is None:
            break
        page = pager.open(server.answer(request))
        ahead = page.ahead
        images, pager = page.read()
        seen.extend(str(i.id) for i in images)
        assert ahead == (pager.request() if limit is None else None)
    assert seen == ids(count if limit is None else min(count, limit))
