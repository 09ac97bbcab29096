"""Each API's dialect: the requests it builds and how it reads answers and pages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgcompat.core.dialect import Page, V1Dialect, V2Dialect, dialect_for
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api
from imgcompat.core.errors import InvalidRecord, UnexpectedResponse
from imgcompat.core.exchange import DOWNLOAD_RETRY_ON, JSON_PATCH, Request, Response
from imgcompat.core.model import Image, Location

V1 = V1Dialect(VersionChoice(Api.V1, 1, "http://g", "test"))
V2 = V2Dialect(VersionChoice(Api.V2, 17, "http://g", "test"))
V2_OLD = V2Dialect(VersionChoice(Api.V2, 5, "http://g", "test"))
ID = "0f0e0d0c-0000-4000-8000-000000000001"
ID2 = "0f0e0d0c-0000-4000-8000-000000000002"
RECORD = Image(id=ID, name="n", status="active", size=3, disk_format="raw",
               container_format="bare", properties={"os_distro": "cirros"})


def _v1_image(image_id: str = ID, **extra: Any) -> dict[str, Any]:
    return {"id": image_id, "name": "n", "status": "active", "is_public": False,
            "protected": False, "deleted": False, "size": 1, "properties": {}, **extra}


def _v2_image(image_id: str = ID, **extra: Any) -> dict[str, Any]:
    return {"id": image_id, "name": "n", "status": "active", "visibility": "private",
            "protected": False, "checksum": None, "size": 1, "min_ram": 0, "min_disk": 0,
            "disk_format": "raw", "container_format": "bare", "owner": None,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "tags": [], "virtual_size": None, **extra}


def _json(doc: Any, status: int = 200) -> Response:
    return Response(status, (("content-type", "application/json"),), json.dumps(doc).encode())


def test_the_choice_decides_the_dialect_and_its_minor() -> None:
    v1 = dialect_for(VersionChoice(Api.V1, 1, "http://g", "test"))
    v2 = dialect_for(VersionChoice(Api.V2, 9, "http://g", "test"))
    assert type(v1) is V1Dialect
    assert type(v2) is V2Dialect
    assert (v1.api, v2.api, v2.minor) == (Api.V1, Api.V2, 9)


def test_what_each_api_can_do() -> None:
    assert (V1.resumable, V2.resumable) == (False, True)
    assert (V1.default_page_size, V2.default_page_size) == (20, None)
    assert (V1.empty_by_upload, V2.empty_by_upload) == (False, True)
    assert (V1.rereads_update, V2.rereads_update) == (True, False)
    assert (V1.filters_os_hidden, V2_OLD.filters_os_hidden, V2.filters_os_hidden) == (
        False, False, True)
    assert V1.schema_request() is None
    assert V2.schema_request() == Request("GET", "/v2/schemas/image")


def test_show_and_delete_requests() -> None:
    assert V1.show_request(ID) == Request("HEAD", f"/v1/images/{ID}", image_id=ID)
    assert V2.show_request(ID) == Request("GET", f"/v2/images/{ID}", image_id=ID)
    assert V1.delete_request(ID).expect == {200, 204}
    assert V2.delete_request(ID) == Request("DELETE", f"/v2/images/{ID}", image_id=ID,
                                            expect=frozenset({204}))


@pytest.mark.parametrize("dialect", [V1, V2])
def test_an_unsafe_id_never_reaches_a_path(dialect: V1Dialect | V2Dialect) -> None:
    with pytest.raises(InvalidRecord):
        dialect.show_request("../x")
    with pytest.raises(InvalidRecord):
        dialect.update_request("a/b", RECORD, RECORD.with_properties(os_distro="x"), True)


def test_downloads_resume_only_on_v2() -> None:
    v1 = V1.download_request(ID, 10)
    assert v1 == V1.download_request(ID)  # no ranges on v1: the offset is not sent
    assert (v1.method, v1.path, v1.headers) == (
        "GET", f"/v1/images/{ID}", (("accept", "application/octet-stream"),))
    assert v1.expect == {200}
    assert v1.retry_on == DOWNLOAD_RETRY_ON
    whole = V2.download_request(ID)
    assert whole.path == f"/v2/images/{ID}/file"
    assert whole.headers == (("accept", "application/octet-stream"),)
    assert whole.expect == {200, 204, 206}
    assert V2.download_request(ID, 10).headers == (
        ("accept", "application/octet-stream"), ("range", "bytes=10-"))


def test_uploads_are_never_replayed_and_keep_v1_properties() -> None:
    v1 = V1.upload_request(ID, 3)
    assert (v1.method, v1.path, v1.expect, v1.idempotent) == (
        "PUT", f"/v1/images/{ID}", frozenset({200}), False)
    assert ("x-glance-registry-purge-props", "false") in v1.headers
    assert ("x-image-meta-size", "3") in v1.headers
    assert all(k != "x-image-meta-size" for k, _ in V1.upload_request(ID).headers)
    v2 = V2.upload_request(ID, 3)
    assert (v2.method, v2.path, v2.expect, v2.idempotent) == (
        "PUT", f"/v2/images/{ID}/file", frozenset({204}), False)
    assert ("content-type", "application/octet-stream") in v2.headers
    assert all(not k.startswith("x-") for k, _ in v2.headers)


def test_a_v1_create_carries_the_location_or_the_empty_size() -> None:
    located = Image(name="n", direct_url="http://store/x", size=0)
    request = V1.create_request(located, with_data=False, empty=True).value
    assert (request.method, request.path) == ("POST", "/v1/images")
    assert request.expect == {201}
    assert not request.idempotent
    assert ("x-image-meta-location", "http://store/x") in request.headers
    assert all(k != "x-image-meta-size" for k, _ in request.headers)
    with_data = V1.create_request(located, with_data=True, empty=False).value
    assert all(k != "x-image-meta-location" for k, _ in with_data.headers)
    empty = V1.create_request(Image(name="n", size=0), with_data=False, empty=True).value
    assert ("x-image-meta-size", "0") in empty.headers
    assert ("x-image-meta-name", "n") in empty.headers
    assert V1.location_requests(ID, located) == ()


def test_a_v2_create_posts_json_for_its_minor_and_patches_locations_after() -> None:
    record = Image(name="n", os_hidden=True,
                   locations=(Location("http://a"), Location("http://b")))
    new = V2.create_request(record, with_data=False, empty=False)
    assert (new.value.method, new.value.path, new.value.expect) == ("POST", "/v2/images",
                                                                    frozenset({201}))
    assert ("content-type", "application/json") in new.value.headers
    assert json.loads(new.value.body or b"")["os_hidden"] is True
    old = V2_OLD.create_request(record, with_data=False, empty=False)
    assert "os_hidden" not in json.loads(old.value.body or b"")
    assert [loss.field for loss in old.losses] == ["os_hidden"]
    patches = V2.location_requests(ID, record)
    assert [json.loads(p.body or b"") for p in patches] == [
        [{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}]
        for url in ("http://a", "http://b")]
    assert all(p.method == "PATCH" and p.path == f"/v2/images/{ID}" for p in patches)
    direct = Image(name="n", direct_url="http://c")
    assert len(V2.location_requests(ID, direct)) == 1
    assert V2.location_requests(ID, Image(name="n")) == ()


def test_updates_send_one_request_or_none() -> None:
    renamed = Image(**{**_fields(RECORD), "name": "m"})
    assert V1.update_request(ID, RECORD, RECORD, True).value is None
    assert V2.update_request(ID, RECORD, RECORD, True).value is None
    put = V1.update_request(ID, RECORD, renamed, True).value
    assert put is not None
    assert (put.method, put.path, put.idempotent) == ("PUT", f"/v1/images/{ID}", True)
    assert ("x-image-meta-name", "m") in put.headers
    patch = V2.update_request(ID, RECORD, renamed, True).value
    assert patch is not None
    assert (patch.method, patch.path) == ("PATCH", f"/v2/images/{ID}")
    assert ("content-type", JSON_PATCH) in patch.headers
    assert json.loads(patch.body or b"") == [{"op": "replace", "path": "/name", "value": "m"}]


def test_v1_property_only_updates_without_purge_send_nothing_new() -> None:
    kept = RECORD.with_properties(os_distro=None)
    assert V1.update_request(ID, RECORD, kept, False).value is None
    sent = V1.update_request(ID, RECORD, kept, True).value
    assert sent is not None
    assert ("x-glance-registry-purge-props", "true") in sent.headers


def test_hidden_needs_v2_7_to_be_patched() -> None:
    hidden = Image(**{**_fields(RECORD), "os_hidden": True})
    change = V2_OLD.update_request(ID, RECORD, hidden, True)
    assert change.value is None
    assert [loss.field for loss in change.losses] == ["os_hidden"]
    assert V2.update_request(ID, RECORD, hidden, True).value is not None


def _fields(image: Image) -> dict[str, Any]:
    return {k: getattr(image, k) for k in ("id", "name", "status", "size", "disk_format",
                                           "container_format", "properties")}


def test_each_api_reads_its_image_answers() -> None:
    head = Response(200, (("x-image-meta-id", ID), ("x-image-meta-status", "active"),
                          ("x-image-meta-property-os_distro", "cirros")))
    assert V1.read_image(V1.show_request(ID), head).properties == {"os_distro": "cirros"}
    put = V1.upload_request(ID)
    image = V1.read_image(put, _json({"image": _v1_image(properties={"a": "b"})}))
    assert (image.id, dict(image.properties)) == (ID, {"a": "b"})
    image = V2.read_image(V2.show_request(ID), _json(_v2_image(os_distro="x")))
    assert (image.id, dict(image.properties)) == (ID, {"os_distro": "x"})
    with pytest.raises(UnexpectedResponse):  # a v1 JSON answer is read as JSON, not headers
        V1.read_image(put, Response(200, (("x-image-meta-id", ID),), b""))


def test_a_v1_page_is_followed_while_it_comes_back_full() -> None:
    two = _json({"images": [_v1_image(ID), _v1_image(ID2)]})
    assert V1.read_page(two, 2) == Page(V1.read_page(two, None).images, more=True)
    assert not V1.read_page(two, 3).more
    assert not V1.read_page(two, None).more
    assert V1.read_page(two, 2).marker is None  # the pager takes the last record's id


def test_a_v2_page_is_followed_by_its_next_link() -> None:
    page = V2.read_page(_json({"images": [_v2_image(ID), _v2_image(ID2)],
                               "next": f"/v2/images?marker=a&limit=2&marker={ID2}"}), 2)
    assert [i.id for i in page.images] == [ID, ID2]
    assert (page.more, page.marker) == (True, ID2)
    last = V2.read_page(_json({"images": [_v2_image(ID)]}), 1)
    assert (last.more, last.marker) == (False, None)  # full, but no next link
    empty = V2.read_page(_json({"images": [], "next": "/v2/images?marker=x"}), 2)
    assert not empty.more
    unmarked = V2.read_page(_json({"images": [_v2_image(ID)], "next": "/v2/images"}), 2)
    assert (unmarked.more, unmarked.marker) == (True, None)
