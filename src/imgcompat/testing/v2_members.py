"""``/v2/images/{id}/members[/{member}]``: sharing an image with other projects.

Only ``shared`` images have members. The owner (or an admin) adds and removes them; a
new member is ``pending``, and only the member itself (or an admin) moves its status
to ``accepted`` / ``rejected`` / back to ``pending``. A member sees the image whatever
its status; the default image list shows it only once ``accepted``. A non-admin who is
not the owner sees only its own membership. Messages and codes are Glance 33's, where a
refused membership call is usually a 403 naming the action, and ``show`` hides refusals
behind 404s.
"""

from __future__ import annotations

from typing import Any

import attrs

from imgcompat.core.enums import Visibility
from imgcompat.core.scalars import format_v2_time

from .http_errors import HttpError
from .identity import Identity
from .store import Member, Record, now
from .v2_api import Call

_STATUSES = ("pending", "accepted", "rejected")


def member_json(member: Member, member_id: Any = None) -> dict[str, Any]:
    """The member entity (``member_id`` overrides what is shown, as on create)."""
    return {"member_id": member.member_id if member_id is None else member_id,
            "image_id": member.image_id, "status": member.status,
            "created_at": format_v2_time(member.created_at),
            "updated_at": format_v2_time(member.updated_at),
            "schema": "/v2/schemas/member"}


def _image(call: Call, image_id: str) -> Record:
    return call.api.image(image_id, call.who, f"Image {image_id} not found.")


def _seen_by(who: Identity, record: Record, member: Member) -> bool:
    """Glance's member query: a non-admin sees memberships of its images or its own."""
    return who.is_admin or who.owner in (record.owner, member.member_id)


def _lookup(call: Call, record: Record, member_id: str) -> Member:
    member = call.emu.store.member(record.id, member_id)
    if member is None or not _seen_by(call.who, record, member):
        raise HttpError(404, f"{member_id} not found in the member list of the image "
                             f"{record.id}.")
    return member


def _shared(record: Record) -> str | None:
    """Why ``record`` cannot have members (None: it can)."""
    return None if record.visibility == Visibility.SHARED else (
        "Only shared images have members.")


async def _body_field(call: Call, key: str, example: str, missing: str) -> Any:
    """``body[key]`` of a JSON object body, or the deserializer's 400."""
    body = await call.api.json_body(call.req)
    if not isinstance(body, dict):
        raise HttpError(400, f'Expected a {key} in the form: {{"{key}": "{example}"}}')
    if key not in body:
        raise HttpError(400, missing)
    return body[key]


async def create(call: Call, image_id: str) -> None:
    """``POST /v2/images/{id}/members`` with ``{"member": "<project>"}``."""
    raw = await _body_field(call, "member", "image_id", "Member to be added not specified")
    if not raw:
        raise HttpError(400, "Member can't be empty")
    if isinstance(raw, dict | list):  # Glance 33 answers 500
        raise HttpError(400, 'Expected a member in the form: {"member": "image_id"}')
    member_id = raw if isinstance(raw, str) else str(raw)
    record = _image(call, image_id)
    who = call.who
    refused = f"Not allowed to create members for image {image_id}."
    if _shared(record) or (not who.is_admin and (record.owner is None
                                                 or record.owner != who.owner)):
        raise HttpError(403, refused)
    store = call.emu.store
    quota = call.emu.image_member_quota
    if 0 <= quota < len(store.members(image_id)) + 1:
        raise HttpError(413, f"Image member limit exceeded for image {image_id}: The limit "
                             "has been exceeded on the number of allowed image members for "
                             f"this image. Attempted: {len(store.members(image_id)) + 1}, "
                             f"Maximum: {quota}:")
    if store.member(image_id, member_id) is not None:
        raise HttpError(409, f"Member {member_id} is duplicated for image {image_id}")
    stamp = now()
    member = store.put_member(Member(image_id, member_id, "pending", stamp, stamp))
    await call.resp.json(200, member_json(member, raw))


async def index(call: Call, image_id: str) -> None:
    """``GET /v2/images/{id}/members``."""
    record = _image(call, image_id)
    why = _shared(record)
    if why:
        raise HttpError(403, f"Not allowed to list members for image {image_id}: {why}")
    members = [member_json(m) for m in call.emu.store.members(image_id)
               if _seen_by(call.who, record, m)]
    await call.resp.json(200, {"members": members, "schema": "/v2/schemas/members"})


async def show(call: Call, image_id: str, member_id: str) -> None:
    """``GET /v2/images/{id}/members/{member}`` (refusals are 404s here)."""
    record = _image(call, image_id)
    why = _shared(record)
    if why:
        raise HttpError(404, why)
    await call.resp.json(200, member_json(_lookup(call, record, member_id)))


async def update(call: Call, image_id: str, member_id: str) -> None:
    """``PUT /v2/images/{id}/members/{member}`` with ``{"status": ...}``."""
    status = await _body_field(call, "status", "status", "Status not specified")
    record = _image(call, image_id)
    who = call.who
    refused = f"Not allowed to update members for image {image_id}."
    if _shared(record) or (not who.is_admin and who.owner == record.owner):
        raise HttpError(403, refused)
    member = _lookup(call, record, member_id)  # a non-admin finds only its own here
    if status not in _STATUSES:
        raise HttpError(400, 'Incorrect request: Status must be "pending", "accepted" or '
                             '"rejected".')
    saved = call.emu.store.put_member(attrs.evolve(member, status=status, updated_at=now()))
    await call.resp.json(200, member_json(saved))


async def delete(call: Call, image_id: str, member_id: str) -> None:
    """``DELETE /v2/images/{id}/members/{member}``: the owner (or an admin) only."""
    record = _image(call, image_id)
    who = call.who
    refused = f"Not allowed to delete members for image {image_id}."
    if _shared(record) or (not who.is_admin and who.owner != record.owner):
        raise HttpError(403, refused)
    member = _lookup(call, record, member_id)
    call.emu.store.put_member(attrs.evolve(member, deleted=True))
    await call.resp.empty(204, content_type=None)  # a bare webob.Response, no type
