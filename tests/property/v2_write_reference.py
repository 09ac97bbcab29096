"""The v2 write path as it was before it was made fast: the oracle of ``core/writes.py``.

``image_to_v2_create`` then built a V2Image (``image_to_v2``) and encoded its writable
fields through ``scalars.to_json``; ``v2_patch`` diffed the two whole bodies. The fast
versions must give exactly what these give (``test_patch_oracle.py``).
"""

from __future__ import annotations

from typing import Any

from imgcompat.core import scalars
from imgcompat.core.fields import LATEST_V2_MINOR, is_v2_reserved
from imgcompat.core.model import Image, Loss, Translated
from imgcompat.core.translate import encode_property, image_to_v2
from imgcompat.core.writes import _BASE_V2_KEYS, _V2_WRITABLE, PatchOp, _path, _sent_only


def reference_v2_create(
    image: Image, *, minor: int = LATEST_V2_MINOR
) -> Translated[dict[str, Any]]:
    """The body of ``POST /v2/images``, through a V2Image."""
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


def reference_v2_patch(
    current: Image, wanted: Image, purge_props: bool = True, *, minor: int = LATEST_V2_MINOR
) -> Translated[tuple[PatchOp, ...]]:
    """The patch as the difference of the two whole create bodies."""
    cur = reference_v2_create(current, minor=minor).value
    for key, value in current.properties.items():
        if key in cur or key in _BASE_V2_KEYS or is_v2_reserved(key):
            continue
        text, _ = encode_property(key, value, api="1")
        if text is not None:
            cur[key] = text
    want_t = reference_v2_create(wanted, minor=minor)
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
