"""Import and its reporting: ``POST .../import``, ``/v2/info/*``, tasks.

``POST /v2/images/{id}/import`` checks the request as Glance 33 does (method enabled,
image status for that method, formats set, owner — or admin for ``copy-image`` — target
stores, import lock, the web-download URI filter) and answers 202; ``import_flow`` does
the work. ``/v2/info/import`` and ``/v2/info/stores`` describe what this emulator offers.
Tasks are admin-only under ``/v2/tasks`` (Glance's ``tasks_api_access``), and every
caller who sees an image sees its own tasks under ``/v2/images/{id}/tasks``, as raw
database rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs

from imgcompat.core.enums import Status
from imgcompat.core.scalars import format_v2_time

from .http_errors import HttpError
from .identity import Identity, mutable
from .import_flow import LOCK, ImportJob, new_task
from .store import Record, Task, precise_now
from .v2_api import Call

_TASK_STATUSES = ("pending", "processing", "success", "failure")
_TASK_SORT_KEYS = frozenset({"id", "type", "status", "owner", "created_at", "updated_at",
                             "expires_at", "image_id", "request_id", "user_id"})
_LIMIT_DEFAULT, _LIMIT_MAX = 25, 1000


def _import_body(body: Any, methods: tuple[str, ...]) -> tuple[str, Any]:
    """The deserializer's checks; the method name and its ``uri``."""
    method = body.get("method") if isinstance(body, dict) else None
    if method is None:  # Glance 33 answers 500 for a body that is not an object
        raise HttpError(400, "Import request requires a 'method' field.")
    if not isinstance(method, dict) or "name" not in method:
        raise HttpError(400, "Import request requires a 'name' field.")
    name = method["name"]
    if name not in methods:
        raise HttpError(400, f"Unknown import method name '{name}'.")
    if not isinstance(body.get("all_stores_must_succeed", True), bool):
        raise HttpError(400, "'all_stores_must_succeed' must be boolean value only")
    if not isinstance(body.get("all_stores", False), bool):
        raise HttpError(400, "'all_stores' must be boolean value only")
    return str(name), method.get("uri")


def _status_conflict(record: Record, method: str) -> str | None:
    status = record.status
    if status == Status.ACTIVE and method != "copy-image":
        return "Image with status active cannot be target for import"
    if status != Status.ACTIVE and method == "copy-image":
        return "Only images with status active can be targeted for copying"
    if status != Status.QUEUED and method == "web-download":
        return f"Image needs to be in 'queued' state to use '{method}' method"
    if status != Status.UPLOADING and method == "glance-direct":
        return "Image needs to be staged before 'glance-direct' method can be used"
    if not record.container_format:
        return "'container_format' needs to be set before import"
    if not record.disk_format:
        return "'disk_format' needs to be set before import"
    return None


def _target_stores(call: Call, body: dict[str, Any]) -> list[str]:
    header = call.req.header("x-image-meta-store")
    if body.get("all_stores", False):
        if "stores" in body or header is not None:
            raise HttpError(400, "All_stores parameter can't be used with "
                                 "x-image-meta-store header or stores parameter")
        return list(call.emu.stores)
    if "stores" in body:
        if header is not None:
            raise HttpError(400, "Stores parameter and x-image-meta-store header can't be "
                                 "both specified")
        stores = list(body["stores"]) if isinstance(body["stores"], list | str) else []
    else:
        stores = [header or call.emu.stores[0]]
    for store_id in stores:
        if store_id not in call.emu.stores:
            raise HttpError(409, f"Store for identifier {store_id} not found")
    return [str(s) for s in stores]


def _uri_allowed(uri: Any) -> bool:
    """The web-download filter of the reference server: http(s) to 127.0.0.1 only."""
    if not isinstance(uri, str) or not uri:
        return False
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    del port  # any port is allowed; an invalid one is refused above
    return parts.scheme in ("http", "https") and parts.hostname == "127.0.0.1"


