"""The field table, the open enums and the frozen records."""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from imgcompat import Image, InvalidRecord, Location, V1Image, V2Image
from imgcompat.core.enums import (
    V1_STATUSES,
    ContainerFormat,
    DiskFormat,
    OpenStrEnum,
    Status,
    Visibility,
)
from imgcompat.core.fields import (
    BY_NAME,
    BY_V1_KEY,
    BY_V2_KEY,
    FIELDS,
    SPECIAL_PROPERTIES,
    Kind,
    is_v2_reserved,
    v2_fields_for_minor,
)
from imgcompat.core.immutable import FrozenDict, freeze, thaw


def test_field_names_are_unique_and_wire_names_too() -> None:
    assert len(BY_NAME) == len(FIELDS)
    assert len(BY_V1_KEY) == len([f for f in FIELDS if f.base and f.v1])
    assert len(BY_V2_KEY) == len([f for f in FIELDS if f.base and f.v2])


@pytest.mark.parametrize(
    ("name", "v1", "v2", "read_only"),
    [
        ("id", "id", "id", True),
        ("name", "name", "name", False),
        ("status", "status", "status", True),
        ("is_public", "is_public", None, False),
        ("visibility", None, "visibility", False),
        ("protected", "protected", "protected", False),
        ("os_hidden", None, "os_hidden", False),
        ("deleted", "deleted", None, True),
        ("deleted_at", "deleted_at", None, True),
        ("created_at", "created_at", "created_at", True),
        ("updated_at", "updated_at", "updated_at", True),
        ("size", "size", "size", True),
        ("virtual_size", "virtual_size", "virtual_size", True),
        ("checksum", "checksum", "checksum", True),
        ("os_hash_algo", None, "os_hash_algo", True),
        ("os_hash_value", None, "os_hash_value", True),
        ("disk_format", "disk_format", "disk_format", False),
        ("container_format", "container_format", "container_format", False),
        ("min_disk", "min_disk", "min_disk", False),
        ("min_ram", "min_ram", "min_ram", False),
        ("owner", "owner", "owner", False),
        ("direct_url", "location", "direct_url", True),
        ("locations", None, "locations", True),
        ("tags", None, "tags", False),
        ("self_link", None, "self", True),
        ("file_link", None, "file", True),
        ("schema_link", None, "schema", True),
        ("stores", None, "stores", True),
    ],
)
def test_field_table_rows(name: str, v1: str | None, v2: str | None, read_only: bool) -> None:
    f = BY_NAME[name]
    assert (f.v1, f.v2, f.read_only, f.base) == (v1, v2, read_only, True)


def test_special_properties() -> None:
    assert {k: f.kind for k, f in SPECIAL_PROPERTIES.items()} == {
        "block_device_mapping": Kind.JSON,
        "mappings": Kind.JSON,
        "kernel_id": Kind.REF,
        "ramdisk_id": Kind.REF,
    }


def test_multihash_and_os_hidden_need_2_7() -> None:
    assert "os_hidden" not in {f.name for f in v2_fields_for_minor(6)}
    assert {"os_hidden", "os_hash_algo", "os_hash_value"} <= {
        f.name for f in v2_fields_for_minor(7)
    }


@pytest.mark.parametrize(
    ("key", "reserved"),
    [("location", True), ("deleted", True), ("deleted_at", True), ("os_glance_x", True),
     ("os_glance", True), ("os_distro", False), ("is_public", False)],
)
def test_v2_reserved_names(key: str, reserved: bool) -> None:
    assert is_v2_reserved(key) is reserved


@pytest.mark.parametrize("value", [s.value for s in Status])
def test_every_status_is_known(value: str) -> None:
    assert Status(value).known
    assert Status(value) == value


def test_v1_statuses() -> None:
    assert {s.value for s in V1_STATUSES} == {
        "queued", "saving", "active", "killed", "deleted", "pending_delete"}
    assert {s.value for s in Status} - {s.value for s in V1_STATUSES} == {
        "uploading", "importing", "deactivated"}


@pytest.mark.parametrize("enum", [Status, Visibility, DiskFormat, ContainerFormat])
def test_open_enums_keep_unknown_values(enum: type[Status]) -> None:
    value = enum("from_the_future")
    assert value == "from_the_future"
    assert not value.known
    assert enum("from_the_future") is value
    assert str(value) == "from_the_future"


