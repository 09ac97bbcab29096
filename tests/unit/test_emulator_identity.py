"""Callers, owners and visibility as a real Glance 33 applies them (recorded with
``GLANCE_AUTH=trusted``), plus tags, the published schemas and format inspection."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgcompat.testing import Emulator, Identity

JSON = {"Accept": "application/json"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch", **JSON}
OCTET = {"Content-Type": "application/octet-stream", **JSON}
DATA = Path(__file__).parent / "data"


def who(project: str | None, roles: str = "member,reader") -> dict[str, str]:
    """The headers a keystone middleware hands Glance."""
    headers = {"X-Identity-Status": "Confirmed", "X-Roles": roles, **JSON}
    if project is not None:
        headers |= {"X-Project-Id": project, "X-User-Id": f"u-{project}"}
    return headers


A, B, ADMIN = who("proj-a"), who("proj-b"), who("proj-admin", "admin,member")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    emu = Emulator(api="v2", auth="trusted")
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        yield c


def made(client: httpx.Client, headers: dict[str, str], **body: Any) -> str:
    response = client.post("/v2/images", json=body, headers=headers)
    assert response.status_code == 201, response.text
    image_id: str = response.json()["id"]
    return image_id


@pytest.fixture
def images(client: httpx.Client) -> dict[str, str]:
    ids = {v: made(client, A, name=f"n-{v}", visibility=v, grp="g")
           for v in ("private", "shared", "community", "public")}
    ids["noowner"] = made(client, ADMIN, name="n-noowner", owner=None, grp="g",
                          visibility="private")
    ids["hidden"] = made(client, A, name="n-hidden", os_hidden=True, grp="g")
    return ids


def names(client: httpx.Client, headers: dict[str, str], **params: str) -> list[str]:
    response = client.get("/v2/images", params={"grp": "g", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(i["name"][2:] for i in response.json()["images"])


def test_no_identity_is_401_without_request_id(client: httpx.Client) -> None:
    refused = client.get("/v2/images")
    assert refused.status_code == 401
    assert "x-openstack-request-id" not in refused.headers
    unconfirmed = client.get("/v2/images", headers={"X-Identity-Status": "Invalid"})
    assert unconfirmed.status_code == 401
    assert client.get("/").status_code == 300  # versions need no identity


def test_owner_and_default_visibility(client: httpx.Client) -> None:
    image = client.post("/v2/images", json={"name": "x"}, headers=A).json()
    assert (image["owner"], image["visibility"]) == ("proj-a", "shared")
    tenant = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": "proj-t", **JSON}
    assert client.post("/v2/images", json={}, headers=tenant).json()["owner"] == "proj-t"
    other = client.post("/v2/images", json={"owner": "proj-b"}, headers=A)
    assert other.status_code == 403
    assert other.json()["message"].startswith(
        "You are not permitted to create images owned by 'proj-b'.")
    assert client.post("/v2/images", json={"owner": "proj-b"}, headers=ADMIN).json()[
        "owner"] == "proj-b"
    assert client.post("/v2/images", json={"visibility": "public"}, headers=A).status_code == 201


def test_stock_policy_keeps_public_for_admins() -> None:
    emu = Emulator(api="v2", auth="trusted", publicize_admin_only=True)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        refused = c.post("/v2/images", json={"visibility": "public"}, headers=A)
        assert refused.status_code == 403
        assert refused.json()["message"].startswith(
            "You are not authorized to complete publicize_image action.")
        assert c.post("/v2/images", json={"visibility": "public"},
                      headers=ADMIN).status_code == 201


def test_show_rules(client: httpx.Client, images: dict[str, str]) -> None:
    def shown(headers: dict[str, str]) -> dict[str, int]:
        return {k: client.get(f"/v2/images/{i}", headers=headers).status_code
                for k, i in images.items()}

    assert set(shown(A).values()) == {200}
    assert set(shown(ADMIN).values()) == {200}
    expected = {"private": 404, "shared": 404, "community": 200, "public": 200,
                "noowner": 200, "hidden": 404}
    assert shown(B) == expected
    assert shown(who("proj-b", roles="")) == expected  # roles other than admin: no matter


def test_list_rules(client: httpx.Client, images: dict[str, str]) -> None:
    assert names(client, A) == ["community", "private", "public", "shared"]
    assert names(client, B) == ["public"]
    assert names(client, B, visibility="community") == ["community"]
    assert names(client, B, visibility="all") == ["community", "public"]
    assert names(client, B, visibility="private") == []
    # An admin's plain list leaves out community images it does not own.
    assert names(client, ADMIN) == ["noowner", "private", "public", "shared"]
    assert names(client, ADMIN, visibility="all") == ["community", "noowner", "private",
                                                      "public", "shared"]
    assert names(client, A, os_hidden="true") == ["hidden"]
    assert names(client, A, visibility="") == []
    # The database layer pops the first visibility; a second one filters as a column.
    assert names(client, A, **{"visibility": "public"}) == ["public"]
    repeated = client.get("/v2/images?grp=g&visibility=public&visibility=private",
                          headers=A).json()["images"]
    assert repeated == []


def test_marker_is_any_visible_image(client: httpx.Client, images: dict[str, str]) -> None:
    page = client.get("/v2/images", params={"grp": "g", "sort": "name:asc",
                                            "marker": images["noowner"]},
                      headers=A).json()["images"]
    assert [i["name"] for i in page] == ["n-private", "n-public", "n-shared"]
    hidden = client.get("/v2/images", params={"marker": images["private"]}, headers=B)
    assert hidden.status_code == 403
    assert hidden.json()["message"].startswith("Forbidding request, image")


def test_changes_by_others(client: httpx.Client, images: dict[str, str]) -> None:
    public = images["public"]
    rename = [{"op": "replace", "path": "/name", "value": "x"}]
    for method, path, kwargs, message in (
            ("PATCH", "", {"json": rename, "headers": {**B, **PATCH}},
             "You do not own this image"),
            ("DELETE", "", {"headers": B}, "You do not own this image"),
            ("POST", "/actions/deactivate", {"headers": B}, "You do not own this image"),
            ("PUT", "/file", {"content": b"x", "headers": {**B, **OCTET}},
             f"Not allowed to upload image data for image {public}"),
            ("PUT", "/tags/x", {"headers": B},
             f"Not allowed to update tags for image {public}.")):
        response = client.request(method, f"/v2/images/{public}{path}", **kwargs)
        assert response.status_code == 403, (method, path)
        assert response.json()["message"].startswith(message)
    hidden = client.request("PATCH", f"/v2/images/{images['private']}", json=rename,
                            headers={**B, **PATCH})
    assert hidden.status_code == 404
    owner = [{"op": "replace", "path": "/owner", "value": "proj-b"}]
    refused = client.patch(f"/v2/images/{images['shared']}", json=owner,
                           headers={**A, **PATCH})
    assert refused.status_code == 403
    assert "Owner can't be updated by non admin." in refused.json()["message"]
    added = [{"op": "add", "path": "/owner", "value": "proj-a"}]  # Glance checks replace only
    assert client.patch(f"/v2/images/{images['shared']}", json=added,
                        headers={**A, **PATCH}).status_code == 200


def test_tokens_map_to_identities() -> None:
    emu = Emulator(api="v2", identities={"tok-a": Identity("proj-a"),
                                         "tok-admin": Identity("p0", roles=("Admin",))})
    assert emu.auth == "keystone"
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        missing = c.get("/v2/images")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == 401
        assert c.get("/v2/images", headers={"X-Auth-Token": "nope"}).status_code == 401
        # Identity headers from the caller are not believed in keystone mode.
        forged = c.get("/v2/images", headers={"X-Auth-Token": "tok-a", **ADMIN})
        assert forged.status_code == 200
        image = c.post("/v2/images", json={"visibility": "private"},
                       headers={"X-Auth-Token": "tok-a"}).json()
        assert image["owner"] == "proj-a"
        assert c.get(f"/v2/images/{image['id']}",
                     headers={"X-Auth-Token": "tok-admin"}).status_code == 200


def test_noauth_default_is_an_admin_without_project() -> None:
    emu = Emulator(api="v2")
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        community = c.post("/v2/images", json={"visibility": "community"}).json()
        private = c.post("/v2/images", json={"visibility": "private"}).json()
        assert community["owner"] is None
        listed = [i["id"] for i in c.get("/v2/images").json()["images"]]
        assert listed == [private["id"]]  # no project: no community image by default
        everything = c.get("/v2/images", params={"visibility": "all"}).json()["images"]
        assert {i["id"] for i in everything} == {community["id"], private["id"]}
        assert c.get(f"/v2/images/{community['id']}").status_code == 200
        # An admin for the database, but policies that want role:admin refuse it.
        tasks = c.get("/v2/tasks", headers=JSON)
        assert (tasks.status_code, tasks.json()["message"]) == (
            403, "You are not authorized to complete tasks_api_access action.<br /><br />\n\n\n")
        data = c.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
        image = data.json()["id"]
        c.put(f"/v2/images/{image}/file", content=b"x",
              headers={"Content-Type": "application/octet-stream"})
        copy = c.post(f"/v2/images/{image}/import",
                      json={"method": {"name": "copy-image"}, "stores": ["memory"]})
        assert copy.status_code == 403
    owned = Emulator(api="v2", owner="proj-x")
    with httpx.Client(transport=owned.sync_transport(), base_url="http://g") as c:
        assert c.post("/v2/images", json={}).json()["owner"] == "proj-x"


def test_tags(client: httpx.Client) -> None:
    image = made(client, A, tags=["x"])
    url = f"/v2/images/{image}/tags"
    for _ in range(2):  # idempotent
        added = client.put(f"{url}/new", headers=A)
        assert (added.status_code, added.content) == (204, b"")
    assert client.get(f"/v2/images/{image}", headers=A).json()["tags"] == ["x", "new"]
    missing = client.delete(f"{url}/nope", headers=A)
    assert missing.status_code == 404
    assert missing.json()["message"].startswith("The resource could not be found.")
    assert client.delete(f"{url}/new", headers=A).status_code == 204
    too_long = client.put(f"{url}/{'t' * 256}", headers=A)
    assert too_long.status_code == 400
    assert "is too long" in too_long.json()["message"]
    assert client.put(f"{url}/a%2Fb", headers=A).status_code == 404
    assert client.put(f"{url}/uni%C3%A9", headers=A).status_code == 204
    assert "uniÃ©" in client.get(f"/v2/images/{image}", headers=A).json()["tags"]
    body = client.put(f"{url}/b", content=b"{}",
                      headers={**A, "Content-Type": "application/json"})
    assert body.status_code == 400
    assert client.post(f"{url}/z", headers=A).headers["Allow"] == "PUT, DELETE"
    gone = client.put("/v2/images/00000000-0000-0000-0000-00000000abcd/tags/z", headers=A)
    assert gone.json()["message"].startswith(
        "Image 00000000-0000-0000-0000-00000000abcd not found.")
    assert client.put(f"{url}/y", headers=B).status_code == 404  # B cannot see it
    full = made(client, A, tags=[f"t{i}" for i in range(128)])
    assert client.put(f"/v2/images/{full}/tags/t0", headers=A).status_code == 204
    over = client.put(f"/v2/images/{full}/tags/extra", headers=A)
    assert over.status_code == 413
    assert over.json()["message"].startswith(f"Image tag limit exceeded for image {full}: "
                                             "The limit has been exceeded")


@pytest.mark.parametrize("which", ["image", "images", "member", "members", "task", "tasks"])
def test_published_schemas_are_glance_33s(client: httpx.Client, which: str) -> None:
    recorded = (DATA / f"glance33-schema-{which}.json").read_text()
    served = client.get(f"/v2/schemas/{which}", headers=A)
    assert served.status_code == 200
    assert served.content == recorded.encode() or served.json() == json.loads(recorded)
    assert "$ref" not in served.text


def test_schema_lets_the_server_refuse_min_ram() -> None:
    import jsonschema

    schema = json.loads((DATA / "glance33-schema-image.json").read_text())
    jsonschema.validate({"min_ram": -1, "created_at": "not a time"}, schema)  # no error


#: (payload, disk_format, container_format) -> status, as Glance 33 answered them.
def _qcow2(backing: bool = False) -> bytes:
    header = bytearray(1024)
    header[0:8] = b"QFI\xfb" + (3).to_bytes(4, "big")
    if backing:
        header[8:20] = (512).to_bytes(8, "big") + (5).to_bytes(4, "big")
        header[512:517] = b"/etc/"
    header[20:32] = (16).to_bytes(4, "big") + (1 << 30).to_bytes(8, "big")
    header[100:104] = (104).to_bytes(4, "big")
    return bytes(header)


def _vhd() -> bytes:
    footer = bytearray(512)
    footer[0:8] = b"conectix"
    footer[40:56] = (1 << 20).to_bytes(8, "big") * 2
    return bytes(footer)


def _iso() -> bytes:
    data = bytearray(0x9000 + 2048)
    data[0x8000:0x8006] = b"\x01CD001"
    return bytes(data)


PAYLOADS = {"random": os.urandom(100_000), "qcow2": _qcow2(), "qcow2-backing": _qcow2(True),
            "vhd": _vhd(), "iso": _iso(), "empty": b""}
FORMAT_CASES = [
    ("random", "raw", "bare", 204, 100_000), ("random", "qcow2", "bare", 415, None),
    ("random", "vhd", "bare", 415, None), ("random", "iso", "bare", 415, None),
    ("random", "ami", "ami", 204, None), ("random", "aki", "bare", 204, None),
    ("random", "ploop", "bare", 204, None), ("random", "qcow2", "ovf", 204, None),
    ("qcow2", "raw", "bare", 204, 1024), ("qcow2", "qcow2", "bare", 204, 1 << 30),
    ("qcow2", "vhd", "bare", 415, None), ("qcow2", "aki", "bare", 415, None),
    ("qcow2", "qcow2", "ovf", 204, None), ("qcow2-backing", "raw", "bare", 415, None),
    ("qcow2-backing", "qcow2", "bare", 415, None), ("qcow2-backing", "ami", "ami", 204, None),
    ("vhd", "raw", "bare", 204, 512), ("vhd", "vhd", "bare", 204, 1 << 20),
    ("vhd", "vdi", "bare", 415, None), ("iso", "iso", "bare", 204, None),
    ("iso", "raw", "bare", 204, 38912), ("iso", "qcow2", "bare", 415, None),
    ("empty", "raw", "bare", 204, None), ("empty", "qcow2", "bare", 415, None),
    ("empty", "aki", "bare", 204, None),
]


@pytest.mark.parametrize("case", FORMAT_CASES, ids=lambda c: "-".join(map(str, c[:3])))
def test_upload_format_inspection(client: httpx.Client,
                                  case: tuple[str, str, str, int, int | None]) -> None:
    payload, disk, container, status, virtual = case
    image = made(client, A, disk_format=disk, container_format=container)
    response = client.put(f"/v2/images/{image}/file", content=PAYLOADS[payload],
                          headers={**A, **OCTET})
    assert response.status_code == status, response.text
    doc = client.get(f"/v2/images/{image}", headers=A).json()
    assert doc["virtual_size"] == virtual
    if status == 415:
        # Glance 33 goes back to queued but keeps the refused data's hashes.
        assert (doc["status"], doc["size"]) == ("queued", None)
        assert doc["checksum"] is not None
        assert client.get(f"/v2/images/{image}/file", headers=A).status_code == 204
        message = response.json()["message"]
        assert ("does not match stream data" in message
                or message.endswith("Image failed safety checks"))
        again = client.put(f"/v2/images/{image}/file", content=PAYLOADS["random"],
                           headers={**A, **OCTET})
        assert again.status_code in (204, 415)
