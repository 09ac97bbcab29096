"""The v2 API of the emulator: ``/v2/images``, data, actions and schemas.

Status codes, messages and rules follow a real Glance 33.0.0 (API 2.17), checked with the
differential test in ``tests/integration``; the entity is rendered by the core v2 codec.
The emulated caller is the unauthenticated admin-like context of that server: it sees
every image and may set any visibility.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs

from imgcompat.core import scalars
from imgcompat.core.enums import ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import BY_V2_KEY, is_v2_reserved
from imgcompat.core.schema import load_schema, validate

from .data import FormatMismatch, RangeError, parse_range, receive_data
from .http import BodyBroken, Request, Responder
from .render import v2_base_keys, v2_json
from .store import NotFound, Record, now

if TYPE_CHECKING:
    from .emulator import Emulator

PATCH_MEDIA_TYPES = ("application/openstack-images-v2.0-json-patch",
                     "application/openstack-images-v2.1-json-patch")
_ACCEPT_PATCH = ", ".join(PATCH_MEDIA_TYPES)
#: Refused in a create body: server-made links and stores.
_DISALLOWED_ON_CREATE = frozenset({"direct_url", "self", "file", "schema", "stores"})
_SORT_KEYS = frozenset({"name", "status", "container_format", "disk_format", "size", "id",
                        "created_at", "updated_at"})
_IN_KEYS = frozenset({"id", "name", "status", "container_format", "disk_format"})
_TIME_OPS = frozenset({"gt", "gte", "lt", "lte", "eq", "neq"})
_DEFAULT_LIMIT, _MAX_LIMIT = 25, 1000


class ApiError(Exception):
    """An error answer: status, message, extra headers."""

    def __init__(self, status: int, message: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _read_only_keys(minor: int) -> frozenset[str]:
    base = v2_base_keys(minor)
    return frozenset(k for k in base if BY_V2_KEY[k].read_only and k != "locations")


def _writable_base(minor: int) -> frozenset[str]:
    return v2_base_keys(minor) - _read_only_keys(minor) - {"locations"}


def _schema_error(exc: InvalidRecord) -> ApiError:
    return ApiError(400, f"Provided object does not match schema 'image': {exc}")


def _check_base_value(key: str, value: Any) -> Any:
    """Type-check one writable base value with the core schema; returns the stored form."""
    try:
        validate("v2-image", {"id": "00000000-0000-0000-0000-000000000000", key: value})
    except InvalidRecord as exc:
        raise _schema_error(exc) from exc
    enums: dict[str, Any] = {"visibility": Visibility, "disk_format": DiskFormat,
                             "container_format": ContainerFormat}
    if key in enums and value is not None and not enums[key](value).known:
        raise ApiError(400, f"Provided object does not match schema 'image': {value!r} is "
                            f"not one of the allowed values of {key}")
    if key == "tags":
        return tuple(dict.fromkeys(value))
    return value


def _check_custom(key: str, value: Any) -> str:
    if len(key) > 255:
        raise ApiError(400, f"Provided object does not match schema 'image': {key!r} is "
                            "too long")
    if not isinstance(value, str):
        raise ApiError(400, "Provided object does not match schema 'image': "
                            f"{value!r} is not of type 'string'")
    return value


class V2Api:
    """Handlers of one emulator's v2 API."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    @property
    def minor(self) -> int:
        return self.emu.v2_minor

    def render(self, record: Record) -> dict[str, Any]:
        return v2_json(record, minor=self.minor, store_id=self.emu.store_id,
                       show_direct_url=self.emu.show_direct_url)

    def _get(self, image_id: str) -> Record:
        try:
            return self.emu.store.get(image_id)
        except NotFound:
            raise ApiError(404, f"No image found with ID {image_id}") from None

    # ------------------------------------------------------------------ dispatch

    async def __call__(self, req: Request, resp: Responder, parts: list[str]) -> None:
        try:
            await self._dispatch(req, resp, parts)
        except ApiError as exc:
            await resp.error(exc.status, exc.message, exc.headers)

    async def _dispatch(self, req: Request, resp: Responder, parts: list[str]) -> None:
        method = req.method
        match parts:
            case ["images"]:
                if method == "GET":
                    await self.list_images(req, resp)
                    return
                if method == "POST":
                    await self.create(req, resp)
                    return
                allow = "GET, POST"
            case ["images", image_id]:
                handlers: dict[str, Callable[..., Any]] = {
                    "GET": self.show, "PATCH": self.patch, "DELETE": self.delete}
                if method in handlers:
                    await handlers[method](req, resp, image_id)
                    return
                allow = "GET, PATCH, DELETE"
            case ["images", image_id, "file"]:
                if method == "GET":
                    await self.download(req, resp, image_id)
                    return
                if method == "PUT":
                    await self.upload(req, resp, image_id)
                    return
                allow = "GET, PUT"
            case ["images", image_id, "actions", action] if action in (
                    "deactivate", "reactivate"):
                if method == "POST":
                    await self.action(resp, image_id, action)
                    return
                allow = "POST"
            case ["schemas", "image"] | ["schemas", "images"]:
                if method == "GET":
                    await resp.json(200, self.schema(parts[1]))
                    return
                allow = "GET"
            case _:
                raise ApiError(404, "The resource could not be found.")
        await resp.empty(405, [("Allow", allow)])

    # ------------------------------------------------------------------ entities

    async def show(self, req: Request, resp: Responder, image_id: str) -> None:
        await resp.json(200, self.render(self._get(image_id)))

    async def create(self, req: Request, resp: Responder) -> None:
        if req.media_type != "application/json":
            raise ApiError(415, f"The request media type {req.media_type} is not "
                                "supported by this server.")
        doc = await _json_body(req)
        if not isinstance(doc, dict):
            raise ApiError(400, "Body expected in request.")
        base = v2_base_keys(self.minor)
        read_only = _read_only_keys(self.minor)
        values: dict[str, Any] = {}
        props: dict[str, str | None] = {}
        for key, value in doc.items():
            if key in _DISALLOWED_ON_CREATE or key in read_only - {"id"}:
                raise ApiError(403, f"Attribute '{key}' is read-only.")
            if is_v2_reserved(key) or key == "locations":
                raise ApiError(403, f"Attribute '{key}' is reserved.")
            if key in base:
                values[key] = _check_base_value(key, value)
            else:
                props[key] = _check_custom(key, value)
        image_id = values.pop("id", None) or self.emu.store.new_id()
        if self.emu.store.exists(image_id):
            raise ApiError(409, f"Image with identifier {image_id} already exists!")
        stamp = now()
        default_vis = Visibility.SHARED if self.minor >= 5 else Visibility.PRIVATE
        record = Record(
            id=image_id, created_at=stamp, updated_at=stamp,
            visibility=Visibility(values.pop("visibility", None) or default_vis),
            min_ram=values.pop("min_ram", None) or 0,
            min_disk=values.pop("min_disk", None) or 0,
            tags=values.pop("tags", ()),
            owner=values.pop("owner", None) or self.emu.owner,
            properties=props,
            **values,
        )
        self.emu.store.put(record)
        location = f"{req.base_url}/v2/images/{image_id}"
        await resp.json(201, self.render(record), [("Location", location)])

    async def patch(self, req: Request, resp: Responder, image_id: str) -> None:
        media = req.media_type
        if media not in PATCH_MEDIA_TYPES:
            raise ApiError(
                415,
                f"The request media type {media} is not supported by this server.\n"
                f"<br /><br />\nImage PATCH expects Content-Type one of: {_ACCEPT_PATCH}",
                (("Accept-Patch", _ACCEPT_PATCH),))
        record = self._get(image_id)
        ops = await _json_body(req)
        if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
            raise ApiError(400, "Request body must be a JSON array of operation objects.")
        v20 = media == PATCH_MEDIA_TYPES[0]
        for op in ops:
            record = self._apply(record, op, v20=v20)
        saved = self.emu.store.update(image_id, lambda _: record)
        await resp.json(200, self.render(saved))

    def _apply(self, record: Record, op: dict[str, Any], *, v20: bool) -> Record:
        name, path = _op_and_path(op, v20=v20)
        key = _pointer_token(path)
        if key in _read_only_keys(self.minor):
            raise ApiError(403, f"Attribute '{key}' is read-only.")
        if is_v2_reserved(key) or key == "locations":
            raise ApiError(403, f"Attribute '{key}' is reserved.")
        base = key in _writable_base(self.minor)
        props = dict(record.properties)
        if name == "remove":
            if base:
                raise ApiError(403, f"Property {key} may not be removed.")
            if key not in props:
                raise ApiError(409, f"Property {key} does not exist.")
            del props[key]
            return attrs.evolve(record, properties=props)
        if "value" not in op:
            raise ApiError(400, f"Operation objects must contain exactly one member named "
                                f"\"value\" for '{name}'.")
        value = op["value"]
        if base:
            if key in ("disk_format", "container_format") and record.status != Status.QUEUED:
                raise ApiError(403, f"Attribute {key} can be only replaced for a queued "
                                    "image.")
            stored = _check_base_value(key, value)
            if key in ("min_ram", "min_disk") and stored is None:
                stored = 0
            return attrs.evolve(record, **{BY_V2_KEY[key].name: stored})
        if name == "replace" and key not in props:
            raise ApiError(409, f"Property {key} does not exist.")
        if name == "add" and v20 and key in props:
            raise ApiError(409, f"Property {key} already present.")
        props[key] = _check_custom(key, value)
        return attrs.evolve(record, properties=props)

    async def delete(self, req: Request, resp: Responder, image_id: str) -> None:
        try:
            record = self.emu.store.get(image_id)
        except NotFound:
            raise ApiError(404, f"Failed to find image {image_id} to delete") from None
        if record.protected:
            raise ApiError(403, f"Image {image_id} is protected and cannot be deleted.")
        self.emu.delete_record(record)
        await resp.empty(204)

    async def action(self, resp: Responder, image_id: str, action: str) -> None:
        record = self._get(image_id)
        allowed = (Status.ACTIVE, Status.DEACTIVATED)
        if record.status not in allowed:
            raise ApiError(403, f"Not allowed to {action} image in status "
                                f"'{record.status}'")
        target = Status.DEACTIVATED if action == "deactivate" else Status.ACTIVE
        if record.status != target:
            self.emu.store.update(image_id, lambda r: attrs.evolve(r, status=target))
        await resp.empty(204)

    # ----------------------------------------------------------------------- data

    async def upload(self, req: Request, resp: Responder, image_id: str) -> None:
        if req.media_type != "application/octet-stream":
            raise ApiError(415, f"The request media type {req.media_type} is not supported "
                                f"by this server.\n<br /><br />\nInvalid content type "
                                f"{req.media_type}")
        record = self._get(image_id)
        if not record.disk_format or not record.container_format:
            raise ApiError(400, "Properties disk_format, container_format must be set "
                                "prior to saving data.")
        claimed = self.emu.claim_upload(image_id, from_status=Status.QUEUED)
        if claimed is None:
            current = self._get(image_id).status
            raise ApiError(409, f"Image status transition from {current} to saving is "
                                "not allowed")
        expected = req.header("x-openstack-image-size")
        try:
            stored = await receive_data(req, self.emu.blobs, image_id, record.disk_format,
                                        inspect=True)
        except FormatMismatch as exc:
            self.emu.release_upload(image_id, Status.QUEUED)
            await req.drain()
            raise ApiError(415, "The request media type application/octet-stream is not "
                                f"supported by this server.\n<br /><br />\n{exc}") from None
        except BodyBroken:
            self.emu.release_upload(image_id, Status.QUEUED)
            raise
        if expected is not None and expected.strip() != str(stored.size):
            self.emu.blobs.delete(stored.location)
            self.emu.release_upload(image_id, Status.QUEUED)
            raise ApiError(400, f"Image size {stored.size} does not match the expected "
                                f"size {expected}")
        self.emu.finish_upload(image_id, stored)
        await resp.empty(204)

    async def download(self, req: Request, resp: Responder, image_id: str) -> None:
        record = self._get(image_id)
        if record.location is None or record.size is None:
            await resp.empty(204, content_type=None)
            return
        size = record.size
        headers = [("Content-Type", "application/octet-stream")]
        if record.checksum:
            headers.append(("Content-MD5", record.checksum))
        status, start, end = 200, 0, size
        range_header = req.header("range")
        if range_header is not None and not self.emu.faults.take_ignore_range():
            try:
                start, end = parse_range(range_header, size)
            except RangeError as exc:
                raise ApiError(exc.status, str(exc)) from None
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        headers.append(("Content-Length", str(end - start)))
        await resp.stream(status, headers, self.emu.blobs.read(record.location, start, end),
                          download=True)

    # --------------------------------------------------------------------- listing

    async def list_images(self, req: Request, resp: Responder) -> None:
        params = dict(req.query)  # repeated keys keep the last value, as webob's dict()
        tags = [v for k, v in req.query if k == "tag"]
        limit = _limit(params.pop("limit", None))
        marker = params.pop("marker", None)
        sort = _sort_spec(req.query)
        records = [r for r in self.emu.store.all() if not r.gone
                   and r.status != Status.KILLED]
        records = [r for r in records if self._matches(r, params, tags)]
        records = _sorted(records, sort)
        if marker is not None:
            ids = [r.id for r in records]
            if marker not in ids:
                raise ApiError(400, f"No image found with ID {marker}")
            records = records[ids.index(marker) + 1:]
        page = records[:limit]
        link_params = [(k, v) for k, v in dict(req.query).items() if k != "marker"]
        doc: dict[str, Any] = {
            "images": [self.render(r) for r in page],
            "first": "/v2/images" + (f"?{urlencode(link_params)}" if link_params else ""),
            "schema": "/v2/schemas/images",
        }
        if page and len(page) == limit:
            doc["next"] = "/v2/images?" + urlencode([*link_params, ("marker", page[-1].id)])
        await resp.json(200, doc)

    def _matches(self, record: Record, params: dict[str, str], tags: list[str]) -> bool:
        doc = self.render(record)
        if not all(t in record.tags for t in tags):
            return False
        hidden = params.get("os_hidden")
        if self.minor >= 7:
            want_hidden = (hidden or "false").lower() == "true"
            if hidden is not None and hidden.lower() not in ("true", "false"):
                raise ApiError(400, f"Invalid value '{hidden}' for 'os_hidden' filter.")
            if record.os_hidden != want_hidden:
                return False
        for key, value in params.items():
            if key in ("tag", "sort", "sort_key", "sort_dir", "member_status", "os_hidden"):
                continue
            if not _match_one(key, value, record, doc):
                return False
        return True

    # --------------------------------------------------------------------- schemas

    def schema(self, which: str) -> dict[str, Any]:
        """The JSON Schema the server publishes, built from the core's entity schema."""
        image = _server_schema(self.minor)
        if which == "image":
            return image
        return {
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": image},
                "schema": {"type": "string"},
                "first": {"type": "string"},
                "next": {"type": "string"},
            },
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}],
        }