async def import_image(call: Call, image_id: str) -> None:
    """``POST /v2/images/{id}/import`` → 202."""
    emu = call.emu
    body = await call.api.json_body(call.req)
    method, uri = _import_body(body, emu.import_methods)
    record = call.api.image(image_id, call.who)
    conflict = _status_conflict(record, method)
    if conflict:
        raise HttpError(409, conflict)
    if method == "copy-image":
        if not call.who.admin_role:
            raise HttpError(403, "You are not authorized to complete copy_image action.")
    elif not mutable(call.who, record):
        raise HttpError(403, "You do not own this image")
    if LOCK in record.properties:
        raise HttpError(409, "Image has active task")
    stores = _target_stores(call, body)
    if method == "copy-image":
        if body.get("all_stores", False):
            stores = [s for s in stores if s not in record.stores]
            if not stores:
                await call.resp.empty(202)
                return
        else:
            present = next((s for s in record.stores if s in stores), None)
            if present is not None:
                raise HttpError(400, f"Image is already present at store '{present}'")
    if method == "web-download" and not _uri_allowed(uri):
        raise HttpError(400, f"URI for web-download does not pass filtering: {uri}")
    job = ImportJob(task_id=str(uuid.uuid4()), image_id=image_id, method=method,
                    uri=uri if isinstance(uri, str) else None, stores=tuple(stores),
                    all_stores_must_succeed=body.get("all_stores_must_succeed", True))
    if not _take_lock(call, job):
        raise HttpError(409, f"New operation on image '{image_id}' is not permitted as prior "
                             "operation is still in progress")
    owner = call.who.owner if emu.auth != "none" else None
    emu.store.put_task(new_task(job, owner=owner, user_id=call.who.user_id,
                                request_id=call.resp.request_id, body=body))
    emu.imports.start(job)
    await call.resp.empty(202)


def _take_lock(call: Call, job: ImportJob) -> bool:
    taken: list[bool] = []

    def change(record: Record) -> Record:
        if LOCK in record.properties:
            return record
        taken.append(True)
        return attrs.evolve(record, properties={**record.properties, LOCK: job.task_id})

    call.emu.store.update(job.image_id, change)
    return bool(taken)


# ---------------------------------------------------------------------------- info


async def info_import(call: Call) -> None:
    """``GET /v2/info/import``."""
    await call.resp.json(200, {"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": list(call.emu.import_methods)}})


async def info_stores(call: Call) -> None:
    """``GET /v2/info/stores``: the first store is the default."""
    stores: list[dict[str, str]] = []
    for index, store_id in enumerate(call.emu.stores):
        entry = {"id": store_id}
        if index == 0:
            entry["default"] = "true"
        stores.append(entry)
    await call.resp.json(200, {"stores": stores})


# --------------------------------------------------------------------------- tasks


def _db_time(value: datetime | None) -> str | None:
    """A task row's time as ``to_primitive`` writes a naive datetime (microseconds)."""
    return None if value is None else value.replace(tzinfo=None).isoformat()


def task_row(task: Task) -> dict[str, Any]:
    """``/v2/images/{id}/tasks``: the database row, unformatted."""
    return {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
            "expires_at": _db_time(task.expires_at),
            "created_at": _db_time(task.created_at),
            "updated_at": _db_time(task.updated_at), "deleted_at": None, "deleted": False,
            "image_id": task.image_id, "request_id": task.request_id,
            "user_id": task.user_id, "input": task.input, "result": task.result,
            "message": task.message}


