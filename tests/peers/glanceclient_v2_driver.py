"""The scenario through python-glanceclient's v2 library (run in the latest peer venv).

``glanceclient.Client("2", url, identity_headers=...)`` is the client's own way to talk to a
Glance behind no keystone: the headers go out on every request. Results are the warlock
models (the server's JSON, as dicts) and what the managers return.
"""

from __future__ import annotations

import io
from typing import Any

import glanceclient
from glanceclient import exc

from tests.peers.scenario import DATA, identity_headers
from tests.peers.scenario_runner import Call, Driver, Unsupported, digest


def connect(who: str, server: str) -> Any:
    """A v2 client speaking as ``who`` to ``server``."""
    return glanceclient.Client("2", server, identity_headers=identity_headers(who))


def create(call: Call) -> Any:
    fields = dict(call.step.args)
    if call.step.image is not None:
        fields["id"] = call.image_id
    image = call.client.images.create(**fields)
    call.bind(image["id"])
    return dict(image)


def update(call: Call) -> Any:
    return dict(call.client.images.update(call.image_id, remove_props=call.arg("remove"),
                                          **call.arg("set", {})))


def request_id(call: Call) -> Any:
    if "missing" in call.step.args:
        raise Unsupported("glanceclient's exceptions carry no request id")
    return {"request_ids": list(call.client.images.get(call.image_id).request_ids)}


def download(call: Call) -> Any:
    body = call.client.images.data(call.image_id)
    # no data (204): a request-id proxy around None
    return None if getattr(body, "__wrapped__", body) is None else digest(b"".join(body))


def raw_patch(call: Call) -> Any:
    response, _ = call.client.http_client.patch(
        f"/v2/images/{call.image_id}", data=call.arg("body"),
        headers={"Content-Type": call.arg("content_type")})
    return {"status": response.status_code}


def import_image(call: Call) -> Any:
    call.client.images.image_import(call.image_id, method=call.arg("method"),
                                    uri=call.arg("uri"), stores=call.arg("stores"))


def image_tasks(call: Call) -> Any:
    tasks = call.client.images.get_associated_image_tasks(call.image_id)["tasks"]
    if tasks:
        call.bind(tasks[0]["id"])
    return tasks


def create_via_import(call: Call) -> Any:
    """What the ``glance image-create-via-import`` command does, through the library."""
    image = call.client.images.create(**call.step.args)
    call.bind(image["id"])
    call.client.images.stage(image["id"], io.BytesIO(DATA), len(DATA))
    call.client.images.image_import(image["id"], method="glance-direct")
    return dict(image)


def images(call: Call) -> Any:
    query: dict[str, Any] = {"filters": call.arg("filters", {})}
    if call.arg("sort_key"):
        query["sort_key"] = call.arg("sort_key")
    return call.refs([image["id"] for image in call.client.images.list(**query)])


def members(call: Call) -> Any:
    found = [dict(m) for m in call.client.image_members.list(call.image_id)]
    return sorted(found, key=lambda m: str(m.get("member_id")))


ACTIONS = {
    "import_info": lambda c: dict(c.client.images.get_import_info()),
    "stores_info": lambda c: dict(c.client.images.get_stores_info()),
    "schema": lambda c: c.client.schemas.get(c.arg("name")).raw(),
    "create": create,
    "show": lambda c: dict(c.client.images.get(c.image_id)),
    "request_id": request_id,
    "update": update,
    "upload": lambda c: c.client.images.upload(c.image_id, io.BytesIO(DATA), len(DATA)),
    "download": download,
    "raw_patch": raw_patch,
    "deactivate": lambda c: c.client.images.deactivate(c.image_id),
    "reactivate": lambda c: c.client.images.reactivate(c.image_id),
    "tag_add": lambda c: c.client.image_tags.update(c.image_id, c.arg("tag")),
    "tag_remove": lambda c: c.client.image_tags.delete(c.image_id, c.arg("tag")),
    "delete": lambda c: c.client.images.delete(c.image_id),
    "list": images,
    "member_create": lambda c: dict(c.client.image_members.create(c.image_id,
                                                                  c.arg("member"))),
    "member_list": members,
    "member_show": lambda c: dict(c.client.image_members.get(c.image_id, c.arg("member"))),
    "member_update": lambda c: dict(c.client.image_members.update(
        c.image_id, c.arg("member"), c.arg("status"))),
    "member_delete": lambda c: c.client.image_members.delete(c.image_id, c.arg("member")),
    "stage": lambda c: c.client.images.stage(c.image_id, io.BytesIO(DATA), len(DATA)),
    "import": import_image,
    "image_tasks": image_tasks,
    "task_show": lambda c: dict(c.client.tasks.get(c.arg("task"))),
    "create_via_import": create_via_import,
}


def failure(error: BaseException) -> tuple[str, str] | None:
    """glanceclient's exceptions: class and status, and the message it shows."""
    if isinstance(error, exc.HTTPException):
        return f"{type(error).__name__} {error.code}", str(error)
    if isinstance(error, exc.BaseException):
        return type(error).__name__, str(error)
    return None


DRIVER = Driver(connect, ACTIONS, failure,
                lambda c: dict(c.client.images.get(c.image_id)))

if __name__ == "__main__":
    DRIVER.main()
