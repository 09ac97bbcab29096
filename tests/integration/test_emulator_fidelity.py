"""Differential test: one scripted scenario against the real Glance v2 and the emulator.

Status codes, the presence of ``Content-MD5`` / ``Content-Range`` / ``Location``, and the
JSON key sets and value types must agree; ids, times and other values are left aside.
"""

from __future__ import annotations

import difflib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imgcompat.testing import Emulator, serve

pytestmark = pytest.mark.integration

PATCH = "application/openstack-images-v2.1-json-patch"
WATCHED = ("Content-MD5", "Content-Range", "Location", "Accept-Patch")


def shape(value: Any) -> Any:
    """A JSON value reduced to its structure: key sets and value types."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):  # order aside: the distinct item shapes and the length
        items = sorted({json.dumps(shape(v), sort_keys=True) for v in value})
        return [*items, f"len={len(value)}"]
    return type(value).__name__


class Recorder:
    """Runs calls against one server and keeps the normalised transcript."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.lines: list[str] = []

    def call(self, step: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if method == "PUT":
            # gunicorn refuses an upload without reading its body and then drops the
            # connection: never reuse the socket of an upload.
            kwargs["headers"] = {**kwargs.get("headers", {}), "Connection": "close"}
        response = self.client.request(method, url, **kwargs)
        headers = [h for h in WATCHED if h in response.headers]
        body: Any = f"bytes={len(response.content)}"
        if response.headers.get("content-type", "").startswith("application/json"):
            body = shape(response.json())
        self.lines.append(f"{step}: {response.status_code} {headers} {body}")
        return response


def scenario(rec: Recorder) -> None:
    tag = uuid.uuid4().hex
    data = os.urandom(300_000)
    create = {"name": f"fid-{tag}", "disk_format": "raw", "container_format": "bare",
              "os_distro": "cirros", "note": "héllo ☃", "fidelity": tag}
    image = rec.call("create", "POST", "/v2/images", json=create).json()
    url = f"/v2/images/{image['id']}"
    patch = {"Content-Type": PATCH}
    ok_ops = [{"op": "add", "path": "/extra", "value": "1"},
              {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
              {"op": "remove", "path": "/note"},
              {"op": "replace", "path": "/tags", "value": ["b", "a"]},
              {"op": "replace", "path": "/min_ram", "value": 64}]
    rec.call("patch", "PATCH", url, json=ok_ops, headers=patch)
    bad = {
        "nonstring": [{"op": "add", "path": "/n", "value": 5}],
        "readonly": [{"op": "replace", "path": "/size", "value": 5}],
        "missing-replace": [{"op": "replace", "path": "/nope", "value": "x"}],
        "missing-remove": [{"op": "remove", "path": "/nope"}],
        "remove-base": [{"op": "remove", "path": "/name"}],
        "reserved": [{"op": "add", "path": "/os_glance_x", "value": "x"}],
        "bad-op": [{"op": "move", "from": "/a", "path": "/b"}],
        "nested": [{"op": "add", "path": "/a/b", "value": "x"}],
        "int-as-string": [{"op": "replace", "path": "/min_ram", "value": "5"}],
    }
    for name, ops in bad.items():
        rec.call(f"patch-{name}", "PATCH", url, json=ops, headers=patch)
    rec.call("patch-415", "PATCH", url, json=ok_ops,
             headers={"Content-Type": "application/json-patch+json"})
    rec.call("download-queued", "GET", f"{url}/file")
    rec.call("upload-wrong-type", "PUT", f"{url}/file", content=data,
             headers={"Content-Type": "application/json"})
    octet = {"Content-Type": "application/octet-stream"}
    rec.call("upload", "PUT", f"{url}/file", content=data, headers=octet)
    rec.call("show", "GET", url)
    full = rec.call("download", "GET", f"{url}/file")
    assert full.content == data
    for name, header in (("open", "bytes=1000-"), ("closed", "bytes=10-19"),
                         ("suffix", "bytes=-10"), ("past-end", "bytes=400000-"),
                         ("multi", "bytes=0-1,5-6"), ("malformed", "bytes=abc")):
        rec.call(f"range-{name}", "GET", f"{url}/file", headers={"Range": header})
    rec.call("reupload", "PUT", f"{url}/file", content=data, headers=octet)
    second = rec.call("create-second", "POST", "/v2/images",
                      json={"name": f"fid2-{tag}", "fidelity": tag, "protected": True}).json()
    listing = f"/v2/images?fidelity={tag}&limit=1&sort=name:asc"
    for page in range(3):
        doc = rec.call(f"list-page{page}", "GET", listing).json()
        listing = doc.get("next") or listing
    for name, params in (
            ("in", {"name": f"in:fid-{tag},fid2-{tag}", "fidelity": tag}),
            ("gte", {"created_at": "gte:2000-01-01T00:00:00Z", "fidelity": tag}),
            ("status", {"status": "active", "fidelity": tag}),
            ("tag", {"tag": "a", "fidelity": tag}),
            ("bad-operator", {"name": f"foo:{tag}"}),
            ("changes-since", {"changes-since": "2000-01-01T00:00:00Z"})):
        rec.call(f"list-{name}", "GET", "/v2/images", params=params)
    rec.call("deactivate", "POST", f"{url}/actions/deactivate")
    rec.call("reactivate", "POST", f"{url}/actions/reactivate")
    rec.call("delete-protected", "DELETE", f"/v2/images/{second['id']}")
    rec.call("unprotect", "PATCH", f"/v2/images/{second['id']}",
             json=[{"op": "replace", "path": "/protected", "value": False}], headers=patch)
    rec.call("delete-second", "DELETE", f"/v2/images/{second['id']}")
    rec.call("delete", "DELETE", url)
    rec.call("show-deleted", "GET", url)
    rec.call("delete-again", "DELETE", url)


def transcript(base_url: str) -> list[str]:
    with httpx.Client(base_url=base_url, headers={"Accept": "application/json"},
                      timeout=60) as client:
        rec = Recorder(client)
        rec.call("versions", "GET", "/")
        scenario(rec)
        return rec.lines


@pytest.fixture
def emulator_url() -> Iterator[str]:
    with serve(Emulator(api="v2", v2_minor=17)) as url:
        yield url


def test_emulator_matches_real_glance(real_glance_url: str, emulator_url: str) -> None:
    real = transcript(real_glance_url)
    ours = transcript(emulator_url)
    diff = "\n".join(difflib.unified_diff(real, ours, "real", "emulator", lineterm=""))
    assert real == ours, diff