def _kept(mint: Callable[[int], OpenStrEnum], count: int) -> int:
    """Bytes still allocated after minting ``count`` fresh values and a collection."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            assert not mint(i).known
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_fresh_long_unknown_values_are_not_kept() -> None:
    # a server's fresh 64 KiB statuses, past any schema: 1,000 of them once pinned 192 MiB
    assert _kept(lambda i: Status(f"s{i:08d}" * 7282), 1000) < 8 * 1024 * 1024


def test_fresh_short_unknown_values_are_kept_only_up_to_a_bound() -> None:
    tag = uuid.uuid4().hex[:8]  # values no other test minted
    # 4,000 fresh formats: about 1.6 MiB once stayed; the LRU keeps its last 256
    assert _kept(lambda i: DiskFormat(f"f_{tag}_{i}"), 4000) < 256 * 1024


@pytest.mark.parametrize("enum", [Status, Visibility, DiskFormat, ContainerFormat])
def test_open_enums_refuse_empty(enum: type[Status]) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        enum("")


def test_enum_members() -> None:
    assert {v.value for v in Visibility} == {"public", "private", "shared", "community"}
    assert {v.value for v in DiskFormat} == {
        "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
    assert {v.value for v in ContainerFormat} == {
        "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}


def test_records_are_frozen() -> None:
    image = Image(id="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        image.name = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        image.properties["k"] = "v"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        V1Image().name = "y"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        V2Image().name = "y"  # type: ignore[misc]


def test_image_properties_are_deep_frozen_and_hashable() -> None:
    image = Image(properties={"block_device_mapping": [{"a": [1, 2]}]})
    assert image.properties["block_device_mapping"] == ({"a": (1, 2)},)
    assert isinstance(image.properties["block_device_mapping"][0], FrozenDict)
    assert hash(image) == hash(Image(properties={"block_device_mapping": [{"a": [1, 2]}]}))
    assert thaw(image.properties) == {"block_device_mapping": [{"a": [1, 2]}]}
    assert freeze([{"a": 1}]) == ({"a": 1},)


def test_image_times_become_aware_utc() -> None:
    naive = datetime(2016, 6, 21, 3, 22, 20)
    plus2 = datetime(2016, 6, 21, 5, 22, 20, tzinfo=timezone(timedelta(hours=2)))
    image = Image(created_at=naive, updated_at=plus2)
    assert image.created_at == datetime(2016, 6, 21, 3, 22, 20, tzinfo=UTC)
    assert image.updated_at is not None
    assert image.updated_at.tzinfo is UTC
    assert image.updated_at == image.created_at


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"is_public": True}, "is_public"),
        ({"visibility": "public"}, "is_public"),
        ({"deleted_at": datetime(2020, 1, 1, tzinfo=UTC)}, "deleted_at"),
        ({"size": -1}, "size"),
        ({"min_ram": -1}, "min_ram"),
        ({"min_disk": True}, "min_disk"),
        ({"virtual_size": "5"}, "virtual_size"),
        ({"status": None}, "status"),
    ],
)
def test_image_invariants(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        Image(**changes)  # type: ignore[arg-type]
    assert info.value.field == field


def test_image_helpers() -> None:
    image = Image(properties={"a": "1", "b": "2"}).with_properties(a=None, c=[1])
    assert dict(image.properties) == {"b": "2", "c": (1,)}
    public = image.with_visibility("public")
    assert public.is_public
    assert public.visibility is Visibility.PUBLIC
    assert not public.with_visibility(Visibility.COMMUNITY).is_public


def test_locations_are_converted() -> None:
    image = Image(locations=[{"url": "file:///x", "metadata": {"store": "fs"}}])
    assert image.locations == (Location("file:///x", {"store": "fs"}),)
    with pytest.raises(InvalidRecord):
        Image(locations=[{"nourl": 1}])


def test_wire_enum_converters_refuse_non_text() -> None:
    with pytest.raises(InvalidRecord):
        V2Image(status=5)
    assert V2Image(status="active").status is Status.ACTIVE
