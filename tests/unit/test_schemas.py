"""The JSON Schemas in schemas/ and imgcompat.core.schema.validate.

The fixtures are documents nobody here wrote: recordings of a real Glance v2 server
(samples/glance-v2-real) and the samples of the Glance API reference (samples/glance-api-ref).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from imgcompat.core import schema
from imgcompat.core.errors import InvalidRecord

# Parametrisation happens at collection time, before fixtures exist: the same location as
# the conftest's samples_dir fixture (this file is tests/unit/test_schemas.py).
_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
_REAL = _SAMPLES / "glance-v2-real"
_REF = _SAMPLES / "glance-api-ref"

_ELISION = {"...": "..."}


def _recording(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _real_bodies(kind: str) -> list[str]:
    """File names of real recordings whose 2xx body is an image ("image") or a list ("list")."""
    names = []
    for path in sorted(_REAL.glob("*.json")):
        rec = _recording(path)
        body = rec.get("body")
        if not isinstance(body, dict) or not 200 <= rec["status"] < 300:
            continue
        is_list = "images" in body
        if (kind == "list" and is_list) or (kind == "image" and "id" in body and not is_list):
            names.append(path.name)
    return names


REAL_IMAGE_FILES = _real_bodies("image")
REAL_LIST_FILES = _real_bodies("list")


def _real_body(samples_dir: Path, name: str) -> Any:
    return _recording(samples_dir / "glance-v2-real" / name)["body"]


def _ref(samples_dir: Path, name: str) -> Any:
    return json.loads((samples_dir / "glance-api-ref" / name).read_text(encoding="utf-8"))


def _without_elisions(doc: Any) -> Any:
    """The v1 API-ref list samples end with a {"...": "..."} placeholder: drop it."""
    if isinstance(doc, dict) and isinstance(doc.get("images"), list):
        return {**doc, "images": [i for i in doc["images"] if i != _ELISION]}
    return doc


def _rejects(name: str, document: object) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as info:
        schema.validate(name, document)
    return info.value


@pytest.fixture
def image(samples_dir: Path) -> dict[str, Any]:
    """A real active image as Glance 33.0.0 served it (with custom properties)."""
    body: dict[str, Any] = _real_body(samples_dir, "image-show-active.json")
    return body


@pytest.fixture
def seam_record() -> dict[str, Any]:
    return {
        "id": "985df77b-9844-478d-943c-c2e15fe354f3",
        "name": "snap-1",
        "status": "active",
        "is_public": False,
        "visibility": "private",
        "protected": False,
        "os_hidden": False,
        "deleted": False,
        "deleted_at": None,
        "created_at": "2026-11-24T17:07:57+00:00",
        "updated_at": "2026-11-24T17:07:58+00:00",
        "size": 1048576,
        "virtual_size": None,
        "checksum": "63df5ede94b25c8df8125551ac0f62d5",
        "os_hash_algo": "sha512",
        "os_hash_value": "7506fc7f",
        "disk_format": "raw",
        "container_format": "bare",
        "min_disk": 0,
        "min_ram": 0,
        "owner": None,
        "direct_url": None,
        "locations": [{"url": "file:///var/lib/glance/images/x", "metadata": {}}],
        "tags": ["a"],
        "properties": {"image_type": "snapshot", "block_device_mapping": [{"boot_index": 0}]},
    }


V1_HEADERS: dict[str, str] = {
    "x-image-meta-id": "1086fa65-8c63-4081-9a0a-ddf7e88e485b",
    "x-image-meta-name": "Ubuntu%2016.04",
    "x-image-meta-status": "active",
    "x-image-meta-is_public": "True",
    "x-image-meta-protected": "false",
    "x-image-meta-deleted": "FALSE",
    "x-image-meta-size": "25165824",
    "x-image-meta-virtual_size": "None",
    "x-image-meta-checksum": "eb9139e4942121f22bbc2afc0400b2a4",
    "x-image-meta-min_ram": "0",
    "x-image-meta-min_disk": "22",
    "x-image-meta-disk_format": "vmdk",
    "x-image-meta-container_format": "bare",
    "x-image-meta-owner": "c60b1d57c5034e0d86902aedf8c49be0",
    "x-image-meta-created_at": "2016-03-15T15:09:07.000000",
    "x-image-meta-updated_at": "2016-05-10T21:14:04",
    "x-image-meta-property-os_distro": "ubuntu",
    "x-image-meta-property-empty": "",
    "etag": "eb9139e4942121f22bbc2afc0400b2a4",
    "content-type": "application/octet-stream",
    "x-openstack-request-id": "req-1",
}


# ------------------------------------------------------------------ the schema files


def test_samples_are_there(samples_dir: Path) -> None:
    assert samples_dir == _SAMPLES
    # Collection found the real recordings (an empty parameter list would pass silently).
    assert {"image-create.json", "image-show-active.json", "image-patch.json"} <= set(
        REAL_IMAGE_FILES
    )
    assert len(REAL_LIST_FILES) >= 5


def test_every_schema_file_is_named() -> None:
    files = {p.stem for p in schema.schema_dir().glob("*.json")}
    assert files == set(schema.SCHEMA_NAMES)


@pytest.mark.parametrize("name", schema.SCHEMA_NAMES)
def test_schema_file_is_valid_draft_2020_12(name: str) -> None:
    doc = schema.load_schema(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith(f"/{name}.json")
    assert doc["title"]
    assert doc["description"]


def test_load_schema_returns_a_private_copy() -> None:
    first = schema.load_schema("v2-image")
    first["properties"].clear()
    assert schema.load_schema("v2-image")["properties"]


def test_unknown_schema_name() -> None:
    with pytest.raises(ValueError, match="unknown schema"):
        schema.validate("v3-image", {})


# ------------------------------------------------------------ real Glance v2 answers


@pytest.mark.parametrize("name", REAL_IMAGE_FILES)
def test_real_image_bodies_validate(samples_dir: Path, name: str) -> None:
    schema.validate("v2-image", _real_body(samples_dir, name))


@pytest.mark.parametrize("name", REAL_LIST_FILES)
def test_real_list_bodies_validate(samples_dir: Path, name: str) -> None:
    body = _real_body(samples_dir, name)
    schema.validate("v2-images", body)
    for item in body["images"]:
        schema.validate("v2-image", item)


def test_real_versions_document_validates(samples_dir: Path) -> None:
    schema.validate("versions", _real_body(samples_dir, "versions.json"))


@pytest.mark.parametrize(
    "name", ["versions/image-versions-response.json",
             "versions/queens/image-versions-response.json"]
)
def test_api_ref_versions_documents_validate(samples_dir: Path, name: str) -> None:
    schema.validate("versions", _ref(samples_dir, name))


def test_real_server_schema_agrees_with_ours(samples_dir: Path) -> None:
    real = _real_body(samples_dir, "schema-image.json")
    ours = schema.load_schema("v2-image")
    real_props: dict[str, Any] = real["properties"]
    our_props: dict[str, Any] = ours["properties"]
    assert set(real_props) <= set(our_props)
    for key, prop in real_props.items():
        assert _types(our_props[key]) == _types(prop), key
    assert ours["additionalProperties"]["type"] == real["additionalProperties"]["type"]


def test_real_server_enums_are_listed_and_accepted(samples_dir: Path) -> None:
    real = _real_body(samples_dir, "schema-image.json")["properties"]
    ours = schema.load_schema("v2-image")["properties"]
    for key in ("status", "visibility", "disk_format", "container_format"):
        assert "enum" not in ours[key], f"{key} must stay open"
        assert set(real[key]["enum"]) <= set(ours[key]["examples"]), key
        for value in real[key]["enum"]:
            schema.validate("v2-image", {"id": "985df77b-9844-478d-943c-c2e15fe354f3",
                                         key: value})


def test_upstream_base_properties_are_declared(samples_dir: Path) -> None:
    derived = _ref(samples_dir, "derived/schema-image.v2-head.derived.json")
    ours = schema.load_schema("v2-image")["properties"]
    for key, prop in derived["properties"].items():
        if prop.get("is_base") is False and key not in ("kernel_id", "ramdisk_id"):
            continue  # custom properties from etc/schema-image.json: plain strings
        assert _types(ours[key]) == _types(prop), key


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type")
    return {kind} if isinstance(kind, str) else set(kind or ())


# ------------------------------------------------------------------ API-ref samples


@pytest.mark.parametrize(
    "name",
    ["v2/image-show-response.json", "v2/image-update-response.json",
     "v2/image-create-response.json", "v2/image-details-deactivate-response.json"],
)
def test_api_ref_v2_images_validate(samples_dir: Path, name: str) -> None:
    schema.validate("v2-image", _ref(samples_dir, name))


def test_api_ref_v2_list_validates(samples_dir: Path) -> None:
    schema.validate("v2-images", _ref(samples_dir, "v2/images-list-response.json"))


def test_api_ref_v2_create_request_validates(samples_dir: Path) -> None:
    schema.validate("v2-image-create", _ref(samples_dir, "v2/image-create-request.json"))


V1_DOCUMENTS = [
    "v1/image-update-response.json",
    "v1/images-create-reserve-response.json",
    "v1/images-create-with-data-response.json",
    "v1/images-list-details-response.json",
    "v1/images-list-response.json",
]


@pytest.mark.parametrize("name", V1_DOCUMENTS)
def test_api_ref_v1_documents_validate(samples_dir: Path, name: str) -> None:
    doc = _without_elisions(_ref(samples_dir, name))
    schema.validate("v1-image-document", doc)
    images = doc["images"] if "images" in doc else [doc["image"]]
    assert images
    for item in images:
        schema.validate("v1-image", item)


def test_v1_summary_entries_validate(samples_dir: Path) -> None:
    doc = _without_elisions(_ref(samples_dir, "v1/images-list-response.json"))
    assert set(doc["images"][0]) == {"id", "name", "disk_format", "container_format",
                                     "checksum", "size"}
    schema.validate("v1-image", doc["images"][0])


def test_v1_elision_placeholder_is_rejected(samples_dir: Path) -> None:
    doc = _ref(samples_dir, "v1/images-list-details-response.json")
    field = _rejects("v1-image-document", doc).field
    assert field in ("images/1/...", "images/1/id")


# ------------------------------------------------------------------- v2 rejections


def test_v2_size_as_string(image: dict[str, Any]) -> None:
    err = _rejects("v2-image", {**image, "size": "12"})
    assert err.field == "size"
    assert "must be an integer or null" in str(err)
    assert "'12'" in str(err)


def test_v2_custom_property_must_be_string(image: dict[str, Any]) -> None:
    err = _rejects("v2-image", {**image, "hw_cpu_cores": 4})
    assert err.field == "hw_cpu_cores"
    assert "must be a string" in str(err)


def test_v2_status_must_be_string(image: dict[str, Any]) -> None:
    err = _rejects("v2-image", {**image, "status": 7})
    assert err.field == "status"
    assert "must be a string" in str(err)


def test_v2_enums_are_open_but_shaped(image: dict[str, Any]) -> None:
    schema.validate("v2-image", {**image, "status": "uploading_v3", "disk_format": "qcow3"})
    assert _rejects("v2-image", {**image, "status": "Active"}).field == "status"
    # A trailing newline must not slip through Python's "$" (matches before a final \n).
    assert _rejects("v2-image", {**image, "visibility": "public\n"}).field == "visibility"
    assert _rejects("v2-image", {**image, "disk_format": ""}).field == "disk_format"


@pytest.mark.parametrize(
    "value", ["2026-11-24T17:07:57", "2026-02-30T00:00:00Z", "yesterday", "2026-11-24"]
)
def test_v2_timestamps_are_rfc3339(image: dict[str, Any], value: str) -> None:
    err = _rejects("v2-image", {**image, "updated_at": value})
    assert err.field == "updated_at"
    assert "date-time" in str(err)


def test_v2_nullability_follows_the_server(image: dict[str, Any]) -> None:
    schema.validate("v2-image", {**image, "name": None, "owner": None, "disk_format": None,
                                 "kernel_id": None})
    assert _rejects("v2-image", {**image, "min_ram": None}).field == "min_ram"
    assert _rejects("v2-image", {**image, "protected": None}).field == "protected"
    assert _rejects("v2-image", {**image, "direct_url": None}).field == "direct_url"


def test_v2_id_is_required_and_uuid(image: dict[str, Any]) -> None:
    without = {k: v for k, v in image.items() if k != "id"}
    err = _rejects("v2-image", without)
    assert err.field == "id"
    assert "is required" in str(err)
    assert _rejects("v2-image", {**image, "id": "not-a-uuid"}).field == "id"


def test_v2_list_error_names_the_item(samples_dir: Path) -> None:
    body = _real_body(samples_dir, "images-list-sort.json")
    body["images"][1]["size"] = "12"
    assert _rejects("v2-images", body).field == "images/1/size"
    assert _rejects("v2-images", {"first": "/v2/images"}).field == "images"


def test_v2_locations(image: dict[str, Any]) -> None:
    good = [{"url": "file:///a", "metadata": {"store": "fs"}}]
    schema.validate("v2-image", {**image, "locations": good})
    assert _rejects("v2-image", {**image, "locations": [{"url": "x"}]}).field == (
        "locations/0/metadata"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("status", "active"), ("size", 1), ("checksum", "x"), ("created_at", "x"),
     ("self", "/v2/images/x"), ("stores", "fs"), ("locations", []), ("deleted", "False"),
     ("location", "file:///x"), ("os_glance_import_task", "x")],
)
def test_v2_create_refuses_server_owned_keys(key: str, value: object) -> None:
    err = _rejects("v2-image-create", {"name": "x", key: value})
    assert err.field == key
    assert "read-only" in str(err) or "reserved" in str(err)


def test_v2_create_accepts_writable_keys() -> None:
    schema.validate("v2-image-create", {
        "id": "b2173dd3-7ad6-4362-baa6-a68bce3565cb", "name": None, "visibility": "shared",
        "protected": True, "os_hidden": False, "disk_format": "raw", "container_format": "bare",
        "min_ram": 512, "min_disk": 1, "tags": ["a"], "os_distro": "cirros",
    })
    assert _rejects("v2-image-create", {"name": "x", "hw": 1}).field == "hw"
    assert _rejects("v2-image-create", {"x" * 256: "y"}).field == "x" * 59 + "…"


# -------------------------------------------------------------------------- v1


def test_v1_headers_accepted() -> None:
    schema.validate("v1-headers", V1_HEADERS)
    schema.validate("v1-headers", {
        "x-image-meta-is-public": "yes", "x-image-meta-disk-format": "qcow2",
        "x-image-meta-min-ram": "0", "x-glance-registry-purge-props": "false",
        "x-glance-api-copy-from": "http://example.com/a.img", "x-image-meta-location":
        "swift://a/b", "x-image-meta-deleted_at": "2016-05-10 21:14:04Z",
    })


@pytest.mark.parametrize(
    "value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b", "trailing\n"]
)
def test_v1_header_value_with_cr_lf_nul(value: str) -> None:
    for name in ("x-image-meta-name", "x-image-meta-property-note", "content-type"):
        err = _rejects("v1-headers", {**V1_HEADERS, name: value})
        assert err.field == name
        assert "CR, LF or NUL" in str(err)
        assert "\r" not in str(err)
        assert "\n" not in str(err)
        assert "\x00" not in str(err)


@pytest.mark.parametrize("value", ["-1", "1.5", "", "12\n", " 1", "None"])
def test_v1_size_must_be_a_non_negative_integer(value: str) -> None:
    err = _rejects("v1-headers", {"x-image-meta-size": value})
    assert err.field == "x-image-meta-size"
    assert "non-negative integer" in str(err)
    assert "\n" not in str(err)


def test_v1_virtual_size_may_be_none() -> None:
    schema.validate("v1-headers", {"x-image-meta-virtual_size": "None"})
    assert _rejects("v1-headers", {"x-image-meta-virtual_size": "null"}).field == (
        "x-image-meta-virtual_size"
    )


@pytest.mark.parametrize("value", ["True", "false", "1", "0", "YES", "no", "On", "off", "t"])
def test_v1_booleans_any_case(value: str) -> None:
    schema.validate("v1-headers", {"x-image-meta-protected": value})


@pytest.mark.parametrize("value", ["maybe", "", "truthy", "2"])
def test_v1_booleans_rejected(value: str) -> None:
    assert _rejects("v1-headers", {"x-image-meta-is_public": value}).field == (
        "x-image-meta-is_public"
    )


@pytest.mark.parametrize("name", ["x-image-meta-bogus", "x-image-meta-property-",
                                  "x-image-meta-propertyfoo"])
def test_v1_unknown_meta_header(name: str) -> None:
    err = _rejects("v1-headers", {**V1_HEADERS, name: "x"})
    assert err.field == name
    assert "not a v1 image header" in str(err)


@pytest.mark.parametrize("name", ["X-Image-Meta-Size", "Content-Type", "bad name", "a\r\nb"])
def test_v1_header_names_must_be_lower_case_tokens(name: str) -> None:
    err = _rejects("v1-headers", {name: "1"})
    assert err.field is not None
    assert "lower-case HTTP header name" in str(err)
    assert "\n" not in str(err)


def test_v1_timestamps() -> None:
    err = _rejects("v1-headers", {"x-image-meta-created_at": "last tuesday"})
    assert err.field == "x-image-meta-created_at"


def test_v1_json_rejections() -> None:
    good = {"id": "x", "properties": {"a": "b", "n": None}}
    schema.validate("v1-image", good)
    assert _rejects("v1-image", {**good, "properties": {"a": 1}}).field == "properties/a"
    assert _rejects("v1-image", {**good, "tags": []}).field == "tags"
    assert _rejects("v1-image", {**good, "deleted_at": "never"}).field == "deleted_at"
    assert _rejects("v1-image", {**good, "size": -1}).field == "size"
    assert _rejects("v1-image-document", {"image": {"name": "x"}}).field == "image/id"
    assert _rejects("v1-image-document", {"images": [good], "next": "x"}).field == "next"
    assert _rejects("v1-image-document", {}).field is None
    assert _rejects("v1-image-document", {"image": good, "images": []}).field is None


# ------------------------------------------------------------------------ seam


def test_seam_record_validates(seam_record: dict[str, Any]) -> None:
    schema.validate("seam-image", seam_record)
    fresh = {**seam_record, "id": None, "name": None, "created_at": None,
             "updated_at": None, "status": "queued"}
    schema.validate("seam-image", fresh)


def test_seam_keys_are_exactly_the_contract(seam_record: dict[str, Any]) -> None:
    doc = schema.load_schema("seam-image")
    assert set(doc["required"]) == set(doc["properties"]) == set(seam_record)


def test_seam_record_with_an_extra_key(seam_record: dict[str, Any]) -> None:
    err = _rejects("seam-image", {**seam_record, "self": "/v2/images/x"})
    assert err.field == "self"
    assert "not allowed" in str(err)


def test_seam_record_missing_a_key(seam_record: dict[str, Any]) -> None:
    without = {k: v for k, v in seam_record.items() if k != "tags"}
    assert _rejects("seam-image", without).field == "tags"


def test_seam_invariants(seam_record: dict[str, Any]) -> None:
    err = _rejects("seam-image", {**seam_record, "visibility": "public"})
    assert err.field == "is_public"
    assert _rejects("seam-image", {**seam_record, "is_public": True}).field == "is_public"
    schema.validate("seam-image", {**seam_record, "visibility": "public", "is_public": True})
    err = _rejects("seam-image", {**seam_record, "deleted_at": "2026-11-24T17:07:57Z"})
    assert err.field == "deleted_at"
    schema.validate("seam-image", {**seam_record, "deleted": True, "status": "deleted",
                                   "deleted_at": "2026-11-24T17:07:57Z"})
    assert _rejects("seam-image", {**seam_record, "created_at": "2026-11-24T17:07:57"}).field \
        == "created_at"
    assert _rejects("seam-image", {**seam_record, "size": None}).field == "size"
    assert _rejects("seam-image", {**seam_record, "tags": "a"}).field == "tags"
    err = _rejects("seam-image", {**seam_record, "properties": {"stores": "fs"}})
    assert err.field == "properties/stores"


# -------------------------------------------------------------------- versions


def test_versions_without_versions() -> None:
    err = _rejects("versions", {"links": []})
    assert err.field == "versions"
    assert "is required" in str(err)


def test_versions_entries() -> None:
    link = [{"rel": "self", "href": "https://cloud/image/v2/"}]
    schema.validate("versions", {"versions": [
        {"id": "v2.18", "status": "CURRENT", "links": link},
        {"id": "v1.0", "status": "DEPRECATED", "links": link},
        {"id": "v2.99", "status": "SOMETHING_NEW", "links": link},
    ]})
    bad = {"versions": [{"id": "2.1", "status": "CURRENT", "links": link}]}
    assert _rejects("versions", bad).field == "versions/0/id"
    bad = {"versions": [{"id": "v2.1", "status": "current", "links": link}]}
    assert _rejects("versions", bad).field == "versions/0/status"
    bad = {"versions": [{"id": "v2.1", "status": "CURRENT", "links": [{"rel": "self"}]}]}
    assert _rejects("versions", bad).field == "versions/0/links/0/href"


# ------------------------------------------------------------------ messages


def test_message_shows_a_truncated_repr(image: dict[str, Any]) -> None:
    err = _rejects("v2-image", {**image, "min_ram": "x" * 500 + "\r\n"})
    text = str(err)
    assert len(text) < 150
    assert "…" in text
    assert "\r" not in text
    assert "\n" not in text


def test_root_errors_have_no_field() -> None:
    err = _rejects("v2-image", [])
    assert err.field is None
    assert "must be an object" in str(err)


# ------------------------------------------------- the validators' $ref inlining


def _corpus(samples_dir: Path) -> list[tuple[str, Any]]:
    image: dict[str, Any] = _real_body(samples_dir, "image-show-active.json")
    listing = _real_body(samples_dir, "images-list-sort.json")
    v1_doc = _ref(samples_dir, "v1/image-update-response.json")
    return [
        ("v2-image", image),
        ("v2-image", {**image, "size": "12"}),
        ("v2-image", {**image, "status": 7}),
        ("v2-image", {**image, "locations": [{"url": 1, "metadata": {}}]}),
        ("v2-images", listing),
        ("v2-images", {**listing, "images": [{**image, "os_hidden": "no"}]}),
        ("v2-image-create", {"name": "x", "visibility": "Public"}),
        ("v2-image-create", {"name": "x", "min_ram": -1, "tags": [1]}),
        ("v1-headers", V1_HEADERS),
        ("v1-headers", {**V1_HEADERS, "x-image-meta-min-disk": "x"}),
        ("v1-headers", {**V1_HEADERS, "x-image-meta-name": "a\nb"}),
        ("v1-image-document", v1_doc),
        ("v1-image-document", {"image": {**v1_doc["image"], "status": "Active"}}),
        ("v1-image-document", {"image": {**v1_doc["image"], "created_at": "x"}}),
        ("versions", {"versions": [{"id": "v2.1", "status": "x", "links": []}]}),
    ]


def test_inlined_validators_agree_with_plain_ones(samples_dir: Path) -> None:
    checked = 0
    for name, doc in _corpus(samples_dir):
        plain = schema._Validator(
            schema._raw(name), registry=schema._registry(), format_checker=schema._FORMATS
        )
        expected = best_match(plain.iter_errors(doc))
        actual = best_match(schema._validator(name).iter_errors(doc))
        assert (expected is None) == (actual is None), (name, doc)
        if expected is not None and actual is not None:
            assert list(expected.absolute_path) == list(actual.absolute_path), name
            assert expected.validator == actual.validator, name
            checked += 1
    assert checked >= 10


def test_inlining_where_exact() -> None:
    props = schema._validator("v1-headers").schema["properties"]
    # A pure reference (plus annotations) is replaced by its target...
    assert "$ref" not in props["x-image-meta-size"]
    assert "$ref" not in props["x-image-meta-disk-format"]
    assert props["x-image-meta-disk-format"]["pattern"] == "^[a-z0-9_]+$"
    # ...but not where the target's x-message would then describe the referrer's maxLength.
    assert props["x-image-meta-name"]["$ref"] == "#/$defs/value"
