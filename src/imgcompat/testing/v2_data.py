"""Image bytes over v2: ``PUT``/``GET /v2/images/{id}/file`` and ``PUT .../stage``.

Upload: ``queued`` → ``saving`` → ``active`` (the bytes hashed and inspected on the way);
a refused upload goes back to ``queued``. Stage (interoperable import): ``queued`` →
``uploading`` with the bytes kept aside until ``POST .../import`` (``v2_import``).
Download: 204 without data, ranges as webob parses them.
"""

from __future__ import annotations

import attrs

from imgcompat.core.enums import Status

from .data import RangeError, Refused, SizeMismatch, parse_range, receive_data
from .http import BodyBroken
from .http_errors import HttpError
from .identity import mutable
from .store import Record
from .v2_api import Call


def _octet_stream(call: Call) -> int | None:
    """The deserializer: octet-stream or 415, and the announced size (or 400)."""
    content_type = call.req.header("content-type")
    media = None if content_type is None else call.req.media_type
    if media != "application/octet-stream":
        raise HttpError(415, detail=f"Invalid content type {media}")
    size = call.req.header("x-openstack-image-size")
    try:
        if size is not None:
            return int(size)
        length = call.req.header("content-length")
        return int(length) or None if length is not None else None
    except ValueError:
        raise HttpError(400, "Invalid or missing image size in request headers.") from None


def _formats_missing(record: Record) -> HttpError | None:
    missing = [k for k in ("disk_format", "container_format") if not getattr(record, k)]
    if not missing:
        return None
    if len(missing) == 1:
        return HttpError(400, f"Property {missing[0]} must be set prior to saving data.")
    return HttpError(400, f"Properties {', '.join(missing)} must be set prior to saving data.")


async def upload(call: Call, image_id: str) -> None:
    """``PUT /v2/images/{id}/file``."""
    size = _octet_stream(call)
    emu = call.emu
    store_id = call.req.header("x-image-meta-store") or emu.stores[0]
    if store_id not in emu.stores:
        raise HttpError(400, f"Store for identifier {store_id} not found")
    record = call.api.image(image_id, call.who)
    if not mutable(call.who, record):
        raise HttpError(403, f"Not allowed to upload image data for image {image_id}")
    if record.status != Status.QUEUED:
        raise HttpError(409, f"Image status transition from {record.status} to saving is "
                             "not allowed")
    missing = _formats_missing(record)
    if missing is not None:
        raise missing
    if emu.claim_upload(image_id, from_status=Status.QUEUED) is None:
        current = call.api.image(image_id, call.who).status
        raise HttpError(409, f"Image status transition from {current} to saving is not "
                             "allowed")
    try:
        stored = await receive_data(call.req.chunks(), emu.blobs, image_id,
                                    record.disk_format, container_format=record.container_format,
                                    inspect="enforce", expected_size=size)
    except SizeMismatch as exc:
        emu.release_upload(image_id, Status.QUEUED)
        await call.req.drain()
        raise HttpError(400, str(exc)) from None
    except Refused as exc:
        emu.refuse_upload(image_id, exc.stored, store_id)
        raise HttpError(415, detail=str(exc)) from None
    except BodyBroken:
        emu.release_upload(image_id, Status.QUEUED)
        raise
    emu.finish_upload(image_id, attrs.evolve(stored, store=store_id))
    await call.resp.empty(204)


async def stage(call: Call, image_id: str) -> None:
    """``PUT /v2/images/{id}/stage``: keep the bytes for a ``glance-direct`` import."""
    emu = call.emu
    if "glance-direct" not in emu.import_methods:
        raise HttpError(404, "'glance-direct' method is not available at this site.")
    size = _octet_stream(call)
    record = call.api.image(image_id, call.who)
    if not mutable(call.who, record):
        raise HttpError(403, "You do not own this image")
    claimed: list[Record] = []

    def to_uploading(current: Record) -> Record:
        if current.status != Status.QUEUED or current.gone:
            return current
        claimed.append(current)
        return attrs.evolve(current, status=Status.UPLOADING)

    current = emu.store.update(image_id, to_uploading)
    if not claimed:
        raise HttpError(409, f"Image status transition from {current.status} to uploading "
                             "is not allowed")
    try:
        stored = await receive_data(call.req.chunks(), emu.staging, image_id, None,
                                    expected_size=size)
    except SizeMismatch as exc:
        emu.release_upload(image_id, Status.QUEUED)
        await call.req.drain()
        raise HttpError(400, str(exc)) from None
    except BodyBroken:
        emu.release_upload(image_id, Status.QUEUED)
        raise
    emu.store.update(image_id, lambda r: attrs.evolve(r, size=stored.size,
                                                      staged=stored.location))
    await call.resp.empty(204)


async def download(call: Call, image_id: str) -> None:
    """``GET /v2/images/{id}/file``: 200, 206 for a Range, 204 without data."""
    prefer = [s.strip() for s in dict(call.req.query).get("prefer", "").split(",")
              if s.strip()]
    record = call.api.image(image_id, call.who)
    if record.status == Status.DEACTIVATED and not call.who.is_admin:
        raise HttpError(403, "The requested image has been deactivated. Image data "
                             "download is forbidden.")
    for store_id in prefer:
        if store_id not in call.emu.stores:
            raise HttpError(400, f"Store '{store_id}' is not configured.")
    if record.location is None or record.size is None:
        await call.resp.empty(204, content_type=None)
        return
    size = record.size
    headers = [("Content-Type", "application/octet-stream")]
    status, start, end = 200, 0, size
    range_header = call.req.header("range")
    if range_header is not None and not call.emu.faults.take_ignore_range():
        try:
            start, end = parse_range(range_header, size)
        except RangeError as exc:
            raise HttpError(exc.status, str(exc)) from None
        status = 206
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
    if record.checksum:
        headers.append(("Content-MD5", record.checksum))
    headers.append(("Content-Length", str(end - start)))
    await call.resp.stream(status, headers, call.emu.blobs.read(record.location, start, end),
                           download=True)
