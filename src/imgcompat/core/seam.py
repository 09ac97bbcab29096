"""The classic dict form of the seam record, and the public read/write entry points.

``to_seam_dict`` gives exactly the keys of ``seam-contract.md`` (``direct_url`` and
``locations`` only when asked), so code written against the classic seam keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from imgcompat.core import v1, v2
from imgcompat.core.enums import Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import BY_NAME, LATEST_V2_MINOR, Kind
from imgcompat.core.immutable import thaw
from imgcompat.core.model import Image, Location, Translated
from imgcompat.core.query import _is_public
from imgcompat.core.scalars import format_v2_time, parse_int, parse_time
from imgcompat.core.translate import v1_to_image, v2_to_image, v2_values_to_image
from imgcompat.core.v1 import HeaderInput, Headers
from imgcompat.core.v2_fast import Wire
from imgcompat.core.writes import image_to_v1_create_headers, image_to_v2_create

SEAM_KEYS: tuple[str, ...] = (
    "id", "name", "status", "is_public", "visibility", "protected", "deleted", "deleted_at",
    "created_at", "updated_at", "size", "virtual_size", "checksum", "os_hash_algo",
    "os_hash_value", "os_hidden", "disk_format", "container_format", "min_disk", "min_ram",
    "owner", "tags", "properties",
)
LOCATION_KEYS: tuple[str, ...] = ("direct_url", "locations")
_TIMES = ("deleted_at", "created_at", "updated_at")


def to_seam_dict(image: Image, *, include_locations: bool = False) -> dict[str, Any]:
    """The classic seam dict: plain Python values, aware datetimes, thawed properties."""
    out: dict[str, Any] = {}
    keys = SEAM_KEYS + (LOCATION_KEYS if include_locations else ())
    for key in keys:
        value = getattr(image, key)
        if key == "locations":
            value = [{"url": loc.url, "metadata": thaw(loc.metadata)} for loc in value]
        elif key == "tags":
            value = list(value)
        elif key == "properties":
            value = thaw(value)
        elif value is not None and key in ("status", "visibility", "disk_format",
                                           "container_format"):
            value = str(value)
        out[key] = value
    return out


def to_seam_json(image: Image, *, include_locations: bool = False) -> dict[str, Any]:
    """:func:`to_seam_dict` with times as ISO 8601 text (for JSON output)."""
    out = to_seam_dict(image, include_locations=include_locations)
    for key in _TIMES:
        if out[key] is not None:
            out[key] = format_v2_time(out[key])
    return out


def from_seam_dict(data: Mapping[str, Any]) -> Image:
    """A seam record from the classic dict form, as the classic seam accepted it.

    Callers hand over what the compute service has always built, often from instance
    system metadata where every value is text: integers as text (``"512"``), booleans as
    text (``"False"``, ``"true"``, ``"0"``), empty or ``None`` times (absent), ``None`` for
    any optional field. ``is_public`` given alone decides visibility; a visibility of
    shared or community survives ``is_public=False``. Unknown keys are refused (nothing is
    dropped silently), and a value of the wrong shape raises :class:`InvalidRecord`
    naming its field.
    """
    if not isinstance(data, Mapping):
        raise InvalidRecord(f"a seam record must be a mapping, got {type(data).__name__}")
    try:
        return _from_seam_dict(data)
    except InvalidRecord:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise InvalidRecord(f"not a seam record: {exc}") from exc


def as_image(record: Image | Mapping[str, Any]) -> Image:
    """The seam record a caller handed over, typed (``Image``) or classic (a mapping)."""
    return record if isinstance(record, Image) else from_seam_dict(record)


def merge_seam_dict(current: Image, given: Mapping[str, Any], purge_props: bool) -> Image:
    """The record a classic partial update asks for: ``current`` with ``given``'s keys over
    it, as the classic seam's update meant a dict. Its ``id`` is ignored; ``properties``
    replace the current ones when ``purge_props`` (all of them go when it has none, as
    before), else are laid over them. Locations cannot change by update: a ``locations``
    or ``direct_url`` that differs from the current one is refused, never dropped.
    """
    now = to_seam_dict(current, include_locations=True)
    for key in LOCATION_KEYS:
        if key in given and given[key] != now[key]:
            raise InvalidRecord("an update does not change an image's locations; give them "
                                "to create", field=key, image_id=current.id)
    changes = {key: value for key, value in given.items()
               if key != "id" and key not in LOCATION_KEYS}
    base = {key: value for key, value in now.items()
            if key not in changes and key not in LOCATION_KEYS}
    if "visibility" in changes:
        base.pop("is_public", None)  # a given visibility is not overruled by the old flag
    properties = dict(changes.get("properties") or {})
    if not purge_props:
        properties = {**now["properties"], **properties}
    return from_seam_dict({**base, **changes, "properties": properties})


#: Optional fields given as None fall back to what the record means by absent.
_NONE_MEANS = {"size": 0, "min_disk": 0, "min_ram": 0, "protected": False, "deleted": False,
               "os_hidden": False, "tags": (), "properties": {}, "locations": ()}


def _seam_value(key: str, value: Any) -> Any:
    """One classic value as the typed record takes it (text forms parsed by field kind)."""
    if value is None:
        return _NONE_MEANS.get(key)
    kind = BY_NAME[key].kind if key in BY_NAME else None
    if kind is Kind.INT and isinstance(value, str):
        return parse_int(value, key)
    if kind is Kind.INT and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidRecord(f"must be an integer, got {type(value).__name__}", field=key)
    if kind is Kind.BOOL:
        return _seam_bool(key, value)
    if kind is Kind.DATETIME:
        if isinstance(value, str):
            return parse_time(value, key) if value.strip() else None
        if not isinstance(value, datetime):
            raise InvalidRecord("must be a datetime or ISO 8601 text", field=key)
    if key == "locations":
        return tuple(loc if isinstance(loc, Location) else Location(loc["url"], loc.get("metadata"))
                     for loc in value)
    return value


def _seam_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE_TEXT:
        return True
    if text in _FALSE_TEXT:
        return False
    raise InvalidRecord(f"must be true or false, got {value!r}", field=key)


_TRUE_TEXT = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE_TEXT = frozenset({"false", "0", "no", "off", "f", "n", ""})


def _from_seam_dict(data: Mapping[str, Any]) -> Image:
    unknown = set(data) - set(SEAM_KEYS) - set(LOCATION_KEYS)
    if unknown:
        raise InvalidRecord(f"unknown keys {sorted(unknown)}", field=sorted(unknown)[0])
    values = dict(data)
    flag = _is_public(values.pop("is_public", None))
    vis_raw = values.pop("visibility", None)
    vis = Visibility(str(vis_raw)) if vis_raw not in (None, "") else None
    if flag is True:
        vis = Visibility.PUBLIC
    elif flag is False and vis in (None, Visibility.PUBLIC):
        vis = Visibility.PRIVATE
    vis = vis or Visibility.PRIVATE
    typed = {key: _seam_value(key, value) for key, value in values.items()}
    return Image(**typed, visibility=vis, is_public=vis == Visibility.PUBLIC)


def from_v1_headers(headers: HeaderInput) -> Image:
    """The seam record of a v1 ``HEAD``/``GET`` answer's metadata headers."""
    return v1_to_image(v1.v1_headers_to_v1image(headers))


