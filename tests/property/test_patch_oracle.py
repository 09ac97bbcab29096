"""``v2_patch(a, b)`` applied to ``to_v2(a)`` by the jsonpatch library gives ``to_v2(b)``;
the fast create body and patch give exactly what the plain ones did
(``v2_write_reference.py``)."""

from __future__ import annotations

from typing import Any

import attrs
import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

from imgcompat import to_v2, v1_update_headers, v2_patch
from imgcompat.core.enums import Visibility
from imgcompat.core.fields import BY_V2_KEY
from imgcompat.core.model import Image
from imgcompat.core.v1 import v1_headers_to_v1image
from imgcompat.core.writes import image_to_v2_create
from tests.property.strategies import SHORT_TEXT, images, property_names
from tests.property.v2_write_reference import reference_v2_create, reference_v2_patch

_READ_ONLY_PATHS = {"/" + key for key, f in BY_V2_KEY.items() if f.read_only}


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Image, Image]:
    """Two records of the same image: unrelated, or the second a few edits of the first."""
    a = draw(images(max_props=4))
    if draw(st.booleans()):
        b = draw(images(max_props=4))
    else:
        props = dict(a.properties)
        for key in draw(st.lists(st.sampled_from(sorted(props) or ["x"]), max_size=2)):
            props.pop(key, None)
        props.update(draw(st.dictionaries(property_names(api="2"), SHORT_TEXT, max_size=2)))
        b = attrs.evolve(
            a,
            name=draw(st.one_of(st.just(a.name), st.none(), SHORT_TEXT)),
            min_ram=draw(st.one_of(st.just(a.min_ram), st.integers(0, 4096))),
            protected=draw(st.booleans()),
            tags=draw(st.lists(SHORT_TEXT.filter(bool), max_size=3)),
            properties=props,
        ).with_visibility(draw(st.sampled_from(list(Visibility))))
    return a, attrs.evolve(b, id=a.id)


@given(pairs())
def test_v2_patch_applied_by_jsonpatch_gives_the_wanted_body(pair: tuple[Image, Image]) -> None:
    a, b = pair
    before, after = to_v2(a).value, to_v2(b).value
    plan = v2_patch(a, b)
    ops: list[dict[str, Any]] = [dict(op) for op in plan.value]
    patched = jsonpatch.apply_patch(before, ops)
    touched = {jsonpatch.JsonPointer(op["path"]).parts[0] for op in ops}
    kept = {loss.field for loss in plan.losses} - touched
    # Fields a loss names and no op touches are left as they were (an owner v2 cannot clear).
    expected = {k: v for k, v in after.items() if k not in kept}
    expected.update({k: before[k] for k in kept if k in before})
    assert patched == expected

    # Minimal: one op per path, nothing for equal values, never a read-only path.
    paths = [op["path"] for op in ops]
    assert len(paths) == len(set(paths))
    for op in ops:
        key = jsonpatch.JsonPointer(op["path"]).parts[0]
        assert op["path"] not in _READ_ONLY_PATHS
        if op["op"] == "replace":
            assert before[key] != after[key]
        if op["op"] == "add":
            assert key not in before
        if op["op"] != "remove" and key not in BY_V2_KEY:
            assert isinstance(op["value"], str)
    assert not v2_patch(b, b).value


@given(pairs())
def test_v2_patch_without_purge_never_removes(pair: tuple[Image, Image]) -> None:
    a, b = pair
    assert all(op["op"] != "remove" for op in v2_patch(a, b, purge_props=False).value)


@given(pairs(), st.booleans())
def test_v1_update_headers_carry_the_wanted_properties(
    pair: tuple[Image, Image], purge: bool
) -> None:
    a, b = pair
    plan = v1_update_headers(a, b, purge_props=purge)
    headers = dict(plan.value)
    assert headers["x-glance-registry-purge-props"] == ("true" if purge else "false")
    sent = v1_headers_to_v1image(plan.value)
    clashing = {loss.field for loss in plan.losses if "keeps one of them" in loss.reason}
    for key, value in b.properties.items():
        if f"properties.{key}" in clashing:
            continue  # two names the v1 wire folds together: the Loss says only one survives
        if isinstance(value, str) and (purge or a.properties.get(key) != value):
            lowered = "".join(c.lower() if "A" <= c <= "Z" else c for c in key)
            assert sent.properties.get(key, sent.properties.get(lowered)) == value
    if not purge:
        for key, value in sent.properties.items():
            assert a.properties.get(key) != value