def _server_schema(minor: int) -> dict[str, Any]:
    core = load_schema("v2-image")
    defs = core.get("$defs", {})
    keys = v2_base_keys(minor)
    properties: dict[str, Any] = {}
    for key, prop in core["properties"].items():
        if key not in keys:
            continue
        resolved = dict(prop)
        ref = resolved.pop("$ref", None)
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            resolved = {**defs[ref.split("/")[-1]], **resolved}
        for extra in ("examples", "x-message", "$comment", "$id", "$schema"):
            resolved.pop(extra, None)
        if key in ("status", "visibility", "disk_format", "container_format"):
            enum_type = {"status": Status, "visibility": Visibility,
                         "disk_format": DiskFormat, "container_format": ContainerFormat}[key]
            values: list[str | None] = [m.value for m in enum_type]
            if key in ("disk_format", "container_format"):
                values.append(None)
            resolved = {k: v for k, v in resolved.items() if k not in ("pattern",)}
            resolved["enum"] = values
        properties[key] = resolved
    return {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


# ------------------------------------------------------------------------- helpers


async def _json_body(req: Request) -> Any:
    raw = await req.read()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Malformed JSON in request body.") from None


def _op_and_path(op: dict[str, Any], *, v20: bool) -> tuple[str, str]:
    if v20:
        names = [k for k in ("add", "remove", "replace") if k in op]
        if len(names) != 1:
            raise ApiError(400, "Operation objects must contain exactly one member named "
                                "\"add\", \"remove\", or \"replace\".")
        name, path = str(names[0]), op[names[0]]
    else:
        name, path = str(op.get("op")), op.get("path")
        if name not in ("add", "remove", "replace"):
            raise ApiError(400, f"Invalid operation: `{op.get('op')}`. It must be one of "
                                "the following: add, remove, replace.")
    if not isinstance(path, str):
        raise ApiError(400, f"Unable to find '{'path'}' in JSON Schema change")
    return str(name), path


def _pointer_token(path: str) -> str:
    """A one-token JSON pointer, unescaped and stripped (Glance's restricted pointer)."""
    if not path.startswith("/") or path.endswith("/"):
        raise ApiError(400, f"Pointer `{path}` does not start with \"/\".")
    tokens = path[1:].split("/")
    if len(tokens) != 1:
        raise ApiError(400, f"Invalid JSON pointer for this resource: '{path}'")
    token = tokens[0]
    if "~" in token.replace("~0", "").replace("~1", ""):
        raise ApiError(400, f"Pointer `{path}` contains \"~\" not part of a recognized "
                            "escape sequence.")
    token = token.replace("~1", "/").replace("~0", "~").strip()
    if not token:
        raise ApiError(400, f"Pointer `{path}` contains adjacent \"/\".")
    return token


def _limit(text: str | None) -> int:
    if text is None:
        return _DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, "limit param must be an integer") from None
    if value < 0:
        raise ApiError(400, "limit param must be positive")
    return min(value, _MAX_LIMIT)


