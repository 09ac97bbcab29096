"""v2 JSON <-> V2Image, on the real server's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imgcompat import InvalidRecord, from_v2
from imgcompat.core.enums import ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.model import Location, V2Image
from imgcompat.core.seam import from_v2_list
from imgcompat.core.v2 import v2_json_list_to_v2images, v2_json_to_v2image, v2image_to_v2_json

ID = "985df77b-9844-478d-943c-c2e15fe354f3"


def _real(samples_dir: Path, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((samples_dir / "glance-v2-real" / name).read_text())["body"]
    return body


def test_real_create_answer(samples_dir: Path) -> None:
    wire = v2_json_to_v2image(_real(samples_dir, "image-create.json"))
    assert wire == V2Image(
        id=ID,
        name="cirros-0.6.2",
        status=Status.QUEUED,
        visibility=Visibility.PRIVATE,
        protected=False,
        os_hidden=False,
        checksum=None,
        os_hash_algo=None,
        os_hash_value=None,
        owner=None,
        size=None,
        virtual_size=None,
        min_ram=0,
        min_disk=0,
        disk_format=DiskFormat.RAW,
        container_format=ContainerFormat.BARE,
        created_at=datetime(2026, 11, 24, 17, 7, 57, tzinfo=UTC),
        updated_at=datetime(2026, 11, 24, 17, 7, 57, tzinfo=UTC),
        tags=(),
        self_link=f"/v2/images/{ID}",
        file_link=f"/v2/images/{ID}/file",
        schema_link="/v2/schemas/image",
        properties={
            "os_distro": "cirros",
            "hw_disk_bus": "virtio",
            "note": "héllo ☃",
            "block_device_mapping": '[{"boot_index": 0, "source_type": "image"}]',
        },
    )


def test_real_active_answer_keeps_links_apart(samples_dir: Path) -> None:
    wire = v2_json_to_v2image(_real(samples_dir, "image-show-active.json"))
    assert wire.status is Status.ACTIVE
    assert wire.checksum == "63df5ede94b25c8df8125551ac0f62d5"
    assert wire.os_hash_algo == "sha512"
    assert wire.os_hash_value is not None
    assert len(wire.os_hash_value) == 128
    assert wire.direct_url == f"file:///var/lib/glance/images/{ID}"
    assert wire.stores == "fs"
    assert wire.size == wire.virtual_size == 1048576
    for key in ("self", "file", "schema", "stores", "direct_url", "virtual_size"):
        assert key not in wire.properties
    assert set(wire.properties) == {"os_distro", "note", "block_device_mapping", "image_type"}


@pytest.mark.parametrize(
    "name",
    ["image-create.json", "image-create-community.json", "image-create-shared-tags.json",
     "image-patch.json", "image-protect.json", "image-show-active.json",
     "image-show-deactivated.json"],
)
def test_every_real_entity_round_trips_through_the_codec(samples_dir: Path, name: str) -> None:
    doc = _real(samples_dir, name)
    assert v2image_to_v2_json(v2_json_to_v2image(doc)) == doc


@pytest.mark.parametrize(
    "name",
    ["images-list-page.json", "images-list-in-filter.json", "images-list-property-filter.json",
     "images-list-sort.json", "images-list-updated-gte.json"],
)
def test_real_lists(samples_dir: Path, name: str) -> None:
    doc = _real(samples_dir, name)
    assert len(from_v2_list(doc)) == len(doc["images"])


@pytest.mark.parametrize(
    "name",
    ["image-create-response.json", "image-show-response.json", "image-update-response.json",
     "image-details-deactivate-response.json"],
)
def test_api_ref_entities(samples_dir: Path, name: str) -> None:
    doc = json.loads((samples_dir / "glance-api-ref" / "v2" / name).read_text())
    image = from_v2(doc)
    assert image.id == doc["id"]


def test_api_ref_list(samples_dir: Path) -> None:
    doc = json.loads((samples_dir / "glance-api-ref/v2/images-list-response.json").read_text())
    assert len(v2_json_list_to_v2images(doc)) == 2


def test_locations() -> None:
    wire = v2_json_to_v2image({"id": ID, "locations": [
        {"url": "file:///a", "metadata": {"store": "fs"}}]})
    assert wire.locations == (Location("file:///a", {"store": "fs"}),)
    assert v2image_to_v2_json(wire)["locations"] == [
        {"url": "file:///a", "metadata": {"store": "fs"}}]


def test_unknown_values_of_open_enums_pass() -> None:
    wire = v2_json_to_v2image({"id": ID, "status": "resizing", "visibility": "tenant",
                               "disk_format": "zfs", "container_format": "oci"})
    assert wire.status == "resizing"
    assert not wire.status.known
    assert wire.visibility == "tenant"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"id": ID, "os_distro": 5}, "os_distro"),
        ({"id": ID, "os_distro": None}, "os_distro"),
        ({"id": ID, "min_ram": "512"}, "min_ram"),
        ({"id": ID, "size": -1}, "size"),
        ({"id": ID, "protected": "false"}, "protected"),
        ({"id": ID, "tags": "a"}, "tags"),
        ({"id": ID, "tags": [1]}, "tags/0"),
        ({"id": ID, "created_at": "yesterday"}, "created_at"),
        ({"id": "not-a-uuid"}, "id"),
        ({"name": "x"}, "id"),
        ({"id": ID, "status": "Active"}, "status"),
    ],
)
def test_invalid_entities_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        v2_json_to_v2image(doc)
    assert info.value.field == field


@pytest.mark.parametrize("doc", [None, [], "x", 5])
def test_non_objects_refused(doc: Any) -> None:
    with pytest.raises(InvalidRecord):
        v2_json_to_v2image(doc)


def test_list_needs_images() -> None:
    with pytest.raises(InvalidRecord):
        from_v2_list({"first": "/v2/images"})


def test_times_out_have_z_and_whole_seconds() -> None:
    wire = V2Image(id=ID, created_at=datetime(2026, 11, 24, 17, 7, 57, tzinfo=UTC))
    assert v2image_to_v2_json(wire)["created_at"] == "2026-11-24T17:07:57Z"