# ------------------------------------------------- the fast write path equals the old one

_ODD_NAMES = st.sampled_from(["kernel_id", "ramdisk_id", "block_device_mapping", "mappings",
                              "location", "deleted", "os_glance_x", "name", "size", "id",
                              "a/b", "t~0"])
_ODD_VALUES = st.one_of(
    SHORT_TEXT, st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False),
    st.sampled_from(["", "none", " None ", "[]", '[{"a":1}]', "null"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(SHORT_TEXT, st.integers(), max_size=2),
)
_MINORS = st.sampled_from([0, 5, 6, 7, 17, 18])


@st.composite
def odd_images(draw: st.DrawFn) -> Image:
    """Records a caller may hold, not only what a server answers: odd property values and
    names, repeated tags, sub-second times, no owner or name, hidden, deleted."""
    image = draw(images(max_props=3))
    props = dict(image.properties)
    props.update(draw(st.dictionaries(st.one_of(_ODD_NAMES, property_names(api="2")),
                                      _ODD_VALUES, max_size=4)))
    deleted = draw(st.booleans())
    when = image.created_at
    return attrs.evolve(
        image,
        name=draw(st.one_of(st.just(image.name), st.none(), SHORT_TEXT)),
        owner=draw(st.one_of(st.just(image.owner), st.none(), SHORT_TEXT)),
        tags=draw(st.lists(st.sampled_from(["a", "b", "ü", ""]), max_size=4)),
        os_hidden=draw(st.booleans()),
        deleted=deleted,
        deleted_at=when if deleted and draw(st.booleans()) else None,
        created_at=when.replace(microsecond=draw(st.integers(0, 2))) if when else None,
        properties=props,
    )


@st.composite
def odd_pairs(draw: st.DrawFn) -> tuple[Image, Image]:
    """Two records: unrelated, the same, or the second a few edits of the first."""
    a = draw(odd_images())
    shape = draw(st.sampled_from(["other", "same", "edited"]))
    if shape == "other":
        return a, draw(odd_images())
    if shape == "same":
        return a, attrs.evolve(a)
    props = dict(a.properties)
    for key in draw(st.lists(st.sampled_from(sorted(props) or ["x"]), max_size=2)):
        props.pop(key, None)
    props.update(draw(st.dictionaries(st.one_of(_ODD_NAMES, property_names(api="2")),
                                      _ODD_VALUES, max_size=2)))
    b = attrs.evolve(a, name=draw(st.one_of(st.just(a.name), st.none(), SHORT_TEXT)),
                     min_ram=draw(st.integers(0, 3)), protected=draw(st.booleans()),
                     tags=draw(st.lists(st.sampled_from(["a", "b"]), max_size=3)),
                     properties=props)
    if draw(st.booleans()):
        b = b.with_visibility(draw(st.sampled_from(list(Visibility))))
    if draw(st.booleans()):
        b = attrs.evolve(b, id=draw(st.sampled_from([None, "other-id"])))
    return a, b


@given(odd_images(), _MINORS)
def test_v2_create_body_equals_the_reference(image: Image, minor: int) -> None:
    assert image_to_v2_create(image, minor=minor) == reference_v2_create(image, minor=minor)


@given(odd_pairs(), st.booleans(), _MINORS)
def test_v2_patch_equals_the_reference(pair: tuple[Image, Image], purge: bool,
                                       minor: int) -> None:
    a, b = pair
    assert v2_patch(a, b, purge, minor=minor) == reference_v2_patch(a, b, purge, minor=minor)
    assert v2_patch(b, a, purge, minor=minor) == reference_v2_patch(b, a, purge, minor=minor)