def _split_op(value: str, allowed: frozenset[str]) -> tuple[str, str]:
    """``op:rest`` → (op, rest); a plain value is ``eq``; unknown operators → 400."""
    if ":" not in value:
        return "eq", value
    op, rest = value.split(":", 1)
    if op not in allowed:
        raise ApiError(400, "Unable to filter on a unknown operator.")
    return op, rest


def _in_values(text: str) -> list[str]:
    out, cur, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += char
    out.append(cur)
    return out


def _time_matches(value: str, stored: Any, key: str) -> bool:
    op, rest = ("eq", value)
    try:
        scalars.parse_time(value, key)
    except InvalidRecord:
        op, rest = _split_op(value, _TIME_OPS)
    try:
        when = scalars.parse_time(rest, key)
    except InvalidRecord:
        raise ApiError(400, f"Unable to parse datetime '{rest}'.") from None
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b}
    return compare[op](stored, when)


def _match_one(key: str, value: str, record: Record, doc: dict[str, Any]) -> bool:
    if key == "changes-since":
        raise ApiError(400, "The \"changes-since\" filter is no longer available on v2.")
    if key in ("created_at", "updated_at"):
        return _time_matches(value, getattr(record, key), key)
    if key in ("size_min", "size_max"):
        try:
            bound = int(value)
        except ValueError:
            raise ApiError(400, f"Invalid value for {key}: {value}") from None
        size = record.size
        if size is None:
            return False
        return size >= bound if key == "size_min" else size <= bound
    if key == "visibility":
        if value not in ("public", "private", "shared", "community", "all"):
            raise ApiError(400, f"Invalid visibility value: {value}")
        return value in ("all", record.visibility)
    if key == "protected":
        if value not in ("true", "false"):
            raise ApiError(400, f"Invalid value '{value}' for 'protected' filter. Valid "
                                "values are 'true' or 'false'.")
        return record.protected == (value == "true")
    if key in _IN_KEYS:
        op, rest = _split_op(value, frozenset({"eq", "in"}))
        wanted = _in_values(rest) if op == "in" else [rest]
        return str(doc.get(key)) in wanted
    stored = doc.get(key)
    if stored is None:
        return False
    return str(stored).lower() == value.lower() if isinstance(stored, bool) else (
        str(stored) == value)


