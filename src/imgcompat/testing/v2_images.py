"""``/v2/images`` and ``/v2/images/{id}``: create, show, patch, delete, and the actions.

Each handler runs Glance's steps in Glance's order (request deserializer, policy, domain
factory, quota proxy, database), because the order decides which error a bad request
gets. Listing is in ``v2_listing``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from imgcompat.core.enums import Status, Visibility

from .http_errors import HttpError
from .identity import Identity, mutable
from .store import Record, now
from .v2_api import Call
from .v2_patch import (
    MEDIA_TYPES,
    RESERVED,
    RESERVED_PREFIX,
    Patching,
    check_property_quota,
    check_tag_quota,
    media_type_error,
    parse,
)

#: RequestDeserializer._disallowed_properties: refused before the schema is checked.
_DISALLOWED = ("direct_url", "self", "file", "schema", "stores")
#: RequestDeserializer._base_properties: the keys that are not custom properties.
_BASE = ("checksum", "created_at", "container_format", "disk_format", "id", "min_disk",
         "min_ram", "name", "size", "virtual_size", "status", "tags", "owner", "updated_at",
         "visibility", "protected", "os_hidden")
#: ImageFactory._readonly_properties, in its order.
_READ_ONLY_ON_CREATE = ("created_at", "updated_at", "status", "checksum", "os_hash_algo",
                        "os_hash_value", "size", "virtual_size")
#: ImageFactory._reserved_properties (custom names refused by the domain factory).
_RESERVED_ON_CREATE = ("owner", "locations", "deleted", "deleted_at", "direct_url", "self",
                       "file", "schema")
_INT_MAX = 2**31 - 1
#: A patch with more operations than this is worked out in a thread.
_BIG_PATCH = 1000


def may_publicize(call: Call, who: Identity) -> bool:
    """The ``publicize_image`` policy of this emulator."""
    return who.admin_role or not call.emu.publicize_admin_only


def _split_body(call: Call, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The deserializer: base values and custom properties, or its 400/403."""
    for key in _DISALLOWED:
        if key in body:
            raise HttpError(403, f"Attribute '{key}' is read-only.")
    call.api.validator.validate(body)
    base_keys = call.api.validator.schema["properties"]
    values: dict[str, Any] = {}
    props = dict(body)
    for key in _BASE:
        if key in props and key in base_keys:
            values[key] = props.pop(key)
    for key in props:
        if len(key) > 255:
            raise HttpError(400, "Custom property should not be greater than 255 characters.")
        if key in RESERVED or key.startswith(RESERVED_PREFIX):
            raise HttpError(403, detail=f"Attribute '{key}' is reserved.")
    return values, props


async def create(call: Call) -> None:
    """``POST /v2/images``: any Content-Type, the body is read as JSON anyway."""
    body = await call.api.json_body(call.req)
    if not isinstance(body, dict):  # Glance 33 answers a JSON array with a 500
        raise HttpError(400, "Body expected in request.")
    values, props = _split_body(call, body)
    who = call.who
    values.setdefault("owner", call.emu.owner if call.emu.auth == "none" else who.owner)
    visibility = values.get("visibility", "private")
    if visibility == "public" and not may_publicize(call, who):
        raise HttpError(403, "You are not authorized to complete publicize_image action.")
    if not who.is_admin and values["owner"] != who.project_id:
        raise HttpError(403, "You are not permitted to create images owned by "
                             f"'{values['owner']}'.")
    tags = values.pop("tags", [])
    check_tag_quota(len(tags), call.emu.image_tag_quota)
    for key in _READ_ONLY_ON_CREATE:
        if key in values:
            raise HttpError(403, f"Attribute '{key}' is read-only.")
    for key in _RESERVED_ON_CREATE:
        if key in props:
            raise HttpError(403, f"Attribute '{key}' is reserved.")
    for key in ("min_disk", "min_ram"):
        value = values.get(key)
        if value and value < 0:
            raise HttpError(400, f"Invalid value '{value}' for parameter '{key}': Cannot be "
                                 "a negative value")
    check_property_quota(props, call.emu.image_property_quota)
    for key in ("min_disk", "min_ram"):
        if values.get(key) and values[key] > _INT_MAX:
            raise HttpError(400, f"'{key}' value out of range, must not exceed {_INT_MAX}.")
    image_id = values.pop("id", None) or call.emu.store.new_id()
    if call.emu.store.exists(image_id):
        raise HttpError(409, f"Image ID {image_id} already exists!")
    record = _new_record(call, image_id, values, props, tags)
    call.emu.store.put(record)
    headers = [("Location", f"{call.req.base_url}/v2/images/{image_id}")]
    if call.emu.import_methods:
        headers.append(("OpenStack-image-import-methods", ",".join(call.emu.import_methods)))
    # The emulator always runs with enabled_backends, as the reference server does. (A
    # Glance 33 worker that has run a web-download or copy-image import also lists its
    # internal os_glance_staging_store and os_glance_tasks_store here: not emulated.)
    headers.append(("OpenStack-image-store-ids", ",".join(call.emu.stores)))
    # The answer shows the domain object, before the database made "" owners NULL;
    # otherwise it is the stored record's entity, then kept for the listings.
    if record.owner != values["owner"]:
        shown = attrs.evolve(record, owner=values["owner"])
        await call.resp.json(201, call.api.render(shown), headers)
        return
    await call.resp.encoded_json(201, call.api.entity(record), headers)


