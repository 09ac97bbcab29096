"""Page sizes of a listing: large pages by default, the fallbacks when a server refuses
one, and a v1 listing that never ends early on a page the server capped silently.

:class:`ListingServer` answers like Glance does (``glance-api-detail.md`` §1.6 and §2.7): a
``limit`` above ``api_limit_max`` is capped without a word, the v2 ``next`` link is there
iff the page came back exactly as long as the (capped) limit; a deployment that refuses
large limits with a 400 instead is the ``refuse_above`` knob.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api
from imgcompat.core.errors import Invalid
from imgcompat.core.listing import Pager, Paging, start_listing
from imgcompat.core.plan import Request, Response

V1 = VersionChoice(Api.V1, 1, "http://g", "test")
V2 = VersionChoice(Api.V2, 17, "http://g", "test")


def image_id(index: int) -> str:
    return f"0f0e0d0c-0000-4000-8000-{index:012d}"


@attrs.define
class ListingServer:
    """``count`` images, listed in id order by a v1 or v2 Glance."""

    api: Api
    count: int
    cap: int = 1000
    default: int = 25
    refuse_above: int | None = None
    sent: list[Request] = attrs.field(factory=list)

    def answer(self, request: Request) -> Response:
        self.sent.append(request)
        params = dict(request.params)
        limit = int(params["limit"]) if "limit" in params else self.default
        if self.refuse_above is not None and "limit" in params and limit > self.refuse_above:
            return Response(400, (), b'{"message": "limit is too large"}')
        limit = min(limit, self.cap)
        start = int(params["marker"].rsplit("-", 1)[1]) + 1 if "marker" in params else 0
        page = list(range(start, min(start + limit, self.count)))
        doc: dict[str, Any] = {"images": [self._record(i) for i in page]}
        if self.api is Api.V2 and page and len(page) == limit:
            doc["next"] = f"/v2/images?limit={limit}&marker={image_id(page[-1])}"
        return Response(200, (("content-type", "application/json"),), json.dumps(doc).encode())

    def _record(self, index: int) -> dict[str, Any]:
        if self.api is Api.V1:
            return {"id": image_id(index), "name": f"i{index}", "status": "active",
                    "is_public": False, "protected": False, "deleted": False, "size": 1,
                    "properties": {}}
        return {"id": image_id(index), "name": f"i{index}", "status": "active",
                "visibility": "private", "protected": False, "size": 1, "tags": [],
                "disk_format": "raw", "container_format": "bare", "min_ram": 0,
                "min_disk": 0, "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z"}

    def limits(self) -> list[str | None]:
        return [dict(r.params).get("limit") for r in self.sent]


def list_all(pager: Pager, server: ListingServer) -> list[str]:
    """Drive the pager to its end as a client does; bounded like every loop in tests."""
    seen: list[str] = []
    for _ in range(10_000):
        request = pager.request()
        if request is None:
            return seen
        images, pager = pager.feed(server.answer(request))
        seen.extend(str(i.id) for i in images)
    raise AssertionError("the listing did not end")


def ids(count: int) -> list[str]:
    return [image_id(i) for i in range(count)]


@pytest.mark.parametrize("choice", [V1, V2])
def test_a_listing_asks_for_glances_largest_page(choice: VersionChoice) -> None:
    server = ListingServer(choice.api, 2003)
    assert list_all(start_listing(choice), server) == ids(2003)
    assert server.limits() == ["1000", "1000", "1000"]


@pytest.mark.parametrize("choice", [V1, V2])
def test_the_callers_page_size_is_kept(choice: VersionChoice) -> None:
    server = ListingServer(choice.api, 7)
    assert list_all(start_listing(choice, page_size=3), server) == ids(7)
    assert server.limits() == ["3", "3", "3"]


def test_v2_follows_next_links_when_the_server_caps_the_page() -> None:
    server = ListingServer(Api.V2, 450, cap=200)
    assert list_all(start_listing(V2), server) == ids(450)
    assert server.limits() == ["1000", "1000", "1000"]


def test_a_v1_page_capped_silently_does_not_end_the_listing() -> None:
    server = ListingServer(Api.V1, 450, cap=200)
    assert list_all(start_listing(V1), server) == ids(450)
    # 200 < 1000 may be a cap: ask for 200 from then on; the short page of 50 after pages
    # of 200 is the end
    assert server.limits() == ["1000", "200", "200"]


def test_a_v1_short_first_page_costs_one_empty_page_to_be_sure() -> None:
    server = ListingServer(Api.V1, 7)
    assert list_all(start_listing(V1), server) == ids(7)
    assert server.limits() == ["1000", "7"]
    assert dict(server.sent[1].params)["marker"] == image_id(6)


def test_a_v1_short_page_after_full_ones_ends_at_once() -> None:
    server = ListingServer(Api.V1, 5)
    assert list_all(start_listing(V1, page_size=2), server) == ids(5)
    assert server.limits() == ["2", "2", "2"]


def test_a_v1_cap_below_the_callers_page_size_is_found_too() -> None:
    server = ListingServer(Api.V1, 23, cap=5)
    assert list_all(start_listing(V1, page_size=8), server) == ids(23)
    assert server.limits() == ["8", "5", "5", "5", "5"]


def test_a_v1_total_limit_with_a_cap() -> None:
    server = ListingServer(Api.V1, 50, cap=4)
    assert list_all(start_listing(V1, limit=10), server) == ids(10)
    assert server.limits() == ["10", "4", "2"]


@pytest.mark.parametrize(("choice", "count", "refuse_above", "limits"), [
    (V2, 450, 500, ["1000", "200", "200", "200"]),
    (V2, 110, 100, ["1000", "200", None, None, None, None, None]),  # the server's 25 a page
    (V1, 450, 500, ["1000", "200", "200", "200"]),
    (V1, 110, 100, ["1000", "200", "20", "20", "20", "20", "20", "20"]),
])
def test_a_refused_large_page_falls_back(choice: VersionChoice, count: int, refuse_above: int,
                                         limits: list[str | None]) -> None:
    server = ListingServer(choice.api, count, refuse_above=refuse_above)
    assert list_all(start_listing(choice), server) == ids(count)
    assert server.limits() == limits
    assert all("marker" not in dict(r.params) for r in server.sent[:2])  # same first page


def test_the_fallback_keeps_the_callers_total() -> None:
    server = ListingServer(Api.V2, 110, refuse_above=100)
    assert list_all(start_listing(V2, limit=150), server) == ids(110)
    assert server.limits()[:3] == ["150", None, None]
    server = ListingServer(Api.V2, 110, refuse_above=20)
    assert list_all(start_listing(V2, limit=30), server) == ids(30)
    assert server.limits() == ["30", None, None]  # 25 + 5 of the next 25


def test_a_refusal_of_the_callers_page_size_is_the_callers() -> None:
    server = ListingServer(Api.V2, 10, refuse_above=100)
    with pytest.raises(Invalid):
        list_all(start_listing(V2, page_size=500), server)
    assert len(server.sent) == 1


def test_a_400_once_pages_came_back_is_not_about_the_size() -> None:
    server = ListingServer(Api.V2, 3000)
    pager = start_listing(V2)
    request = pager.request()
    assert request is not None
    _, pager = pager.feed(server.answer(request))
    with pytest.raises(Invalid):
        pager.feed(Response(400, (), b'{"message": "Invalid marker"}'))


def test_a_400_that_no_smaller_page_can_help_is_raised() -> None:
    server = ListingServer(Api.V1, 3, refuse_above=1)  # refuses even the classic 20
    with pytest.raises(Invalid):
        list_all(start_listing(V1), server)
    assert server.limits() == ["1000", "200", "20"]
    with pytest.raises(Invalid):  # a total of 5 asks for 5: no smaller size changes it
        list_all(start_listing(V1, limit=5), ListingServer(Api.V1, 3, refuse_above=1))


def test_paging_values() -> None:
    assert Pager(V2, ()).paging == Paging(1000, (200, None))
    assert Pager(V1, ()).paging == Paging(1000, (200, 20))
    assert Pager(V1, (), page_size=7).paging == Paging(7)
    assert Paging(None).limit(5) is None
    assert Paging(1000).limit(5) == 5


def _http_server(server: ListingServer) -> Any:
    """``server`` (v2) behind an httpx mock transport, with a versions document at ``/``."""
    import httpx

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            doc = {"versions": [{"id": "v2.17", "status": "CURRENT",
                                 "links": [{"rel": "self", "href": "http://g/v2/"}]}]}
            return httpx.Response(300, json=doc)
        answer = server.answer(Request("GET", request.url.path,
                                       params=tuple(request.url.params.multi_items())))
        return httpx.Response(answer.status, headers=list(answer.headers), content=answer.body)

    return handle


@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_both_clients_send_the_refused_page_again(flavor: str) -> None:
    import httpx
    from tenacity import wait_none

    from imgcompat.shell.aclient import AsyncImageClient
    from imgcompat.shell.client import ImageClient

    server = ListingServer(Api.V2, 450, refuse_above=500)
    handle = _http_server(server)
    if flavor == "sync":
        with ImageClient("http://g", transport=httpx.MockTransport(handle),
                         backoff=wait_none()) as client:
            seen = [i.id for i in client.detail()]
    else:
        async with AsyncImageClient("http://g", transport=httpx.MockTransport(handle),
                                    backoff=wait_none()) as aclient:
            seen = [i.id async for i in await aclient.detail()]
    assert seen == ids(450)
    assert server.limits() == ["1000", "200", "200", "200"]
