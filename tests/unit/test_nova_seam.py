"""``imgcompat.nova.ImageService``: the classic call shapes (context first, seam dicts back)
against the emulator in v1, v2 and both modes; which headers a context puts on the wire;
the plain dicts Nova builds (text values from instance system metadata).

``run_life_cycle`` is shared with ``tests/integration/test_nova_real_glance.py``.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import imgcompat
from imgcompat import Api, ImageNotFound, InvalidRecord
from imgcompat.core.scalars import format_v2_time
from imgcompat.nova import ImageService
from imgcompat.testing import Emulator, serve
from tests.unit.test_request_views import Recording, rid

URL = "http://glance.test"
DATA = hashlib.sha512(b"imgcompat.nova").digest() * 64  # 4 KiB, raw


@attrs.define
class Context:
    """What the seam reads of Nova's RequestContext (an oslo.context one)."""

    auth_token: str | None = None
    global_id: str | None = None
    request_id: str | None = None
    service_token: str | None = None


def nova_snapshot_meta(name: str, run: str) -> dict[str, Any]:
    """The dict ``compute_utils.create_image`` hands the seam for a snapshot: built by
    ``utils.get_image_from_system_metadata``, so the inherited values are text."""
    return {
        "min_ram": "512", "min_disk": "1", "name": name, "visibility": "private",
        "properties": {"os_distro": "ubuntu", "hw_qemu_guest_agent": "yes",
                       "instance_uuid": str(uuid.uuid4()), "user_id": "u-1",
                       "image_type": "snapshot", "run": run, "extra": "x"},
    }


def nova_upload_meta(run: str) -> dict[str, Any]:
    """The dict a virt driver updates the reserved snapshot with, together with its bytes."""
    return {"id": "ignored", "name": "snapshot-done", "is_public": "False", "status": "active",
            "deleted": "False", "deleted_at": "", "disk_format": "raw",
            "container_format": "bare",
            "properties": {"image_type": "snapshot", "run": run, "image_state": "available"}}


def _since_text(stamp: datetime) -> str:
    return format_v2_time(stamp)


def _next_second() -> None:
    """Both Glance and the emulator keep times to the second: step into the next one."""
    time.sleep(1.02 - time.time() % 1)


def run_life_cycle(service: ImageService, ctx: Context, tmp_path: Path) -> None:
    """The classic seam's life cycle, every answer checked: reserve, create with data,
    show, detail (filters, changes-since), update without and with purge, upload into the
    reservation, download to a path, into a file and as an iterator, delete, show after."""
    run = uuid.uuid4().hex
    reserved = service.create(ctx, nova_snapshot_meta(f"reserved-{run}", run))
    assert reserved["status"] == "queued"  # no size, no data: a reservation, as classic
    assert (reserved["min_ram"], reserved["min_disk"]) == (512, 1)
    meta = {**nova_snapshot_meta(f"image-{run}", run), "disk_format": "raw",
            "container_format": "bare"}
    made = service.create(ctx, meta, data=DATA)
    image_id = made["id"]
    assert made["status"] == "active"
    assert made["size"] == len(DATA)
    assert made["checksum"] == hashlib.md5(DATA).hexdigest()
    assert made["properties"]["hw_qemu_guest_agent"] == "yes"
    assert made["is_public"] is False
    assert isinstance(made["created_at"], datetime)

    shown = service.show(ctx, image_id)
    assert shown == made
    assert "locations" not in shown

    since = made["updated_at"]
    _next_second()
    changed = service.update(ctx, image_id, {"properties": {"added": "1"}}, purge_props=False)
    assert changed["properties"]["added"] == "1"
    assert changed["properties"]["extra"] == "x"  # not purged
    assert (changed["name"], changed["min_ram"]) == (f"image-{run}", 512)  # not given: kept

    mine = service.detail(ctx, filters={"property-run": run})
    assert isinstance(mine, list)
    assert {i["id"] for i in mine} == {image_id, reserved["id"]}
    named = service.detail(ctx, filters={"property-run": run, "name": f"image-{run}"})
    assert [i["id"] for i in named] == [image_id]
    recent = service.detail(ctx, filters={"property-run": run, "changes-since": _since_text(since)})
    assert [i["id"] for i in recent] == [image_id]
    assert len(service.detail(ctx, filters={"property-run": run}, limit=1, page_size=1)) == 1

    purged = service.update(ctx, image_id, {"name": f"renamed-{run}",
                                            "properties": {"run": run, "kept": "yes"}})
    assert purged["properties"] == {"run": run, "kept": "yes"}
    assert purged["name"] == f"renamed-{run}"
    assert purged["min_ram"] == 512

    filled = service.update(ctx, reserved["id"], nova_upload_meta(run), data=io.BytesIO(DATA))
    assert filled["status"] == "active"
    assert filled["size"] == len(DATA)
    assert filled["name"] == "snapshot-done"
    assert filled["min_ram"] == 512  # inherited at the reservation, not named: kept
    assert "extra" not in filled["properties"]  # purge_props=True by default

    target = tmp_path / "image.raw"
    verified = service.download(ctx, image_id, dst_path=target)
    assert target.read_bytes() == DATA
    assert getattr(verified, "verified", False)
    sink = io.BytesIO()
    service.download(ctx, image_id, data=sink)
    assert sink.getvalue() == DATA
    chunks = service.download(ctx, image_id)
    assert isinstance(chunks, Iterator)
    assert b"".join(chunks) == DATA

    assert service.delete(ctx, reserved["id"]) is True
    assert service.delete(ctx, image_id) is True
    for show_deleted in (True, False):  # no server under test shows this caller a deleted image
        with pytest.raises(ImageNotFound) as gone:
            service.show(ctx, image_id, show_deleted=show_deleted)
        assert gone.value.image_id == image_id
        assert gone.value.request_id == (ctx.global_id or ctx.request_id)
    # changes-since on v1 lists deletions too; v2 cannot (a loss says so)
    since_gone = service.detail(ctx, filters={"name": f"renamed-{run}",
                                              "changes-since": _since_text(since)})
    choice = service.client.version_choice
    assert choice is not None
    if choice.api is Api.V1:
        assert [(i["id"], i["deleted"]) for i in since_gone] == [(image_id, True)]
    else:
        assert since_gone == []