def _sort_spec(query: list[tuple[str, str]]) -> list[tuple[str, str]]:
    sort = [v for k, v in query if k == "sort"]
    keys = [v for k, v in query if k == "sort_key"]
    dirs = [v for k, v in query if k == "sort_dir"]
    if sort and (keys or dirs):
        raise ApiError(400, "The 'sort' parameter cannot be used with 'sort_key' or "
                            "'sort_dir'.")
    spec: list[tuple[str, str]] = []
    if sort:
        for item in sort[-1].split(","):
            key, _, direction = item.strip().partition(":")
            spec.append((key, direction or "desc"))
    elif keys:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise ApiError(400, "The number of sort_dir values must match sort_key.")
        spec = [(k, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc"))
                for i, k in enumerate(keys)]
    for key, direction in spec:
        if key not in _SORT_KEYS:
            raise ApiError(400, f"Invalid sort key: {key}. It must be one of the following: "
                                f"{', '.join(sorted(_SORT_KEYS))}.")
        if direction not in ("asc", "desc"):
            raise ApiError(400, f"Invalid sort direction: {direction}")
    last = spec[-1][1] if spec else "desc"
    for default in ("created_at", "id"):
        if default not in (k for k, _ in spec):
            spec.append((default, last))
    return spec


def _sorted(records: list[Record], spec: list[tuple[str, str]]) -> list[Record]:
    out = list(records)
    for key, direction in reversed(spec):
        out.sort(key=lambda r: _sort_value(getattr(r, key)), reverse=direction == "desc")
    return out


def _sort_value(value: Any) -> tuple[bool, Any]:
    return (value is not None, "" if value is None else value)
