"""Round-trip properties of the codecs and translations (Hypothesis, strategies from FIELDS)."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from imgcompat import from_v1_headers, from_v2, to_v1_headers, to_v2
from imgcompat.core.fields import FIELDS, V1_FIELDS
from imgcompat.core.model import Image, Loss, V1Image
from imgcompat.core.seam import from_seam_dict, to_seam_dict, to_seam_json
from imgcompat.core.translate import image_to_v1, image_to_v2, v1_to_image, v2_to_image
from imgcompat.core.v1 import (
    v1_headers_to_v1image,
    v1_json_to_v1image,
    v1image_to_v1_headers,
    v1image_to_v1_json,
)
from imgcompat.core.v2 import v2image_to_v2_json
from tests.property.strategies import images, v1_images, v2_images

#: The v2 base fields the seam record carries (links and stores are server-made, not seam).
SEAM_V2 = tuple(f for f in FIELDS if f.base and f.v2 is not None and f.in_seam)


def _recase(headers: tuple[tuple[str, str], ...], style: int) -> dict[str, str]:
    """Header names as servers spell them: lower, eventlet-capitalised, or upper."""
    spell = [str.lower, lambda n: "-".join(w.capitalize() for w in n.split("-")), str.upper]
    return {spell[style](name): value for name, value in headers}


@given(v1_images(lower_names=True), st.integers(0, 2))
def test_v1_headers_image_v1_headers_is_identity(wire: V1Image, style: int) -> None:
    headers = v1image_to_v1_headers(wire)
    image = from_v1_headers(_recase(headers, style))
    back = image_to_v1(image)
    assert back.value == wire
    assert v1image_to_v1_headers(back.value) == headers


@given(v1_images())
def test_v1_json_image_v1_json_is_identity(wire: V1Image) -> None:
    doc = v1image_to_v1_json(wire)
    assert image_to_v1(v1_to_image(v1_json_to_v1image({"image": doc}))).value == wire


@given(v2_images())
def test_v2_image_v2_is_identity(wire: Any) -> None:
    doc = v2image_to_v2_json(wire)
    image = from_v2(doc)
    back = image_to_v2(image)
    assert back.lossless
    for f in SEAM_V2:
        assert getattr(back.value, f.name) == getattr(wire, f.name), f.name
    assert back.value.properties == wire.properties
    # and on the JSON: the entity minus the server-made keys
    made = {f.v2 for f in FIELDS if f.v2 is not None and not f.in_seam}
    assert v2image_to_v2_json(back.value) == {k: v for k, v in doc.items() if k not in made}


def _v1_diff(a: V1Image, b: V1Image) -> set[str]:
    out = {f.name for f in V1_FIELDS if getattr(a, f.v1 or "") != getattr(b, f.v1 or "")}
    for key in set(a.properties) | set(b.properties):
        if a.properties.get(key) != b.properties.get(key):
            out.add(f"properties.{key}")
    return out


#: Property names and values that a v1 server can hold but v2 cannot carry as they are.
_V1_ONLY_PROPERTIES = st.dictionaries(
    st.sampled_from(["location", "deleted", "deleted_at", "os_glance_import_task", "tags",
                     "self", "visibility", "os_hidden", "kernel_id", "ramdisk_id", "Name"]),
    st.sampled_from(["none", "None", "", "x"]),
    max_size=3,
)


@given(v1_images(), _V1_ONLY_PROPERTIES)
def test_v1_v2_v1_loss_names_exactly_what_differs(wire: V1Image, extra: dict[str, str]) -> None:
    wire = attrs.evolve(wire, properties={**wire.properties, **extra})
    there = image_to_v2(v1_to_image(wire))
    back = image_to_v1(v2_to_image(there.value))
    named = {loss.field for loss in there.losses + back.losses}
    assert _v1_diff(wire, back.value) == named
    if not named:
        assert back.value == wire


@given(v1_images(max_props=3))
def test_v1_to_v2_create_body_is_valid_and_reports_unsent_properties(wire: V1Image) -> None:
    image = v1_to_image(wire)
    body = to_v2(image)
    # every property is either in the body or named by a loss
    named = {loss.field for loss in body.losses}
    for key in image.properties:
        assert key in body.value or f"properties.{key}" in named
    for key, value in body.value.items():
        if key in image.properties and f"properties.{key}" not in named:
            assert isinstance(value, str)  # (a property named like a v2 base key is a Loss)


@given(images())
def test_seam_dict_round_trip(image: Image) -> None:
    assert from_seam_dict(to_seam_dict(image, include_locations=True)) == image
    assert from_seam_dict(to_seam_json(image, include_locations=True)) == image


@given(images(max_props=3))
def test_v1_create_headers_parse_back(image: Image) -> None:
    """What a v1 create sends parses back to the same writable values (or a Loss says so)."""
    sent = to_v1_headers(image)
    parsed = v1_headers_to_v1image(sent.value)
    named = {loss.field for loss in sent.losses}
    assert parsed.name == image.name
    assert parsed.is_public == image.is_public
    assert parsed.min_ram == image.min_ram
    assert parsed.owner == image.owner
    for key in image.properties:
        lowered = "".join(c.lower() if "A" <= c <= "Z" else c for c in key)
        assert key in parsed.properties or (
            lowered in parsed.properties and f"properties.{key}" in named
        )


def _loss_fields(losses: tuple[Loss, ...]) -> set[str]:
    return {loss.field for loss in losses}
