"""Glance v2 wire codec: flat JSON <-> :class:`V2Image`.

Base attributes are the keys the field table gives a ``v2`` name; every other top-level key
is a custom property and must be a string (the server's schema says
``additionalProperties: {"type": "string"}``).

Reading tries the compiled pass of :mod:`~imgcompat.core.v2_fast` first; whenever it is not
sure, the reference parse (schema validation, then conversion) decides and names the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from imgcompat.core import scalars
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import BY_V2_KEY, V2_FIELDS
from imgcompat.core.model import V2Image
from imgcompat.core.schema import validate
from imgcompat.core.v2_fast import Wire, v2_list_wire_fast, v2_wire_fast, wire_to_v2image

T = TypeVar("T")


def v2_json_to_v2image(doc: Mapping[str, Any]) -> V2Image:
    """One image entity of a v2 answer, validated against ``schemas/v2-image.json``."""
    return read_entity(doc, wire_to_v2image, _same)


def _same(image: V2Image) -> V2Image:
    return image


def read_entity(
    doc: Mapping[str, Any], from_wire: Callable[[Wire], T], from_record: Callable[[V2Image], T]
) -> T:
    """One v2 entity, validated, as ``T``: the fast pass's values through ``from_wire`` when
    it is sure of them, else the reference record through ``from_record``.

    ``from_wire(wire)`` must equal ``from_record(wire_to_v2image(wire))``; when it raises,
    the reference decides (so a refusal always names the field as the schema does).
    """
    wire = v2_wire_fast(doc)
    if wire is not None:
        try:
            return from_wire(wire)
        except Exception:  # the reference parse reports it
            pass
    return from_record(_v2image_reference(doc))


def _v2image_reference(doc: Mapping[str, Any]) -> V2Image:
    """The plain parse (validate, then convert): the oracle of the fast pass, and what runs
    whenever that pass is unsure, so errors name the field exactly as the schema does."""
    if not isinstance(doc, Mapping):
        raise InvalidRecord(f"a v2 image must be a JSON object, got {type(doc).__name__}")
    validate("v2-image", doc)
    return _from_validated(doc)


def _from_validated(doc: Mapping[str, Any]) -> V2Image:
    values: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for key, raw in doc.items():
        f = BY_V2_KEY.get(key)
        if f is None:
            if not isinstance(raw, str):
                raise InvalidRecord(f"custom property must be a string, got {raw!r}",
                                    field=key)
            properties[key] = raw
        else:
            values[f.name] = scalars.from_json(f, raw, api="2")
    return V2Image(**values, properties=properties)


#: Keys a real server leaves out, rather than nulls, when it has no value for them.
_ABSENT_WHEN_NONE = frozenset({"self", "file", "schema", "stores", "direct_url", "locations"})


def v2image_to_v2_json(image: V2Image) -> dict[str, Any]:
    """The flat JSON entity of a v2 image (as a v2 server answers it)."""
    out: dict[str, Any] = {}
    for f in V2_FIELDS:
        assert f.v2 is not None
        value = getattr(image, f.name)
        if value is None and f.v2 in _ABSENT_WHEN_NONE:
            continue
        out[f.v2] = scalars.to_json(f, value, api="2")
    out.update(image.properties)
    return out


def v2_json_list_to_v2images(doc: Mapping[str, Any]) -> tuple[V2Image, ...]:
    """The images of a v2 list answer; the paging links are read by the shell."""
    return read_list(doc, wire_to_v2image, _same)


def read_list(
    doc: Mapping[str, Any], from_wire: Callable[[Wire], T], from_record: Callable[[V2Image], T]
) -> tuple[T, ...]:
    """The images of a v2 list answer, validated, each as :func:`read_entity` gives it."""
    fast = v2_list_wire_fast(doc)
    if fast is not None:
        try:
            # An entity the fast pass left is checked alone; the reference checks the whole
            # page first, so if that entity fails, the reference below reports the error.
            return tuple(from_wire(wire) if wire is not None
                         else from_record(_v2image_reference(item))
                         for wire, item in zip(fast, doc["images"], strict=True))
        except Exception:  # the reference parse reports it
            pass
    return tuple(map(from_record, _v2images_reference(doc)))


def _v2images_reference(doc: Mapping[str, Any]) -> tuple[V2Image, ...]:
    """The plain list parse: the oracle of the fast list pass."""
    validate("v2-images", doc)
    return tuple(_from_validated(item) for item in doc["images"])
