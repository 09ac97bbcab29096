"""The classic seam dict and the public entry points."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import imgcompat
from imgcompat import Image, InvalidRecord, from_seam_dict, to_seam_dict
from imgcompat.core.seam import LOCATION_KEYS, SEAM_KEYS, to_seam_json

T = datetime(2016, 6, 21, 3, 22, 20, tzinfo=UTC)

#: Every key of seam-contract.md's record table.
CONTRACT_KEYS = {"id", "name", "status", "is_public", "visibility", "protected", "deleted",
                 "deleted_at", "created_at", "updated_at", "size", "checksum", "os_hash_algo",
                 "os_hash_value", "disk_format", "container_format", "min_disk", "min_ram",
                 "owner", "tags", "properties"}


def test_public_api() -> None:
    for name in ("Image", "V1Image", "V2Image", "Loss", "from_v1_headers", "to_v1_headers",
                 "from_v1_json", "from_v2", "to_v2", "v2_patch", "v1_update_headers",
                 "to_seam_dict", "from_seam_dict", "filters_for"):
        assert name in imgcompat.__all__
        assert hasattr(imgcompat, name)


def test_seam_dict_has_every_contract_key() -> None:
    record = to_seam_dict(Image(id="x"))
    assert set(record) >= CONTRACT_KEYS
    assert set(record) == set(SEAM_KEYS)
    assert set(to_seam_dict(Image(id="x"), include_locations=True)) == set(SEAM_KEYS) | set(
        LOCATION_KEYS)


def test_seam_dict_values_are_plain() -> None:
    image = Image(id="x", status="active", created_at=T, tags=("a",),
                  locations=[{"url": "u", "metadata": {"k": "v"}}],
                  properties={"block_device_mapping": [{"a": 1}]})
    record = to_seam_dict(image, include_locations=True)
    assert type(record["status"]) is str
    assert record["status"] == "active"
    assert record["tags"] == ["a"]
    assert record["properties"] == {"block_device_mapping": [{"a": 1}]}
    assert type(record["properties"]) is dict
    assert record["created_at"] is T
    assert record["locations"] == [{"url": "u", "metadata": {"k": "v"}}]
    assert to_seam_json(image)["created_at"] == "2016-06-21T03:22:20Z"


@pytest.mark.parametrize(
    ("given", "is_public", "visibility"),
    [
        ({"is_public": "False"}, False, "private"),
        ({"is_public": "false"}, False, "private"),
        ({"is_public": "True"}, True, "public"),
        ({"is_public": True}, True, "public"),
        ({"is_public": False, "visibility": "shared"}, False, "shared"),
        ({"is_public": False, "visibility": "community"}, False, "community"),
        ({"is_public": False, "visibility": "public"}, False, "private"),
        ({"is_public": True, "visibility": "private"}, True, "public"),
        ({"visibility": "community"}, False, "community"),
        ({}, False, "private"),
    ],
)
def test_is_public_and_visibility(given: dict[str, Any], is_public: bool,
                                  visibility: str) -> None:
    image = from_seam_dict({"id": "x", **given})
    assert (image.is_public, image.visibility) == (is_public, visibility)


def test_from_seam_dict_normalises() -> None:
    image = from_seam_dict({"id": "x", "size": None, "min_ram": None, "min_disk": None,
                            "created_at": "2016-06-21T03:22:20.000000",
                            "protected": "False", "tags": ["a"]})
    assert (image.size, image.min_ram, image.min_disk) == (0, 0, 0)
    assert image.created_at == T
    assert image.protected is False
    assert image.tags == ("a",)


@pytest.mark.parametrize(
    ("data", "field"),
    [({"colour": "red"}, "colour"), ({"created_at": 5}, "created_at"),
     ({"is_public": "maybe"}, "is_public"), ({"size": -1}, "size")],
)
def test_from_seam_dict_refuses(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        from_seam_dict(data)
    assert info.value.field == field


@pytest.mark.parametrize("data", [None, [], {"locations": [5]}, {"tags": 5},
                                  {"status": ""}])
def test_from_seam_dict_refuses_garbage(data: Any) -> None:
    with pytest.raises(InvalidRecord):
        from_seam_dict(data)
