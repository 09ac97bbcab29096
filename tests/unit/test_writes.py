"""Create bodies, v1 update headers and the minimal v2 JSON patch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imgcompat import Image, to_v1_headers, to_v2, v1_update_headers, v2_patch
from imgcompat.core.writes import image_to_v2_create

ID = "985df77b-9844-478d-943c-c2e15fe354f3"
T = datetime(2016, 6, 21, 3, 22, 20, 123456, tzinfo=UTC)
BASE = Image(id=ID, name="cirros", status="active", size=5, checksum="c",
             disk_format="raw", container_format="bare", created_at=T, updated_at=T,
             properties={"os_distro": "cirros", "hw_disk_bus": "virtio"})


def _fields(translated: object) -> list[str]:
    return [loss.field for loss in translated.losses]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- v2 create body


def test_v2_create_body_has_every_writable_field_and_nothing_read_only() -> None:
    body = to_v2(BASE.with_visibility("community"))
    assert body.value == {
        "id": ID,
        "name": "cirros",
        "visibility": "community",
        "protected": False,
        "os_hidden": False,
        "disk_format": "raw",
        "container_format": "bare",
        "min_disk": 0,
        "min_ram": 0,
        "tags": [],
        "os_distro": "cirros",
        "hw_disk_bus": "virtio",
    }
    # read-only fields are not sent, so their precision is no loss of a create
    assert body.lossless


def test_v2_create_body_owner_and_nulls() -> None:
    body = to_v2(Image(owner="tenant")).value
    assert body["owner"] == "tenant"
    assert body["name"] is None
    assert body["disk_format"] is None
    assert "owner" not in to_v2(Image()).value
    assert "id" not in to_v2(Image()).value


def test_v2_create_tags_are_a_sorted_set() -> None:
    body = to_v2(Image(tags=("b", "a", "b")))
    assert body.value["tags"] == ["a", "b"]
    assert _fields(body) == ["tags"]


def test_v2_create_for_an_older_minor() -> None:
    body = image_to_v2_create(Image(os_hidden=True), minor=6)
    assert "os_hidden" not in body.value
    assert _fields(body) == ["os_hidden"]


def test_v2_create_structured_and_non_string_properties() -> None:
    body = to_v2(Image(properties={"block_device_mapping": [{"boot_index": 0}], "n": 5,
                                   "kernel_id": "none", "location": "file:///x"}))
    assert body.value["block_device_mapping"] == '[{"boot_index":0}]'
    assert body.value["n"] == "5"
    assert "kernel_id" not in body.value
    assert "location" not in body.value
    assert _fields(body) == ["properties.n", "properties.kernel_id", "properties.location"]


# ---------------------------------------------------------------------- v1 create headers


def test_v1_create_headers() -> None:
    sent = to_v1_headers(BASE.with_visibility("shared").with_properties(tags=None))
    assert dict(sent.value) == {
        "x-image-meta-id": ID,
        "x-image-meta-name": "cirros",
        "x-image-meta-is_public": "False",
        "x-image-meta-protected": "False",
        "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare",
        "x-image-meta-min_ram": "0",
        "x-image-meta-min_disk": "0",
        "x-image-meta-property-os_distro": "cirros",
        "x-image-meta-property-hw_disk_bus": "virtio",
    }
    assert _fields(sent) == ["visibility"]


def test_v1_create_headers_report_tags_and_header_losses() -> None:
    sent = to_v1_headers(Image(tags=("a",), os_hidden=True, properties={"os-distro": "x"}))
    assert _fields(sent) == ["os_hidden", "tags", "properties.os-distro"]


# --------------------------------------------------------------------- v1 update headers


def test_v1_update_rename_keeps_properties_without_purge() -> None:
    plan = v1_update_headers(BASE, BASE.with_properties(), purge_props=False)
    assert plan.value == (("x-glance-registry-purge-props", "false"),)
    plan = v1_update_headers(BASE, _renamed(BASE), purge_props=False)
    assert plan.value == (("x-image-meta-name", "debian"),
                          ("x-glance-registry-purge-props", "false"))


def _renamed(image: Image) -> Image:
    import attrs

    return attrs.evolve(image, name="debian")


def test_v1_update_with_purge_sends_the_whole_property_set() -> None:
    wanted = BASE.with_properties(hw_disk_bus=None, os_version="16.04")
    plan = v1_update_headers(BASE, wanted, purge_props=True)
    assert dict(plan.value) == {
        "x-image-meta-property-os_distro": "cirros",
        "x-image-meta-property-os_version": "16.04",
        "x-glance-registry-purge-props": "true",
    }
    assert plan.lossless


def test_v1_update_only_changes_and_only_writable() -> None:
    wanted = Image(id=ID, name="cirros", status="killed", size=9, checksum="x",
                   disk_format="qcow2", container_format="bare", min_ram=512, protected=True,
                   created_at=datetime(2020, 1, 1, tzinfo=UTC),
                   properties=dict(BASE.properties)).with_visibility("public")
    plan = v1_update_headers(BASE, wanted, purge_props=False)
    assert dict(plan.value) == {
        "x-image-meta-is_public": "True",
        "x-image-meta-protected": "True",
        "x-image-meta-disk_format": "qcow2",
        "x-image-meta-min_ram": "512",
        "x-glance-registry-purge-props": "false",
    }


def test_v1_update_cannot_clear_and_says_so() -> None:
    import attrs

    plan = v1_update_headers(BASE, attrs.evolve(BASE, name=None, disk_format=None))
    assert _fields(plan) == ["name", "disk_format"]


def test_v1_update_reports_what_v1_cannot_say() -> None:
    wanted = BASE.with_visibility("community").with_properties(**{"os-distro": "x"})
    plan = v1_update_headers(BASE, wanted)
    # os-distro lands as os_distro on the server, where BASE already has an os_distro.
    assert _fields(plan) == ["visibility", "properties.os_distro", "properties.os-distro",
                             "properties.os-distro"]
    alone = BASE.with_visibility("community").with_properties(os_distro=None,
                                                              **{"os-distro": "x"})
    assert _fields(v1_update_headers(BASE, alone)) == ["visibility", "properties.os-distro"]


def test_v1_update_values_are_encoded() -> None:
    plan = v1_update_headers(BASE, BASE.with_properties(note="héllo\r\n"), purge_props=False)
    assert ("x-image-meta-property-note", "h%C3%A9llo%0D%0A") in plan.value
    assert _fields(plan) == ["properties.note"]


# ------------------------------------------------------------------------- v2 patch


def test_v2_patch_equal_records_need_nothing() -> None:
    assert v2_patch(BASE, BASE).value == ()
    assert v2_patch(BASE, BASE).lossless


def test_v2_patch_add_replace_remove() -> None:
    import attrs

    wanted = attrs.evolve(BASE, name="debian", min_ram=512, protected=True, tags=("b", "a"),
                          properties={"os_distro": "debian", "os_version": "12"})
    plan = v2_patch(BASE, wanted.with_visibility("public"))
    assert plan.value == (
        {"op": "replace", "path": "/name", "value": "debian"},
        {"op": "replace", "path": "/visibility", "value": "public"},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "replace", "path": "/tags", "value": ["a", "b"]},
        {"op": "replace", "path": "/os_distro", "value": "debian"},
        {"op": "add", "path": "/os_version", "value": "12"},
        {"op": "remove", "path": "/hw_disk_bus"},
    )
    assert plan.lossless


def test_v2_patch_without_purge_keeps_other_properties() -> None:
    wanted = BASE.with_properties(hw_disk_bus=None, os_version="12")
    assert v2_patch(BASE, wanted, purge_props=False).value == (
        {"op": "add", "path": "/os_version", "value": "12"},)


def test_v2_patch_never_touches_read_only_fields() -> None:
    import attrs

    wanted = attrs.evolve(BASE, status="deactivated", size=9, checksum="x", created_at=None,
                          updated_at=None, deleted=True, virtual_size=1, direct_url="u")
    assert v2_patch(BASE, wanted).value == ()


def test_v2_patch_tag_order_is_not_a_change() -> None:
    import attrs

    a = attrs.evolve(BASE, tags=("a", "b"))
    assert v2_patch(a, attrs.evolve(BASE, tags=("b", "a", "a"))).value == ()


def test_v2_patch_owner() -> None:
    import attrs

    with_owner = attrs.evolve(BASE, owner="t1")
    assert v2_patch(BASE, with_owner).value == ({"op": "add", "path": "/owner", "value": "t1"},)
    cleared = v2_patch(with_owner, BASE)
    assert cleared.value == ()
    assert _fields(cleared) == ["owner"]


def test_v2_patch_values_are_strings_and_paths_escaped() -> None:
    wanted = BASE.with_properties(**{"a/b": 1, "c~d": [1]})
    ops = v2_patch(BASE, wanted).value
    assert {"op": "add", "path": "/a~1b", "value": "1"} in ops
    assert {"op": "add", "path": "/c~0d", "value": "[1]"} in ops


def test_v2_patch_removes_a_stored_none_kernel_id() -> None:
    current = BASE.with_properties(kernel_id="none")
    assert v2_patch(current, BASE).value == ({"op": "remove", "path": "/kernel_id"},)
    assert v2_patch(current, current).value == ({"op": "remove", "path": "/kernel_id"},)


def test_v2_patch_leaves_reserved_properties_alone() -> None:
    current = BASE.with_properties(os_glance_import_task="t")
    assert v2_patch(current, BASE).value == ()
    wanted = BASE.with_properties(location="file:///x")
    plan = v2_patch(BASE, wanted)
    assert plan.value == ()
    assert _fields(plan) == ["properties.location"]


def test_v2_patch_id_cannot_change() -> None:
    import attrs

    plan = v2_patch(BASE, attrs.evolve(BASE, id="other"))
    assert plan.value == ()
    assert _fields(plan) == ["id"]


def test_v2_patch_structured_property() -> None:
    wanted = BASE.with_properties(block_device_mapping=[{"boot_index": 0}])
    assert v2_patch(BASE, wanted).value == (
        {"op": "add", "path": "/block_device_mapping", "value": '[{"boot_index":0}]'},)
    assert v2_patch(wanted, wanted).value == ()


@pytest.mark.parametrize("minor", [6, 7])
def test_v2_patch_minor(minor: int) -> None:
    import attrs

    plan = v2_patch(BASE, attrs.evolve(BASE, os_hidden=True), minor=minor)
    if minor >= 7:
        assert plan.value == ({"op": "replace", "path": "/os_hidden", "value": True},)
    else:
        assert plan.value == ()
        assert _fields(plan) == ["os_hidden"]