# ----------------------------------------------------------------------- the emulator

MODES = [("v1", None), ("v2", None), ("both", None), ("both", "1")]


@pytest.fixture(params=MODES, ids=[f"{api}-pin{pin}" for api, pin in MODES])
def emulated(request: pytest.FixtureRequest) -> Iterator[tuple[ImageService, Recording, str]]:
    api, pin = request.param
    recording = Recording(Emulator(api=api).sync_transport())
    with ImageService(URL, transport=recording, version=pin, token="nova-own") as service:
        speaks = "v1" if api == "v1" or pin == "1" else "v2"  # both: v2 preferred
        yield service, recording, speaks


def _api_paths(recording: Recording) -> set[str]:
    return {path.split("/")[1] for _m, path, *_rest in recording.seen if path != "/"}


def test_life_cycle_on_the_emulator_with_the_context_headers(
        emulated: tuple[ImageService, Recording, str], tmp_path: Path) -> None:
    service, recording, speaks = emulated
    ctx = Context(auth_token="user-token", global_id=rid(), request_id=rid(),
                  service_token="nova-service-token")
    run_life_cycle(service, ctx, tmp_path)
    assert recording.seen
    assert {(token, svc, req) for _m, _p, token, svc, req in recording.seen} == {
        ("user-token", "nova-service-token", ctx.global_id)}
    assert _api_paths(recording) == {speaks}


def test_the_service_token_and_request_id_fall_back_as_documented(
        caplog: pytest.LogCaptureFixture) -> None:
    recording = Recording(Emulator(api="v2").sync_transport())
    asked: list[int] = []

    def own_token() -> str:
        asked.append(1)
        return "nova-own-service-token"

    service = ImageService(URL, transport=recording, token="nova-own",
                           service_token=own_token)
    theirs = rid()
    with caplog.at_level(logging.WARNING, logger="imgcompat"):
        for ctx in (Context("u1", global_id="not-a-request-id", request_id=theirs),
                    Context("u2", global_id="req-" + str(uuid.uuid4()).upper()),
                    Context("u3", request_id="req-1\r\nX-Evil: 1",
                            service_token="their-service-token"),
                    Context(),
                    None):
            service.detail(ctx)
    seen = [(token, svc, req) for _m, path, token, svc, req in recording.seen if path != "/"]
    assert seen == [("u1", "nova-own-service-token", theirs),
                    ("u2", "nova-own-service-token", None),
                    ("u3", "their-service-token", None),
                    ("nova-own", "nova-own-service-token", None),
                    ("nova-own", "nova-own-service-token", None)]
    assert len(asked) == 4  # once per call that had no service token of its own
    skipped = [r.getMessage() for r in caplog.records if "not an OpenStack request id" in
               r.getMessage()]
    assert len(skipped) == 2  # one per attribute, however many calls carry a bad one
    assert not [line for line in skipped if "\r" in line or "\n" in line]  # escaped


