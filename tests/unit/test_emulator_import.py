"""Interoperable import, tasks and discovery, as a real Glance 33 answered them
(``GLANCE_AUTH=trusted GLANCE_STORES=2``)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imgcompat.testing import Emulator

JSON = {"Accept": "application/json"}
OCTET = {"Content-Type": "application/octet-stream", **JSON}
SERVED = b"web download bytes " * 100


def who(project: str, roles: str = "member,reader") -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-User-Id": f"u-{project}",
            "X-Roles": roles, **JSON}


A, B, ADMIN = who("proj-a"), who("proj-b"), who("proj-x", "admin")


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/img":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(SERVED)))
        self.end_headers()
        self.wfile.write(SERVED)

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def emu() -> Emulator:
    return Emulator(api="v2", auth="trusted", stores=("fast", "cheap"))


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        yield c


def new(client: httpx.Client, **body: Any) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **body}
    image_id: str = client.post("/v2/images", json=body, headers=A).json()["id"]
    return image_id


def message(response: httpx.Response) -> str:
    text: str = response.json()["message"]
    return text.split("<br />", 1)[0]


def start(client: httpx.Client, image: str, body: dict[str, Any],
          headers: dict[str, str] = A) -> httpx.Response:
    return client.post(f"/v2/images/{image}/import", json=body, headers=headers)


def settled(emu: Emulator, client: httpx.Client, image: str) -> dict[str, Any]:
    assert emu.wait_for_imports(10)
    doc: dict[str, Any] = client.get(f"/v2/images/{image}", headers=ADMIN).json()
    return doc


def test_discovery(client: httpx.Client) -> None:
    assert client.get("/v2/info/import", headers=A).json() == {"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": ["glance-direct", "web-download", "copy-image"]}}
    assert client.get("/v2/info/stores", headers=A).json() == {
        "stores": [{"id": "fast", "default": "true"}, {"id": "cheap"}]}
    assert client.post("/v2/info/import", headers=A).headers["Allow"] == "GET"
    one = Emulator(api="v2")
    with httpx.Client(transport=one.sync_transport(), base_url="http://g") as c:
        assert c.get("/v2/info/stores").json() == {
            "stores": [{"id": "memory", "default": "true"}]}


def test_glance_direct(emu: Emulator, client: httpx.Client) -> None:
    emu.task_delay = 0.05
    image = new(client)
    url = f"/v2/images/{image}"
    assert client.put(f"{url}/stage", content=b"hello world", headers={**A, **OCTET}
                      ).status_code == 204
    staged = client.get(url, headers=A).json()
    assert (staged["status"], staged["size"]) == ("uploading", 11)
    assert not any(k.startswith("os_glance") for k in staged)  # the stage host is hidden
    again = client.put(f"{url}/stage", content=b"x", headers={**A, **OCTET})
    assert (again.status_code, message(again)) == (
        409, "Image status transition from uploading to uploading is not allowed")
    upload = client.put(f"{url}/file", content=b"x", headers={**A, **OCTET})
    assert message(upload) == "Image status transition from uploading to saving is not allowed"
    assert start(client, image, {"method": {"name": "glance-direct"}}, B).status_code == 404
    accepted = start(client, image, {"method": {"name": "glance-direct"}})
    assert (accepted.status_code, accepted.content) == (202, b"")
    seen = set()
    for _ in range(200):
        doc = client.get(url, headers=A).json()
        seen.add(doc["status"])
        if doc["status"] == "active":
            break
        time.sleep(0.01)
    assert {"importing", "active"} <= seen
    doc = settled(emu, client, image)
    assert (doc["size"], doc["virtual_size"], doc["stores"]) == (11, 11, "fast")
    assert doc["os_glance_importing_to_stores"] == doc["os_glance_failed_import"] == ""
    assert "os_glance_import_task" not in doc
    assert client.get(f"{url}/file", headers=A).content == b"hello world"
    tasks = client.get(f"{url}/tasks", headers=A).json()["tasks"]
    assert len(tasks) == 1
    task = tasks[0]
    assert list(task) == ["id", "type", "status", "owner", "expires_at", "created_at",
                          "updated_at", "deleted_at", "deleted", "image_id", "request_id",
                          "user_id", "input", "result", "message"]
    assert (task["type"], task["status"], task["owner"]) == ("api_image_import", "success",
                                                             "proj-a")
    assert task["input"] == {"image_id": image, "import_req": {"method": {
        "name": "glance-direct"}}, "backend": ["fast"]}
    assert (task["result"], task["message"]) == ({"image_id": image}, "Copied 0 MiB")
    assert task["request_id"] == accepted.headers["x-openstack-request-id"]
    assert not task["created_at"].endswith("Z")
    refused = client.get(f"/v2/tasks/{task['id']}", headers=A)
    assert (refused.status_code, message(refused)) == (
        403, "You are not authorized to complete tasks_api_access action.")
    shown = client.get(f"/v2/tasks/{task['id']}", headers=ADMIN).json()
    assert list(shown) == ["id", "input", "type", "status", "owner", "message", "result",
                           "created_at", "updated_at", "self", "schema", "image_id",
                           "request_id", "user_id", "expires_at"]
    assert shown["created_at"].endswith("Z")
    listing = client.get("/v2/tasks", headers=ADMIN).json()
    assert [t["id"] for t in listing["tasks"]] == [task["id"]]
    assert "input" not in listing["tasks"][0]
    assert (listing["first"], listing["schema"]) == ("/v2/tasks", "/v2/schemas/tasks")
    delete = client.delete(f"/v2/tasks/{task['id']}", headers=ADMIN)
    assert (delete.status_code, delete.headers["Allow"]) == (405, "GET")
    assert message(client.get("/v2/tasks/00000000-0000-0000-0000-00000000abcd",
                              headers=ADMIN)) == (
        "Could not find task 00000000-0000-0000-0000-00000000abcd")


def test_web_download(emu: Emulator, client: httpx.Client, web: str) -> None:
    image = new(client)
    assert start(client, image, {"method": {"name": "web-download", "uri": f"{web}/img"}}
                 ).status_code == 202
    doc = settled(emu, client, image)
    assert (doc["status"], doc["size"], doc["stores"]) == ("active", len(SERVED), "fast")
    failing = new(client)
    assert start(client, failing, {"method": {"name": "web-download",
                                              "uri": f"{web}/missing"}}).status_code == 202
    doc = settled(emu, client, failing)
    assert (doc["status"], doc["os_glance_failed_import"]) == ("queued", "fast")
    task = client.get(f"/v2/images/{failing}/tasks", headers=A).json()["tasks"][0]
    assert (task["status"], task["result"], task["message"]) == (
        "failure", None, "Task failed due to Internal Error")


@pytest.mark.parametrize(("body", "status", "text"), [
    ({"method": {"name": "web-download", "uri": "http://10.0.0.1/x"}}, 400,
     "URI for web-download does not pass filtering: http://10.0.0.1/x"),
    ({"method": {"name": "web-download"}}, 400,
     "URI for web-download does not pass filtering: None"),
    ({"method": {"name": "web-download", "uri": "ftp://127.0.0.1/x"}}, 400,
     "URI for web-download does not pass filtering: ftp://127.0.0.1/x"),
    ({"method": {"name": "glance-direct"}}, 409,
     "Image needs to be staged before 'glance-direct' method can be used"),
    ({"method": {"name": "copy-image"}}, 409,
     "Only images with status active can be targeted for copying"),
    ({"method": {"name": "bogus"}}, 400, "Unknown import method name 'bogus'."),
    ({"method": {}}, 400, "Import request requires a 'name' field."),
    ({}, 400, "Import request requires a 'method' field."),
    ({"method": {"name": "glance-direct"}, "all_stores": "x"}, 400,
     "'all_stores' must be boolean value only"),
    ({"method": {"name": "glance-direct"}, "all_stores_must_succeed": "x"}, 400,
     "'all_stores_must_succeed' must be boolean value only"),
    ({"method": {"name": "web-download", "uri": "http://127.0.0.1/img"}, "stores": ["nope"]},
     409, "Store for identifier nope not found"),
    ({"method": {"name": "web-download", "uri": "http://127.0.0.1/img"}, "stores": ["fast"],
      "all_stores": True}, 400,
     "All_stores parameter can't be used with x-image-meta-store header or stores parameter"),
])
def test_import_refusals(client: httpx.Client, body: dict[str, Any], status: int,
                         text: str) -> None:
    response = start(client, new(client), body)
    assert (response.status_code, message(response)) == (status, text)


def test_import_needs_formats_and_ownership(client: httpx.Client, web: str) -> None:
    bare = client.post("/v2/images", json={}, headers=A).json()["id"]
    body = {"method": {"name": "web-download", "uri": f"{web}/img"}}
    assert message(start(client, bare, body)) == (
        "'container_format' needs to be set before import")
    public = new(client, visibility="public")
    refused = start(client, public, body, B)
    assert (refused.status_code, message(refused)) == (403, "You do not own this image")


def test_copy_image(emu: Emulator, client: httpx.Client) -> None:
    image = new(client)
    assert client.put(f"/v2/images/{image}/file", content=b"copy me",
                      headers={**A, **OCTET}).status_code == 204
    copy = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
    owner = start(client, image, copy)
    assert (owner.status_code, message(owner)) == (
        403, "You are not authorized to complete copy_image action.")
    present = start(client, image, {**copy, "stores": ["fast"]}, ADMIN)
    assert (present.status_code, message(present)) == (
        400, "Image is already present at store 'fast'")
    assert start(client, image, copy, ADMIN).status_code == 202
    doc = settled(emu, client, image)
    assert (doc["status"], doc["stores"]) == ("active", "fast,cheap")
    # Already everywhere: accepted, nothing to do.
    assert start(client, image, {"method": {"name": "copy-image"}, "all_stores": True},
                 ADMIN).status_code == 202
    # The admin's task is the admin project's: the owner does not see it.
    assert client.get(f"/v2/images/{image}/tasks", headers=A).json() == {"tasks": []}
    assert len(client.get(f"/v2/images/{image}/tasks", headers=ADMIN).json()["tasks"]) == 1
    active = start(client, image, {"method": {"name": "glance-direct"}})
    assert message(active) == "Image with status active cannot be target for import"


def test_stage_needs_glance_direct() -> None:
    emu = Emulator(api="v2", import_methods=("web-download",))
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        image = c.post("/v2/images", json={}).json()["id"]
        refused = c.put(f"/v2/images/{image}/stage", content=b"x", headers=OCTET)
        assert (refused.status_code, message(refused)) == (
            404, "'glance-direct' method is not available at this site.")
        assert c.post("/v2/images", json={}).headers[
            "OpenStack-image-import-methods"] == "web-download"
