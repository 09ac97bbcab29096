"""Glance 33's v2 route table, as the emulator serves it (``glance/api/v2/router.py``).

Each route: the path pattern, the handler of each method, the methods marked
``body_reject`` (a request body is a 400), and the ``Allow`` header of the 405 for the
others. Metadata definitions, the cache API, locations and ``DELETE /v2/stores`` are not
emulated (404).
"""

from __future__ import annotations

from . import v2_data, v2_images, v2_import, v2_listing, v2_members, v2_tags
from .v2_api import Call, Handler, Route
from .v2_schemas import published


async def _schema(call: Call, which: str) -> None:
    await call.resp.json(200, published(which, call.api.minor))


def _schema_route(which: str) -> Route:
    async def handler(call: Call) -> None:
        await _schema(call, which)

    return Route(("schemas", which), {"GET": handler}, allow="GET")


def routes() -> list[Route]:
    """Every v2 route, in Glance's order."""
    def route(pattern: str, allow: str, body_reject: str = "",
              **methods: Handler) -> Route:
        return Route(tuple(pattern.split("/")), methods,
                     frozenset(body_reject.split()), allow)

    return [
        *(_schema_route(w) for w in ("image", "images", "member", "members", "task",
                                     "tasks")),
        route("images", "GET, POST", GET=v2_listing.index, POST=v2_images.create),
        route("images/{image_id}", "GET, PATCH, DELETE", "GET DELETE",
              PATCH=v2_images.update, GET=v2_images.show, DELETE=v2_images.delete),
        route("images/{image_id}/tasks", "GET", "GET", GET=v2_import.image_tasks),
        route("images/{image_id}/import", "POST", POST=v2_import.import_image),
        route("images/{image_id}/actions/deactivate", "POST", "POST",
              POST=v2_images.deactivate),
        route("images/{image_id}/actions/reactivate", "POST", "POST",
              POST=v2_images.reactivate),
        route("images/{image_id}/file", "GET, PUT", "GET", GET=v2_data.download,
              PUT=v2_data.upload),
        route("images/{image_id}/stage", "PUT", PUT=v2_data.stage),
        route("images/{image_id}/tags/{tag}", "PUT, DELETE", "PUT DELETE",
              PUT=v2_tags.add, DELETE=v2_tags.delete),
        route("images/{image_id}/members", "GET, POST", "GET", GET=v2_members.index,
              POST=v2_members.create),
        route("images/{image_id}/members/{member_id}", "GET, PUT, DELETE", "GET DELETE",
              GET=v2_members.show, PUT=v2_members.update, DELETE=v2_members.delete),
        route("tasks", "GET, POST", GET=v2_import.task_index),
        route("tasks/{task_id}", "GET, DELETE", GET=v2_import.task_show,
              DELETE=v2_import.task_delete),
        route("info/import", "GET", "GET", GET=v2_import.info_import),
        route("info/stores", "GET", "GET", GET=v2_import.info_stores),
    ]
