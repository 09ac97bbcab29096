"""The emulator's answers as Glance 33 writes them: request ids, error bodies, leniency.

Expected values were recorded from a real Glance 33.0.0 (and webob 1.8.11 for the
Accept table) started by ``../shared/glance-server/start.sh``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from imgcompat.testing import Emulator
from imgcompat.testing.http_errors import HttpError, negotiate, render

PATCH = "application/openstack-images-v2.1-json-patch"
MISSING = "/v2/images/00000000-0000-0000-0000-0000000000ab"

#: webob 1.8.11's pick between its offers (text/html, application/json) for Accept.
ACCEPT_TABLE = [
    (None, "plain"), ("", "plain"), (" ", "html"), ("*/*", "html"),
    ("application/json", "json"), ("application/*", "json"), ("APPLICATION/JSON", "json"),
    ("application/json; charset=utf-8", "plain"), ("application/json;q=0", "plain"),
    ("*/*;q=0.1, application/json;q=0.05", "html"), ("text/*", "html"),
    ("text/*;q=0.5, application/*", "json"), ("garbage", "html"),
    ("application/json, garbage", "html"), ("application/json;q=0.5;x=1", "json"),
    ("application/json;q=1.5", "html"), ("application/*;q=0.9, text/html;q=0.8", "json"),
    ("application/json,text/html", "html"), ("text/html;level=1", "plain"), (",", "plain"),
    ("application/json,", "json"), ("image/png", "plain"), ("*/*, application/json", "html"),
    ("text/plain, */*;q=0.1", "html"), ("application/x-json", "plain"), ("text/json", "plain"),
    ("text/plain", "plain"), ("application/xml", "plain"),
]


@pytest.mark.parametrize(("accept", "kind"), ACCEPT_TABLE)
def test_accept_negotiation_is_webobs(accept: str | None, kind: str) -> None:
    assert negotiate(accept) == kind


def test_error_bodies_per_kind() -> None:
    error = HttpError(404, "No image found with ID x")
    ctype, body = render(error, accept="application/json", method="GET", content_type=None)
    assert ctype == "application/json"
    assert json.loads(body) == {"message": "No image found with ID x<br /><br />\n\n\n",
                                "code": "404 Not Found", "title": "Not Found"}
    ctype, body = render(error, accept=None, method="GET", content_type=None)
    assert ctype == "text/plain; charset=UTF-8"
    assert body == b"404 Not Found\n\nNo image found with ID x\n\n   "
    ctype, body = render(HttpError(404, "<x> é"), accept="*/*", method="GET",
                         content_type=None)
    assert ctype == "text/html; charset=UTF-8"
    assert b"  &lt;x&gt; &#233;<br /><br />\n\n\n\n </body>" in body
    # A message passed positionally to webob is the detail, after the stock sentence.
    _, body = render(HttpError(403, detail="Attribute 'x' is reserved."),
                     accept="application/json", method="GET", content_type=None)
    assert json.loads(body)["message"] == ("Access was denied to this resource.<br /><br />\n"
                                           "Attribute 'x' is reserved.\n\n")
    _, body = render(HttpError(415, detail="Invalid content type None"),
                     accept="application/json", method="PUT", content_type=None)
    assert json.loads(body)["message"] == (
        "The request media type ${CONTENT_TYPE} is not supported by this server.\n"
        "<br /><br />\nInvalid content type None")
    _, body = render(HttpError(405), accept="application/json", method="PUT",
                     content_type=None)
    assert json.loads(body)["message"] == ("The method PUT is not allowed for this "
                                           "resource. <br /><br />\n")


def test_request_id_on_every_v2_answer_not_on_versions(client: httpx.Client) -> None:
    ids = set()
    for response in (client.get("/v2/images"), client.get(MISSING),
                     client.put("/v2/images"), client.get("/v2/nowhere"),
                     client.get("/v2/schemas/image")):
        rid = response.headers["x-openstack-request-id"]
        assert re.fullmatch(r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                            r"-[0-9a-f]{12}", rid)
        ids.add(rid)
    assert len(ids) == 5
    assert "x-openstack-request-id" not in client.get("/").headers
    assert "x-openstack-request-id" not in client.get("/versions").headers
    # Without authentication the caller's own id is not taken (a new context each time).
    given = client.get("/v2/images", headers={"X-Openstack-Request-Id": "mine"})
    assert given.headers["x-openstack-request-id"] != "req-mine"


def test_request_id_of_an_authenticated_caller_is_echoed() -> None:
    emu = Emulator(api="v2", auth="trusted")
    who = {"X-Identity-Status": "Confirmed", "X-Project-Id": "p"}
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        for sent, got in (("abc", "req-abc"), ("req-abc", "req-abc")):
            answer = c.get("/v2/images", headers={**who, "X-Openstack-Request-Id": sent})
            assert answer.headers["x-openstack-request-id"] == got
        long_id = c.get("/v2/images", headers={**who, "X-Openstack-Request-Id": "x" * 65})
        assert long_id.status_code == 431


def test_create_answer_headers(client: httpx.Client) -> None:
    response = client.post("/v2/images", json={"name": "x"})
    assert response.status_code == 201
    assert response.headers["OpenStack-image-import-methods"] == (
        "glance-direct,web-download,copy-image")
    assert response.headers["OpenStack-image-store-ids"] == "memory"
    one = Emulator(api="v2", import_methods=("glance-direct",), stores=("a", "b"))
    with httpx.Client(transport=one.sync_transport(), base_url="http://g") as c:
        headers = c.post("/v2/images", json={}).headers
        assert headers["OpenStack-image-import-methods"] == "glance-direct"
        assert headers["OpenStack-image-store-ids"] == "a,b"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form"])
def test_create_parses_json_whatever_the_content_type(client: httpx.Client,
                                                      content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post("/v2/images", content=json.dumps({"name": "lenient"}),
                           headers=headers)
    assert response.status_code == 201
    assert response.json()["name"] == "lenient"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "Body expected in request."),
    (b"{bad", "Malformed JSON in request body."),
    (b'{"name": "\xff\xfe"}', "Malformed JSON in request body."),
    (b"5", "Unexpected body type. Expected list/dict."),
    (b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "Malformed JSON in request body."),
    (b'{"name": "\\ud800"}', "Error decoding your request."),
    (b'{"min_ram": 1' + b"0" * 5000 + b"}", "Malformed JSON in request body."),
    (b'{"min_ram": 1e400}', "Provided object does not match schema 'image': inf is not"),
    (b'{"min_ram": 100000000000000000000000}', "'min_ram' value out of range"),
    (b'{"min_disk": -2147483649}', "Invalid value '-2147483649' for parameter 'min_disk'"),
    (b'{"name": 5}', "Provided object does not match schema 'image': 5 is not of type "
                     "'null', 'string'\n\nFailed validating 'type' in "
                     "schema['properties']['name']"),
])
def test_bad_create_bodies_are_400_never_500(client: httpx.Client, body: bytes,
                                             message: str) -> None:
    response = client.post("/v2/images", content=body,
                           headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"locations": []}, 403, "Attribute 'locations' is reserved.<br /><br />\n\n\n"),
    ({"os_glance_x": "1"}, 403, "Access was denied to this resource.<br /><br />\n"
                                "Attribute 'os_glance_x' is reserved.\n\n"),
    ({"status": "active"}, 403, "Attribute 'status' is read-only.<br /><br />\n\n\n"),
    ({"x" * 256: "1"}, 400, "Custom property should not be greater than 255 characters."
                            "<br /><br />\n\n\n"),
    ({"tags": ["t"] * 129}, 413, "The limit has been exceeded on the number of allowed "
                                 "image tags. Attempted: 129, Maximum: 128<br /><br />\n\n\n"),
    ({f"p{i}": "v" for i in range(129)}, 413, "The limit has been exceeded on the number "
                                              "of allowed image properties. Attempted: 129, "
                                              "Maximum: 128<br /><br />\n\n\n"),
])
def test_create_refusals_word_for_word(client: httpx.Client, body: dict[str, Any],
                                       status: int, message: str) -> None:
    response = client.post("/v2/images", json=body, headers={"Accept": "application/json"})
    assert response.status_code == status
    assert response.json()["message"] == message


def test_property_quota_is_configurable_and_counts_no_os_glance() -> None:
    emu = Emulator(api="v2", image_property_quota=2)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        assert c.post("/v2/images", json={"a": "1", "b": "2", "c": "3"}).status_code == 413
        image = c.post("/v2/images", json={"a": "1", "b": "2"}).json()
        url = f"/v2/images/{image['id']}"
        add = [{"op": "add", "path": "/c", "value": "3"}]
        assert c.patch(url, json=add, headers={"Content-Type": PATCH}).status_code == 413
        # Replacing what is there adds nothing: no quota check.
        replace = [{"op": "replace", "path": "/a", "value": "x"}]
        assert c.patch(url, json=replace, headers={"Content-Type": PATCH}).status_code == 200
    unlimited = Emulator(api="v2", image_property_quota=-1)
    with httpx.Client(transport=unlimited.sync_transport(), base_url="http://g") as c:
        many = {f"p{i}": "v" for i in range(300)}
        assert c.post("/v2/images", json=many).status_code == 201


def test_oversized_json_body_is_413() -> None:
    emu = Emulator(api="v2", json_body_limit=1000)
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        response = c.post("/v2/images", json={"x": "y" * 2000},
                          headers={"Accept": "application/json"})
        assert response.status_code == 413
        assert response.json()["title"] == "Request Entity Too Large"
        assert c.post("/v2/images", json={"x": "y" * 100}).status_code == 201


@pytest.mark.parametrize(("ops", "media", "status", "message"), [
    ([{"add": "/name", "value": "x"}], "2.0", 409, "Property name already present."),
    ([{"add": "/os_hidden", "value": True}], "2.0", 409, "Property os_hidden already present."),
    ([{"add": "/foo", "value": "x"}], "2.0", 409, "Property foo already present."),
    ([{"add": "/new", "value": "x"}], "2.0", 200, None),
    ([{"add": "/x", "remove": "/y", "value": "1"}], "2.0", 400,
     'Operation objects must contain only one member named "add", "remove", or "replace".'),
    ([{"op": "add", "path": "/name", "value": "x"}], "2.1", 200, None),
    ([{"op": "add", "path": "/foo", "value": "x"}], "2.1", 200, None),
    ([{"op": "add", "path": "/a//b", "value": "1"}], "2.1", 400,
     'Pointer `/a//b` contains adjacent "/".'),
    ([{"op": "add", "path": 5, "value": "1"}], "2.1", 400, 'Pointer `5` does not start with "/".'),
    ([{"op": 5, "path": "/x", "value": "1"}], "2.1", 400, "Invalid operation: `5`."),
    ([{"op": "replace", "path": "/locations", "value": []}], "2.1", 403,
     "Cannot set locations to empty list."),
    ([{"op": "add", "path": "/locations/-", "value": {"url": "http://x", "metadata": {}}}],
     "2.1", 403, "It's not allowed to add locations if locations are invisible."),
    ([{"op": "replace", "path": "/tags", "value": ["t"] * 129}], "2.1", 413,
     "The limit has been exceeded on the number of allowed image tags."),
    ([{"op": "replace", "path": "/min_disk", "value": 2**31}], "2.1", 400,
     "'min_disk' value out of range, must not exceed 2147483647."),
])
def test_patch_semantics_per_media_type(client: httpx.Client, ops: list[Any], media: str,
                                        status: int, message: str | None) -> None:
    image = client.post("/v2/images", json={"name": "p", "foo": "bar"}).json()
    response = client.patch(
        f"/v2/images/{image['id']}", content=json.dumps(ops),
        headers={"Content-Type": f"application/openstack-images-v{media}-json-patch",
                 "Accept": "application/json"})
    assert response.status_code == status, response.text
    if message is not None:
        assert message in response.json()["message"]


def test_patch_checks_every_operation_before_applying_any(client: httpx.Client) -> None:
    image = client.post("/v2/images", json={"name": "p"}).json()
    url = f"/v2/images/{image['id']}"
    ops = [{"op": "add", "path": "/ok", "value": "1"},
           {"op": "replace", "path": "/size", "value": 1}]
    assert client.patch(url, json=ops, headers={"Content-Type": PATCH}).status_code == 403
    assert "ok" not in client.get(url).json()
    # The deserializer runs before the image is looked up: a bad patch of nothing is 400.
    missing = client.patch(MISSING, json=[{"op": "bogus"}], headers={"Content-Type": PATCH})
    assert missing.status_code == 400


def test_huge_patch_runs_in_linear_time(client: httpx.Client) -> None:
    image = client.post("/v2/images", json={"name": "p", "a": "0"}).json()
    url = f"/v2/images/{image['id']}"

    def run(count: int) -> float:
        ops: list[dict[str, Any]] = [{"op": "replace", "path": "/a", "value": str(i)}
                                     for i in range(count)]
        ops += [{"op": "replace", "path": "/tags", "value": ["x", str(i)]}
                for i in range(count // 4)]
        start = time.perf_counter()
        response = client.patch(url, json=ops, headers={"Content-Type": PATCH})
        assert response.status_code == 200
        assert response.json()["a"] == str(count - 1)
        return time.perf_counter() - start

    small, big = run(8000), run(80000)
    assert big < 5.0
    assert big < small * 25  # ten times the work: nowhere near a hundred times the time


def test_routes_405_404_and_body_reject(client: httpx.Client) -> None:
    image = client.post("/v2/images", json={}).json()
    url = f"/v2/images/{image['id']}"
    put = client.put(url, headers={"Accept": "application/json"})
    assert put.status_code == 405
    assert put.headers["Allow"] == "GET, PATCH, DELETE"
    head = client.head(url)
    assert (head.status_code, head.content) == (405, b"")
    assert client.get("/v2/images/").status_code == 404
    assert client.get(f"{url}/tags").status_code == 404
    assert client.post(f"{url}/actions/bogus").status_code == 404
    rejected = client.request("GET", url, content=b"{}", headers={"Accept": "application/json"})
    assert rejected.status_code == 400
    assert rejected.json()["message"].startswith("A body is not expected with this request.")
    redirect = client.get("/v2")
    assert (redirect.status_code, redirect.headers["Location"]) == (302, "http://glance/v2/")
    assert client.get("/v2.3/images").status_code == 200
    assert client.get("/v2.99/images").status_code == 300


def test_upload_content_type_and_size_checks(client: httpx.Client) -> None:
    image = client.post("/v2/images", json={"disk_format": "raw",
                                            "container_format": "bare"}).json()
    url = f"/v2/images/{image['id']}/file"
    accept = {"Accept": "application/json"}
    none = client.put(url, content=b"abc", headers=accept)
    assert none.status_code == 415
    assert none.json()["message"].endswith("Invalid content type None")
    headers = {**accept, "Content-Type": "application/octet-stream"}
    short = client.put(url, content=b"abc", headers={**headers, "x-openstack-image-size": "5"})
    assert short.status_code == 400
    assert short.json()["message"].startswith("Size mismatch: expected 5 bytes, got 3 bytes")
    long = client.put(url, content=b"abc", headers={**headers, "x-openstack-image-size": "2"})
    assert long.json()["message"].startswith("Size exceeds: expected 2 bytes, got 3 bytes")
    bad = client.put(url, content=b"abc", headers={**headers, "x-openstack-image-size": "x"})
    assert bad.status_code == 400
    store = client.put(url, content=b"abc", headers={**headers, "x-image-meta-store": "nope"})
    assert store.json()["message"].startswith("Store for identifier nope not found")
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert client.put(url, content=b"abc", headers=headers).status_code == 204
