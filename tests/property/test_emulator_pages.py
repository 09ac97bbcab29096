"""The emulator's listing pages are the same bytes as when each page was encoded whole.

A listing page (``GET /v2/images``, ``/v1/images`` and ``/v1/images/detail``) and a show
are answered from entities the store keeps encoded per record version, joined. The old
way, kept here as the oracle, renders every record of the page and encodes the whole
document with ``json.dumps(..., ensure_ascii=False)``. Over stores of varied records
(custom properties, NULL v1 properties, properties named like base keys or hidden ones,
non-ASCII and escaped text, tags, data and stores, members and visibilities, deleted and
killed images), callers, queries and server settings, both give the same status, headers
and bytes; and again after records were changed (kept entities must not outlive their
record).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
from hypothesis import event, given
from hypothesis import strategies as st

from imgcompat.core.enums import Status, Visibility
from imgcompat.testing import Emulator
from imgcompat.testing.http_errors import HttpError
from imgcompat.testing.identity import Identity
from imgcompat.testing.render import v1_json, v1_summary_json, v2_json
from imgcompat.testing.store import Member, Record
from imgcompat.testing.v2_listing import list_page, page_query

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TIMES = [T0 + timedelta(seconds=s) for s in range(3)]
TEXT = st.text(st.characters(codec="utf-8"), max_size=6)  # no lone surrogates
#: Keys a v1 write may store as custom properties: plain ones, base keys, hidden ones.
PROPERTY_KEYS = ["os_distro", "hw_disk_bus", "k", "clé", "name", "stores", "direct_url",
                 "os_hidden", "os_hash_algo", "os_glance_stage_host", "locations"]
#: (headers, identity) of the callers: an admin, two projects, a caller without one.
CALLERS = [
    ({"X-Roles": "admin"}, Identity(project_id=None, roles=("admin",))),
    ({"X-Project-Id": "p1", "X-Roles": "member"}, Identity(project_id="p1")),
    ({"X-Project-Id": "p2", "X-Roles": "member"}, Identity(project_id="p2")),
    ({"X-Roles": "member"}, Identity(project_id=None)),
]


@st.composite
def records(draw: st.DrawFn) -> Record:
    """One stored image, with or without data, of any visibility and status."""
    image_id = str(draw(st.uuids()))
    has_data = draw(st.booleans())
    return Record(
        id=image_id, created_at=draw(st.sampled_from(TIMES)),
        updated_at=draw(st.sampled_from(TIMES)),
        name=draw(st.none() | TEXT),
        status=draw(st.sampled_from([Status.ACTIVE, Status.ACTIVE, Status.QUEUED, *Status])),
        visibility=draw(st.sampled_from(list(Visibility))),
        protected=draw(st.booleans()), os_hidden=draw(st.integers(0, 4)) == 0,
        disk_format=draw(st.sampled_from([None, "raw", "qcow2", "vhdx"])),
        container_format=draw(st.sampled_from([None, "bare", "ova"])),
        min_ram=draw(st.integers(0, 2048)), min_disk=draw(st.integers(0, 40)),
        owner=draw(st.sampled_from([None, "p1", "p2"])),
        size=draw(st.integers(0, 2**40)) if has_data else None,
        virtual_size=draw(st.none() | st.integers(0, 2**40)),
        checksum="0" * 32 if has_data else None,
        os_hash_algo="sha512" if has_data else None,
        os_hash_value="f" * 128 if has_data else None,
        location=f"memory://{image_id}" if has_data else None,
        stores=tuple(draw(st.lists(st.sampled_from(["memory", "fast"]), unique=True)))
        if has_data else (),
        deleted=draw(st.integers(0, 5)) == 0,
        tags=tuple(draw(st.lists(TEXT, max_size=3, unique=True))),
        properties=draw(st.dictionaries(st.sampled_from(PROPERTY_KEYS) | TEXT,
                                        st.none() | TEXT, max_size=4)),
    )


@st.composite
def changes(draw: st.DrawFn, record: Record) -> Record:
    """``record`` after one change a handler could make."""
    kind = draw(st.sampled_from(["rename", "property", "tag", "hide", "delete", "publish"]))
    if kind == "rename":
        return attrs.evolve(record, name=draw(TEXT))
    if kind == "property":
        return attrs.evolve(record, properties={**record.properties, "k": draw(TEXT)})
    if kind == "tag":
        return attrs.evolve(record, tags=(*record.tags, "added"))
    if kind == "hide":
        return attrs.evolve(record, os_hidden=not record.os_hidden)
    if kind == "delete":
        return attrs.evolve(record, status=Status.DELETED, deleted=True)
    return attrs.evolve(record, visibility=Visibility.PUBLIC)


@st.composite
def queries(draw: st.DrawFn, ids: list[str]) -> list[tuple[str, str]]:
    """A v2 listing query: limit, sort, a filter or two, a marker."""
    pairs: list[tuple[str, str]] = []
    if draw(st.booleans()):
        pairs.append(("limit", str(draw(st.integers(0, 12)))))
    pairs += draw(st.lists(st.sampled_from([
        ("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc"),
        ("sort", "updated_at:desc"), ("visibility", "all"), ("visibility", "shared"),
        ("member_status", "all"), ("os_hidden", "true"), ("tag", "added"), ("k", "v"),
        ("status", "in:active,queued"), ("name", "é ü")]), max_size=3, unique=True))
    if draw(st.booleans()) and ids:
        pairs.append(("marker", draw(st.sampled_from(ids))))
    return pairs


def _old_v2_page(emu: Emulator, who: Identity, pairs: list[tuple[str, str]]) -> bytes:
    """The listing as it was answered before pages were joins: every record of the page
    rendered, the whole document encoded at once."""
    query = page_query(pairs)
    page = list_page(emu.store, who, query)
    link_params = {k: v for k, v in dict(pairs).items() if k != "marker"}
    doc: dict[str, Any] = {
        "images": [v2_json(r, minor=emu.v2_minor, show_direct_url=emu.show_direct_url)
                   for r in page],
        "first": "/v2/images" + (f"?{urlencode(link_params)}" if link_params else ""),
        "schema": "/v2/schemas/images",
    }
    if page and len(page) == query.limit:
        doc["next"] = "/v2/images?" + urlencode({**link_params, "marker": page[-1].id})
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _old_v1_page(emu: Emulator, answer: httpx.Response, *, detail: bool) -> bytes:
    """A v1 list answer re-encoded the old way from the records it names."""
    render = v1_json if detail else v1_summary_json
    ids = [image["id"] for image in answer.json()["images"]]
    doc = {"images": [render(emu.store.get(i, include_gone=True)) for i in ids]}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _json_headers(body: bytes) -> list[tuple[str, str]]:
    """What ``Responder.json`` sent with a JSON answer (the request id aside)."""
    return [("content-type", "application/json"), ("content-length", str(len(body)))]


def _headers(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in answer.headers.items() if k != "x-openstack-request-id"]


def _check_pages(emu: Emulator, client: httpx.Client, ids: list[str],
                 calls: list[tuple[int, list[tuple[str, str]]]]) -> None:
    for caller, pairs in calls:
        headers, who = CALLERS[caller]
        try:
            expected = _old_v2_page(emu, who, pairs)
        except HttpError:  # refused before anything is rendered: not under test here
            continue
        answer = client.get("/v2/images", params=tuple(pairs), headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.content == expected, pairs
        assert _headers(answer) == _json_headers(expected)
        event(f"caller {caller}: " + ("images listed" if answer.json()["images"] else "none"))
    for path, detail in (("/v1/images/detail", True), ("/v1/images", False)):
        answer = client.get(path, params={"limit": "50", "is_public": "none"})
        assert answer.status_code == 200, answer.text
        expected = _old_v1_page(emu, answer, detail=detail)
        assert answer.content == expected
        assert _headers(answer) == _json_headers(expected)
    admin = CALLERS[0][0]
    for image_id in ids:
        answer = client.get(f"/v2/images/{image_id}", headers=admin)
        record = emu.store.get(image_id, include_gone=True)
        if record.gone:
            assert answer.status_code == 404
            continue
        expected = json.dumps(v2_json(record, minor=emu.v2_minor,
                                      show_direct_url=emu.show_direct_url),
                              ensure_ascii=False).encode("utf-8")
        assert answer.content == expected
        assert _headers(answer) == _json_headers(expected)


@given(st.data())
def test_joined_pages_are_the_bytes_of_the_whole_document(data: st.DataObject) -> None:
    emu = Emulator(auth="trusted", v2_minor=data.draw(st.sampled_from([1, 5, 7, 8, 17])),
                   show_direct_url=data.draw(st.booleans()))
    rows = data.draw(st.lists(records(), min_size=1, max_size=10, unique_by=lambda r: r.id))
    for row in rows:
        emu.store.put(row)
        for project in data.draw(st.sets(st.sampled_from(["p1", "p2"]))):
            status = data.draw(st.sampled_from(["pending", "accepted", "rejected"]))
            emu.store.put_member(Member(row.id, project, status, T0, T0))
    ids = [r.id for r in rows]
    calls = st.lists(st.tuples(st.integers(0, len(CALLERS) - 1), queries(ids)),
                     min_size=1, max_size=4)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g",
                      headers={"X-Identity-Status": "Confirmed"}) as client:
        _check_pages(emu, client, ids, data.draw(calls))
        for _ in range(data.draw(st.integers(1, 4))):  # the kept entities are now stale
            row = emu.store.get(data.draw(st.sampled_from(ids)), include_gone=True)
            changed = data.draw(changes(row))
            if data.draw(st.booleans()):
                emu.store.put(changed)
            else:  # through the store's clock, as the handlers change records
                emu.store.update(row.id, lambda _, c=changed: c)  # type: ignore[misc]
        _check_pages(emu, client, ids, data.draw(calls))


def test_a_kept_entity_belongs_to_one_record_version() -> None:
    """A render is kept for the record the store holds, given back only for that very
    record, and dropped when the record is replaced."""
    emu = Emulator()
    record = Record(id=str(uuid.uuid4()), created_at=T0, updated_at=T0, name="a")
    emu.store.put(record)
    renders: list[str] = []

    def render(r: Record) -> bytes:
        renders.append(r.name or "")
        return (r.name or "").encode()

    assert emu.store.rendered(record, "v", render) == b"a"
    assert emu.store.rendered(record, "v", render) == b"a"
    assert emu.store.rendered(record, "w", render) == b"a"
    assert renders == ["a", "a"]  # once per variant
    renamed = attrs.evolve(record, name="b")
    emu.store.put(renamed)
    assert emu.store.rendered(renamed, "v", render) == b"b"
    assert emu.store.rendered(record, "v", render) == b"a"  # the old version: not kept
    assert emu.store.rendered(record, "v", render) == b"a"
    assert emu.store.rendered(renamed, "v", render) == b"b"
    assert renders == ["a", "a", "b", "a", "a"]
