"""How each field kind is read from and written to text (v1 headers) and JSON.

Pure functions keyed by :class:`~imgcompat.core.fields.Kind`; the codecs look a field's kind up
in the table and call these, so the per-field rules live in one place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from imgcompat.core.enums import ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import Field, Kind
from imgcompat.core.immutable import thaw

_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})

_ENUMS: dict[Kind, type[Any]] = {
    Kind.STATUS: Status,
    Kind.VISIBILITY: Visibility,
    Kind.DISK_FORMAT: DiskFormat,
    Kind.CONTAINER_FORMAT: ContainerFormat,
}


def bool_from_string(text: str) -> bool:
    """Booleans as the v1 server parsed them (oslo ``bool_from_string``, not strict)."""
    return text.strip().lower() in _TRUE


#: The form a v2 server writes its times in: whole seconds, ``Z``, ASCII digits.
_ZULU = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def zulu_time(text: str) -> datetime | None:
    """A time in the form a v2 server writes (``2024-05-01T12:00:00Z``) in one step, or
    None for any other text and for a date or clock that does not exist.

    For such a text, the schema's ``date-time`` format accepts it and :func:`parse_time`
    gives this same time: the compiled v2 read takes it without asking either (they stay
    apart, the oracle ``tests/property/test_v2_fast_parse.py`` holds this to).
    """
    if len(text) != 20 or _ZULU.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)  # tzinfo is UTC itself for a ``Z``
    except ValueError:
        return None


def parse_time(text: str, field: str) -> datetime:
    """An ISO 8601 time from either API (v1: naive UTC with micros; v2: ``Z``)."""
    stripped = text.strip()
    try:
        value = datetime.fromisoformat(stripped)
    except (ValueError, TypeError) as exc:
        raise InvalidRecord(f"not an ISO 8601 time: {text!r}", field=field) from exc
    if value.tzinfo is not None:
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise InvalidRecord(f"out of range once in UTC: {text!r}", field=field) from exc
    # ``replace(tzinfo=UTC)`` costs ~0.7 us on CPython 3.11; re-parsing with an explicit
    # zero offset costs ~0.1 us. Some forms (a bare date) drop that offset: then replace.
    try:
        aware = datetime.fromisoformat(stripped + "+00:00")
    except ValueError:
        aware = None
    if aware is not None and aware.tzinfo is UTC:
        return aware
    return value.replace(tzinfo=UTC)


def format_v1_time(value: datetime) -> str:
    """v1 wire time: naive UTC with microseconds, e.g. ``2016-06-21T03:22:20.000000``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def format_v2_time(value: datetime) -> str:
    """v2 wire time: UTC with a ``Z``; sub-second digits only when there are any."""
    value = value.astimezone(UTC).replace(tzinfo=None)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec) + "Z"


#: Digits a wire integer may have: 2**64 has 20; Python's int() refuses more than 4,300.
_MAX_DIGITS = 20


def parse_int(text: str, field: str) -> int:
    """A non-negative decimal integer (ASCII digits, surrounding spaces allowed, at most 20
    of them: no size, RAM or disk figure needs more)."""
    if text.isdigit() and text.isascii() and len(text) <= _MAX_DIGITS:  # the usual case
        return int(text)
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise InvalidRecord(f"must be a non-negative integer, got {text!r}", field=field)
    if len(text) > _MAX_DIGITS:
        raise InvalidRecord(f"a {len(text)}-digit integer is out of range", field=field)
    return int(text)


def from_text(f: Field, text: str) -> Any:
    """A v1 header value (already percent-decoded) as a Python value."""
    return text_parser(f)(text)


def _int_parser(f: Field, name: str) -> Callable[[str], Any]:
    if f.name == "virtual_size":  # the v1 server sends the literal None for "unknown"
        def parse_size(text: str) -> int | None:
            if text.strip() in ("None", ""):
                return None
            return parse_int(text, name)
        return parse_size
    return lambda text: parse_int(text, name)


@functools.cache
def declared_members(kind: Kind) -> Mapping[str, Any]:
    """The declared members of an enum kind by value (no surrounding spaces): what a
    parse of that very text gives, found without an Enum call (empty for other kinds)."""
    if kind not in _ENUMS:
        return {}
    return {m.value: m for m in _ENUMS[kind] if m.value == m.value.strip()}


def _enum_parser(f: Field, name: str) -> Callable[[str], Any]:
    members = declared_members(f.kind)

    def parse_enum(text: str) -> Any:
        member = members.get(text)
        return member if member is not None else _enum(f.kind, text, name)

    return parse_enum