def _new_record(call: Call, image_id: str, values: dict[str, Any], props: dict[str, Any],
                tags: list[str]) -> Record:
    stamp = now()
    default_visibility = Visibility.SHARED if call.api.minor >= 5 else Visibility.PRIVATE
    return Record(
        id=image_id, created_at=stamp, updated_at=stamp,
        name=values.get("name"),
        visibility=Visibility(values.get("visibility") or default_visibility),
        protected=bool(values.get("protected", False)),
        os_hidden=bool(values.get("os_hidden", False)),
        disk_format=values.get("disk_format"),
        container_format=values.get("container_format"),
        min_ram=int(values.get("min_ram") or 0),
        min_disk=int(values.get("min_disk") or 0),
        owner=values["owner"] or None,
        tags=tuple(dict.fromkeys(tags)),
        properties=props,
    )


async def show(call: Call, image_id: str) -> None:
    """``GET /v2/images/{id}``."""
    await call.resp.encoded_json(200, call.api.entity(call.api.image(image_id, call.who)))


async def update(call: Call, image_id: str) -> None:
    """``PATCH /v2/images/{id}`` (see ``v2_patch`` for the rules)."""
    media = (call.req.header("content-type") or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise media_type_error(call.req.header("content-type"))
    body = await call.api.json_body(call.req)
    if isinstance(body, list) and len(body) > _BIG_PATCH:
        # Linear, but long enough to keep off the event loop (other calls go on).
        patched = await asyncio.to_thread(_patched, call, body, media, image_id)
    else:
        patched = _patched(call, body, media, image_id)
    if patched is None:
        await call.resp.encoded_json(200, call.api.entity(call.api.image(image_id, call.who)))
        return
    result: Record = patched

    def save(current: Record) -> Record:
        return attrs.evolve(result, status=current.status, size=current.size,
                            checksum=current.checksum, os_hash_algo=current.os_hash_algo,
                            os_hash_value=current.os_hash_value,
                            virtual_size=current.virtual_size, location=current.location,
                            stores=current.stores, staged=current.staged)

    saved = call.emu.store.update(image_id, save)
    await call.resp.encoded_json(200, call.api.entity(saved))


def _patched(call: Call, body: Any, media: str, image_id: str) -> Record | None:
    """The image after the patch (None when there is nothing to change)."""
    changes = parse(body, media, call.api.validator)
    record = call.api.image(image_id, call.who)
    if not changes:
        return None
    work = Patching(record, call.who, minor=call.api.minor,
                    publicize=lambda who: may_publicize(call, who),
                    property_quota=call.emu.image_property_quota,
                    tag_quota=call.emu.image_tag_quota)
    for change in changes:
        work.apply(change)
    return work.result()


async def delete(call: Call, image_id: str) -> None:
    """``DELETE /v2/images/{id}``: owner or admin; a protected image stays."""
    record = call.api.image(image_id, call.who,
                            f"Failed to find image {image_id} to delete")
    if not mutable(call.who, record):
        raise HttpError(403, "You do not own this image")
    if record.protected:
        raise HttpError(403, f"Image {image_id} is protected and cannot be deleted.")
    call.emu.delete_record(record)
    await call.resp.empty(204)


async def deactivate(call: Call, image_id: str) -> None:
    """``POST /v2/images/{id}/actions/deactivate``."""
    await _action(call, image_id, "deactivate", Status.DEACTIVATED)


async def reactivate(call: Call, image_id: str) -> None:
    """``POST /v2/images/{id}/actions/reactivate``."""
    await _action(call, image_id, "reactivate", Status.ACTIVE)


async def _action(call: Call, image_id: str, action: str, target: Status) -> None:
    record = call.api.image(image_id, call.who)
    if not mutable(call.who, record):
        raise HttpError(403, "You do not own this image")
    if record.status not in (Status.ACTIVE, Status.DEACTIVATED):
        raise HttpError(403, f"Not allowed to {action} image in status '{record.status}'")
    if record.status != target:
        call.emu.store.update(image_id, lambda r: attrs.evolve(r, status=target))
    await call.resp.empty(204)
