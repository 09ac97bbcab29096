"""The classic seam's input shapes: a seam dict whose integers, booleans and times are given
as text (as a compute service builds them from instance system metadata) parses back to the
same record as the typed values do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgcompat import Image, InvalidRecord, from_seam_dict, to_seam_dict
from imgcompat.core.fields import BY_NAME, Kind
from imgcompat.core.scalars import format_v1_time, format_v2_time
from tests.property.strategies import images

TRUE_FORMS = ("True", "true", "1", "TRUE", " yes ", "on")
FALSE_FORMS = ("False", "false", "0", "no", "off", "")


def _text_form(data: st.DataObject, key: str, value: Any) -> Any:
    kind = BY_NAME[key].kind if key in BY_NAME else None
    if value is None:
        return data.draw(st.sampled_from([None, ""])) if kind is Kind.DATETIME else None
    if kind is Kind.INT:
        return data.draw(st.sampled_from([str(value), f" {value} ", value]))
    if kind is Kind.BOOL:
        return data.draw(st.sampled_from(TRUE_FORMS if value else FALSE_FORMS))
    if kind is Kind.DATETIME:
        assert isinstance(value, datetime)
        return data.draw(st.sampled_from([format_v2_time(value), format_v1_time(value),
                                          value.isoformat(), value]))
    return value


@given(images(), st.data())
def test_text_forms_parse_back_to_the_same_record(image: Image, data: st.DataObject) -> None:
    classic = to_seam_dict(image, include_locations=True)
    textual = {key: _text_form(data, key, value) for key, value in classic.items()}
    assert from_seam_dict(textual) == image


@given(images(), st.sampled_from(["size", "min_disk", "min_ram", "virtual_size", "protected",
                                  "os_hidden", "deleted", "created_at", "updated_at"]),
       st.sampled_from(["-1", "12a", "1.5", "maybe", "2016-13-45", "\u0661\u0662", [1], 1.5]))
def test_other_shapes_name_their_field(image: Image, key: str, bad: Any) -> None:
    classic = to_seam_dict(image, include_locations=True)
    classic[key] = bad
    with pytest.raises(InvalidRecord) as info:
        from_seam_dict(classic)
    assert info.value.field == key


def test_none_means_absent_for_optional_fields() -> None:
    record = from_seam_dict({"name": None, "size": None, "min_ram": None, "min_disk": None,
                             "checksum": None, "created_at": "", "deleted_at": None,
                             "protected": None, "tags": None, "properties": None,
                             "disk_format": None, "owner": None})
    assert record == Image()


def test_what_system_metadata_holds() -> None:
    record = from_seam_dict({"name": "snap", "size": "512", "min_ram": "64", "min_disk": "1",
                             "is_public": "False", "protected": "0", "deleted": "false",
                             "disk_format": "qcow2", "container_format": "bare",
                             "properties": {"hw_disk_bus": "virtio", "os_distro": "cirros"}})
    assert (record.size, record.min_ram, record.min_disk) == (512, 64, 1)
    assert record.is_public is False
    assert record.protected is False
    assert record.properties["hw_disk_bus"] == "virtio"
