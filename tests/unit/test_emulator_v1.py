"""The emulator's v1 API: the server-side rules of the reference, one test each."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest

from imgcompat.testing import Emulator, serve

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    emu = Emulator(api="v1")
    with httpx.Client(transport=emu.sync_transport(), base_url="http://glance") as c:
        yield c


def create(client: httpx.Client, data: bytes | None = None, /, **meta: str) -> httpx.Response:
    headers = {f"x-image-meta-{k}": v for k, v in meta.items()}
    if data is not None:
        headers.update(OCTET)
    return client.post("/v1/images", headers=headers, content=data)


def test_versions_list_v1_only(client: httpx.Client) -> None:
    ids = [v["id"] for v in client.get("/").json()["versions"]]
    assert ids == ["v1.1", "v1.0"]


def test_create_with_data_active_checksum_etag(client: httpx.Client) -> None:
    data = os.urandom(2000)
    response = create(client, data, name="img", disk_format="raw", container_format="bare")
    assert response.status_code == 201
    image = response.json()["image"]
    md5 = hashlib.md5(data).hexdigest()
    assert image["status"] == "active"
    assert image["size"] == 2000
    assert image["checksum"] == md5
    assert response.headers["ETag"] == md5
    assert response.headers["Location"].endswith(f"/v1/images/{image['id']}")
    assert image["created_at"].endswith(".000000")
    assert image["deleted"] is False
    got = client.get(f"/v1/images/{image['id']}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-image-meta-checksum"] == md5
    assert got.headers["etag"] == md5
    assert got.headers["content-length"] == "2000"


def test_head_capitalised_names_and_python_booleans(client: httpx.Client) -> None:
    image = create(client, name="n", is_public="true", **{"property-os_distro": "u"}).json()
    head = client.head(f"/v1/images/{image['image']['id']}")
    names = {k.decode() for k, _ in head.headers.raw}
    assert {"X-Image-Meta-Is_public", "X-Image-Meta-Property-Os_distro"} <= names
    assert head.headers["x-image-meta-is_public"] == "True"
    assert head.headers["x-image-meta-protected"] == "False"
    assert head.content == b""


@pytest.mark.parametrize("header", [("x-image-meta-bogus", "1"),
                                    ("x-image-meta-size", "-1"),
                                    ("x-image-meta-min_ram", "abc"),
                                    ("x-image-meta-min_disk", str(2**31)),
                                    ("x-image-meta-disk_format", "floppy")])
def test_bad_headers_400(client: httpx.Client, header: tuple[str, str]) -> None:
    assert client.post("/v1/images", headers=[header]).status_code == 400


def test_dash_becomes_underscore_and_values_kept_encoded(client: httpx.Client) -> None:
    response = client.post("/v1/images", headers={
        "X-Image-Meta-Disk-Format": "raw",
        "x-image-meta-property-os-distro": "Ubuntu%2016.04",
        "x-image-meta-property-note": "ni%C3%B1o"})
    image = response.json()["image"]
    assert image["disk_format"] == "raw"
    assert image["properties"] == {"os_distro": "Ubuntu%2016.04", "note": "ni%C3%B1o"}


def test_size_zero_is_active_without_data(client: httpx.Client) -> None:
    assert create(client, size="0").json()["image"]["status"] == "active"
    assert create(client).json()["image"]["status"] == "queued"


def test_put_purges_unless_told_not_to(client: httpx.Client) -> None:
    image = create(client, **{"property-a": "1", "property-b": "2"}).json()["image"]
    url = f"/v1/images/{image['id']}"
    kept = client.put(url, headers={"x-image-meta-property-c": "3",
                                    "x-glance-registry-purge-props": "false"})
    assert kept.json()["image"]["properties"] == {"a": "1", "b": "2", "c": "3"}
    purged = client.put(url, headers={"x-image-meta-name": "renamed"})
    assert purged.status_code == 200
    assert purged.json()["image"]["properties"] == {}
    assert purged.json()["image"]["name"] == "renamed"


def test_put_data_into_queued_then_409(client: httpx.Client) -> None:
    image = create(client, disk_format="raw", container_format="bare").json()["image"]
    url = f"/v1/images/{image['id']}"
    first = client.put(url, content=b"abc", headers=OCTET)
    assert first.status_code == 200
    assert first.json()["image"]["status"] == "active"
    assert client.put(url, content=b"abc", headers=OCTET).status_code == 409
    assert client.put(url, headers={"x-image-meta-status": "queued"}).status_code == 403


def test_checksum_mismatch_kills(client: httpx.Client) -> None:
    response = create(client, b"abc", checksum="0" * 32)
    assert response.status_code == 400
    listed = client.get("/v1/images/detail", params={"changes-since": "2000-01-01T00:00:00"})
    assert [i["status"] for i in listed.json()["images"]] == ["killed"]


def test_wrong_content_type_400(client: httpx.Client) -> None:
    response = client.post("/v1/images", content=b"abc",
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 400


def test_get_data_of_queued_is_404(client: httpx.Client) -> None:
    image = create(client).json()["image"]
    assert client.get(f"/v1/images/{image['id']}").status_code == 404
    assert client.head(f"/v1/images/{image['id']}").status_code == 200


def test_delete_200_empty_then_changes_since(client: httpx.Client) -> None:
    image = create(client, **{"property-a": "1"}).json()["image"]
    url = f"/v1/images/{image['id']}"
    response = client.delete(url)
    assert response.status_code == 200
    assert response.content == b""
    assert client.head(url).status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get("/v1/images/detail").json()["images"] == []
    since = client.get("/v1/images/detail", params={"changes-since": "2000-01-01T00:00:00"})
    (deleted,) = since.json()["images"]
    assert deleted["status"] == "deleted"
    assert deleted["deleted"] is True
    assert deleted["deleted_at"] is not None
    assert deleted["properties"] == {}
    assert client.get("/v1/images/detail",
                      params={"changes-since": "garbage"}).status_code == 400


def test_protected_and_pending_delete() -> None:
    emu = Emulator(api="v1", pending_delete=True)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        protected = create(c, protected="True").json()["image"]
        assert c.delete(f"/v1/images/{protected['id']}").status_code == 403
        image = create(c).json()["image"]
        assert c.delete(f"/v1/images/{image['id']}").status_code == 200
        assert c.delete(f"/v1/images/{image['id']}").status_code == 403
        since = c.get("/v1/images/detail", params={"changes-since": "2000-01-01T00:00:00"})
        assert "pending_delete" in [i["status"] for i in since.json()["images"]]


def test_lists_filters_sort_and_paging(client: httpx.Client) -> None:
    for i in range(4):
        create(client, b"x" * (i + 1), name=f"i{i}", disk_format="raw",
               container_format="bare", is_public="True" if i % 2 else "False",
               **{"property-k": str(i % 2)})
    summary = client.get("/v1/images").json()["images"]
    assert set(summary[0]) == {"id", "name", "size", "disk_format", "container_format",
                               "checksum"}
    detail = client.get("/v1/images/detail", params={"sort_key": "name", "sort_dir": "asc"})
    assert [i["name"] for i in detail.json()["images"]] == ["i0", "i1", "i2", "i3"]
    assert set(detail.json()) == {"images"}  # no links in v1 lists

    def names(**params: str) -> list[str]:
        doc = client.get("/v1/images/detail", params=params).json()
        return sorted(i["name"] for i in doc["images"])

    assert names(is_public="true") == ["i1", "i3"]
    assert names(is_public="False") == ["i0", "i2"]
    assert names(**{"property-k": "0"}) == ["i0", "i2"]
    assert names(size_min="2", size_max="3") == ["i1", "i2"]
    assert names(name="i2") == ["i2"]
    first = client.get("/v1/images/detail", params={"limit": 2, "sort_key": "name",
                                                    "sort_dir": "asc"}).json()["images"]
    rest = client.get("/v1/images/detail", params={
        "limit": 5, "sort_key": "name", "sort_dir": "asc",
        "marker": first[-1]["id"]}).json()["images"]
    assert [i["name"] for i in first + rest] == ["i0", "i1", "i2", "i3"]
    for bad in ({"size_min": "x"}, {"sort_key": "bogus"}, {"marker": "nope"}):
        assert client.get("/v1/images/detail", params=bad).status_code == 400


def test_both_mode_one_store() -> None:
    emu = Emulator(api="both", v2_minor=17)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        v1 = create(c, name="from-v1", is_public="False",
                    **{"property-note": "ni%C3%B1o"}).json()["image"]
        v2 = c.get(f"/v2/images/{v1['id']}").json()
        assert v2["visibility"] == "shared"
        assert v2["note"] == "ni%C3%B1o"
        made = c.post("/v2/images", json={"name": "from-v2", "visibility": "public"}).json()
        head = c.head(f"/v1/images/{made['id']}")
        assert head.headers["x-image-meta-is_public"] == "True"
    old = Emulator(api="both", v2_minor=4)
    with httpx.Client(transport=old.sync_transport(), base_url="http://g") as c:
        image = create(c).json()["image"]
        assert c.get(f"/v2/images/{image['id']}").json()["visibility"] == "private"


def test_broken_upload_leaves_killed_over_socket() -> None:
    emu = Emulator(api="v1")
    with serve(emu) as url, httpx.Client(base_url=url) as c:
        image = create(c, name="x", size="100000").json()["image"]

        def partial() -> Iterator[bytes]:
            yield b"a" * 1000
            raise RuntimeError("client gave up")

        with pytest.raises(RuntimeError):
            c.put(f"/v1/images/{image['id']}", content=partial(), headers=OCTET)
        status = None
        for _ in range(100):  # the server notices the disconnect asynchronously
            status = c.head(f"/v1/images/{image['id']}").headers["x-image-meta-status"]
            if status == "killed":
                break
            import time

            time.sleep(0.02)
        assert status == "killed"


@pytest.mark.parametrize(("sent", "read"), [
    ("None", False), ("none", False), ("maybe", False), ("", False), ("False", False),
    ("0", False), ("True", True), ("yes", True), ("1", True), ("on", True), (" T ", True),
])
def test_booleans_read_as_the_last_v1_server_did(sent: str, read: bool) -> None:
    emu = Emulator(api="v1")
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        response = c.post("/v1/images", headers={"x-image-meta-name": "b",
                                                 "x-image-meta-is_public": sent,
                                                 "x-image-meta-protected": sent})
        assert response.status_code == 201, response.text
        image = response.json()["image"]
        assert (image["is_public"], image["protected"]) == (read, read)
        update = c.put(f"/v1/images/{image['id']}", headers={"x-image-meta-is_public": sent,
                                                             "x-image-meta-protected": "no"})
        assert update.json()["image"]["is_public"] is read