def task_json(task: Task, *, stub: bool = False) -> dict[str, Any]:
    """``/v2/tasks/{id}`` (``stub``: the list item, without input, result, message)."""
    doc: dict[str, Any] = {"id": task.id}
    if not stub:
        doc["input"] = task.input
    doc |= {"type": task.type, "status": task.status, "owner": task.owner}
    if not stub:
        doc |= {"message": task.message, "result": task.result}
    doc |= {"created_at": format_v2_time(task.created_at.replace(microsecond=0)),
            "updated_at": format_v2_time(task.updated_at.replace(microsecond=0)),
            "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}
    if not stub:
        for key in ("image_id", "request_id", "user_id"):
            if getattr(task, key):
                doc[key] = getattr(task, key)
    if task.expires_at is not None:
        doc["expires_at"] = format_v2_time(task.expires_at.replace(microsecond=0))
    return doc


def _task_visible(who: Identity, task: Task) -> bool:
    return who.is_admin or task.owner is None or (who.owner is not None
                                                  and who.owner == task.owner)


def _current(task: Task) -> bool:
    return task.expires_at is None or task.expires_at >= precise_now()


async def image_tasks(call: Call, image_id: str) -> None:
    """``GET /v2/images/{id}/tasks``."""
    if call.api.lookup(image_id, call.who) is None:
        raise HttpError(404)
    rows = [task_row(t) for t in call.emu.store.tasks()
            if t.image_id == image_id and _current(t) and _task_visible(call.who, t)]
    await call.resp.json(200, {"tasks": rows})


def _tasks_access(call: Call) -> None:
    if not call.who.admin_role:
        raise HttpError(403, "You are not authorized to complete tasks_api_access action.")


async def task_index(call: Call) -> None:
    """``GET /v2/tasks`` (admin): newest first, paged like images."""
    _tasks_access(call)
    params = dict(call.req.query)
    sort_key = params.pop("sort_key", "created_at")
    sort_dir = params.pop("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise HttpError(400, f"Invalid sort direction: {sort_dir}")
    status = params.get("status")
    if status and status not in _TASK_STATUSES:
        raise HttpError(400, f"Invalid status value: {status}")
    kind = params.get("type")
    if kind and kind != "import":
        raise HttpError(400, f"Invalid type value: {kind}")
    marker = params.pop("marker", None)
    if marker:
        try:
            uuid.UUID(marker)
        except ValueError:
            raise HttpError(400, "Invalid marker format") from None
    limit = _LIMIT_DEFAULT
    if "limit" in params:
        try:
            limit = int(params.pop("limit"))
        except ValueError:
            raise HttpError(400, "limit param must be an integer") from None
        if limit < 0:
            raise HttpError(400, "limit param must be positive")
    if sort_key not in _TASK_SORT_KEYS:
        raise HttpError(400, "Sort key supplied was not valid.")
    tasks = [t for t in call.emu.store.tasks()
             if (not status or t.status == status) and (not kind or t.type == kind)]
    tasks.sort(key=lambda t: (str(getattr(t, sort_key) or ""), str(t.created_at), t.id),
               reverse=sort_dir == "desc")
    if marker:
        ids = [t.id for t in tasks]
        if marker not in ids:
            raise HttpError(400, f"Task with the given id {marker} was not found")
        tasks = tasks[ids.index(marker) + 1:]
    page = tasks[:min(limit, _LIMIT_MAX)]
    link_params = {k: v for k, v in dict(call.req.query).items() if k != "marker"}
    doc: dict[str, Any] = {
        "tasks": [task_json(t, stub=True) for t in page],
        "first": "/v2/tasks" + (f"?{urlencode(link_params)}" if link_params else ""),
        "schema": "/v2/schemas/tasks",
    }
    if page and len(page) == limit:
        doc["next"] = "/v2/tasks?" + urlencode({**link_params, "marker": page[-1].id})
    await call.resp.json(200, doc)


async def task_show(call: Call, task_id: str) -> None:
    """``GET /v2/tasks/{id}`` (admin)."""
    _tasks_access(call)
    task = call.emu.store.task(task_id)
    if task is None:
        raise HttpError(404, f"Could not find task {task_id}")
    await call.resp.json(200, task_json(task))


async def task_delete(call: Call, task_id: str) -> None:
    """``DELETE /v2/tasks/{id}``: tasks are never deleted by hand (405)."""
    del task_id
    _tasks_access(call)
    raise HttpError(405, "This operation is currently not permitted on Glance Tasks. They "
                         "are auto deleted after reaching the time based on their expires_at "
                         "property.", headers=[("Allow", "GET")], template="${explanation}")
