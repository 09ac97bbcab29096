"""The scenario through the ``glance`` command (v2), run in the latest peer venv.

Each step is one ``glance --os-image-url URL --os-auth-token ... COMMAND``, run in this process
by :func:`glance_command.run_glance`. The command has no option for identity headers, so the
client it builds gets them added (``identity_headers``, the library's own keyword); everything
else — parsing, the schema fetched and cached in ``$HOME``, output, exit status — is the
command's. Results are the printed tables (``Property``/``Value`` as a dict, listings as rows),
outcomes ``ok`` or ``exit N`` with the text on stderr.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.peers.glance_command import CommandFailed, run_glance
from tests.peers.scenario import DATA, identity_headers
from tests.peers.scenario_runner import Call, Driver, Unsupported

#: What an import in flight changes: ``image-import`` and ``image-create-via-import`` print
#: the image right after their call, a snapshot of a task still running; these are left out.
IN_FLIGHT = frozenset({"status", "size", "virtual_size", "checksum", "os_hash_algo",
                       "os_hash_value", "direct_url", "stores", "updated_at",
                       "os_glance_import_task", "os_glance_importing_to_stores",
                       "os_glance_failed_import"})
#: Scenario fields the command has options for; the rest go as ``--property k=v``.
OPTIONS = frozenset({"name", "disk_format", "container_format", "visibility", "min_ram",
                     "id", "protected"})
WORK = Path(tempfile.mkdtemp(prefix="glance-cli-driver-"))
PAYLOAD = WORK / "payload.img"
PAYLOAD.write_bytes(DATA)
os.environ["HOME"] = str(WORK)  # the command caches the server's schemas under ~/.glanceclient


class Glance:
    """``glance`` as ``who``: run a command, parse what it printed."""

    def __init__(self, who: str, server: str) -> None:
        self.who = who
        self.server = server

    def __call__(self, *argv: str) -> Any:
        """Run ``glance ARGV``; the parsed stdout, or CommandFailed."""
        return run_glance(["--os-image-url", self.server, "--os-auth-token", "unused",
                           "--os-image-api-version", "2", *argv],
                          identity_headers=identity_headers(self.who))


def flags(fields: dict[str, Any]) -> list[str]:
    """Scenario fields as the command's options."""
    argv: list[str] = []
    for key, value in fields.items():
        if key == "tags":
            argv += ["--tags", *value]
        elif key in OPTIONS:
            argv += [f"--{key.replace('_', '-')}", str(value)]
        else:
            argv += ["--property", f"{key}={value}"]
    return argv


def create(call: Call) -> Any:
    fields = dict(call.step.args)
    if call.step.image is not None:
        fields["id"] = call.image_id
    image = call.client("image-create", *flags(fields))
    call.bind(image["id"])
    return image


def update(call: Call) -> Any:
    removed = [arg for key in call.arg("remove", []) for arg in ("--remove-property", key)]
    return call.client("image-update", *flags(call.arg("set", {})), *removed, call.image_id)


def download(call: Call) -> Any:
    target = WORK / "download.img"
    target.unlink(missing_ok=True)
    printed = call.client("image-download", "--file", str(target), call.image_id)
    if not target.exists():
        return {"printed": printed}
    body = target.read_bytes()
    return {"md5": hashlib.md5(body).hexdigest(), "size": len(body)}


def images(call: Call) -> Any:
    argv: list[str] = []
    for key, value in call.arg("filters", {}).items():
        argv += [f"--{key}", value] if key == "visibility" else ["--property-filter",
                                                                  f"{key}={value}"]
    if call.arg("sort_key"):
        argv += ["--sort-key", call.arg("sort_key")]
    return call.refs([row["ID"] for row in call.client("image-list", *argv) or []])


def import_image(call: Call) -> Any:
    argv = ["--import-method", call.arg("method")]
    if call.arg("uri") is not None:
        argv += ["--uri", call.arg("uri")]
    if call.arg("stores") is not None:
        argv += ["--stores", ",".join(call.arg("stores"))]
    return settled(call.client("image-import", *argv, call.image_id))


def members(call: Call) -> Any:
    listed = call.client("member-list", "--image-id", call.image_id) or []
    return sorted(listed, key=lambda row: str(row.get("Member ID")))


def via_import(call: Call) -> Any:
    image = call.client("image-create-via-import", *flags(call.step.args), "--file",
                        str(PAYLOAD), "--import-method", "glance-direct")
    call.bind(image["id"])
    return settled(image)


def settled(image: dict[str, str]) -> dict[str, str]:
    """The printed image without what the import still running may change."""
    return {key: value for key, value in image.items() if key not in IN_FLIGHT}


def not_in_the_command(call: Call) -> Any:
    raise Unsupported(f"the glance command has no way to {call.step.action}")


ACTIONS = {
    "import_info": lambda c: c.client("import-info"),
    "stores_info": lambda c: c.client("stores-info"),
    "schema": lambda c: c.client("explain", c.arg("name")),
    "create": create,
    "show": lambda c: c.client("image-show", c.image_id),
    "request_id": not_in_the_command,
    "update": update,
    "upload": lambda c: c.client("image-upload", "--file", str(PAYLOAD), c.image_id),
    "download": download,
    "raw_patch": not_in_the_command,
    "deactivate": lambda c: c.client("image-deactivate", c.image_id),
    "reactivate": lambda c: c.client("image-reactivate", c.image_id),
    "tag_add": lambda c: c.client("image-tag-update", c.image_id, c.arg("tag")),
    "tag_remove": lambda c: c.client("image-tag-delete", c.image_id, c.arg("tag")),
    "delete": lambda c: c.client("image-delete", c.image_id),
    "list": images,
    "member_create": lambda c: c.client("member-create", c.image_id, c.arg("member")),
    "member_list": members,
    "member_show": lambda c: c.client("member-get", c.image_id, c.arg("member")),
    "member_update": lambda c: c.client("member-update", c.image_id, c.arg("member"),
                                        c.arg("status")),
    "member_delete": lambda c: c.client("member-delete", c.image_id, c.arg("member")),
    "stage": lambda c: c.client("image-stage", "--file", str(PAYLOAD), c.image_id),
    "import": import_image,
    "image_tasks": lambda c: c.client("image-tasks", c.image_id),
    "task_show": not_in_the_command,  # it could, but image-tasks prints no task id to show
    "create_via_import": via_import,
}


def failure(error: BaseException) -> tuple[str, str] | None:
    """A failed command: its exit status and its stderr."""
    if isinstance(error, CommandFailed):
        return f"exit {error.status}", str(error)
    return None


DRIVER = Driver(Glance, ACTIONS, failure, lambda c: c.client("image-show", c.image_id))

if __name__ == "__main__":
    try:
        DRIVER.main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)  # the payload, downloads and schema cache
