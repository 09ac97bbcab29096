"""The differential scenario: one list of steps every peer driver runs, against both servers.

Written once as data so that openstacksdk, python-glanceclient's v2 library and the ``glance``
CLI each translate the same step into their own calls; a driver that has no way to express a
step reports it ``unsupported`` and that step is not counted for it. Stdlib only: the drivers
import this module inside the peer venv, pytest imports it to name the steps.

Identities are what a keystone middleware would hand Glance (``X-Identity-Status``,
``X-Project-Id``, ``X-User-Id``, ``X-Roles``); the real server runs with ``GLANCE_AUTH=trusted``
and takes them as given. Project ids double as member ids.

Each step runs as ``who``; ``image`` names an image bound earlier by a step's ``ref`` (a
``create`` naming one reuses its id: the duplicate-id case); ``args`` are the step's own
inputs. ``SOURCE`` in an argument stands for the URL the test serves :data:`WEB_DATA` from
(web-download); the ``TASK`` ref is bound by the tasks listing.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Step(NamedTuple):
    """One call of the scenario, as every driver must make it."""

    name: str
    who: str
    action: str
    image: str | None = None
    ref: str | None = None
    args: dict[str, Any] = {}  # noqa: RUF012  (NamedTuple default, never mutated)


#: keystone-style identities: project, user, role. One role each: glanceclient percent-encodes
#: header values, so "admin,member" would reach the server as the single role "admin%2Cmember".
IDENTITIES: dict[str, tuple[str, str, str]] = {
    "alice": ("p-alice", "u-alice", "member"),
    "bob": ("p-bob", "u-bob", "member"),
    "carol": ("p-carol", "u-carol", "member"),
    "admin": ("p-admin", "u-admin", "admin"),
}


def identity_headers(who: str) -> dict[str, str]:
    """The headers Glance's context middleware reads after keystone's auth_token."""
    project, user, roles = IDENTITIES[who]
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-User-Id": user,
            "X-Roles": roles}


#: Bytes uploaded, staged and served for web-download: deterministic, so checksums compare.
DATA = bytes(range(256)) * 64
WEB_DATA = b"web-download " * 1000
#: An id no server has (404s).
MISSING = "7c9a2f4e-3d1b-4e8a-9f60-0123456789ab"
#: More custom properties than Glance's default ``image_property_quota`` (128) allows.
TOO_MANY_PROPERTIES = {f"prop{i:03d}": "x" for i in range(129)}

S = Step
STEPS: tuple[Step, ...] = (
    # ------------------------------------------------------------------ discovery
    S("info_import", "alice", "import_info"),
    S("info_stores", "alice", "stores_info"),
    S("schema_image", "alice", "schema", args={"name": "image"}),
    S("schema_member", "alice", "schema", args={"name": "member"}),
    # ------------------------------------------------------------------ life cycle
    S("create", "alice", "create", ref="main",
      args={"name": "main", "disk_format": "raw", "container_format": "bare",
            "tags": ["one"], "os_distro": "ubuntu", "note": "hello"}),
    S("show", "alice", "show", "main"),
    S("request_id_show", "alice", "request_id", "main"),
    S("request_id_error", "alice", "request_id", args={"missing": MISSING}),
    S("update_add_prop", "alice", "update", "main", args={"set": {"extra": "1"}}),
    S("update_replace_prop", "alice", "update", "main", args={"set": {"note": "changed"}}),
    S("update_remove_prop", "alice", "update", "main", args={"remove": ["extra"]}),
    S("update_builtin", "alice", "update", "main",
      args={"set": {"name": "main-renamed", "min_ram": 512}}),
    S("update_min_ram_negative", "alice", "update", "main", args={"set": {"min_ram": -1}}),
    S("create_min_ram_negative", "alice", "create",
      args={"name": "neg", "disk_format": "raw", "container_format": "bare", "min_ram": -1}),
    S("create_bad_visibility", "alice", "create",
      args={"name": "badvis", "disk_format": "raw", "container_format": "bare",
            "visibility": "everyone"}),
    S("create_too_many_properties", "alice", "create",
      args={"name": "crowded", "disk_format": "raw", "container_format": "bare",
            **TOO_MANY_PROPERTIES}),
    S("create_duplicate_id", "alice", "create", "main",
      args={"name": "dup", "disk_format": "raw", "container_format": "bare"}),
    S("upload", "alice", "upload", "main"),
    S("show_uploaded", "alice", "show", "main"),
    S("download", "alice", "download", "main"),
    S("upload_again", "alice", "upload", "main"),
    S("patch_wrong_content_type", "alice", "raw_patch", "main",
      args={"content_type": "application/json", "body": "[]"}),
    S("create_qcow2", "alice", "create", ref="qcow",
      args={"name": "qcow", "disk_format": "qcow2", "container_format": "bare"}),
    S("upload_format_mismatch", "alice", "upload", "qcow"),
    S("show_after_mismatch", "alice", "show", "qcow"),
    S("deactivate_by_owner", "alice", "deactivate", "main"),
    S("deactivate", "admin", "deactivate", "main"),
    S("download_deactivated", "alice", "download", "main"),
    S("reactivate", "admin", "reactivate", "main"),
    S("tag_add", "alice", "tag_add", "main", args={"tag": "two"}),
    S("tag_add_again", "alice", "tag_add", "main", args={"tag": "two"}),
    S("tag_remove", "alice", "tag_remove", "main", args={"tag": "one"}),
    S("tag_remove_missing", "alice", "tag_remove", "main", args={"tag": "never"}),
    S("show_tags", "alice", "show", "main"),
    S("show_missing", "alice", "show", args={"missing": MISSING}),
    S("update_missing", "alice", "update", args={"missing": MISSING, "set": {"a": "b"}}),
    S("delete_missing", "alice", "delete", args={"missing": MISSING}),
    S("list_filter_name", "alice", "list", args={"filters": {"name": "main-renamed"}}),
    S("list_bad_sort_key", "alice", "list", args={"sort_key": "bogus"}),
    S("protect", "alice", "update", "main", args={"set": {"protected": True}}),
    S("delete_protected", "alice", "delete", "main"),
    S("unprotect", "alice", "update", "main", args={"set": {"protected": False}}),
    # ------------------------------------------------------------------ visibility, members
    S("create_private", "alice", "create", ref="priv",
      args={"name": "priv", "disk_format": "raw", "container_format": "bare",
            "visibility": "private"}),
    S("create_shared", "alice", "create", ref="shared",
      args={"name": "shared", "disk_format": "raw", "container_format": "bare",
            "visibility": "shared"}),
    S("create_community", "alice", "create", ref="comm",
      args={"name": "comm", "disk_format": "raw", "container_format": "bare",
            "visibility": "community"}),
    S("create_public", "alice", "create", ref="pub",
      args={"name": "pub", "disk_format": "raw", "container_format": "bare",
            "visibility": "public"}),
    S("member_on_private", "alice", "member_create", "priv", args={"member": "p-bob"}),
    S("member_create", "alice", "member_create", "shared", args={"member": "p-bob"}),
    S("member_create_again", "alice", "member_create", "shared", args={"member": "p-bob"}),
    S("member_create_carol", "alice", "member_create", "shared", args={"member": "p-carol"}),
    S("member_list", "alice", "member_list", "shared"),
    S("member_show_by_member", "bob", "member_show", "shared", args={"member": "p-bob"}),
    S("member_show_other_by_member", "bob", "member_show", "shared",
      args={"member": "p-carol"}),
    S("list_default_bob_pending", "bob", "list"),
    S("list_shared_bob_pending", "bob", "list", args={"filters": {"visibility": "shared"}}),
    S("show_shared_by_pending_member", "bob", "show", "shared"),
    S("member_accept", "bob", "member_update", "shared",
      args={"member": "p-bob", "status": "accepted"}),
    S("member_update_by_owner", "alice", "member_update", "shared",
      args={"member": "p-bob", "status": "rejected"}),
    S("member_update_bad_status", "bob", "member_update", "shared",
      args={"member": "p-bob", "status": "maybe"}),
    S("member_reject_carol", "carol", "member_update", "shared",
      args={"member": "p-carol", "status": "rejected"}),
    S("list_default_alice", "alice", "list"),
    S("list_default_bob", "bob", "list"),
    S("list_default_carol", "carol", "list"),
    S("list_default_admin", "admin", "list"),
    S("list_community_carol", "carol", "list", args={"filters": {"visibility": "community"}}),
    S("list_shared_carol", "carol", "list", args={"filters": {"visibility": "shared"}}),
    S("list_private_admin", "admin", "list", args={"filters": {"visibility": "private"}}),
    S("show_community_by_other", "carol", "show", "comm"),
    S("show_private_by_other", "bob", "show", "priv"),
    S("show_private_by_admin", "admin", "show", "priv"),
    S("update_public_by_other", "bob", "update", "pub", args={"set": {"name": "mine"}}),
    S("update_community_by_other", "carol", "update", "comm", args={"set": {"name": "mine"}}),
    S("update_shared_by_member", "bob", "update", "shared", args={"set": {"name": "mine"}}),
    S("update_private_by_admin", "admin", "update", "priv", args={"set": {"note": "admin"}}),
    S("delete_shared_by_member", "bob", "delete", "shared"),
    S("member_delete", "alice", "member_delete", "shared", args={"member": "p-bob"}),
    S("member_show_deleted", "alice", "member_show", "shared", args={"member": "p-bob"}),
    S("member_list_after_delete", "alice", "member_list", "shared"),
    S("list_default_bob_after", "bob", "list"),
    # ------------------------------------------------------------------ import flow, tasks
    S("create_for_stage", "alice", "create", ref="staged",
      args={"name": "staged", "disk_format": "raw", "container_format": "bare"}),
    S("stage", "alice", "stage", "staged"),
    S("show_staged", "alice", "show", "staged"),
    S("import_glance_direct", "alice", "import", "staged", args={"method": "glance-direct"}),
    S("wait_glance_direct", "alice", "wait", "staged"),
    S("download_imported", "alice", "download", "staged"),
    S("import_glance_direct_again", "alice", "import", "staged",
      args={"method": "glance-direct"}),
    S("create_for_web", "alice", "create", ref="web",
      args={"name": "web", "disk_format": "raw", "container_format": "bare"}),
    S("import_web_download", "alice", "import", "web",
      args={"method": "web-download", "uri": "SOURCE"}),
    S("wait_web_download", "alice", "wait", "web"),
    S("download_web", "alice", "download", "web"),
    S("import_unknown_method", "alice", "import", "web", args={"method": "carrier-pigeon"}),
    S("copy_image_by_owner", "alice", "import", "staged",
      args={"method": "copy-image", "stores": ["cheap"]}),
    S("copy_image", "admin", "import", "staged",
      args={"method": "copy-image", "stores": ["cheap"]}),
    S("wait_copy_image", "admin", "wait", "staged"),
    S("image_tasks", "alice", "image_tasks", "staged", ref="TASK"),
    S("task_show_by_owner", "alice", "task_show", args={"task": "TASK"}),
    S("task_show", "admin", "task_show", args={"task": "TASK"}),
    S("create_via_import", "alice", "create_via_import", ref="vi",
      args={"name": "via-import", "disk_format": "raw", "container_format": "bare"}),
    S("wait_via_import", "alice", "wait", "vi"),
    # ------------------------------------------------------------------ deletion
    S("delete", "alice", "delete", "main"),
    S("show_deleted", "alice", "show", "main"),
    S("download_deleted", "alice", "download", "main"),
    S("delete_again", "alice", "delete", "main"),
)

STEP_NAMES: tuple[str, ...] = tuple(step.name for step in STEPS)
assert len(set(STEP_NAMES)) == len(STEP_NAMES), "step names must be unique"
