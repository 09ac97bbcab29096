"""The scenario through openstacksdk (run in the latest peer venv).

A user of an unauthenticated image endpoint builds a keystoneauth session with the ``NoAuth``
plugin, puts the identity headers a keystone middleware would add in the session's
``additional_headers``, and hands it to ``Connection`` with an ``image_endpoint_override``.
Results are what the sdk shows a user: ``Resource.to_dict()`` (the sdk's attribute names),
without ``location``, which the sdk makes up on the client side.
"""

from __future__ import annotations

import io
from typing import Any

import openstack
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack import exceptions

from tests.peers.scenario import DATA, identity_headers
from tests.peers.scenario_runner import Call, Driver, digest


def connect(who: str, server: str) -> Any:
    """A Connection speaking as ``who`` to the image endpoint ``server``."""
    session = ks_session.Session(auth=noauth.NoAuth(),
                                 additional_headers=identity_headers(who))
    return openstack.connection.Connection(session=session, image_endpoint_override=server,
                                           image_api_version="2")


def view(resource: Any) -> dict[str, Any]:
    """What the sdk shows of a resource."""
    shown: dict[str, Any] = resource.to_dict()
    shown.pop("location", None)
    return shown


def create(call: Call) -> Any:
    fields = dict(call.step.args)
    if call.step.image is not None:
        fields["id"] = call.image_id
    name = fields.pop("name")
    image = call.client.image.create_image(name, allow_duplicates=True, **fields)
    call.bind(image.id)
    return view(image)


def update(call: Call) -> Any:
    changes = dict(call.arg("set", {}))
    # the sdk has no removal call: a property set to None is how its users drop one
    changes.update(dict.fromkeys(call.arg("remove", []), None))
    return view(call.client.image.update_image(call.image_id, **changes))


def request_id(call: Call) -> Any:
    if "missing" in call.step.args:
        try:
            call.client.image.get_image(call.image_id)
        except exceptions.HttpException as exc:
            return {"request_id": exc.request_id, "status": exc.status_code}
        return {"request_id": None, "status": 200}
    response = call.client.image.get(f"/images/{call.image_id}")
    return {"request_id": response.headers.get("x-openstack-request-id"),
            "status": response.status_code}


def upload(call: Call) -> Any:
    image = call.client.image.get_image(call.image_id)
    response = image.upload(call.client.image, data=io.BytesIO(DATA), size=len(DATA))
    exceptions.raise_from_response(response)
    return {"status": response.status_code}


def raw_patch(call: Call) -> Any:
    response = call.client.image.patch(
        f"/images/{call.image_id}", data=call.arg("body"),
        headers={"Content-Type": call.arg("content_type")}, raise_exc=False)
    exceptions.raise_from_response(response)
    return {"status": response.status_code}


def import_image(call: Call) -> Any:
    kwargs: dict[str, Any] = {"method": call.arg("method")}
    if call.arg("uri") is not None:
        kwargs["uri"] = call.arg("uri")
    if call.arg("stores") is not None:
        kwargs["stores"] = call.arg("stores")
    image = call.client.image.get_image(call.image_id)  # the sdk checks the formats
    # the sdk hands back the raw response and raises nothing: its status is what a user sees
    return {"status": call.client.image.import_image(image, **kwargs).status_code}


def stage(call: Call) -> Any:
    image = call.client.image.get_image(call.image_id)  # the sdk checks status and formats
    call.client.image.stage_image(image, data=io.BytesIO(DATA), size=len(DATA))


def image_tasks(call: Call) -> Any:
    tasks = [view(t) for t in call.client.image.image_tasks(call.image_id)]
    if tasks:
        call.bind(tasks[0]["id"])
    return tasks


def create_via_import(call: Call) -> Any:
    fields = dict(call.step.args)
    image = call.client.image.create_image(
        fields.pop("name"), data=DATA, use_import=True, wait=True, allow_duplicates=True,
        **fields)
    call.bind(image.id)
    return view(image)


def images(call: Call) -> Any:
    query = dict(call.arg("filters", {}))
    if call.arg("sort_key"):
        query["sort_key"] = call.arg("sort_key")
    return call.refs([image.id for image in call.client.image.images(**query)])


def members(call: Call) -> Any:
    found = [view(m) for m in call.client.image.members(call.image_id)]
    return sorted(found, key=lambda m: str(m.get("member_id")))


def schema(call: Call) -> Any:
    getter = {"image": "get_image_schema", "member": "get_member_schema"}[call.arg("name")]
    return view(getattr(call.client.image, getter)())


ACTIONS = {
    "import_info": lambda c: view(c.client.image.get_import_info()),
    "stores_info": lambda c: [view(s) for s in c.client.image.stores()],
    "schema": schema,
    "create": create,
    "show": lambda c: view(c.client.image.get_image(c.image_id)),
    "request_id": request_id,
    "update": update,
    "upload": upload,
    "download": lambda c: digest(c.client.image.download_image(c.image_id).content),
    "raw_patch": raw_patch,
    "deactivate": lambda c: c.client.image.deactivate_image(c.image_id),
    "reactivate": lambda c: c.client.image.reactivate_image(c.image_id),
    "tag_add": lambda c: c.client.image.add_tag(c.image_id, c.arg("tag")),
    "tag_remove": lambda c: c.client.image.remove_tag(c.image_id, c.arg("tag")),
    "delete": lambda c: c.client.image.delete_image(c.image_id, ignore_missing=False),
    "list": images,
    "member_create": lambda c: view(c.client.image.add_member(c.image_id,
                                                              member=c.arg("member"))),
    "member_list": members,
    "member_show": lambda c: view(c.client.image.get_member(c.arg("member"), c.image_id)),
    "member_update": lambda c: view(c.client.image.update_member(
        c.arg("member"), c.image_id, status=c.arg("status"))),
    "member_delete": lambda c: c.client.image.remove_member(
        c.arg("member"), c.image_id, ignore_missing=False),
    "stage": stage,
    "import": import_image,
    "image_tasks": image_tasks,
    "task_show": lambda c: view(c.client.image.get_task(c.arg("task"))),
    "create_via_import": create_via_import,
}


def failure(exc: BaseException) -> tuple[str, str] | None:
    """The sdk's exceptions: class and status; the message as the sdk words it."""
    if isinstance(exc, exceptions.HttpException):
        return f"{type(exc).__name__} {exc.status_code}", str(exc)
    if isinstance(exc, exceptions.SDKException):
        return type(exc).__name__, str(exc)
    return None


def raw_image(call: Call) -> Any:
    return call.client.image.get(f"/images/{call.image_id}").json()


DRIVER = Driver(connect, ACTIONS, failure, raw_image)

if __name__ == "__main__":
    DRIVER.main()