def to_v1_headers(image: Image) -> Translated[Headers]:
    """The headers of a v1 create for a seam record, with the losses of the trip."""
    return image_to_v1_create_headers(image)


def from_v1_json(doc: Mapping[str, Any]) -> Image:
    """The seam record of a v1 JSON image (``{"image": {...}}`` or the bare object)."""
    return v1_to_image(v1.v1_json_to_v1image(doc))


def from_v1_json_list(doc: Mapping[str, Any]) -> tuple[Image, ...]:
    """The seam records of a v1 list answer."""
    return tuple(v1_to_image(i) for i in v1.v1_json_list_to_v1images(doc))


def from_v2(doc: Mapping[str, Any]) -> Image:
    """The seam record of a v2 image entity."""
    return v2.read_entity(doc, _wire_to_image, v2_to_image)


def from_v2_list(doc: Mapping[str, Any]) -> tuple[Image, ...]:
    """The seam records of a v2 list answer."""
    return v2.read_list(doc, _wire_to_image, v2_to_image)


def _wire_to_image(wire: Wire) -> Image:
    """The seam record of what the fast v2 pass read (no V2Image built on the way)."""
    values, properties = wire
    return v2_values_to_image(values, properties)


def to_v2(image: Image, *, minor: int = LATEST_V2_MINOR) -> Translated[dict[str, Any]]:
    """The body of a v2 create for a seam record, with the losses of the trip."""
    return image_to_v2_create(image, minor=minor)
