"""Glance v2 wire codec: flat JSON <-> :class:`V2Image`.

Base attributes are the keys the field table gives a ``v2`` name; every other top-level key
is a custom property and must be a string (the server's schema says
``additionalProperties: {"type": "string"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imgcompat.core import scalars
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import BY_V2_KEY, V2_FIELDS
from imgcompat.core.model import V2Image
from imgcompat.core.schema import validate


def v2_json_to_v2image(doc: Mapping[str, Any]) -> V2Image:
    """One image entity of a v2 answer, validated against ``schemas/v2-image.json``."""
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
    validate("v2-images", doc)
    return tuple(_from_validated(item) for item in doc["images"])
