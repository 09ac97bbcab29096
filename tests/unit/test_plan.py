"""The pure planner: requests per API, judging of answers, paging, the retry rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from imgcompat.core import plan
from imgcompat.core.discovery import VersionChoice, choose_version
from imgcompat.core.enums import Api
from imgcompat.core.errors import (
    Conflict,
    Forbidden,
    ImageNotAuthorized,
    ImageNotFound,
    InvalidRecord,
    InvalidResponse,
    InvalidServerRecord,
    NotFound,
    UnexpectedResponse,
)
from imgcompat.core.model import Image
from imgcompat.core.plan import Failure, Pager, Request, Response
from imgcompat.core.seam import from_v1_headers, from_v1_json_list, from_v2, from_v2_list

V1 = VersionChoice(Api.V1, 1, "http://g", "test")
V2 = VersionChoice(Api.V2, 17, "http://g", "test")
V2_OLD = VersionChoice(Api.V2, 5, "http://g", "test")
ID = "0f0e0d0c-0000-4000-8000-000000000001"
ID2 = "0f0e0d0c-0000-4000-8000-000000000002"


def _v2_image(image_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": image_id, "name": "n", "status": "active", "visibility": "private",
            "protected": False, "checksum": None, "size": 1, "min_ram": 0, "min_disk": 0,
            "disk_format": "raw", "container_format": "bare", "owner": None,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "tags": [], "virtual_size": None, **extra}


def _json(status: int, doc: Any) -> Response:
    return Response(status, (("content-type", "application/json"),), json.dumps(doc).encode())


@pytest.mark.parametrize("good", [ID, "0f0e0d0c000040008000000000000001", "my-image_1.raw"])
def test_safe_ids_pass(good: str) -> None:
    assert plan.check_image_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a..b", "../etc", "a/b", "a?b", "a#b", "a b",
                                 "a%2fb", "x" * 300, None, 5])
def test_unsafe_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRecord):
        plan.check_image_id(bad)


def test_each_api_has_its_own_paths_and_statuses() -> None:
    assert plan.show_request(V1, ID).method == "HEAD"
    assert plan.show_request(V2, ID).path == f"/v2/images/{ID}"
    assert plan.delete_request(V1, ID).expect == {200, 204}
    assert plan.delete_request(V2, ID).expect == {204}
    download = plan.download_request(V2, ID, 10)
    assert download.path.endswith("/file")
    assert ("range", "bytes=10-") in download.headers
    assert ("range", "bytes=10-") not in plan.download_request(V1, ID, 10).headers
    upload = plan.upload_request(V1, ID, 3)
    assert not upload.idempotent
    assert ("x-glance-registry-purge-props", "false") in upload.headers
    assert ("x-image-meta-size", "3") in upload.headers


@pytest.mark.parametrize(("request_", "failure", "replayable", "expected"), [
    (Request("GET", "/"), Failure.NO_ANSWER, True, True),
    (Request("POST", "/", idempotent=False), Failure.NOT_SENT, False, True),
    (Request("POST", "/", idempotent=False), Failure.NO_ANSWER, True, False),
    (Request("POST", "/", idempotent=False), Failure.RETRYABLE_STATUS, True, True),
    (Request("PUT", "/", idempotent=False), Failure.RETRYABLE_STATUS, False, False),
])
def test_the_idempotency_rule(request_: Request, failure: Failure, replayable: bool,
                              expected: bool) -> None:
    assert plan.may_retry(request_, failure, body_replayable=replayable) is expected


def test_judging_maps_statuses_to_typed_errors() -> None:
    on_image = plan.show_request(V2, ID)
    with pytest.raises(ImageNotFound) as info:
        plan.judge(on_image, _json(404, {"message": "No image found"}))
    assert info.value.image_id == ID
    assert info.value.message == "No image found"
    with pytest.raises(ImageNotAuthorized):
        plan.judge(on_image, Response(403))
    listing = Pager(V2, ()).request()
    assert listing is not None
    with pytest.raises(Forbidden):
        plan.judge(listing, Response(401))
    with pytest.raises(NotFound):
        plan.judge(listing, Response(404))


def test_malformed_json_is_a_typed_error() -> None:
    with pytest.raises(UnexpectedResponse):
        plan.judge_image(V2, plan.show_request(V2, ID), Response(200, (), b'{"id": '))


def test_show_hides_locations_and_deleted_images_when_asked() -> None:
    request = plan.show_request(V2, ID)
    answer = _json(200, _v2_image(ID, direct_url="file:///x"))
    assert plan.judge_show(V2, request, answer).direct_url is None
    assert plan.judge_show(V2, request, answer, include_locations=True).direct_url == "file:///x"
    v1_request = plan.show_request(V1, ID)
    deleted = Response(200, (("x-image-meta-id", ID), ("x-image-meta-status", "deleted"),
                             ("x-image-meta-deleted", "True")))
    assert plan.judge_show(V1, v1_request, deleted).deleted
    with pytest.raises(ImageNotFound):
        plan.judge_show(V1, v1_request, deleted, show_deleted=False)


def test_v2_paging_takes_the_marker_and_keeps_its_own_parameters() -> None:
    pager = plan.start_listing(V2, {"tag": ["a", "b"], "property-os": "x"}, page_size=2)
    first = pager.request()
    assert first is not None
    assert first.params == (("tag", "a"), ("tag", "b"), ("os", "x"), ("limit", "2"))
    page = {"images": [_v2_image(ID), _v2_image(ID2)],
            "next": "/v2/images?tag=b&os=x&limit=2&marker=" + ID2}  # collapsed tags, no prefix
    images, pager = pager.feed(_json(200, page))
    assert [i.id for i in images] == [ID, ID2]
    second = pager.request()
    assert second is not None
    assert second.params[:3] == first.params[:3]
    assert ("marker", ID2) in second.params
    images, pager = pager.feed(_json(200, {"images": []}))
    assert images == ()
    assert pager.request() is None


def test_a_repeated_marker_ends_the_listing() -> None:
    pager = Pager(V2, (), marker=ID2)
    page = {"images": [_v2_image(ID2)], "next": "/v2/images?marker=" + ID2}
    _, after = pager.feed(_json(200, page))
    assert after.request() is None


def test_v1_paging_ends_on_a_short_page_and_counts_the_limit() -> None:
    pager = plan.start_listing(V1, {}, limit=3, page_size=2)
    first = pager.request()
    assert first is not None
    assert first.path == "/v1/images/detail"
    assert ("limit", "2") in first.params
    v1_image = {"id": ID, "name": "n", "status": "active", "is_public": False,
                "protected": False, "deleted": False, "size": 1, "properties": {}}
    images, pager = pager.feed(_json(200, {"images": [v1_image, {**v1_image, "id": "b"}]}))
    assert len(images) == 2
    second = pager.request()
    assert second is not None
    assert ("limit", "1") in second.params
    images, pager = pager.feed(_json(200, {"images": [{**v1_image, "id": "c"}]}))
    assert len(images) == 1
    assert pager.request() is None


def test_changes_since_on_v2_is_inclusive_so_the_shell_drops_equal_times() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    pager = plan.start_listing(V2, {"changes-since": since})
    assert [loss.field for loss in pager.losses] == ["changes-since"]
    request = pager.request()
    assert request is not None
    assert ("updated_at", "gte:2026-01-01T00:00:00Z") in request.params
    equal = _v2_image(ID, updated_at="2026-01-01T00:00:00Z")
    later = _v2_image(ID2, updated_at="2026-01-01T00:00:01Z")
    images, _ = pager.feed(_json(200, {"images": [equal, later]}))
    assert [i.id for i in images] == [ID2]


def test_os_hidden_is_not_sent_before_2_7() -> None:
    pager = plan.start_listing(V2_OLD, {"os_hidden": True})
    request = pager.request()
    assert request is not None
    assert all(k != "os_hidden" for k, _ in request.params)
    assert [loss.field for loss in pager.losses] == ["os_hidden"]
    request = plan.start_listing(V2, {"os_hidden": True}).request()
    assert request is not None
    assert ("os_hidden", "true") in request.params


def _drive(op: plan.Op[Any], answers: list[Any]) -> tuple[list[plan.Step], Any]:
    steps: list[plan.Step] = []
    try:
        step = next(op)
        while True:
            steps.append(step)
            answer = answers.pop(0)
            step = op.throw(answer) if isinstance(answer, Exception) else op.send(answer)
    except StopIteration as stop:
        return steps, stop.value


def test_a_v2_update_is_one_minimal_patch() -> None:
    current = _json(200, _v2_image(ID, keep="1", drop="2"))
    wanted = plan.judge_image(V2, plan.show_request(V2, ID), current).with_properties(
        drop=None, keep="one")
    patched = _json(200, _v2_image(ID, keep="one"))
    steps, result = _drive(plan.update_op(V2, ID, wanted), [current, patched])
    patch = steps[1]
    assert isinstance(patch, Request)
    assert patch.method == "PATCH"
    assert ("content-type", plan.JSON_PATCH) in patch.headers
    assert json.loads(patch.body or b"") == [
        {"op": "replace", "path": "/keep", "value": "one"}, {"op": "remove", "path": "/drop"}]
    assert result.properties == {"keep": "one"}


def test_a_v2_update_of_a_held_record_is_one_request() -> None:
    held = from_v2(_v2_image(ID, keep="1"))
    patched = _json(200, _v2_image(ID, keep="2"))
    steps, result = _drive(plan.update_op(V2, ID, held.with_properties(keep="2"),
                                          current=held), [patched])
    assert [s.method for s in steps if isinstance(s, Request)] == ["PATCH"]
    assert result.properties == {"keep": "2"}


def test_a_409_to_a_held_record_reads_once_and_patches_again() -> None:
    held = from_v2(_v2_image(ID, gone="1", keep="1"))
    wanted = held.with_properties(gone="2", keep="2")
    conflict = _json(409, {"message": "Property gone does not exist."})
    shown = _json(200, _v2_image(ID, keep="1"))  # someone removed "gone" meanwhile
    patched = _json(200, _v2_image(ID, gone="2", keep="2"))
    steps, result = _drive(plan.update_op(V2, ID, wanted, current=held),
                           [conflict, shown, patched])
    requests = [s for s in steps if isinstance(s, Request)]
    assert [r.method for r in requests] == ["PATCH", "GET", "PATCH"]
    assert json.loads(requests[0].body or b"") == [
        {"op": "replace", "path": "/gone", "value": "2"},
        {"op": "replace", "path": "/keep", "value": "2"}]
    assert json.loads(requests[2].body or b"") == [  # computed against the fresh record
        {"op": "add", "path": "/gone", "value": "2"},
        {"op": "replace", "path": "/keep", "value": "2"}]
    assert result.properties == {"gone": "2", "keep": "2"}


def test_a_second_409_is_raised() -> None:
    held = from_v2(_v2_image(ID, keep="1"))
    conflict = _json(409, {"message": "busy"})
    with pytest.raises(Conflict):
        _drive(plan.update_op(V2, ID, held.with_properties(keep="2"), current=held),
               [conflict, _json(200, _v2_image(ID, keep="1")), conflict])


def test_a_409_without_a_held_record_is_raised_at_once() -> None:
    shown = _json(200, _v2_image(ID, keep="1"))
    op = plan.update_op(V2, ID, from_v2(_v2_image(ID, keep="2")))
    with pytest.raises(Conflict):
        _drive(op, [shown, _json(409, {"message": "busy"})])


def test_losses_are_not_reported_twice_when_the_patch_is_sent_again() -> None:
    held = from_v2(_v2_image(ID, keep="1"))
    wanted = attrs.evolve(held.with_properties(keep="2"), tags=("t", "t"))  # a set on v2
    steps, _ = _drive(plan.update_op(V2, ID, wanted, current=held), [
        _json(409, {"message": "x"}), _json(200, _v2_image(ID, keep="1")),
        _json(200, _v2_image(ID, keep="2"))])
    reports = [s for s in steps if isinstance(s, plan.Report)]
    assert [[loss.field for loss in r.losses] for r in reports] == [["tags"]]


def test_a_v1_update_of_a_held_record_puts_then_heads() -> None:
    held = from_v1_headers((("x-image-meta-id", ID), ("x-image-meta-status", "active"),
                            ("x-image-meta-property-keep", "1")))
    after = Response(200, (("x-image-meta-id", ID), ("x-image-meta-status", "active"),
                           ("x-image-meta-property-keep", "2")))
    steps, result = _drive(plan.update_op(V1, ID, held.with_properties(keep="2"),
                                          current=held), [_json(200, {}), after])
    assert [s.method for s in steps if isinstance(s, Request)] == ["PUT", "HEAD"]
    assert result.properties == {"keep": "2"}


def test_a_snapshot_whose_upload_fails_deletes_its_record() -> None:
    record = plan.snapshot_image("s", "inst", user_id="u")
    created = _json(201, _v2_image(ID, status="queued"))
    shown = _json(200, _v2_image(ID, status="queued"))
    op = plan.snapshot_op(V2, record, b"data")
    with pytest.raises(OSError, match="boom"):
        _drive(op, [created, shown, OSError("boom"), Response(204)])
    op = plan.snapshot_op(V2, record, b"data")
    step = next(op)
    for answer in (created, shown):
        step = op.send(answer)
    assert isinstance(step, plan.Upload)
    cleanup = op.throw(OSError("boom"))
    assert isinstance(cleanup, Request)
    assert cleanup.method == "DELETE"
    assert 500 in cleanup.retry_on
    with pytest.raises(OSError, match="boom"):
        op.send(Response(500))  # a failed cleanup does not hide the upload's failure


def test_snapshot_records_are_private_and_tagged() -> None:
    image = plan.snapshot_image("s", "inst", base_image_ref="b", user_id="u",
                                inherited={"os_distro": "x", "image_type": "image"})
    assert image.visibility == "private"
    assert not image.is_public
    assert dict(image.properties) == {"os_distro": "x", "image_type": "snapshot",
                                      "instance_uuid": "inst", "base_image_ref": "b",
                                      "user_id": "u"}


def test_downloads_of_images_without_data_are_refused_up_front() -> None:
    from imgcompat.core.errors import ImageUnacceptable

    with pytest.raises(ImageUnacceptable):
        plan.check_downloadable(Image(id=ID, status="queued"))
    assert plan.check_downloadable(Image(id=ID, status="active")).id == ID


# --------------------------------------------------------------------------- server answers


def _codec_error(parse: Any, arg: Any) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as info:
        parse(arg)
    assert type(info.value) is InvalidRecord
    return info.value


def _assert_blames_server(exc: BaseException, codec: InvalidRecord, *, image_id: str | None,
                          status: int) -> None:
    assert isinstance(exc, InvalidServerRecord)
    assert isinstance(exc, InvalidRecord)
    assert isinstance(exc, InvalidResponse)
    assert (exc.message, exc.field) == (codec.message, codec.field)
    assert (exc.image_id, exc.status) == (image_id, status)


def test_a_broken_v2_record_is_the_servers_fault() -> None:
    doc = _v2_image(ID, size="big")
    codec = _codec_error(from_v2, doc)
    with pytest.raises(InvalidResponse) as info:
        plan.judge_image(V2, plan.show_request(V2, ID), _json(200, doc))
    _assert_blames_server(info.value, codec, image_id=ID, status=200)


def test_a_broken_v1_header_is_the_servers_fault() -> None:
    headers = (("x-image-meta-id", ID), ("x-image-meta-size", "abc"))
    codec = _codec_error(from_v1_headers, headers)
    with pytest.raises(InvalidRecord) as info:  # still an InvalidRecord for older callers
        plan.judge_show(V1, plan.show_request(V1, ID), Response(200, headers))
    _assert_blames_server(info.value, codec, image_id=ID, status=200)


@pytest.mark.parametrize(("choice", "doc", "parse"), [
    (V2, {"images": [_v2_image(ID, id=5)]}, from_v2_list),
    (V1, {"images": [{"id": ID, "size": "x"}]}, from_v1_json_list),
])
def test_a_broken_page_is_the_servers_fault(choice: VersionChoice, doc: dict[str, Any],
                                            parse: Any) -> None:
    codec = _codec_error(parse, doc)
    with pytest.raises(InvalidResponse) as info:
        plan.start_listing(choice).feed(_json(200, doc))
    _assert_blames_server(info.value, codec, image_id=None, status=200)


@pytest.mark.parametrize("doc", [
    {"versions": "none"},
    {"versions": [{"id": "v2.3", "status": "CURRENT", "links": []}]},  # no URL at all
])
def test_a_broken_versions_document_is_the_servers_fault(doc: dict[str, Any]) -> None:
    codec = _codec_error(lambda d: choose_version(d, None, endpoint=""), doc)
    with pytest.raises(InvalidResponse) as info:
        plan.judge_versions(_json(300, doc), None, endpoint="")
    _assert_blames_server(info.value, codec, image_id=None, status=300)


@pytest.mark.parametrize("choice", [V1, V2])
def test_a_created_id_that_cannot_be_a_path_is_the_servers_fault(
        choice: VersionChoice) -> None:
    answer = ({"image": {"id": "../x", "name": "n", "status": "queued", "is_public": False,
                         "protected": False, "deleted": False, "size": 0, "properties": {}}}
              if choice.api is Api.V1 else _v2_image("../x", status="queued"))
    op = plan.create_op(choice, Image(name="n"), activate_empty=False)
    assert isinstance(next(op), Request)
    with pytest.raises(InvalidServerRecord) as info:
        op.send(_json(201, answer))
    assert (info.value.field, info.value.status) == ("id", 201)


def test_the_callers_own_mistakes_stay_plain_invalid_records() -> None:
    mistakes: tuple[Callable[[], object], ...] = (
        lambda: plan.start_listing(V2, limit=-1),
        lambda: plan.show_request(V1, "../etc"),
        lambda: plan.start_listing(V2, marker="a/b"))
    for mistake in mistakes:
        with pytest.raises(InvalidRecord) as info:
            mistake()
        assert not isinstance(info.value, InvalidResponse)


@pytest.mark.parametrize("body", [b'{"id": ', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000])
def test_an_answer_that_is_not_json_is_an_invalid_response(body: bytes) -> None:
    failures: list[Callable[[], object]] = [
        lambda: plan.judge_image(V2, plan.show_request(V2, ID), Response(200, (), body)),
        lambda: plan.start_listing(V2).feed(Response(200, (), body)),
        lambda: plan.judge_versions(Response(300, (), body), None, endpoint="http://g"),
    ]
    for fail in failures:
        with pytest.raises(UnexpectedResponse) as info:
            fail()
        assert isinstance(info.value, InvalidResponse)
        assert not isinstance(info.value, InvalidRecord)


@pytest.mark.parametrize("schema", [{"properties": []}, {"properties": {"disk_format": 1}},
                                    {"properties": {"disk_format": {"enum": 7}}}])
def test_an_unreadable_image_schema_is_an_invalid_response(schema: dict[str, Any]) -> None:
    op = plan.create_op(V2, Image(name="n", size=0))
    step = next(op)
    assert isinstance(step, Request)
    assert step.path == "/v2/schemas/image"
    with pytest.raises(UnexpectedResponse):
        op.send(_json(200, schema))
