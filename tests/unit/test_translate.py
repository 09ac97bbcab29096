"""V1Image <-> Image <-> V2Image: every row of the mapping tables, with the losses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imgcompat import Image, InvalidRecord, from_v2
from imgcompat.core.enums import Status, Visibility
from imgcompat.core.model import Location, V1Image, V2Image
from imgcompat.core.translate import (
    decode_properties,
    encode_property,
    image_to_v1,
    image_to_v2,
    merge,
    v1_to_image,
    v2_to_image,
)

T = datetime(2016, 6, 21, 3, 22, 20, 123456, tzinfo=UTC)
T0 = T.replace(microsecond=0)
BDM = [{"boot_index": 0, "source_type": "image"}]


def _fields(translated: object) -> list[str]:
    return [loss.field for loss in translated.losses]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ v1 -> Image (reads)


@pytest.mark.parametrize(
    ("v1", "expected"),
    [
        ({"is_public": True}, {"is_public": True, "visibility": Visibility.PUBLIC}),
        ({"is_public": False}, {"is_public": False, "visibility": Visibility.PRIVATE}),
        ({"deleted": True, "deleted_at": T, "status": "deleted"},
         {"deleted": True, "deleted_at": T}),
        ({"status": "deleted"}, {"deleted": True}),
        ({"size": None}, {"size": 0}),
        ({"size": 7}, {"size": 7}),
        ({"status": "active", "checksum": "c"}, {"checksum": "c"}),
        ({"status": "queued", "checksum": "c"}, {"checksum": None}),
        ({"status": "killed", "checksum": "c"}, {"checksum": None}),
        ({"min_ram": None, "min_disk": None}, {"min_ram": 0, "min_disk": 0}),
        ({"location": "file:///x"}, {"direct_url": "file:///x"}),
        ({"created_at": T}, {"created_at": T}),
        ({"status": "deactivated"}, {"status": Status.DEACTIVATED}),
        ({"owner": "t"}, {"owner": "t", "tags": (), "os_hash_algo": None}),
    ],
)
def test_v1_to_image_rows(v1: dict[str, object], expected: dict[str, object]) -> None:
    image = v1_to_image(V1Image(**v1))  # type: ignore[arg-type]
    for key, value in expected.items():
        assert getattr(image, key) == value, key


def test_v1_summary_entry_is_active() -> None:
    assert v1_to_image(V1Image(id="x", checksum="c")).status is Status.ACTIVE


# ------------------------------------------------------------------ v2 -> Image (reads)


@pytest.mark.parametrize(
    ("v2", "expected"),
    [
        ({"visibility": "public"}, {"is_public": True, "visibility": Visibility.PUBLIC}),
        ({"visibility": "private"}, {"is_public": False, "visibility": Visibility.PRIVATE}),
        ({"visibility": "shared"}, {"is_public": False, "visibility": Visibility.SHARED}),
        ({"visibility": "community"}, {"is_public": False, "visibility": Visibility.COMMUNITY}),
        ({"visibility": None}, {"visibility": Visibility.SHARED}),
        ({"status": "deleted"}, {"deleted": True, "deleted_at": None}),
        ({"status": "active"}, {"deleted": False}),
        ({"size": None}, {"size": 0}),
        ({"status": "active", "checksum": "c", "os_hash_algo": "sha512", "os_hash_value": "h"},
         {"checksum": "c", "os_hash_algo": "sha512", "os_hash_value": "h"}),
        ({"status": "queued", "checksum": "c", "os_hash_algo": "sha512", "os_hash_value": "h"},
         {"checksum": None, "os_hash_algo": None, "os_hash_value": None}),
        ({"os_hidden": True}, {"os_hidden": True}),
        ({"tags": ("a", "b")}, {"tags": ("a", "b")}),
        ({"tags": None}, {"tags": ()}),
        ({"min_ram": None}, {"min_ram": 0}),
        ({"direct_url": "file:///x"}, {"direct_url": "file:///x"}),
        ({"locations": [{"url": "file:///x", "metadata": {}}]},
         {"locations": (Location("file:///x"),)}),
        ({"status": "uploading"}, {"status": Status.UPLOADING}),
        ({"status": "future_status"}, {"status": "future_status"}),
    ],
)
def test_v2_to_image_rows(v2: dict[str, object], expected: dict[str, object]) -> None:
    image = v2_to_image(V2Image(**v2))  # type: ignore[arg-type]
    for key, value in expected.items():
        assert getattr(image, key) == value, key


def test_links_and_stores_are_never_properties(samples_dir: Path) -> None:
    doc = json.loads((samples_dir / "glance-v2-real/image-show-active.json").read_text())["body"]
    image = from_v2(doc)
    assert set(image.properties) == {"os_distro", "note", "block_device_mapping", "image_type"}
    assert image.properties["block_device_mapping"] == ({"boot_index": 0,
                                                         "source_type": "image"},)
    assert image.virtual_size == 1048576


# ------------------------------------------------------------- structured properties


@pytest.mark.parametrize("key", ["block_device_mapping", "mappings"])
def test_structured_properties_decode_and_encode(key: str) -> None:
    text = json.dumps(BDM, separators=(",", ":"))
    props = decode_properties(V2Image(properties={key: text}).properties)
    assert props == {key: BDM}
    assert encode_property(key, Image(properties=props).properties[key], api="2") == (text, None)


def test_structured_property_that_is_not_json_names_it() -> None:
    with pytest.raises(InvalidRecord) as info:
        v2_to_image(V2Image(properties={"mappings": "[{"}))
    assert info.value.field == "properties.mappings"


@pytest.mark.parametrize("text", ["null", "5", '"x"', "true"])
def test_structured_property_scalars_stay_text(text: str) -> None:
    image = v2_to_image(V2Image(properties={"block_device_mapping": text}))
    assert image.properties["block_device_mapping"] == text
    assert image_to_v2(image).value.properties["block_device_mapping"] == text


@pytest.mark.parametrize(
    ("value", "text", "lossy"),
    [("x", "x", False), (5, "5", True), (True, "True", True), (1.5, "1.5", True),
     ({"a": 1}, '{"a": 1}', True), ([1, 2], "[1, 2]", True)],
)
def test_non_string_properties_are_stringified_for_v2(
    value: object, text: str, lossy: bool
) -> None:
    translated = image_to_v2(Image(properties={"p": value}))
    assert translated.value.properties["p"] == text
    assert _fields(translated) == (["properties.p"] if lossy else [])


@pytest.mark.parametrize("key", ["kernel_id", "ramdisk_id"])
@pytest.mark.parametrize("value", ["none", "None", "", " NONE "])
def test_kernel_and_ramdisk_none_are_omitted_for_v2(key: str, value: str) -> None:
    translated = image_to_v2(Image(properties={key: value}))
    assert key not in translated.value.properties
    assert _fields(translated) == [f"properties.{key}"]
    # v1 stores the text as it is
    assert image_to_v1(Image(properties={key: value})).value.properties[key] == value


def test_kernel_id_value_is_kept() -> None:
    uuid = "de2f2211-3ac7-4260-9142-41db0ecfb425"
    assert image_to_v2(Image(properties={"kernel_id": uuid})).value.properties == {
        "kernel_id": uuid}


@pytest.mark.parametrize(
    "key",
    ["location", "deleted", "deleted_at", "os_glance_import_task", "name", "tags", "self",
     "file", "schema", "stores", "visibility", "os_hidden", "direct_url", "locations"],
)
def test_reserved_and_base_names_are_not_sent_to_v2(key: str) -> None:
    translated = image_to_v2(Image(properties={key: "x"}))
    assert key not in translated.value.properties
    assert _fields(translated) == [f"properties.{key}"]


def test_property_none_is_not_sent() -> None:
    translated = image_to_v2(Image(properties={"a": None}))
    assert translated.value.properties == {}
    assert image_to_v1(Image(properties={"a": None})).value.properties == {}


# ---------------------------------------------------------------- Image -> v1 (writes)


@pytest.mark.parametrize(
    ("image", "fields"),
    [
        (Image(), []),
        (Image().with_visibility("shared"), ["visibility"]),
        (Image().with_visibility("community"), ["visibility"]),
        (Image().with_visibility("public"), []),
        (Image(os_hidden=True), ["os_hidden"]),
        (Image(tags=("a",)), ["tags"]),
        (Image(status="deactivated"), ["status"]),
        (Image(status="uploading"), ["status"]),
        (Image(status="importing"), ["status"]),
        (Image(status="future"), ["status"]),
        (Image(status="active", os_hash_algo="sha512", os_hash_value="h"), ["os_hash_value"]),
        (Image(locations=[{"url": "a"}, {"url": "b"}], direct_url="a"), ["locations"]),
        (Image(locations=[{"url": "a"}], direct_url="a"), []),
    ],
)
def test_image_to_v1_losses(image: Image, fields: list[str]) -> None:
    assert _fields(image_to_v1(image)) == fields


def test_image_to_v1_values() -> None:
    image = Image(id="i", name="n", status="deactivated", protected=True, size=5, min_ram=1,
                  min_disk=2, owner="o", direct_url="file:///x", created_at=T, updated_at=T,
                  deleted=True, deleted_at=T, checksum="c", virtual_size=9,
                  disk_format="raw", container_format="bare",
                  properties={"block_device_mapping": BDM, "a": "b"}).with_visibility("public")
    v1 = image_to_v1(image).value
    assert v1 == V1Image(
        id="i", name="n", status="deactivated", is_public=True, protected=True,
        disk_format="raw", container_format="bare", size=5, virtual_size=9, checksum="c",
        min_ram=1, min_disk=2, owner="o", location="file:///x", created_at=T, updated_at=T,
        deleted_at=T, deleted=True,
        properties={"block_device_mapping": json.dumps(BDM, separators=(",", ":")), "a": "b"},
    )


# ---------------------------------------------------------------- Image -> v2 (writes)


@pytest.mark.parametrize(
    ("image", "fields"),
    [
        (Image(), []),
        (Image(deleted=True, deleted_at=T0, status="pending_delete"), ["deleted", "deleted_at"]),
        (Image(deleted=True, deleted_at=T0, status="deleted"), ["deleted_at"]),
        (Image(created_at=T, updated_at=T), ["created_at", "updated_at"]),
        (Image(created_at=T0, updated_at=T0), []),
    ],
)
def test_image_to_v2_losses(image: Image, fields: list[str]) -> None:
    assert _fields(image_to_v2(image)) == fields


def test_image_to_v2_values_whole_seconds_and_visibility() -> None:
    v2 = image_to_v2(Image(created_at=T).with_visibility("community")).value
    assert v2.created_at == T0
    assert v2.visibility is Visibility.COMMUNITY


@pytest.mark.parametrize(
    ("status", "size", "wire"),
    [("queued", 0, None), ("saving", 0, None), ("uploading", 0, None), ("importing", 0, None),
     ("active", 0, 0), ("queued", 5, 5), ("killed", 0, 0), ("deactivated", 9, 9)],
)
def test_v2_size_is_null_only_without_data(status: str, size: int, wire: int | None) -> None:
    assert image_to_v2(Image(status=status, size=size)).value.size == wire


def test_older_v2_minors() -> None:
    image = Image(status="active", os_hidden=True, os_hash_algo="sha512", os_hash_value="h")
    translated = image_to_v2(image, minor=6)
    assert _fields(translated) == ["os_hidden", "os_hash_value"]
    assert translated.value.os_hidden is None
    assert translated.value.os_hash_value is None
    assert image_to_v2(image, minor=7).lossless


def test_merge_keeps_order_without_repeats() -> None:
    a = image_to_v1(Image(tags=("x",)))
    b = image_to_v1(Image(tags=("y",), os_hidden=True))
    assert [loss.field for loss in merge(a, b)] == ["tags", "os_hidden"]


def test_v2_only_status_is_kept_on_v1_but_reported() -> None:
    translated = image_to_v1(Image(status="deactivated"))
    assert translated.value.status is Status.DEACTIVATED
    assert _fields(translated) == ["status"]
