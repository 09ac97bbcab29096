"""The v1 API of the emulator (no real v1 server can be installed any more).

It follows the Queens-era v1 server as the reference describes it: metadata in
``x-image-meta-*`` headers read with the core's strict server-side parse (unknown meta
header → 400, ``-`` → ``_`` in names, values stored exactly as they arrived, never
percent-decoded), bytes in the POST/PUT body while queued (queued → saving → active,
``killed`` when the body breaks off), DELETE → 200 with an empty body, lists without
links, and ``changes-since`` showing deleted images.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from imgcompat.core import scalars
from imgcompat.core.enums import ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import V1_META_PREFIX, V1_PROPERTY_PREFIX, V1_PURGE_HEADER
from imgcompat.core.model import V1Image
from imgcompat.core.v1 import v1_headers_to_v1image

from .data import receive_data
from .http import BodyBroken, Request, Responder, json_array, json_bytes, json_object
from .http_errors import HttpError
from .render import v1_headers, v1_json, v1_summary_json
from .store import NotFound, Record, now

if TYPE_CHECKING:
    from .emulator import Emulator

_AMI = frozenset({"ami", "ari", "aki"})
_SORT_KEYS = frozenset({"name", "status", "container_format", "disk_format", "size", "id",
                        "created_at", "updated_at"})
_UUID_LIKE = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                        r"[0-9a-fA-F]{12}")
_INT_MAX = 2**31
_DEFAULT_LIMIT, _MAX_LIMIT = 25, 1000
#: Accepted by the v1 server but not part of the record (or not emulated: see below).
_REQUEST_ONLY = frozenset({"copy_from", "uri", "store", "location"})
_DROPPED_ON_UPDATE = ("created_at", "updated_at", "deleted_at", "deleted")


class V1Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


#: Read with oslo's lenient ``bool_from_string``: anything it does not know is False.
_BOOLEAN_HEADERS = frozenset(V1_META_PREFIX + k for k in ("is_public", "protected", "deleted"))


def _server_header_pairs(req: Request) -> list[tuple[str, str]]:
    """Header names as the v1 server read them: lower case, ``-`` → ``_`` after the prefix.

    Boolean values are read as that server did (``None``, ``maybe``... are False: the
    latest python-glanceclient's v1 CLI sends ``is_public: None`` when it is not given)
    and handed on as ``True``/``False``.
    """
    out: list[tuple[str, str]] = []
    for name, value in req.header_pairs:
        server_name = name
        if name.startswith(V1_META_PREFIX):
            rest = name[len(V1_META_PREFIX):].replace("-", "_")
            if rest.startswith("property_"):
                server_name = V1_PROPERTY_PREFIX + rest[len("property_"):]
            else:
                server_name = V1_META_PREFIX + rest
        if server_name in _BOOLEAN_HEADERS:
            out.append((server_name, str(scalars.bool_from_string(value))))
        else:
            out.append((server_name, value))
    return out


@attrs.frozen
class _Meta:
    """What one v1 request asked for: the parsed image and which fields it named."""

    image: V1Image
    named: frozenset[str]
    properties: dict[str, str | None]


def _parse_meta(req: Request) -> _Meta:
    pairs = _server_header_pairs(req)
    try:
        image = v1_headers_to_v1image(pairs, percent_decode=False, strict=True)
    except InvalidRecord as exc:
        raise V1Error(400, f"Bad header: {exc}") from None
    named = frozenset(n[len(V1_META_PREFIX):] for n, _ in pairs
                      if n.startswith(V1_META_PREFIX) and not n.startswith(V1_PROPERTY_PREFIX))
    if "location" in named:
        raise V1Error(400, "The emulator does not support external image locations "
                           "(x-image-meta-location).")
    for key in ("min_ram", "min_disk"):
        value = getattr(image, key)
        if value is not None and value >= _INT_MAX:
            raise V1Error(400, f"Invalid {key}: value out of range")
    for key, enum in (("disk_format", DiskFormat), ("container_format", ContainerFormat)):
        value = getattr(image, key)
        if value is not None and not enum(value).known:
            raise V1Error(400, f"Invalid {key} '{value}' for image.")
    props: dict[str, str | None] = {k: (v or None) for k, v in image.properties.items()}
    return _Meta(image, named, props)


def _formats(disk: str | None, container: str | None) -> tuple[str | None, str | None]:
    """The v1 AMI rule: one AMI-type format given alone is copied to the other."""
    if disk in _AMI and container is None:
        container = disk
    elif container in _AMI and disk is None:
        disk = container
    if (disk in _AMI or container in _AMI) and disk != container:
        raise V1Error(400, "Invalid mix of disk and container formats. When setting a disk "
                           "or container format to one of 'aki', 'ari', or 'ami', the "
                           "container and disk formats must match.")
    return disk, container


class V1Api:
    """Handlers of one emulator's v1 API."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def _visibility(self, is_public: bool) -> Visibility:
        if is_public:
            return Visibility.PUBLIC
        # A v2-era server writes v1's "not public" as shared (2.5+), private before.
        return Visibility.SHARED if self.emu.v2_minor >= 5 else Visibility.PRIVATE

    async def __call__(self, req: Request, resp: Responder, parts: list[str]) -> None:
        try:
            await self._dispatch(req, resp, parts)
        except V1Error as exc:
            await resp.error(HttpError(exc.status, exc.message), body_on_head=True)

    async def _dispatch(self, req: Request, resp: Responder, parts: list[str]) -> None:
        method = req.method
        match parts:
            case [] | ["images"]:
                if method == "GET":
                    await self.list_images(req, resp, detail=False)
                    return
                if method == "POST" and parts:
                    await self.create(req, resp)
                    return
                allow = "GET, POST"
            case ["images", "detail"]:
                if method == "GET":
                    await self.list_images(req, resp, detail=True)
                    return
                allow = "GET"
            case ["images", image_id]:
                if method in ("HEAD", "GET"):
                    await self.show(req, resp, image_id, with_data=method == "GET")
                    return
                if method == "PUT":
                    await self.update(req, resp, image_id)
                    return
                if method == "DELETE":
                    await self.delete(resp, image_id)
                    return
                allow = "GET, HEAD, PUT, DELETE"
            case _:
                raise V1Error(404, "The resource could not be found.")
        await resp.empty(405, [("Allow", allow)])

    def _get(self, image_id: str) -> Record:
        try:
            return self.emu.store.get(image_id)
        except NotFound:
            raise V1Error(404, f"Image with identifier {image_id} not found") from None

    # ---------------------------------------------------------------------- calls

    async def show(self, req: Request, resp: Responder, image_id: str, *,
                   with_data: bool) -> None:
        record = self._get(image_id)
        headers = v1_headers(record)
        if not with_data:
            await resp.empty(200, headers, content_type=None)
            return
        if record.status == Status.DEACTIVATED:
            raise V1Error(403, "The requested image has been deactivated. Image data "
                               "download is forbidden.")
        if record.status != Status.ACTIVE:
            raise V1Error(404, f"Image {image_id} is not active")
        size = record.size or 0
        headers += [("Content-Type", "application/octet-stream"),
                    ("Content-Length", str(size))]
        if record.location is None:
            await resp.body(200, b"", None, headers)
            return
        await resp.stream(200, headers, self.emu.blobs.read(record.location, 0, size),
                          download=True)

    async def create(self, req: Request, resp: Responder) -> None:
        meta = _parse_meta(req)
        image = meta.image
        image_id = image.id or self.emu.store.new_id()
        if image.id is not None and not _UUID_LIKE.fullmatch(image.id):
            raise V1Error(400, f"Invalid image id {image.id}")
        if self.emu.store.exists(image_id):
            raise V1Error(409, f"An image with identifier {image_id} already exists")
        disk, container = _formats(
            None if image.disk_format is None else str(image.disk_format),
            None if image.container_format is None else str(image.container_format))
        stamp = now()
        with_data = req.has_body
        status = Status.ACTIVE if image.size == 0 and not with_data else Status.QUEUED
        record = Record(
            id=image_id,
            created_at=image.created_at or stamp,
            updated_at=image.updated_at or stamp,
            name=image.name or None,
            status=status,
            visibility=self._visibility(bool(image.is_public)),
            protected=bool(image.protected),
            disk_format=disk,
            container_format=container,
            min_ram=image.min_ram or 0,
            min_disk=image.min_disk or 0,
            owner=image.owner or self.emu.owner,
            size=image.size,
            virtual_size=image.virtual_size,
            checksum=image.checksum,
            properties=meta.properties,
        )
        self.emu.store.put(record)
        if with_data:
            record = await self._upload(req, record)
        headers = [("Location", f"{req.base_url}/v1/images/{image_id}")]
        if record.checksum:
            headers.append(("Etag", record.checksum))
        await resp.json(201, {"image": v1_json(record)}, headers)

    async def update(self, req: Request, resp: Responder, image_id: str) -> None:
        try:
            current = self.emu.store.get(image_id, include_gone=True)
        except NotFound:
            raise V1Error(404, f"Image with identifier {image_id} not found") from None
        if current.gone:
            raise V1Error(403, "Forbidden to update deleted image.")
        meta = _parse_meta(req)
        image = meta.image
        if image.id is not None and image.id != image_id:
            raise V1Error(403, "Forbidden to modify the id of an image.")
        if image.status is not None and image.status != current.status:
            raise V1Error(403, "Forbidden to modify the status of an image.")
        with_data = req.has_body
        if with_data and current.status != Status.QUEUED:
            raise V1Error(409, "Cannot upload to an unqueued image")
        purge_text = req.header(V1_PURGE_HEADER)
        purge = True if purge_text is None else scalars.bool_from_string(purge_text)
        if with_data:
            purge = False
        changes = self._changes(current, image, meta)
        props = dict(meta.properties) if purge else {**current.properties, **meta.properties}

        def change(record: Record) -> Record:
            return attrs.evolve(record, **changes, properties=props)

        record = self.emu.store.update(image_id, change)
        if with_data:
            record = await self._upload(req, record)
        headers = [("Etag", record.checksum)] if record.checksum else []
        await resp.json(200, {"image": v1_json(record)}, headers)

    def _changes(self, current: Record, image: V1Image, meta: _Meta) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        simple = ("name", "protected", "min_ram", "min_disk", "owner", "size", "checksum",
                  "virtual_size")
        for key in simple:
            if key in meta.named and key not in _DROPPED_ON_UPDATE:
                value = getattr(image, key)
                changes[key] = (value or None) if key in ("name", "owner") else value
        if "is_public" in meta.named:
            changes["visibility"] = self._visibility(bool(image.is_public))
        disk = str(image.disk_format) if image.disk_format is not None else None
        container = (str(image.container_format) if image.container_format is not None
                     else None)
        if disk is not None or container is not None:
            disk, container = _formats(disk or current.disk_format,
                                       container or current.container_format)
            changes["disk_format"], changes["container_format"] = disk, container
        for key in ("min_ram", "min_disk", "protected"):
            if changes.get(key, 0) is None:
                changes.pop(key)
        return changes

    async def _upload(self, req: Request, record: Record) -> Record:
        if req.media_type != "application/octet-stream":
            await req.drain()
            self.emu.release_upload(record.id, Status.KILLED)
            raise V1Error(400, f"Content-Type must be application/octet-stream, not "
                               f"{req.media_type or 'none'}")
        if self.emu.claim_upload(record.id, from_status=Status.QUEUED) is None:
            raise V1Error(409, f"An image with identifier {record.id} is already being "
                               "uploaded")
        try:
            stored = await receive_data(req.chunks(), self.emu.blobs, record.id,
                                        record.disk_format, inspect="measure")
        except BodyBroken:
            self.emu.release_upload(record.id, Status.KILLED)
            raise
        if record.size not in (None, 0) and record.size != stored.size:
            self._reject(record, stored.location)
            raise V1Error(400, f"Supplied image size ({record.size}) does not match the "
                               f"size of the data ({stored.size})")
        if record.checksum is not None and record.checksum != stored.md5:
            self._reject(record, stored.location)
            raise V1Error(400, f"Supplied checksum ({record.checksum}) and checksum "
                               f"generated from uploaded image ({stored.md5}) did not match")
        return self.emu.finish_upload(record.id, stored)

    def _reject(self, record: Record, location: str) -> None:
        self.emu.blobs.delete(location)
        self.emu.release_upload(record.id, Status.KILLED)

    async def delete(self, resp: Responder, image_id: str) -> None:
        try:
            record = self.emu.store.get(image_id, include_gone=True)
        except NotFound:
            raise V1Error(404, f"Image with identifier {image_id} not found") from None
        if record.status == Status.PENDING_DELETE:
            raise V1Error(403, f"Forbidden to delete a {record.status} image.")
        if record.gone:
            raise V1Error(404, f"Image with identifier {image_id} not found")
        if record.protected:
            raise V1Error(403, f"Image with identifier {image_id} is protected")
        self.emu.delete_record(record)
        await resp.body(200, b"", "text/html; charset=UTF-8")

    # ---------------------------------------------------------------------- lists

    async def list_images(self, req: Request, resp: Responder, *, detail: bool) -> None:
        params = dict(req.query)
        since = params.pop("changes-since", None)
        since_time: datetime | None = None
        if since is not None:
            try:
                since_time = scalars.parse_time(since, "changes-since")
            except InvalidRecord:
                raise V1Error(400, "Unrecognized changes-since value") from None
        limit = _int_param(params.pop("limit", None), "limit", _DEFAULT_LIMIT)
        limit = min(limit, _MAX_LIMIT)
        marker = params.pop("marker", None)
        sort_key = params.pop("sort_key", "created_at")
        sort_dir = params.pop("sort_dir", "desc")
        if sort_key not in _SORT_KEYS:
            raise V1Error(400, f"Unsupported sort_key. Acceptable values: "
                               f"{', '.join(sorted(_SORT_KEYS))}")
        if sort_dir not in ("asc", "desc"):
            raise V1Error(400, "Unsupported sort_dir. Acceptable values: asc, desc")
        records = []
        for record in self.emu.store.all():
            if since_time is None and (record.gone or record.status == Status.KILLED):
                continue
            if since_time is not None and not record.updated_at > since_time:
                continue
            if _matches(record, params):
                records.append(record)
        records.sort(key=lambda r: r.id, reverse=sort_dir == "desc")
        records.sort(key=lambda r: _sort_value(getattr(r, sort_key)),
                     reverse=sort_dir == "desc")
        if marker is not None:
            ids = [r.id for r in records]
            if not _UUID_LIKE.fullmatch(marker) or marker not in ids:
                raise V1Error(400, "Invalid marker. Image could not be found.")
            records = records[ids.index(marker) + 1:]
        page = records[:limit]
        render = v1_json if detail else v1_summary_json
        store = self.emu.store
        # Each entity encoded once per record version (the store keeps it), then joined.
        entities = [store.rendered(r, render, lambda r: json_bytes(render(r))) for r in page]
        await resp.encoded_json(200, json_object([("images", json_array(entities))]))


def _int_param(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    try:
        return scalars.parse_int(text, name)
    except InvalidRecord:
        raise V1Error(400, f"Invalid {name} value: {text}") from None


def _bool_param(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise V1Error(400, f"Invalid {name} value: {text}")
    return lowered in ("true", "1")


def _matches(record: Record, params: dict[str, str]) -> bool:
    for key, value in params.items():
        if key.startswith("property-"):
            if record.properties.get(key[len("property-"):]) != value:
                return False
        elif key in ("name", "status", "container_format", "disk_format"):
            if str(getattr(record, key)) != value:
                return False
        elif key in ("size_min", "size_max"):
            bound = _int_param(value, key, 0)
            size = record.size or 0
            if (size < bound) if key == "size_min" else (size > bound):
                return False
        elif key in ("min_ram", "min_disk"):
            if getattr(record, key) != _int_param(value, key, 0):
                return False
        elif key == "protected":
            if record.protected != _bool_param(value, key):
                return False
        elif key == "is_public":
            if value.strip().lower() == "none":
                continue
            if (record.visibility == Visibility.PUBLIC) != _bool_param(value, key):
                return False
        elif key == "deleted" and record.deleted != scalars.bool_from_string(value):
            return False
    return True


def _sort_value(value: Any) -> tuple[bool, Any]:
    return (value is not None, "" if value is None else value)

