"""What a client sends to create or change an image: v2 create bodies, v1 create and
update headers, and the minimal v2 JSON patch between two seam records.

Only writable attributes (per the field table) ever appear; read-only ones (size, status,
checksum, timestamps, deletion) are never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from imgcompat.core import scalars
from imgcompat.core.fields import (
    BY_NAME,
    LATEST_V2_MINOR,
    V1_FIELDS,
    V2_FIELDS,
    Field,
    Kind,
    is_v2_reserved,
)
from imgcompat.core.model import Image, Loss, Translated
from imgcompat.core.translate import (
    encode_properties,
    encode_property,
    image_to_v1,
    v2_record_losses,
)
from imgcompat.core.v1 import Headers, header_losses, purge_header, v1image_to_v1_headers

PatchOp = dict[str, Any]
_V2_WRITABLE: tuple[Field, ...] = tuple(f for f in V2_FIELDS if not f.read_only or f.create_only)
_V1_UPDATABLE: tuple[Field, ...] = tuple(f for f in V1_FIELDS if not f.read_only)
_BASE_V2_KEYS = frozenset(f.v2 for f in V2_FIELDS)
#: Per writable v2 field: (seam attribute, v2 key, from minor, left out when None, a set
#: (tags), encoder of a value).
_BodyRow = tuple[str, str, int, bool, bool, Callable[[Any], Any]]
_V2_BODY: tuple[_BodyRow, ...] = tuple(
    (f.name, f.v2, f.v2_min_minor, f.omit_none or f.create_only, f.kind is Kind.TAGS,
     scalars.json_encoder(f.kind, "2"))
    for f in _V2_WRITABLE if f.v2 is not None)
_V2_WRITABLE_KEYS = frozenset(f.v2 for f in _V2_WRITABLE)


def _sent_only(losses: Iterable[Loss]) -> tuple[Loss, ...]:
    """The losses that concern what a write sends.

    A write never sends read-only attributes (status, times, size, checksums, deletion), so
    that the target API could not have stored them is no loss of the write.
    """
    out = []
    for loss in losses:
        f = BY_NAME.get(loss.field)
        if f is not None and f.read_only and not f.create_only:
            continue
        out.append(loss)
    return tuple(out)


def image_to_v2_create(image: Image, *, minor: int = LATEST_V2_MINOR) -> Translated[dict[str, Any]]:
    """The JSON body of ``POST /v2/images`` for a seam record.

    ``tags`` go out sorted and without repeats: a v2 server keeps them as a set. The body
    holds what :func:`~imgcompat.core.translate.image_to_v2` would carry for the writable
    fields, read straight from the record (no V2Image is built on the way).
    """
    props, prop_losses = encode_properties(image.properties, api="2")
    body: dict[str, Any] = {}
    for row in _V2_BODY:
        if row[2] <= minor:
            value = _body_value(getattr(image, row[0]), row)
            if value is not _LEFT_OUT:
                body[row[1]] = value
    body.update(props)
    return Translated(body, _create_losses(image, minor, prop_losses))


_LEFT_OUT: Final = object()


def _body_value(value: Any, row: _BodyRow) -> Any:
    """A writable field's value in a v2 body, or ``_LEFT_OUT`` when the body has no key."""
    if row[4]:  # a set: sorted, without repeats
        return row[5](sorted(set(value or ())))
    if value is not None:
        return row[5](value)
    return _LEFT_OUT if row[3] else None


def _create_losses(image: Image, minor: int, prop_losses: list[Loss]) -> tuple[Loss, ...]:
    """What a v2 create of ``image`` loses, its properties' losses given."""
    losses = list(_sent_only(v2_record_losses(image, minor=minor) + prop_losses))
    tags = image.tags
    if tags and len(set(tags)) != len(tags):
        losses.append(Loss("tags", "a v2 server keeps tags as a set: repeats are dropped"))
    return tuple(losses)


def image_to_v1_create_headers(image: Image) -> Translated[Headers]:
    """The metadata headers of ``POST /v1/images`` for a seam record."""
    translated = image_to_v1(image)
    headers = v1image_to_v1_headers(translated.value, writable_only=True)
    return Translated(headers, _sent_only(translated.losses) + header_losses(translated.value))


