"""v1 headers and v1 JSON <-> V1Image: every header row, booleans, ints, times, encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imgcompat import Image, InvalidRecord, Loss, from_v1_headers, from_v1_json, to_v1_headers
from imgcompat.core.enums import ContainerFormat, DiskFormat, Status
from imgcompat.core.model import V1Image
from imgcompat.core.seam import from_v1_json_list
from imgcompat.core.v1 import (
    decode_text,
    encode_name,
    encode_value,
    header_losses,
    purge_header,
    v1_headers_to_v1image,
    v1_json_list_to_v1images,
    v1_json_to_v1image,
    v1image_to_v1_headers,
    v1image_to_v1_json,
)

ID = "de2f2211-3ac7-4260-9142-41db0ecfb425"

#: A HEAD answer as the eventlet-served v1 API capitalised it (glance-api-detail.md 1.2-1.3).
HEAD = {
    "X-Image-Meta-Id": ID,
    "X-Image-Meta-Name": "cirros-0.3.4-x86_64-uec-kernel",
    "X-Image-Meta-Status": "active",
    "X-Image-Meta-Is_public": "True",
    "X-Image-Meta-Protected": "False",
    "X-Image-Meta-Deleted": "False",
    "X-Image-Meta-Disk_format": "aki",
    "X-Image-Meta-Container_format": "aki",
    "X-Image-Meta-Size": "4979632",
    "X-Image-Meta-Checksum": "8a40c862b5735975d82605c1dd395796",
    "X-Image-Meta-Min_ram": "0",
    "X-Image-Meta-Min_disk": "0",
    "X-Image-Meta-Owner": "1d8a2aaa5e5d4b6d8a8a2a9e3e2d5c61",
    "X-Image-Meta-Created_at": "2016-06-21T03:22:20.000000",
    "X-Image-Meta-Updated_at": "2016-06-22T04:30:01.000000",
    "X-Image-Meta-Virtual_size": "None",
    "X-Image-Meta-Property-Os_distro": "cirros",
    "Etag": "8a40c862b5735975d82605c1dd395796",
    "Content-Type": "text/html; charset=UTF-8",
}


def test_head_answer_parses_every_header() -> None:
    wire = v1_headers_to_v1image(HEAD)
    assert wire == V1Image(
        id=ID,
        name="cirros-0.3.4-x86_64-uec-kernel",
        status=Status.ACTIVE,
        is_public=True,
        protected=False,
        deleted=False,
        disk_format=DiskFormat.AKI,
        container_format=ContainerFormat.AKI,
        size=4979632,
        checksum="8a40c862b5735975d82605c1dd395796",
        min_ram=0,
        min_disk=0,
        owner="1d8a2aaa5e5d4b6d8a8a2a9e3e2d5c61",
        created_at=datetime(2016, 6, 21, 3, 22, 20, tzinfo=UTC),
        updated_at=datetime(2016, 6, 22, 4, 30, 1, tzinfo=UTC),
        virtual_size=None,
        properties={"os_distro": "cirros"},
    )


@pytest.mark.parametrize(
    ("header", "text", "attr", "value"),
    [
        ("x-image-meta-id", ID, "id", ID),
        ("x-image-meta-name", "n", "name", "n"),
        ("x-image-meta-status", "pending_delete", "status", Status.PENDING_DELETE),
        ("x-image-meta-status", "deactivated", "status", Status.DEACTIVATED),
        ("x-image-meta-is_public", "True", "is_public", True),
        ("x-image-meta-protected", "true", "protected", True),
        ("x-image-meta-deleted", "False", "deleted", False),
        ("x-image-meta-disk_format", "qcow2", "disk_format", DiskFormat.QCOW2),
        ("x-image-meta-container_format", "bare", "container_format", ContainerFormat.BARE),
        ("x-image-meta-size", "1048576", "size", 1048576),
        ("x-image-meta-virtual_size", "2048", "virtual_size", 2048),
        ("x-image-meta-virtual_size", "None", "virtual_size", None),
        ("x-image-meta-checksum", "63df5ede94b25c8df8125551ac0f62d5", "checksum",
         "63df5ede94b25c8df8125551ac0f62d5"),
        ("x-image-meta-min_ram", "512", "min_ram", 512),
        ("x-image-meta-min_disk", "10", "min_disk", 10),
        ("x-image-meta-owner", "tenant", "owner", "tenant"),
        ("x-image-meta-location", "file:///var/lib/glance/images/x", "location",
         "file:///var/lib/glance/images/x"),
        ("x-image-meta-created_at", "2016-06-21T03:22:20.000000", "created_at",
         datetime(2016, 6, 21, 3, 22, 20, tzinfo=UTC)),
        ("x-image-meta-updated_at", "2016-06-21T03:22:20.123456", "updated_at",
         datetime(2016, 6, 21, 3, 22, 20, 123456, tzinfo=UTC)),
        ("x-image-meta-deleted_at", "2016-06-21T03:22:20Z", "deleted_at",
         datetime(2016, 6, 21, 3, 22, 20, tzinfo=UTC)),
        # the v1 server read "-" as "_" in core field names
        ("x-image-meta-disk-format", "raw", "disk_format", DiskFormat.RAW),
        ("X-IMAGE-META-MIN-RAM", "1", "min_ram", 1),
    ],
)
def test_each_header_row(header: str, text: str, attr: str, value: Any) -> None:
    assert getattr(v1_headers_to_v1image({header: text}), attr) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("True", True), ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
     ("y", True), ("t", True), ("False", False), ("false", False), ("0", False), ("no", False),
     ("off", False), ("n", False), ("f", False)],
)
def test_booleans_parse_like_bool_from_string(text: str, value: bool) -> None:
    assert v1_headers_to_v1image({"x-image-meta-is_public": text}).is_public is value


@pytest.mark.parametrize("header", ["x-image-meta-size", "x-image-meta-min_ram",
                                    "x-image-meta-min_disk"])
@pytest.mark.parametrize("text", ["-1", "1.5", "", "abc", "١٢", "12\n"])
def test_integers_must_be_non_negative(header: str, text: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        v1_headers_to_v1image({header: text})
    assert info.value.field == header


@pytest.mark.parametrize(
    ("header", "text"),
    [("x-image-meta-created_at", "yesterday"), ("x-image-meta-is_public", "maybe"),
     ("x-image-meta-name", "a\r\nx-evil: 1"), ("x-image-meta-property-k", "v\x00"),
     ("x-image-meta-status", "Active!")],
)
def test_bad_values_name_the_header(header: str, text: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        v1_headers_to_v1image({header: text})
    assert info.value.field == header


def test_unknown_meta_header_refused_only_when_strict() -> None:
    headers = {"x-image-meta-colour": "red", "x-image-meta-name": "n"}
    assert v1_headers_to_v1image(headers).name == "n"
    with pytest.raises(InvalidRecord) as info:
        v1_headers_to_v1image(headers, strict=True)
    assert info.value.field == "x-image-meta-colour"


def test_request_only_headers_are_not_part_of_the_record() -> None:
    wire = v1_headers_to_v1image({"x-image-meta-store": "file", "x-glance-api-copy-from": "u",
                                  "x-glance-registry-purge-props": "false"}, strict=True)
    assert wire == V1Image()


def test_property_header_names_are_case_insensitive() -> None:
    wire = v1_headers_to_v1image([("X-Image-Meta-Property-Hw_Disk_Bus", "virtio")])
    assert dict(wire.properties) == {"hw_disk_bus": "virtio"}


def test_empty_property_name_refused() -> None:
    with pytest.raises(InvalidRecord):
        v1_headers_to_v1image({"x-image-meta-property-": "v"})
    with pytest.raises(InvalidRecord):
        to_v1_headers(Image(properties={"": "v"}))


def test_headers_must_be_text() -> None:
    with pytest.raises(InvalidRecord):
        v1_headers_to_v1image({"x-image-meta-name": 5})  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord):
        v1_headers_to_v1image(None)  # type: ignore[arg-type]


# ------------------------------------------------------------------ sending headers


def test_headers_out_none_is_never_sent() -> None:
    headers = dict(v1image_to_v1_headers(V1Image(id=ID, name=None, is_public=False,
                                                 created_at=datetime(2016, 6, 21, tzinfo=UTC),
                                                 properties={"a": "1"})))
    assert headers == {
        "x-image-meta-id": ID,
        "x-image-meta-is_public": "False",
        "x-image-meta-created_at": "2016-06-21T00:00:00.000000",
        "x-image-meta-property-a": "1",
    }
    assert "None" not in headers.values()


def test_writable_only_headers() -> None:
    wire = V1Image(id=ID, status=Status.ACTIVE, size=5, checksum="c", name="n", deleted=False,
                   created_at=datetime(2016, 1, 1, tzinfo=UTC))
    assert dict(v1image_to_v1_headers(wire, writable_only=True)) == {
        "x-image-meta-id": ID, "x-image-meta-name": "n"}


def test_purge_header_is_always_explicit() -> None:
    assert purge_header(True) == ("x-glance-registry-purge-props", "true")
    assert purge_header(False) == ("x-glance-registry-purge-props", "false")


# ------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("cirros", "cirros"), ("Ubuntu 16.04", "Ubuntu%2016.04"), ("ñ", "%C3%B1"),
     ("a,b", "a,b"), ("100%", "100%25"), ("a\r\nb", "a%0D%0Ab"), ("\x00", "%00"),
     ("file:///x/y?z=1", "file:///x/y?z=1"), ("☃", "%E2%98%83")],
)
def test_value_encoding_rule(text: str, encoded: str) -> None:
    assert encode_value(text) == encoded
    assert decode_text(encoded, "f") == text


@pytest.mark.parametrize(
    ("name", "encoded"),
    [("os_distro", "os_distro"), ("hw-disk", "hw-disk"), ("a b", "a%20b"), ("é", "%C3%A9"),
     ("a:b", "a%3Ab"), ("a/b", "a%2Fb")],
)
def test_name_encoding_rule(name: str, encoded: str) -> None:
    assert encode_name(name) == encoded


def test_non_ascii_round_trips_and_never_travels_raw() -> None:
    image = Image(name="niño ☃", properties={"note": "héllo\r\nx-evil: 1", "ключ": "значение"})
    sent = to_v1_headers(image)
    for name, value in sent.value:
        assert name.isascii()
        assert value.isascii()
        assert not {"\r", "\n", "\x00", " "} & set(name + value)
    back = from_v1_headers(dict(sent.value))
    assert back.name == "niño ☃"
    assert dict(back.properties) == {"note": "héllo\r\nx-evil: 1", "ключ": "значение"}
    fields = {loss.field for loss in sent.losses}
    assert {"name", "properties.note", "properties.ключ"} <= fields


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidRecord):
        to_v1_headers(Image(properties={"k": "\ud800"}))
    with pytest.raises(InvalidRecord):
        to_v1_headers(Image(properties={"\udfff": "v"}))


def test_bad_percent_utf8_on_receipt() -> None:
    with pytest.raises(InvalidRecord) as info:
        v1_headers_to_v1image({"x-image-meta-property-k": "%C3"})
    assert info.value.field == "x-image-meta-property-k"


def test_raw_mode_keeps_what_arrived_and_refuses_injection() -> None:
    wire = v1_headers_to_v1image({"x-image-meta-name": "Ubuntu%2016.04"}, percent_decode=False)
    assert wire.name == "Ubuntu%2016.04"
    with pytest.raises(InvalidRecord):
        v1image_to_v1_headers(V1Image(name="a\nb"), percent_encode=False)


@pytest.mark.parametrize(
    ("properties", "name", "fields"),
    [
        ({"os-distro": "x"}, None, ["properties.os-distro"]),
        ({"Os_Distro": "x"}, None, ["properties.Os_Distro"]),
        ({"é": "x"}, None, ["properties.é"]),  # non-ASCII case survives; encoding is the loss
        ({"k": "a b"}, None, ["properties.k"]),
        ({"k": "v"}, "Ubuntu 16.04", ["name"]),
        ({"k": "v"}, "plain", []),
    ],
)
def test_header_losses(properties: dict[str, str], name: str | None, fields: list[str]) -> None:
    losses = header_losses(V1Image(name=name, properties=properties))
    assert [loss.field for loss in losses] == fields
    assert all(isinstance(loss, Loss) and loss.reason for loss in losses)


# ------------------------------------------------------------------------ v1 JSON


def _load(samples_dir: Path, name: str) -> Any:
    return json.loads((samples_dir / "glance-api-ref" / "v1" / name).read_text())


def test_v1_json_update_response(samples_dir: Path) -> None:
    image = from_v1_json(_load(samples_dir, "image-update-response.json"))
    assert image.name == "Silas Marner"
    assert image.status is Status.ACTIVE
    assert image.size == 25165824
    assert (image.min_disk, image.min_ram) == (22, 11)
    assert dict(image.properties) == {"foo": "bar", "qe_status": "approved"}
    assert image.created_at == datetime(2016, 3, 15, 15, 9, 7, tzinfo=UTC)
    assert not image.is_public
    assert image.visibility == "private"


def test_v1_json_reserve(samples_dir: Path) -> None:
    image = from_v1_json(_load(samples_dir, "images-create-reserve-response.json"))
    assert (image.status, image.size, image.name, image.disk_format) == (
        Status.QUEUED, 0, None, None)


@pytest.mark.parametrize("name", ["images-list-details-response.json",
                                  "images-list-response.json"])
def test_v1_json_lists(samples_dir: Path, name: str) -> None:
    doc = _load(samples_dir, name)
    doc["images"] = [i for i in doc["images"] if "..." not in i]  # the elision entry
    images = from_v1_json_list(doc)
    assert len(images) == 1
    assert images[0].status is Status.ACTIVE  # the summary list carries active images only
    assert images[0].checksum == "eb9139e4942121f22bbc2afc0400b2a4"


def test_v1_json_null_property_is_left_out() -> None:
    wire = v1_json_to_v1image({"id": ID, "properties": {"a": None, "b": "x"}})
    assert dict(wire.properties) == {"b": "x"}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"id": ID, "size": -1}, "size"),
        ({"id": ID, "size": "5"}, "size"),
        ({"id": ID, "is_public": "yes"}, "is_public"),
        ({"id": ID, "colour": "red"}, "colour"),
        ({"name": "x"}, "id"),
        ({"id": ID, "properties": {"k": 5}}, "properties/k"),
    ],
)
def test_v1_json_schema_errors_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        v1_json_to_v1image(doc)
    assert info.value.field == field


def test_v1_json_list_needs_images() -> None:
    with pytest.raises(InvalidRecord):
        v1_json_list_to_v1images({"image": {"id": ID}})


def test_v1_json_out() -> None:
    when = datetime(2016, 1, 1, tzinfo=UTC)
    wire = V1Image(id=ID, status=Status.ACTIVE, is_public=True, protected=False, deleted=False,
                   min_ram=0, min_disk=0, size=0, created_at=when, updated_at=when,
                   properties={"a": "b"})
    doc = v1image_to_v1_json(wire)
    assert doc["created_at"] == "2016-01-01T00:00:00.000000"
    assert doc["is_public"] is True
    assert doc["properties"] == {"a": "b"}
    assert v1_json_to_v1image({"image": doc}) == wire


def test_properties_the_v1_wire_folds_together_are_reported() -> None:
    """'NIL'/'nil' and 'a-b'/'a_b' become one header name on a v1 server."""
    from imgcompat.core.v1 import header_losses

    losses = header_losses(V1Image(properties={"NIL": "", "nil": "0", "a-b": "1", "a_b": "2",
                                               "solo": "x"}))
    clashes = {loss.field for loss in losses if "keeps one of them" in loss.reason}
    assert clashes == {"properties.NIL", "properties.nil", "properties.a-b", "properties.a_b"}
