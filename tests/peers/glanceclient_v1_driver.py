"""Drive an emulator's v1 API with python-glanceclient 2.16.0 (run under the peer venv).

Usage: glanceclient_v1_driver.py SCENARIO URL. Exits non-zero with a message on the first
broken expectation; prints ``ok <scenario>`` at the end.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from typing import Any

import glanceclient
from glanceclient import exc


def check(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"FAILED: {message}")


def lifecycle(v1: Any) -> None:
    data = os.urandom(200_000)
    image = v1.images.create(name="gc-image", disk_format="raw", container_format="bare",
                             data=io.BytesIO(data),
                             properties={"os_distro": "ubuntu", "note": "niño ☃"})
    check(image.status == "active", f"status {image.status}")
    check(image.size == len(data), f"size {image.size}")
    check(image.checksum == hashlib.md5(data).hexdigest(), "checksum")

    got = v1.images.get(image.id)
    check(got.name == "gc-image", f"name {got.name!r}")
    check(got.is_public is False, "is_public")
    check(got.properties["os_distro"] == "ubuntu", "os_distro")
    # 2.16 percent-encodes on send and does not decode on receipt; the server keeps the
    # text as it arrived, so the encoded form comes back.
    check(got.properties["note"] == "ni%C3%B1o%20%E2%98%83", f"note {got.properties}")

    kept = v1.images.update(image.id, properties={"extra": "1"}, purge_props=False)
    check(kept.properties == {"os_distro": "ubuntu", "note": "ni%C3%B1o%20%E2%98%83",
                              "extra": "1"}, f"merge {kept.properties}")
    purged = v1.images.update(image.id, name="renamed", properties={"only": "this"},
                              purge_props=True)
    check(purged.name == "renamed", "rename")
    check(purged.properties == {"only": "this"}, f"purge {purged.properties}")

    body = b"".join(v1.images.data(image.id, do_checksum=True))
    check(body == data, "downloaded bytes")

    other = v1.images.create(name="other", disk_format="qcow2", container_format="bare",
                             is_public=True, properties={"kind": "x"})
    check(other.status == "queued", f"queued {other.status}")

    def names(**filters: Any) -> list[str]:
        return sorted(i.name for i in v1.images.list(filters=filters))

    check(names() == ["other", "renamed"], f"list {names()}")
    check(names(disk_format="qcow2") == ["other"], "disk_format filter")
    check(names(is_public=True) == ["other"], "is_public filter")
    check(names(properties={"kind": "x"}) == ["other"], "property filter")
    check(names(name="renamed") == ["renamed"], "name filter")

    v1.images.delete(image.id)
    v1.images.delete(other.id)
    check(names() == [], "list after delete")
    try:
        v1.images.get(image.id)
    except exc.HTTPNotFound:
        pass
    else:
        check(False, "get after delete should be 404")


def corrupt(v1: Any) -> None:
    """The emulator was told to corrupt the next download."""
    data = b"abc" * 1000
    image = v1.images.create(name="c", disk_format="raw", container_format="bare",
                             data=io.BytesIO(data))
    try:
        b"".join(v1.images.data(image.id, do_checksum=True))
    except OSError as error:
        check("orrupt" in str(error) or "checksum" in str(error), f"message {error}")
    else:
        check(False, "a corrupted download must fail glanceclient's checksum check")


def main() -> None:
    scenario, url = sys.argv[1], sys.argv[2]
    client = glanceclient.Client("1", endpoint=url, token="x")
    {"lifecycle": lifecycle, "corrupt": corrupt}[scenario](client)
    print(f"ok {scenario}")


if __name__ == "__main__":
    main()
