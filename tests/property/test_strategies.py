"""The strategies cover the field table: a new field (or kind) cannot go unfuzzed."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from imgcompat.core.fields import FIELDS, V1_FIELDS, Kind, v2_fields_for_minor
from imgcompat.core.model import V1Image, V2Image
from tests.property.strategies import KIND_STRATEGIES, v1_images, v2_images


def test_every_kind_has_a_strategy() -> None:
    assert set(Kind) == set(KIND_STRATEGIES)


@settings(max_examples=20)  # coverage of the table, not a property: a few draws suffice
@given(st.data())
def test_every_field_of_the_table_has_a_strategy(data: st.DataObject) -> None:
    for f in FIELDS:
        assert f.kind in KIND_STRATEGIES, f.name
        for api in ("1", "2"):
            data.draw(KIND_STRATEGIES[f.kind](f, api))


def test_records_are_built_from_the_table() -> None:
    assert {f.v1 for f in V1_FIELDS} <= set(attrs.fields_dict(V1Image))
    assert {f.name for f in v2_fields_for_minor(99)} <= set(attrs.fields_dict(V2Image))


@settings(max_examples=100)
@given(v2_images(), v1_images())
def test_generated_records_set_every_base_field(v2: V2Image, v1: V1Image) -> None:
    assert v2.id is not None
    assert v2.status is not None
    assert v2.visibility is not None
    assert v1.id is not None
    assert v1.is_public is not None
    assert v1.deleted is not None