#: Per kind: ``(field, header name) -> parser`` of its header text (keyed dispatch, no chain).
_TEXT_PARSERS: dict[Kind, Callable[[Field, str], Callable[[str], Any]]] = {
    Kind.INT: _int_parser,
    Kind.BOOL: lambda f, name: bool_from_string,
    Kind.DATETIME: lambda f, name: lambda text: parse_time(text, name),
    **dict.fromkeys(_ENUMS, _enum_parser),
}


@functools.cache
def text_parser(f: Field) -> Callable[[str], Any]:
    """The parser of ``f``'s v1 header text, built once per field (table-driven)."""
    make = _TEXT_PARSERS.get(f.kind)
    return make(f, f.v1 or f.name) if make is not None else _same


def _same(value: Any) -> Any:
    return value


def to_text(f: Field, value: Any) -> str:
    """A Python value as v1 header text (before percent-encoding)."""
    if f.kind is Kind.BOOL:
        return "True" if value else "False"
    if f.kind is Kind.DATETIME:
        return format_v1_time(value)
    return str(value)


def from_json(f: Field, value: Any, *, api: str) -> Any:
    """A JSON value (v1 or v2 document) as a Python value, type-checked."""
    if value is None:
        return None
    return json_parser(f.kind)(value, (f.v1 if api == "1" else f.v2) or f.name)


def _json_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRecord(f"must be a non-negative integer, got {value!r}", field=key)
    return value


def _json_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRecord(f"must be a boolean, got {value!r}", field=key)
    return value


def _json_tags(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InvalidRecord("must be a list of strings", field=key)
    return tuple(value)


def _json_locations(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRecord("must be a list of locations", field=key)
    return value


def _json_str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise InvalidRecord(f"must be a string, got {value!r}", field=key)
    return value


def _json_time(value: Any, key: str) -> datetime:
    return parse_time(_json_str(value, key), key)


def _json_enum(kind: Kind) -> Callable[[Any, str], Any]:
    members = declared_members(kind)

    def parse_enum(value: Any, key: str) -> Any:
        member = members.get(value) if type(value) is str else None
        return member if member is not None else _enum(kind, _json_str(value, key), key)

    return parse_enum


#: Per kind: ``(non-null JSON value, key) -> Python value``, raising InvalidRecord naming the
#: key (keyed dispatch; the fast v2 parse calls these directly).
_JSON_PARSERS: dict[Kind, Callable[[Any, str], Any]] = {
    Kind.INT: _json_int,
    Kind.BOOL: _json_bool,
    Kind.TAGS: _json_tags,
    Kind.LOCATIONS: _json_locations,
    Kind.DATETIME: _json_time,
    **{kind: _json_enum(kind) for kind in _ENUMS},
}


def json_parser(kind: Kind) -> Callable[[Any, str], Any]:
    """The parser of a non-null JSON value of ``kind``: ``(value, key) -> Python value``."""
    return _JSON_PARSERS.get(kind, _json_str)


#: The parsers that give back a value of one exact type as it is, and that type.
_UNCHANGED: dict[Callable[[Any, str], Any], type] = {_json_str: str, _json_bool: bool}


def json_unchanged(kind: Kind) -> type | None:
    """The exact type whose values :func:`json_parser` of ``kind`` returns unchanged (a
    compiled parse may skip the call for them), or None when it converts every value."""
    return _UNCHANGED.get(json_parser(kind))


def to_json(f: Field, value: Any, *, api: str) -> Any:
    """A Python value as a JSON value for the given API."""
    if value is None:
        return None
    return json_encoder(f.kind, api)(value)


def _locations_json(value: Any) -> list[dict[str, Any]]:
    return [{"url": loc.url, "metadata": thaw(loc.metadata)} for loc in value]


#: Per kind: non-null Python value -> JSON value (both APIs but for times; keyed dispatch).
_JSON_ENCODERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.TAGS: list,
    Kind.LOCATIONS: _locations_json,
    **dict.fromkeys(_ENUMS, str),
}


def json_encoder(kind: Kind, api: str) -> Callable[[Any], Any]:
    """The encoder of a non-null value of ``kind`` for ``api`` ("1" or "2")."""
    if kind is Kind.DATETIME:
        return format_v1_time if api == "1" else format_v2_time
    return _JSON_ENCODERS.get(kind, _same)


def _enum(kind: Kind, text: str, field: str) -> Any:
    try:
        return _ENUMS[kind](text.strip())
    except ValueError as exc:
        raise InvalidRecord(f"not a valid {field}: {text!r}", field=field) from exc
