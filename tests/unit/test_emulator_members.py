"""Image members, as a real Glance 33 answered them (``GLANCE_AUTH=trusted``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imgcompat.testing import Emulator

JSON = {"Accept": "application/json"}


def who(project: str, roles: str = "member,reader") -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-Roles": roles,
            **JSON}


A, B, C, ADMIN = who("proj-a"), who("proj-b"), who("proj-c"), who("proj-x", "admin")
MEMBER_KEYS = ["member_id", "image_id", "status", "created_at", "updated_at", "schema"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    emu = Emulator(api="v2", auth="trusted", image_member_quota=3)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        yield c


@pytest.fixture
def shared(client: httpx.Client) -> str:
    image_id: str = client.post("/v2/images", json={"visibility": "shared"},
                                headers=A).json()["id"]
    return image_id


def add(client: httpx.Client, image: str, body: Any, headers: dict[str, str] = A
        ) -> httpx.Response:
    return client.post(f"/v2/images/{image}/members", content=json.dumps(body),
                       headers={**headers, "Content-Type": "application/json"})


def message(response: httpx.Response) -> str:
    text: str = response.json()["message"]
    return text.split("<br />", 1)[0]


def test_create_shape_and_errors(client: httpx.Client, shared: str) -> None:
    made = add(client, shared, {"member": "proj-b"})
    assert made.status_code == 200
    doc = made.json()
    assert list(doc) == MEMBER_KEYS
    assert (doc["member_id"], doc["image_id"], doc["status"]) == ("proj-b", shared, "pending")
    assert doc["schema"] == "/v2/schemas/member"
    assert doc["created_at"].endswith("Z")
    cases = [({"member": "proj-b"}, 409, f"Member proj-b is duplicated for image {shared}"),
             ({"member": ""}, 400, "Member can't be empty"),
             ({"member": None}, 400, "Member can't be empty"),
             ({}, 400, "Member to be added not specified"),
             ([], 400, 'Expected a member in the form: {"member": "image_id"}'),
             ("x", 400, "Unexpected body type. Expected list/dict.")]
    for body, status, text in cases:
        response = add(client, shared, body)
        assert (response.status_code, message(response)) == (status, text), body
    number = add(client, shared, {"member": 5})
    assert number.json()["member_id"] == 5
    listed = client.get(f"/v2/images/{shared}/members", headers=A).json()
    assert [m["member_id"] for m in listed["members"]] == ["proj-b", "5"]
    assert listed["schema"] == "/v2/schemas/members"
    assert add(client, shared, {"member": "proj-c"}, ADMIN).status_code == 200
    over = add(client, shared, {"member": "proj-d"})
    assert over.status_code == 413
    assert message(over).startswith(f"Image member limit exceeded for image {shared}: The "
                                    "limit has been exceeded on the number of allowed image "
                                    "members for this image. Attempted: 4, Maximum: 3")
    for caller in (B, C):
        refused = add(client, shared, {"member": "proj-e"}, caller)
        assert refused.status_code in (403, 404)


def test_only_shared_images_have_members(client: httpx.Client) -> None:
    private = client.post("/v2/images", json={"visibility": "private"}, headers=A).json()["id"]
    url = f"/v2/images/{private}/members"
    refused = add(client, private, {"member": "proj-b"})
    assert (refused.status_code, message(refused)) == (
        403, f"Not allowed to create members for image {private}.")
    listing = client.get(url, headers=A)
    assert (listing.status_code, message(listing)) == (
        403, f"Not allowed to list members for image {private}: Only shared images have "
             "members.")
    shown = client.get(f"{url}/proj-b", headers=A)
    assert (shown.status_code, message(shown)) == (404, "Only shared images have members.")
    assert client.put(f"{url}/proj-b", json={"status": "accepted"},
                      headers=A).status_code == 403
    assert client.delete(f"{url}/proj-b", headers=A).status_code == 403


def test_member_lifecycle_and_visibility(client: httpx.Client, shared: str) -> None:
    url = f"/v2/images/{shared}/members"
    add(client, shared, {"member": "proj-b"})
    add(client, shared, {"member": "proj-c"})

    def listed(headers: dict[str, str], **params: str) -> list[str]:
        images = client.get("/v2/images", params=params, headers=headers).json()["images"]
        return [i["id"] for i in images]

    # Pending: B sees the image itself, but not in its default list.
    assert client.get(f"/v2/images/{shared}", headers=B).status_code == 200
    assert listed(B) == []
    assert listed(B, member_status="pending") == [shared]
    assert listed(B, member_status="all") == [shared]
    bogus = client.get("/v2/images", params={"member_status": "bogus"}, headers=B)
    assert (bogus.status_code, message(bogus)) == (400, "Invalid status: bogus")
    # Each member sees only its own membership; the owner and admins see all.
    assert [m["member_id"] for m in client.get(url, headers=B).json()["members"]] == ["proj-b"]
    assert len(client.get(url, headers=A).json()["members"]) == 2
    assert len(client.get(url, headers=ADMIN).json()["members"]) == 2
    hidden = client.get(f"{url}/proj-c", headers=B)
    assert (hidden.status_code, message(hidden)) == (
        404, f"proj-c not found in the member list of the image {shared}.")
    # Only the member (or an admin) changes the status; the owner may not.
    owner = client.put(f"{url}/proj-b", json={"status": "accepted"}, headers=A)
    assert (owner.status_code, message(owner)) == (
        403, f"Not allowed to update members for image {shared}.")
    bad = client.put(f"{url}/proj-b", json={"status": "bogus"}, headers=B)
    assert (bad.status_code, message(bad)) == (
        400, 'Incorrect request: Status must be "pending", "accepted" or "rejected".')
    assert message(client.put(f"{url}/proj-b", json={}, headers=B)) == "Status not specified"
    rejected = client.put(f"{url}/proj-b", json={"status": "rejected"}, headers=B)
    assert rejected.json()["status"] == "rejected"
    assert client.get(f"/v2/images/{shared}", headers=B).status_code == 200
    assert listed(B) == []
    assert listed(B, member_status="rejected") == [shared]
    assert client.put(f"{url}/proj-b", json={"status": "accepted"},
                      headers=B).status_code == 200
    assert listed(B) == [shared]
    assert listed(B, visibility="shared") == [shared]
    assert client.put(f"{url}/proj-b", json={"status": "pending"},
                      headers=ADMIN).json()["status"] == "pending"
    other = client.put(f"{url}/proj-c", json={"status": "accepted"}, headers=B)
    assert other.status_code == 404
    # Removing: the owner only; then the member no longer sees the image.
    assert client.delete(f"{url}/proj-b", headers=B).status_code == 403
    assert client.delete(f"{url}/nobody", headers=A).status_code == 404
    deleted = client.delete(f"{url}/proj-b", headers=A)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert "Content-Type" not in deleted.headers
    assert client.get(f"/v2/images/{shared}", headers=B).status_code == 404
    assert client.delete(f"{url}/proj-b", headers=A).status_code == 404
    again = add(client, shared, {"member": "proj-b"})
    assert again.json()["status"] == "pending"
    assert [m["member_id"] for m in client.get(url, headers=A).json()["members"]] == [
        "proj-b", "proj-c"]


def test_members_leave_with_visibility_and_routes(client: httpx.Client, shared: str) -> None:
    url = f"/v2/images/{shared}/members"
    add(client, shared, {"member": "proj-b"})
    private = [{"op": "replace", "path": "/visibility", "value": "private"}]
    assert client.patch(f"/v2/images/{shared}", json=private, headers={
        **A, "Content-Type": "application/openstack-images-v2.1-json-patch"}).status_code == 200
    assert client.get(f"/v2/images/{shared}", headers=B).status_code == 404
    assert client.get(url, headers=A).status_code == 403
    assert client.patch(url, json={}, headers=A).headers["Allow"] == "GET, POST"
    assert client.post(f"{url}/x", json={}, headers=A).headers["Allow"] == "GET, PUT, DELETE"
    missing = client.get("/v2/images/00000000-0000-0000-0000-00000000abcd/members", headers=A)
    assert message(missing) == "Image 00000000-0000-0000-0000-00000000abcd not found."