def v1_update_headers(
    current: Image, wanted: Image, purge_props: bool = True
) -> Translated[Headers]:
    """Headers of a v1 ``PUT`` turning ``current`` into ``wanted``.

    The purge header is always explicit: a v1 server purges when it is missing. With
    purge the whole wanted property set is sent (the server replaces it); without, only
    new and changed properties.
    """
    cur = image_to_v1(current).value
    want_t = image_to_v1(wanted)
    want = want_t.value
    losses = list(_sent_only(want_t.losses))
    changed: dict[str, Any] = {}
    for f in _V1_UPDATABLE:
        assert f.v1 is not None
        old, new = getattr(cur, f.v1), getattr(want, f.v1)
        if old == new:
            continue
        if new is None:
            losses.append(Loss(f.name, "v1 cannot clear a field: left unchanged"))
            continue
        changed[f.v1] = new
    if purge_props:
        props = dict(want.properties)
    else:
        props = {k: v for k, v in want.properties.items() if cur.properties.get(k) != v}
    delta = type(want)(**changed, properties=props)
    headers = (*v1image_to_v1_headers(delta), purge_header(purge_props))
    return Translated(headers, tuple(losses) + header_losses(delta))


def v2_patch(
    current: Image,
    wanted: Image,
    purge_props: bool = True,
    *,
    minor: int = LATEST_V2_MINOR,
) -> Translated[tuple[PatchOp, ...]]:
    """The minimal RFC 6902 patch a v2 server needs to turn ``current`` into ``wanted``.

    ``add`` for new keys, ``replace`` for changed ones, ``remove`` for properties the
    wanted record drops (only with ``purge_props``); nothing for equal values; read-only
    fields are never touched; property values are strings.

    It is the difference of the two create bodies (:func:`image_to_v2_create`), the
    current one holding its properties as the server stores them, computed field by field
    without building those bodies: equal values have equal encodings, so only the fields
    that differ are encoded. Ops come in the wanted body's order, then removals in the
    current body's order.
    """
    want_props, prop_losses = encode_properties(wanted.properties, api="2")
    losses = list(_create_losses(wanted, minor, prop_losses))
    ops: list[PatchOp] = []
    cleared: list[Loss] = []
    for row in _V2_BODY:
        name, key = row[0], row[1]
        if row[2] > minor or key == "id":
            continue
        old, new = getattr(current, name), getattr(wanted, name)
        if old is new or old == new:
            continue
        old, new = _body_value(old, row), _body_value(new, row)
        if new is _LEFT_OUT:
            if old is not _LEFT_OUT:
                cleared.append(Loss(key, "v2 cannot clear this field: left unchanged"))
        elif old is _LEFT_OUT:
            ops.append({"op": "add", "path": _path(key), "value": new})
        elif old != new:
            ops.append({"op": "replace", "path": _path(key), "value": new})
    stored = _stored_properties(current)
    for key, value in want_props.items():
        old = stored.get(key, _LEFT_OUT)
        if old is _LEFT_OUT:
            ops.append({"op": "add", "path": _path(key), "value": value})
        elif old != value:
            ops.append({"op": "replace", "path": _path(key), "value": value})
    if purge_props:
        ops.extend({"op": "remove", "path": _path(key)}
                   for key in stored if key not in want_props)
    losses.extend(cleared)
    if current.id != wanted.id and wanted.id is not None:
        losses.append(Loss("id", "an image id cannot change"))
    return Translated(tuple(ops), tuple(losses))


def _stored_properties(image: Image) -> dict[str, str]:
    """The properties of a record as the server stores them: what a create sends, and the
    ones a create leaves out (kernel_id "none"), so that a purge removes them. Reserved
    names cannot be written or removed (403): they are left alone."""
    stored, _ = encode_properties(image.properties, api="2")
    if len(stored) == len(image.properties):
        return stored  # nothing left out
    for key, value in image.properties.items():
        if key in stored or key in _BASE_V2_KEYS or is_v2_reserved(key):
            continue
        text, _ = encode_property(key, value, api="1")
        if text is not None:
            stored[key] = text
    return stored


def _path(key: str) -> str:
    """A JSON pointer to a top-level key (RFC 6901 escaping)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")
