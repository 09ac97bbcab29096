"""The v1 life cycle through the latest python-glanceclient: its v1 library and ``glance
--os-image-api-version 1`` (run in the latest peer venv, from the repository root).

Usage: ``python -m tests.peers.glanceclient_latest_v1_driver SCENARIO URL [TOKEN]``. Exits
non-zero with a message on the first broken expectation; prints ``ok <scenario>`` at the end.

What the client does on the wire, and so what is expected back (see
../shared/reference/glance-api-detail.md §1.3): it percent-encodes header names and values and
does not decode them on receipt, and a v1 server never unquotes, so non-ASCII text comes back
in its encoded form; header names (property keys) come back lower-cased. The command sends
``x-image-meta-is_public: None`` when ``--is-public`` is not given, and ``is_public=None`` in
the list query with ``--all-tenants`` or ``--owner``, as the library does with ``owner=``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import glanceclient
from glanceclient import exc

from tests.peers.glance_command import CommandFailed, run_glance

NAME = "niño ☃"
NOTE = "café ☕"
KEY = "clé"
#: What the server keeps and answers: the client's percent-encoding, names lower-cased.
STORED_NAME = quote(NAME, safe="/:")
STORED_NOTE = quote(NOTE, safe="/:")
STORED_KEY = quote(KEY, safe="/:").lower()
DATA = os.urandom(100_000)
MD5 = hashlib.md5(DATA).hexdigest()
#: The command's files (payload, downloads), removed when the scenario ends.
WORK = Path(tempfile.mkdtemp(prefix="glance-v1-cli-"))
#: Before any image the server can hold: ``changes-since`` from here lists deleted ones too.
LONG_AGO = "2000-01-01T00:00:00"


class Broken(Exception):
    """An expectation the emulator did not meet."""


def check(condition: bool, message: str) -> None:
    """Fail the scenario with ``message`` unless ``condition``."""
    if not condition:
        raise Broken(message)


def refused(call: Callable[[], object], error: type[Exception]) -> Exception:
    """The exception ``call`` raised, which must be an ``error``."""
    try:
        call()
    except error as caught:
        return caught
    raise Broken(f"expected {error.__name__}")


# --------------------------------------------------------------------------- the library


def library(url: str, token: str) -> None:
    """Create, get, update (merge and purge), upload, list, download, delete."""
    v1 = glanceclient.Client("1", endpoint=url, token=token).images
    request_ids: list[str | None] = []
    image = v1.create(name=NAME, disk_format="raw", container_format="bare",
                      data=io.BytesIO(DATA), return_req_id=request_ids,
                      properties={"os_distro": "ubuntu", "note": NOTE, KEY: "1"})
    check(image.status == "active", f"status {image.status}")
    check(image.size == len(DATA) and image.checksum == MD5, f"size/checksum {image}")
    check(image.is_public is False, f"is_public {image.is_public!r}")
    check(str(request_ids[0]).startswith("req-"), f"request ids {request_ids}")
    # What the command sends without --is-public: the literal "None", read as False.
    reserved = v1.create(name="reserved", disk_format="qcow2", container_format="bare",
                         is_public=None, protected=True, properties={"kind": "x"})
    check(reserved.status == "queued" and reserved.is_public is False, f"reserved {reserved}")
    check(reserved.protected is True, f"protected {reserved.protected!r}")

    got = v1.get(image.id)
    check(got.name == STORED_NAME, f"name {got.name!r}")
    check(got.properties == {"os_distro": "ubuntu", "note": STORED_NOTE, STORED_KEY: "1"},
          f"properties {got.properties}")
    check((got.is_public, got.protected, got.deleted) == (False, False, False), f"{got}")
    check((got.size, got.min_ram, got.min_disk) == (len(DATA), 0, 0), f"ints {got}")
    refused(lambda: v1.get("7c9a2f4e-3d1b-4e8a-9f60-0123456789ab"), exc.HTTPNotFound)

    kept = v1.update(image.id, properties={"extra": "1"}, purge_props=False)
    check(kept.properties == {"os_distro": "ubuntu", "note": STORED_NOTE, STORED_KEY: "1",
                              "extra": "1"}, f"merged {kept.properties}")
    purged = v1.update(image.id, name="renamed", properties={"only": "this"},
                       purge_props=True)
    check(purged.name == "renamed" and purged.properties == {"only": "this"},
          f"purged {purged.name!r} {purged.properties}")
    check(v1.get(image.id).properties == {"only": "this"}, "purge kept")
    refused(lambda: v1.update(image.id, disk_format="nonsense"), exc.HTTPBadRequest)
    refused(lambda: v1.update(image.id, data=io.BytesIO(b"again")), exc.HTTPConflict)

    uploaded = v1.update(reserved.id, data=io.BytesIO(DATA))
    check(uploaded.status == "active" and uploaded.checksum == MD5, f"upload {uploaded}")
    check(uploaded.properties == {"kind": "x"}, f"upload purges nothing {uploaded.properties}")
    public = v1.create(name=NAME, disk_format="qcow2", container_format="ovf",
                       is_public=True, size=0)
    check(public.status == "active" and public.is_public is True, f"public {public}")

    body = b"".join(v1.data(image.id, do_checksum=True))
    check(body == DATA, "downloaded bytes")
    _lists(v1, public.id)

    refused(lambda: v1.delete(reserved.id), exc.HTTPForbidden)
    v1.update(reserved.id, protected=False)
    for gone in (image.id, reserved.id, public.id):
        v1.delete(gone)
    refused(lambda: v1.get(image.id), exc.HTTPNotFound)
    refused(lambda: v1.delete(image.id), exc.HTTPNotFound)
    check(list(v1.list()) == [], "nothing left")
    deleted = list(v1.list(filters={"changes-since": LONG_AGO}))
    check(sorted(i.status for i in deleted) == ["deleted"] * 3, f"changes-since {deleted}")
    check(all(i.deleted and i.properties == {} for i in deleted), f"deleted {deleted}")


def _lists(v1: Any, public_id: str) -> None:
    """Filters, the is_public=None the command sends, sorting and pages (three images)."""

    def listed(expected: list[str], **kwargs: Any) -> None:
        got = sorted(i.name for i in v1.list(**kwargs))
        check(got == sorted(expected), f"list({kwargs}): {got}")

    every = ["reserved", "renamed", STORED_NAME]
    listed(every)
    listed(every, is_public=None)
    listed(every, owner="")  # ownerless images, asked for with is_public=None
    listed([], owner="someone")  # filtered on the client side
    listed([STORED_NAME], filters={"is_public": True})
    listed(["renamed", "reserved"], filters={"is_public": False})
    listed(["reserved", STORED_NAME], filters={"disk_format": "qcow2"})
    listed([STORED_NAME], filters={"container_format": "ovf"})
    listed(["reserved"], filters={"properties": {"kind": "x"}})
    listed(["renamed", "reserved"], filters={"size_min": 1})
    listed(every, filters={"status": "active"})
    # The stored name is the encoded text, so that is what a name filter matches.
    listed([STORED_NAME], filters={"name": STORED_NAME})
    listed([], filters={"name": NAME})
    ordered = [i.name for i in v1.list(sort_key="name", sort_dir="desc")]
    check(ordered == sorted(every, reverse=True), f"sorted {ordered}")
    paged = [i.name for i in v1.list(page_size=1, sort_key="name", sort_dir="asc")]
    check(paged == sorted(every), f"pages of one {paged}")
    check(len(list(v1.list(limit=2, page_size=1))) == 2, "limit")
    refused(lambda: list(v1.list(filters={"size_min": "x"})), exc.HTTPBadRequest)
    check(v1.get(public_id).size == 0, "size 0")


def corrupt_library(url: str, token: str) -> None:
    """The emulator was told to corrupt the next download: the checksum check sees it."""
    v1 = glanceclient.Client("1", endpoint=url, token=token).images
    image = v1.create(name="c", disk_format="raw", container_format="bare",
                      data=io.BytesIO(DATA))
    error = refused(lambda: b"".join(v1.data(image.id, do_checksum=True)), OSError)
    check("Corrupt image download" in str(error), f"message {error}")
    check(b"".join(v1.data(image.id)) == DATA, "the next download is whole")


# --------------------------------------------------------------------------- the command


class Command:
    """``glance --os-image-api-version 1`` against one server, files in a scratch dir."""

    def __init__(self, url: str, token: str, work: Path) -> None:
        self.url, self.token, self.work = url, token, work
        self.payload = work / "payload.img"
        self.payload.write_bytes(DATA)

    def __call__(self, *argv: str) -> Any:
        """Run one command; its table, or CommandFailed."""
        return run_glance(["--os-image-url", self.url, "--os-auth-token", self.token,
                           "--os-image-api-version", "1", *argv])

    def names(self, *argv: str) -> list[str]:
        """``image-list ARGV``: the names, in the printed order."""
        return [row["Name"] for row in self("image-list", *argv) or []]

    def download(self, image: str) -> bytes:
        """``image-download --file``: the bytes written."""
        target = self.work / "download.img"
        target.unlink(missing_ok=True)
        self("image-download", "--file", str(target), image)
        return target.read_bytes()


def command(url: str, token: str) -> None:
    """The same life cycle through the command."""
    glance = Command(url, token, WORK)
    shown = glance("image-create", "--name", NAME, "--disk-format", "raw",
                   "--container-format", "bare", "--property", "os_distro=ubuntu",
                   "--property", f"note={NOTE}", "--property", f"{KEY}=1",
                   "--file", str(glance.payload))
    image = shown["id"]
    check(shown["status"] == "active" and shown["checksum"] == MD5, f"create {shown}")
    check(shown["is_public"] == "False", f"without --is-public {shown['is_public']}")
    check(shown["name"] == STORED_NAME and shown["Property 'note'"] == STORED_NOTE,
          f"non-ASCII {shown}")
    check(shown[f"Property '{STORED_KEY}'"] == "1", f"non-ASCII key {shown}")
    reserved = glance("image-create", "--name", "reserved", "--disk-format", "qcow2",
                      "--container-format", "bare", "--is-public", "False",
                      "--is-protected", "True", "--property", "kind=x")
    check(reserved["status"] == "queued" and reserved["protected"] == "True", f"{reserved}")
    public = glance("image-create", "--name", "public", "--disk-format", "qcow2",
                    "--container-format", "ovf", "--is-public", "True", "--size", "0")
    check(public["status"] == "active" and public["is_public"] == "True", f"{public}")

    # HEAD leaves out what is null, where the created image's JSON has it as null.
    again = glance("image-show", image)
    check(again == {k: v for k, v in shown.items() if v != "None"},
          f"image-show by id: {again} after {shown}")
    check(glance("image-show", "reserved")["id"] == reserved["id"], "image-show by name")
    merged = glance("image-update", "--property", "extra=1", image)
    check(merged["Property 'extra'"] == "1" and merged["Property 'os_distro'"] == "ubuntu",
          f"update keeps properties {merged}")
    purged = glance("image-update", "--purge-props", "--property", "only=this",
                    "--name", "renamed", image)
    check(purged["name"] == "renamed", f"rename {purged}")
    check([k for k in purged if k.startswith("Property")] == ["Property 'only'"],
          f"--purge-props {purged}")
    uploaded = glance("image-update", "--file", str(glance.payload), reserved["id"])
    check(uploaded["status"] == "active" and uploaded["size"] == str(len(DATA)),
          f"upload into queued {uploaded}")
    failed = refused(lambda: glance("image-update", "--file", str(glance.payload), image),
                     CommandFailed)
    check("Unable to upload image data to an image which is active" in str(failed),
          f"upload into active {failed}")

    every = ["public", "renamed", "reserved"]
    check(glance.names() == every, f"image-list {glance.names()}")
    check(glance.names("--all-tenants") == every, "--all-tenants (is_public=None)")
    check(glance.names("--owner", "") == every, "--owner '' (is_public=None)")
    check(glance.names("--is-public", "True") == ["public"], "--is-public True")
    check(glance.names("--is-public", "False") == ["renamed", "reserved"], "--is-public False")
    check(glance.names("--disk-format", "qcow2") == ["public", "reserved"], "--disk-format")
    check(glance.names("--property-filter", "kind=x") == ["reserved"], "--property-filter")
    check(glance.names("--name", "renamed") == ["renamed"], "--name")
    check(glance.names("--size-min", "1") == ["renamed", "reserved"], "--size-min")
    check(glance.names("--sort-dir", "desc") == every[::-1], "--sort-dir desc")
    check(glance.names("--page-size", "1") == every, "--page-size 1")

    check(glance.download(image) == DATA, "image-download")
    glance("image-delete", reserved["id"])  # protected: the command prints the 403, exits 0
    check(glance("image-show", reserved["id"])["status"] == "active", "protected kept")
    glance("image-update", "--is-protected", "False", reserved["id"])
    glance("image-delete", image, reserved["id"], public["id"])
    check(glance.names() == [], "image-list after delete")
    gone = refused(lambda: glance("image-show", image), CommandFailed)
    check(f"No image with a name or ID of '{image}' exists" in str(gone), f"show {gone}")


def corrupt_command(url: str, token: str) -> None:
    """The emulator was told to corrupt the next download: the command fails on it."""
    glance = Command(url, token, WORK)
    image = glance("image-create", "--name", "c", "--disk-format", "raw",
                   "--container-format", "bare", "--file", str(glance.payload))["id"]
    error = refused(lambda: glance.download(image), CommandFailed)
    check("Corrupt image download" in str(error), f"message {error}")
    check(glance.download(image) == DATA, "the next download is whole")


def unauthorized(url: str, token: str) -> None:
    """``token`` is unknown to the server: both refuse as they do for keystone's 401."""
    refused(lambda: list(glanceclient.Client("1", endpoint=url, token=token).images.list()),
            exc.HTTPUnauthorized)
    failed = refused(lambda: Command(url, token, WORK)("image-list"), CommandFailed)
    check("Invalid OpenStack Identity credentials" in str(failed), f"command {failed}")


SCENARIOS: dict[str, Callable[[str, str], None]] = {
    "library": library,
    "corrupt-library": corrupt_library,
    "command": command,
    "corrupt-command": corrupt_command,
    "unauthorized": unauthorized,
}


def main() -> None:
    """Run ``SCENARIO`` against ``URL`` (as ``TOKEN``, default ``x``)."""
    scenario, url = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else "x"
    try:
        SCENARIOS[scenario](url, token)
    except (Broken, CommandFailed) as failure:
        sys.exit(f"FAILED {scenario}: {failure}")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"ok {scenario}")


if __name__ == "__main__":
    main()
