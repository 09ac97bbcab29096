"""What a client sends to create or change an image: v2 create bodies, v1 create and
update headers, and the minimal v2 JSON patch between two seam records.

Only writable attributes (per the field table) ever appear; read-only ones (size, status,
checksum, timestamps, deletion) are never sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imgcompat.core import scalars
from imgcompat.core.fields import (
    BY_NAME,
    LATEST_V2_MINOR,
    V1_FIELDS,
    V2_FIELDS,
    Field,
    is_v2_reserved,
)
from imgcompat.core.model import Image, Loss, Translated
from imgcompat.core.translate import encode_property, image_to_v1, image_to_v2
from imgcompat.core.v1 import Headers, header_losses, purge_header, v1image_to_v1_headers

PatchOp = dict[str, Any]
_V2_WRITABLE: tuple[Field, ...] = tuple(f for f in V2_FIELDS if not f.read_only or f.create_only)
_V1_UPDATABLE: tuple[Field, ...] = tuple(f for f in V1_FIELDS if not f.read_only)
_BASE_V2_KEYS = frozenset(f.v2 for f in V2_FIELDS)


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

    ``tags`` go out sorted and without repeats: a v2 server keeps them as a set.
    """
    translated = image_to_v2(image, minor=minor)
    v2 = translated.value
    losses = list(_sent_only(translated.losses))
    if len(set(image.tags)) != len(image.tags):
        losses.append(Loss("tags", "a v2 server keeps tags as a set: repeats are dropped"))
    body: dict[str, Any] = {}
    for f in _V2_WRITABLE:
        assert f.v2 is not None
        if f.v2_min_minor > minor:
            continue
        value = getattr(v2, f.name)
        if value is None and (f.omit_none or f.create_only):
            continue
        if f.name == "tags":
            value = tuple(sorted(set(value or ())))
        body[f.v2] = scalars.to_json(f, value, api="2")
    body.update(v2.properties)
    return Translated(body, tuple(losses))


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
    """
    cur = image_to_v2_create(current, minor=minor).value
    # The current record is what the server holds: its properties as they are stored,
    # including ones a create would leave out (kernel_id "none"), so that a purge removes
    # them. Reserved names cannot be written or removed (403): they are left alone.
    for key, value in current.properties.items():
        if key in cur or key in _BASE_V2_KEYS or is_v2_reserved(key):
            continue
        text, _ = encode_property(key, value, api="1")
        if text is not None:
            cur[key] = text
    want_t = image_to_v2_create(wanted, minor=minor)
    want = want_t.value
    losses = list(want_t.losses)
    ops: list[PatchOp] = []
    base = {f.v2: f for f in _V2_WRITABLE}
    for key, value in want.items():
        if key == "id":
            continue
        if key not in cur:
            ops.append({"op": "add", "path": _path(key), "value": value})
        elif cur[key] != value:
            ops.append({"op": "replace", "path": _path(key), "value": value})
    for key in cur:
        if key in want or key == "id":
            continue
        if key in base:
            losses.append(Loss(key, "v2 cannot clear this field: left unchanged"))
        elif purge_props:
            ops.append({"op": "remove", "path": _path(key)})
    if current.id != wanted.id and wanted.id is not None:
        losses.append(Loss("id", "an image id cannot change"))
    return Translated(tuple(ops), tuple(losses))


def _path(key: str) -> str:
    """A JSON pointer to a top-level key (RFC 6901 escaping)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")
