"""The emulator's v2 API: each rule of the real server gets a test (in process and sockets)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgcompat.core.schema import validate
from imgcompat.testing import Emulator, serve

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch",
         "Accept": "application/json"}
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def emu() -> Emulator:
    return Emulator(api="v2", v2_minor=17)


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=emu.sync_transport(), base_url="http://glance") as c:
        yield c


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    response = client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    doc: dict[str, Any] = response.json()
    return doc


def active(client: httpx.Client, data: bytes, **body: Any) -> dict[str, Any]:
    image = create(client, **body)
    assert client.put(f"/v2/images/{image['id']}/file", content=data,
                      headers=OCTET).status_code == 204
    doc: dict[str, Any] = client.get(f"/v2/images/{image['id']}").json()
    return doc


def test_versions_300_at_root_200_at_versions(client: httpx.Client) -> None:
    root = client.get("/")
    assert root.status_code == 300
    ids = [v["id"] for v in root.json()["versions"]]
    assert "v2.17" in ids
    assert not any(i.startswith("v1") for i in ids)
    assert ids != sorted(ids, reverse=True)  # unsorted, like the real server
    assert [v["status"] for v in root.json()["versions"]].count("CURRENT") == 1
    assert client.get("/versions").status_code == 200
    assert client.get("/v1/images").status_code == 300  # v1 not served: negotiation


def test_create_201_location_and_entity_keys(client: httpx.Client) -> None:
    response = client.post("/v2/images", json={"name": "n", "os_distro": "cirros",
                                               "note": "héllo ☃"})
    assert response.status_code == 201
    doc = response.json()
    assert response.headers["Location"].endswith(f"/v2/images/{doc['id']}")
    validate("v2-image", doc)
    assert doc["visibility"] == "shared"
    assert doc["status"] == "queued"
    for key in ("size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "owner",
                "disk_format"):
        assert doc[key] is None
    assert doc["os_hidden"] is False
    assert doc["min_ram"] == 0
    assert doc["tags"] == []
    assert "direct_url" not in doc
    assert "locations" not in doc
    assert doc["note"] == "héllo ☃"
    assert doc["created_at"].endswith("Z")


def test_minor_5_has_no_hidden_or_multihash() -> None:
    emu = Emulator(api="v2", v2_minor=5)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        doc = active(c, b"abc")
        assert not {"os_hidden", "os_hash_algo", "os_hash_value", "stores"} & set(doc)
        assert c.post("/v2/images", json={"os_hidden": True}).status_code == 400
        assert max(v["id"] for v in c.get("/").json()["versions"]) == "v2.5"
        assert "os_hidden" not in c.get("/v2/schemas/image").json()["properties"]


@pytest.mark.parametrize(("body", "status"), [
    ({"size": 5}, 403), ({"self": "/x"}, 403), ({"status": "active"}, 403),
    ({"location": "x"}, 403), ({"os_glance_x": "y"}, 403), ({"custom": 5}, 400),
    ({"min_ram": "5"}, 400), ({"visibility": "bogus"}, 400), ({"id": "not-a-uuid"}, 400),
])
def test_create_refusals(client: httpx.Client, body: dict[str, Any], status: int) -> None:
    assert client.post("/v2/images", json=body).status_code == status


def test_create_duplicate_id_409(client: httpx.Client) -> None:
    image = create(client)
    assert client.post("/v2/images", json={"id": image["id"]}).status_code == 409


def test_patch_add_replace_remove(client: httpx.Client) -> None:
    image = create(client, a="1")
    ops = [{"op": "add", "path": "/b", "value": "2"},
           {"op": "replace", "path": "/a", "value": "x"},
           {"op": "remove", "path": "/b"},
           {"op": "replace", "path": "/name", "value": "renamed"},
           {"op": "replace", "path": "/tags", "value": ["z", "a", "z"]},
           {"op": "add", "path": "/min_ram", "value": 5}]
    response = client.patch(f"/v2/images/{image['id']}", json=ops, headers=PATCH)
    assert response.status_code == 200
    doc = response.json()
    assert doc["a"] == "x"
    assert "b" not in doc
    assert doc["name"] == "renamed"
    assert doc["tags"] == ["z", "a"]
    assert doc["min_ram"] == 5


@pytest.mark.parametrize(("op", "status"), [
    ({"op": "replace", "path": "/size", "value": 5}, 403),
    ({"op": "add", "path": "/n", "value": 5}, 400),
    ({"op": "replace", "path": "/missing", "value": "x"}, 409),
    ({"op": "remove", "path": "/missing"}, 409),
    ({"op": "remove", "path": "/name"}, 403),
    ({"op": "add", "path": "/deleted", "value": "x"}, 403),
    ({"op": "add", "path": "/os_glance_x", "value": "x"}, 403),
    ({"op": "move", "path": "/x", "from": "/y"}, 400),
    ({"op": "add", "path": "/a/b", "value": "x"}, 400),
    ({"op": "add", "path": "/tags/-", "value": "x"}, 400),
    ({"op": "replace", "path": "/min_ram", "value": "5"}, 400),
])
def test_patch_refusals(client: httpx.Client, op: dict[str, Any], status: int) -> None:
    image = create(client)
    response = client.patch(f"/v2/images/{image['id']}", json=[op], headers=PATCH)
    assert response.status_code == status
    assert set(response.json()) == {"message", "code", "title"}


def test_patch_wrong_media_type_415_with_accept_patch(client: httpx.Client) -> None:
    image = create(client)
    for media in ("application/json", "application/json-patch+json"):
        response = client.patch(f"/v2/images/{image['id']}", json=[],
                                headers={"Content-Type": media})
        assert response.status_code == 415
        assert "openstack-images-v2.1-json-patch" in response.headers["Accept-Patch"]
        # httpx sends ``Accept: */*``: webob (so Glance) answers HTML to that.
        assert response.headers["Content-Type"].startswith("text/html")


def test_patch_body_not_array_400_and_formats_locked_after_upload(
        client: httpx.Client) -> None:
    image = active(client, b"data")
    url = f"/v2/images/{image['id']}"
    assert client.patch(url, json={"op": "add"}, headers=PATCH).status_code == 400
    op = [{"op": "replace", "path": "/disk_format", "value": "qcow2"}]
    assert client.patch(url, json=op, headers=PATCH).status_code == 403


def test_upload_download_hashes_and_ranges(client: httpx.Client) -> None:
    data = os.urandom(5000)
    image = active(client, data)
    assert image["status"] == "active"
    assert image["size"] == 5000
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert image["virtual_size"] == 5000
    assert image["direct_url"]
    url = f"/v2/images/{image['id']}/file"
    full = client.get(url)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["Content-MD5"] == image["checksum"]
    assert full.headers["Content-Length"] == "5000"
    for header, start, end in (("bytes=10-19", 10, 20), ("bytes=1000-", 1000, 5000),
                               ("bytes=-10", 4990, 5000), ("bytes=10-99999", 10, 5000)):
        part = client.get(url, headers={"Range": header})
        assert part.status_code == 206
        assert part.content == data[start:end]
        assert part.headers["Content-Range"] == f"bytes {start}-{end - 1}/5000"
        assert part.headers["Content-MD5"] == image["checksum"]
    assert client.get(url, headers={"Range": "bytes=6000-"}).status_code == 416
    assert client.get(url, headers={"Range": "bytes=abc"}).status_code == 416
    assert client.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 400
    assert client.head(url).status_code == 405


def test_upload_rules(client: httpx.Client) -> None:
    queued = create(client)
    url = f"/v2/images/{queued['id']}"
    assert client.get(f"{url}/file").status_code == 204
    assert client.put(f"{url}/file", content=b"x",
                      headers={"Content-Type": "application/json"}).status_code == 415
    no_formats = client.post("/v2/images", json={"name": "nf"}).json()
    assert client.put(f"/v2/images/{no_formats['id']}/file", content=b"x",
                      headers=OCTET).status_code == 400
    assert client.put(f"{url}/file", content=b"x", headers=OCTET).status_code == 204
    assert client.put(f"{url}/file", content=b"x", headers=OCTET).status_code == 409


def qcow2_header(size: int = 1 << 30, backing_file: bytes = b"") -> bytes:
    """The first KiB of a qcow2 v3 image (what Glance's inspector needs to see)."""
    header = bytearray(1024)
    header[0:8] = b"QFI\xfb" + (3).to_bytes(4, "big")
    if backing_file:
        header[8:20] = (512).to_bytes(8, "big") + len(backing_file).to_bytes(4, "big")
        header[512:512 + len(backing_file)] = backing_file
    header[20:32] = (16).to_bytes(4, "big") + size.to_bytes(8, "big")
    header[100:104] = (104).to_bytes(4, "big")
    return bytes(header)


def test_upload_inspects_disk_format(client: httpx.Client) -> None:
    qcow = create(client, disk_format="qcow2")
    url = f"/v2/images/{qcow['id']}"
    refused = client.put(f"{url}/file", content=os.urandom(100), headers=OCTET)
    assert refused.status_code == 415
    assert client.get(url).json()["status"] == "queued"
    header = qcow2_header()
    assert client.put(f"{url}/file", content=header, headers=OCTET).status_code == 204
    assert client.get(url).json()["virtual_size"] == 1 << 30
    # Glance 33: raw takes any data it finds safe (its virtual size is the byte count)...
    raw = create(client)
    assert client.put(f"/v2/images/{raw['id']}/file", content=header,
                      headers=OCTET).status_code == 204
    assert client.get(f"/v2/images/{raw['id']}").json()["virtual_size"] == len(header)
    # ... but not a qcow2 that points at a backing file.
    unsafe = create(client)
    assert client.put(f"/v2/images/{unsafe['id']}/file",
                      content=qcow2_header(backing_file=b"/etc/passwd"),
                      headers=OCTET).status_code == 415


def test_delete_protected_then_404(client: httpx.Client) -> None:
    image = create(client, protected=True)
    url = f"/v2/images/{image['id']}"
    assert client.delete(url).status_code == 403
    client.patch(url, json=[{"op": "replace", "path": "/protected", "value": False}],
                 headers=PATCH)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


def test_deactivate_reactivate(client: httpx.Client) -> None:
    queued = create(client)
    assert client.post(f"/v2/images/{queued['id']}/actions/deactivate").status_code == 403
    image = active(client, b"abc")
    base = f"/v2/images/{image['id']}"
    assert client.post(f"{base}/actions/deactivate").status_code == 204
    assert client.post(f"{base}/actions/deactivate").status_code == 204
    assert client.get(base).json()["status"] == "deactivated"
    assert client.post(f"{base}/actions/reactivate").status_code == 204
    assert client.get(base).json()["status"] == "active"


def test_list_paging_links_and_filters(client: httpx.Client) -> None:
    ids = [create(client, name=f"img{i}", tags=["t", f"t{i}"], kind="k" if i % 2 else "j")["id"]
           for i in range(5)]
    page = client.get("/v2/images", params={"limit": 2, "sort": "name:asc"}).json()
    assert [i["name"] for i in page["images"]] == ["img0", "img1"]
    assert page["first"] == "/v2/images?limit=2&sort=name%3Aasc"
    assert page["schema"] == "/v2/schemas/images"
    seen: list[str] = []
    link: str | None = "/v2/images?limit=2&sort=name:asc"
    for _ in range(10):
        if link is None:
            break
        doc = client.get(link).json()
        seen += [i["id"] for i in doc["images"]]
        link = doc.get("next")
    assert sorted(seen) == sorted(ids)
    last = client.get("/v2/images", params={"limit": 5}).json()
    assert len(last["images"]) == 5
    assert "next" in last
    assert "next" not in client.get("/v2/images", params={"limit": 6}).json()
    def names(query: Any) -> list[str]:
        images = client.get("/v2/images", params=query).json()["images"]
        return sorted(i["name"] for i in images)

    assert names({"name": "in:img1,img3"}) == ["img1", "img3"]
    assert names({"kind": "k"}) == ["img1", "img3"]
    assert names([("tag", "t"), ("tag", "t2")]) == ["img2"]
    assert names({"created_at": "gte:2000-01-01T00:00:00Z"}) == [f"img{i}" for i in range(5)]
    assert names({"updated_at": "lt:2000-01-01T00:00:00Z"}) == []
    assert names({"visibility": "shared", "status": "queued"}) == [
        f"img{i}" for i in range(5)]
    assert names({"visibility": "public"}) == []
    for bad in ({"name": "foo:bar"}, {"changes-since": "2020-01-01T00:00:00Z"},
                {"limit": "-1"}, {"marker": "00000000-0000-0000-0000-000000000000"},
                {"sort": "bogus:asc"}, {"visibility": "nope"}):
        assert client.get("/v2/images", params=bad).status_code == 400, bad


def test_hidden_images_left_out_unless_asked(client: httpx.Client) -> None:
    create(client, name="seen")
    create(client, name="hidden", os_hidden=True)
    listed = [i["name"] for i in client.get("/v2/images").json()["images"]]
    assert listed == ["seen"]
    hidden = client.get("/v2/images", params={"os_hidden": "true"}).json()["images"]
    assert [i["name"] for i in hidden] == ["hidden"]


def test_schemas(client: httpx.Client, samples_dir: Path) -> None:
    import json

    real = json.loads((samples_dir / "glance-v2-real/schema-image.json").read_text())["body"]
    ours = client.get("/v2/schemas/image").json()
    assert set(ours["properties"]) == set(real["properties"]) - {"locations"} | {"locations"}
    assert ours["additionalProperties"] == {"type": "string"}
    assert ours["links"] == real["links"]
    images = client.get("/v2/schemas/images").json()
    assert images["properties"]["images"]["items"]["name"] == "image"


def test_errors_follow_accept(client: httpx.Client) -> None:
    missing = "/v2/images/00000000-0000-0000-0000-000000000000"
    as_json = client.get(missing, headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.json()["code"] == "404 Not Found"
    # Glance (webob): ``*/*`` (httpx's default) gets HTML, no Accept at all plain text.
    assert client.get(missing).text.startswith("<html>")
    assert client.get(missing, headers={"Accept": ""}).text.startswith("404 Not Found\n\n")


def test_data_dir_store(tmp_path: Path) -> None:
    emu = Emulator(api="v2", data_dir=tmp_path)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        data = os.urandom(3 * 1024 * 1024 + 7)
        image = active(c, data)
        assert (tmp_path / image["id"]).read_bytes() == data
        assert image["direct_url"] == (tmp_path / image["id"]).as_uri()
        assert c.get(f"/v2/images/{image['id']}/file").content == data
        assert c.delete(f"/v2/images/{image['id']}").status_code == 204
        assert not (tmp_path / image["id"]).exists()
        assert not list(tmp_path.iterdir())


async def test_async_transport_streams(emu: Emulator) -> None:
    async with httpx.AsyncClient(transport=emu.async_transport(),
                                 base_url="http://g") as c:
        image = (await c.post("/v2/images", json={"disk_format": "raw",
                                                  "container_format": "bare"})).json()

        async def body() -> Any:
            for _ in range(4):
                yield os.urandom(1024 * 1024)

        put = await c.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTET)
        assert put.status_code == 204
        chunks = 0
        async with c.stream("GET", f"/v2/images/{image['id']}/file") as response:
            async for _ in response.aiter_raw():
                chunks += 1
        assert chunks == 4


def test_over_real_socket(emu: Emulator) -> None:
    with serve(emu) as url, httpx.Client(base_url=url) as c:
        assert url.startswith("http://127.0.0.1:")
        assert c.get("/").status_code == 300
        image = active(c, b"x" * 3000)
        response = c.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=1000-"})
        assert response.status_code == 206
        assert len(response.content) == 2000
        assert c.post("/v2/images", json={"size": 1}).status_code == 403