def test_a_context_token_that_could_split_a_request_is_refused_before_the_wire() -> None:
    recording = Recording(Emulator(api="v2").sync_transport())
    service = ImageService(URL, transport=recording)
    with pytest.raises(InvalidRecord) as info:
        service.show(Context("tok\r\nX-Evil: 1"), str(uuid.uuid4()))
    assert info.value.field == "token"
    assert recording.seen == []


# ------------------------------------------------------------ classic shapes in detail

@pytest.fixture(params=["v1", "v2"])
def service(request: pytest.FixtureRequest) -> Iterator[ImageService]:
    with ImageService(URL, transport=Emulator(api=request.param).sync_transport()) as svc:
        yield svc


CTX = Context("tok")


@pytest.mark.parametrize("size", [0, "0"])
def test_size_zero_without_data_asks_for_an_empty_active_image(
        service: ImageService, size: object) -> None:
    made = service.create(CTX, {"name": "volume-backed", "size": size,
                                "properties": {"block_device_mapping": [{"boot_index": 0}]}})
    assert made["status"] == "active"
    assert made["size"] == 0
    assert made["properties"]["block_device_mapping"] == [{"boot_index": 0}]


@pytest.mark.parametrize("size", ["absent", None])
def test_no_size_without_data_reserves_a_queued_record(service: ImageService,
                                                        size: object) -> None:
    meta: dict[str, Any] = {"name": "reserved"}
    if size != "absent":
        meta["size"] = size
    assert service.create(CTX, meta)["status"] == "queued"


def test_a_typed_image_is_taken_as_the_client_takes_it(service: ImageService) -> None:
    made = service.create(CTX, imgcompat.Image(name="typed", disk_format="raw",
                                               container_format="bare"), data=b"abc")
    assert made["size"] == 3
    whole = imgcompat.from_seam_dict({**made, "name": "whole", "properties": {"p": "1"}})
    updated = service.update(CTX, made["id"], whole)
    assert (updated["name"], updated["properties"]) == ("whole", {"p": "1"})


def test_update_with_purge_and_no_properties_removes_them_all(service: ImageService) -> None:
    made = service.create(CTX, {"name": "p", "properties": {"a": "1", "b": "2"}})
    assert service.update(CTX, made["id"], {"min_ram": "128"})["properties"] == {}
    kept = service.create(CTX, {"name": "q", "properties": {"a": "1"}})
    after = service.update(CTX, kept["id"], {"min_ram": "128"}, purge_props=False)
    assert (after["properties"], after["min_ram"], after["name"]) == ({"a": "1"}, 128, "q")


def test_update_reads_visibility_and_is_public_as_given(service: ImageService) -> None:
    made = service.create(CTX, {"name": "v", "is_public": "true"})
    assert made["visibility"] == "public"
    assert service.update(CTX, made["id"], {"visibility": "private"})["is_public"] is False
    assert service.update(CTX, made["id"], {"is_public": "1"})["visibility"] == "public"
    assert service.update(CTX, made["id"], {"is_public": False})["visibility"] == "private"


def test_a_bad_value_names_its_field(service: ImageService) -> None:
    with pytest.raises(InvalidRecord) as info:
        service.create(CTX, {"name": "bad", "min_ram": "lots"})
    assert info.value.field == "min_ram"


def test_detail_zero_and_empty_paging_values_mean_not_given(service: ImageService) -> None:
    for n in range(3):
        service.create(CTX, {"name": f"d{n}", "properties": {"run": "z"}})
    every = service.detail(CTX, filters={"property-run": "z"}, limit=0, page_size=0,
                           marker="", sort_key="name", sort_dir="asc")
    assert [i["name"] for i in every] == ["d0", "d1", "d2"]
    two = service.detail(CTX, filters={"property-run": "z"}, limit=2, page_size=1,
                         sort_key="name", sort_dir="asc")
    assert [i["name"] for i in two] == ["d0", "d1"]
    after = service.detail(CTX, filters={"property-run": "z"}, marker=two[0]["id"],
                           sort_key="name", sort_dir="asc")
    assert [i["name"] for i in after] == ["d1", "d2"]


def test_download_into_data_wins_over_dst_path(service: ImageService, tmp_path: Path) -> None:
    made = service.create(CTX, {"name": "d", "disk_format": "raw", "container_format": "bare"},
                          data=b"bytes")
    sink = io.BytesIO()
    target = tmp_path / "never"
    service.download(CTX, made["id"], sink, target)  # the classic positional order
    assert sink.getvalue() == b"bytes"
    assert not target.exists()


