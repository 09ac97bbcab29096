"""``PUT`` / ``DELETE /v2/images/{id}/tags/{tag}``: one tag at a time.

Adding a tag the image has is a no-op 204; removing one it lacks is a bare 404. The tag
travels in the path: percent-decoded and read as latin-1 (as Glance's WSGI server hands
it over), at most 255 characters (a longer one is refused by the image schema, 400),
and ``%2F`` cannot be used (the path no longer matches the route: 404). Only the owner
or an admin changes tags; the image quota ``image_tag_quota`` applies (413).
"""

from __future__ import annotations

import attrs

from .http_errors import HttpError
from .identity import mutable
from .store import Record
from .v2_api import Call
from .v2_patch import check_tag_quota


def _visible(call: Call, image_id: str) -> Record:
    return call.api.image(image_id, call.who, f"Image {image_id} not found.")


async def add(call: Call, image_id: str, tag: str) -> None:
    """``PUT /v2/images/{id}/tags/{tag}``."""
    call.api.validator.validate_one("tags", [tag])
    record = _visible(call, image_id)
    if not mutable(call.who, record):
        raise HttpError(403, f"Not allowed to update tags for image {image_id}.")
    if tag not in record.tags:
        try:
            check_tag_quota(len(record.tags) + 1, call.emu.image_tag_quota)
        except HttpError as exc:
            raise HttpError(413, f"Image tag limit exceeded for image {image_id}: "
                                 f"{exc.explanation}:") from None

    def change(current: Record) -> Record:
        return attrs.evolve(current, tags=tuple(dict.fromkeys((*current.tags, tag))))

    call.emu.store.update(image_id, change)
    await call.resp.empty(204)


async def delete(call: Call, image_id: str, tag: str) -> None:
    """``DELETE /v2/images/{id}/tags/{tag}``."""
    record = _visible(call, image_id)
    if not mutable(call.who, record):
        raise HttpError(403, f"Not allowed to delete tags for image {image_id}.")
    if tag not in record.tags:
        raise HttpError(404)
    call.emu.store.update(image_id, lambda r: attrs.evolve(
        r, tags=tuple(t for t in r.tags if t != tag)))
    await call.resp.empty(204)