def test_show_with_locations_lists_the_direct_url_once() -> None:
    service = ImageService(URL, transport=Emulator(api="v2").sync_transport())
    made = service.create(CTX, {"name": "l", "disk_format": "raw", "container_format": "bare"},
                          data=b"abc")
    shown = service.show(CTX, made["id"], include_locations=True)
    assert shown["direct_url"]
    assert [loc["url"] for loc in shown["locations"]] == [shown["direct_url"]]
    assert "locations" not in service.show(CTX, made["id"])


def test_pinned_service_is_the_per_driver_v1_fallback(caplog: pytest.LogCaptureFixture) -> None:
    recording = Recording(Emulator(api="both").sync_transport())
    service = ImageService(URL, transport=recording)
    made = service.create(CTX, {"name": "shared-store"})
    with caplog.at_level(logging.WARNING, logger="imgcompat"):
        legacy = service.pinned("1", caller="xenapi driver")
        assert legacy.show(CTX, made["id"])["name"] == "shared-store"
    assert legacy.client is not service.client
    assert [path for _m, path, *_ in recording.seen if path != "/"][-1].startswith("/v1/")
    assert [p for _m, p, *_ in recording.seen].count("/") == 1  # one discovery for both
    assert any("xenapi driver" in r.getMessage() for r in caplog.records)


def test_errors_stay_imgcompat_errors_and_carry_our_request_id(service: ImageService) -> None:
    ctx = Context("tok", global_id=rid())
    with pytest.raises(ImageNotFound) as info:
        service.delete(ctx, str(uuid.uuid4()))
    assert isinstance(info.value, imgcompat.ImgcompatError)
    assert info.value.request_id == ctx.global_id


def test_every_public_method_is_documented_and_nova_stays_out_of_all() -> None:
    methods = [n for n, m in inspect.getmembers(ImageService)
               if not n.startswith("_") and (inspect.isfunction(m) or isinstance(m, property))]
    assert {"show", "detail", "create", "update", "delete", "download"} <= set(methods)
    for name in [*methods, "__init__"]:
        assert (inspect.getdoc(getattr(ImageService, name)) or "").strip(), name
    assert "nova" not in imgcompat.__all__
    assert "ImageService" not in imgcompat.__all__


def test_a_service_makes_one_client_and_one_pool() -> None:
    transport = httpx.MockTransport(lambda r: pytest.fail("no call: nothing is sent"))
    service = ImageService(URL, transport=transport)
    assert service.client is service.client
    assert service.pinned("2").client._transport is service.client._transport


def test_an_update_refuses_new_locations_rather_than_dropping_them(
        service: ImageService) -> None:
    made = service.create(CTX, {"name": "loc"})
    with pytest.raises(InvalidRecord) as info:
        service.update(CTX, made["id"], {"locations": [{"url": "rbd://f/p/i/snap",
                                                        "metadata": {}}]})
    assert info.value.field == "locations"
    with pytest.raises(InvalidRecord) as classic:  # libvirt's direct snapshot key
        service.update(CTX, made["id"], {"location": "rbd://f/p/i/snap"})
    assert classic.value.field == "location"
    for image in (made, service.create(CTX, {"name": "data", "disk_format": "raw",
                                              "container_format": "bare"}, data=b"abc")):
        same = service.show(CTX, image["id"], include_locations=True)  # a show, handed back
        assert service.update(CTX, image["id"], {**same, "name": "kept"})["name"] == "kept"


def test_the_readme_service_examples_run(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using it inside a service", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the README lost an example of its service section"
    disk = tmp_path / "disk.raw"
    disk.write_bytes(DATA)
    code = "\n".join(blocks).replace('"/var/lib/disk.raw"', repr(str(disk)))
    code = code.replace('"/tmp/snap.raw"', repr(str(tmp_path / "snap.raw")))
    emulator = Emulator(api="v2")
    with serve(emulator) as url:
        seed = ImageService(url).create(Context(), {"name": "seed"})
        namespace: dict[str, Any] = {
            "api_servers": [url], "get_service_token": lambda: "service-token",
            "ctx": Context(auth_token="user-token", global_id=rid()), "image_id": seed["id"]}
        exec(compile(code, "README.md", "exec"), namespace)  # our own README, nothing else
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "seed"
    assert " active 512" in out
    assert (tmp_path / "snap.raw").read_bytes() == DATA
