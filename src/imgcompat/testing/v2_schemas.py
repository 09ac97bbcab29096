"""The JSON Schemas a Glance 33 publishes under ``/v2/schemas``, and checks bodies with.

Glance defines them in code (``glance/api/v2/images.py``, ``image_members.py``,
``tasks.py``) and both serves them and validates request bodies against them with
``jsonschema.validate``: the definitions below are those, so the published documents and
the ``400`` messages ("Provided object does not match schema 'image': ...") are the real
server's. They are deliberately looser than imgcompat's own entity schema (no
``minimum``, no ``format``): a client that validates with them lets ``min_ram: -1``
through to the server's own 400.

A server of an older minor does not know the keys added later (``os_hidden``,
``os_hash_*`` before 2.7): they are left out of its image schema, so writing them there
makes a custom property (which must be a string).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import jsonschema

from imgcompat.core.enums import ContainerFormat, DiskFormat

from .http_errors import HttpError
from .render import v2_base_keys

_UUID = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
         "-([0-9a-fA-F]){12}$")
_READ_ONLY_STRING = {"readOnly": True, "type": "string"}

#: glance.api.v2.images.get_base_properties(), in its order.
IMAGE_PROPERTIES: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "description": "An identifier for the image",
           "pattern": _UUID},
    "name": {"type": ["null", "string"], "description": "Descriptive name for the image",
             "maxLength": 255},
    "status": {"type": "string", "readOnly": True, "description": "Status of the image",
               "enum": ["queued", "saving", "active", "killed", "deleted", "uploading",
                        "importing", "pending_delete", "deactivated"]},
    "visibility": {"type": "string", "description": "Scope of image accessibility",
                   "enum": ["community", "public", "private", "shared"]},
    "protected": {"type": "boolean",
                  "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean",
                  "description": "If true, image will not appear in default image list "
                                 "response."},
    "checksum": {"type": ["null", "string"], "readOnly": True,
                 "description": "md5 hash of image contents.", "maxLength": 32},
    "os_hash_algo": {"type": ["null", "string"], "readOnly": True,
                     "description": "Algorithm to calculate the os_hash_value",
                     "maxLength": 64},
    "os_hash_value": {"type": ["null", "string"], "readOnly": True,
                      "description": "Hexdigest of the image contents using the algorithm "
                                     "specified by the os_hash_algo",
                      "maxLength": 128},
    "owner": {"type": ["null", "string"], "description": "Owner of the image",
              "maxLength": 255},
    "size": {"type": ["null", "integer"], "readOnly": True,
             "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                     "description": "Virtual size of image in bytes"},
    "container_format": {"type": ["null", "string"], "description": "Format of the container",
                         "enum": [None, *(c.value for c in ContainerFormat)]},
    "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
                    "enum": [None, *(d.value for d in DiskFormat)]},
    "created_at": {"type": "string", "readOnly": True,
                   "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "readOnly": True,
                   "description": "Date and time of the last image modification"},
    "tags": {"type": "array", "description": "List of strings related to the image",
             "items": {"type": "string", "maxLength": 255}},
    "direct_url": {"type": "string", "readOnly": True,
                   "description": "URL to access the image file kept in external store"},
    "min_ram": {"type": "integer",
                "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer",
                 "description": "Amount of disk space (in GB) required to boot image."},
    "self": {"type": "string", "readOnly": True, "description": "An image self url"},
    "file": {"type": "string", "readOnly": True, "description": "An image file url"},
    "stores": {"type": "string", "readOnly": True,
               "description": "Store in which image data resides.  Only present when the "
                              "operator has enabled multiple stores.  May be a "
                              "comma-separated list of store identifiers."},
    "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
    "locations": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
                "validation_data": {
                    "description": "Values to be used to populate the corresponding image "
                                   "properties. If the image status is not 'queued', values "
                                   "must exactly match those already contained in the "
                                   "image properties.",
                    "type": "object",
                    "writeOnly": True,
                    "additionalProperties": False,
                    "properties": {
                        "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                        "os_hash_algo": {"type": "string", "maxLength": 64},
                        "os_hash_value": {"type": "string", "maxLength": 128},
                    },
                    "required": ["os_hash_algo", "os_hash_value"],
                },
            },
            "required": ["url", "metadata"],
        },
        "description": "A set of URLs to access the image file kept in external store",
    },
}
_IMAGE_LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                {"rel": "describedby", "href": "{schema}"}]

#: glance.api.v2.image_members._MEMBER_SCHEMA
MEMBER_PROPERTIES: dict[str, dict[str, Any]] = {
    "member_id": {"type": "string",
                  "description": "An identifier for the image member (tenantId)"},
    "image_id": {"type": "string", "description": "An identifier for the image",
                 "pattern": _UUID},
    "created_at": {"type": "string", "description": "Date and time of image member creation"},
    "updated_at": {"type": "string",
                   "description": "Date and time of last modification of image member"},
    "status": {"type": "string", "description": "The status of this image member",
               "enum": ["pending", "accepted", "rejected"]},
    "schema": {"readOnly": True, "type": "string"},
}

#: glance.api.v2.tasks._TASK_SCHEMA
TASK_PROPERTIES: dict[str, dict[str, Any]] = {
    "id": {"description": "An identifier for the task", "pattern": _UUID, "type": "string"},
    "type": {"description": "The type of task represented by this content",
             "enum": ["import", "api_image_import", "location_import"], "type": "string"},
    "status": {"description": "The current status of this task",
               "enum": ["pending", "processing", "success", "failure"], "type": "string"},
    "input": {"description": "The parameters required by task, JSON blob",
              "type": ["null", "object"]},
    "result": {"description": "The result of current task, JSON blob",
               "type": ["null", "object"]},
    "owner": {"description": "An identifier for the owner of this task", "type": "string"},
    "message": {"description": "Human-readable informative message only included when "
                               "appropriate (usually on failure)",
                "type": "string"},
    "image_id": {"description": "Image associated with the task", "type": "string"},
    "request_id": {"description": "Human-readable informative request-id", "type": "string"},
    "user_id": {"description": "User associated with the task", "type": "string"},
    "expires_at": {"description": "Datetime when this resource would be subject to removal",
                   "type": ["null", "string"]},
    "created_at": {"description": "Datetime when this resource was created",
                   "type": "string"},
    "updated_at": {"description": "Datetime when this resource was updated",
                   "type": "string"},
    "self": dict(_READ_ONLY_STRING),
    "schema": dict(_READ_ONLY_STRING),
}
#: The task list shows stubs: these keys are left out of its item schema.
_TASK_STUB_HIDDEN = ("input", "result", "message")


@functools.cache
def image_schema(minor: int) -> dict[str, Any]:
    """``/v2/schemas/image`` of a ``2.<minor>`` server (Glance's ``PermissiveSchema``)."""
    keys = v2_base_keys(minor)
    return {"name": "image",
            "properties": {k: v for k, v in IMAGE_PROPERTIES.items() if k in keys},
            "additionalProperties": {"type": "string"},
            "links": _IMAGE_LINKS}


def member_schema() -> dict[str, Any]:
    """``/v2/schemas/member``."""
    return {"name": "member", "properties": MEMBER_PROPERTIES}


def task_schema(*, stub: bool = False) -> dict[str, Any]:
    """``/v2/schemas/task`` (``stub``: the item schema of the task list)."""
    properties = {k: v for k, v in TASK_PROPERTIES.items()
                  if not (stub and k in _TASK_STUB_HIDDEN)}
    return {"name": "task", "properties": properties}


def collection(name: str, item: dict[str, Any], *, paged: bool) -> dict[str, Any]:
    """Glance's ``CollectionSchema``: ``raw()`` when ``paged`` (with the ``first`` and
    ``next`` links, as for images), else ``minimal()`` (members, tasks)."""
    properties: dict[str, Any] = {name: {"type": "array", "items": item}}
    links = [{"rel": "describedby", "href": "{schema}"}]
    if paged:
        properties |= {"first": {"type": "string"}, "next": {"type": "string"}}
        links = [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                 *links]
    properties["schema"] = {"type": "string"}
    return {"name": name, "properties": properties, "links": links}


def published(which: str, minor: int) -> dict[str, Any] | None:
    """The document served at ``/v2/schemas/<which>`` (None for an unknown name)."""
    documents: dict[str, Callable[[], dict[str, Any]]] = {
        "image": lambda: image_schema(minor),
        "images": lambda: collection("images", image_schema(minor), paged=True),
        "member": member_schema,
        "members": lambda: collection("members", member_schema(), paged=False),
        "task": task_schema,
        "tasks": lambda: collection("tasks", task_schema(stub=True), paged=False),
    }
    make = documents.get(which)
    return None if make is None else copy.deepcopy(make())


# ------------------------------------------------------------------------ validation


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_PLAIN_KEYWORDS = frozenset({"type", "maxLength", "enum", "description", "readOnly"})


def _quick_check(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """A plain-Python test equivalent to ``schema`` when it only uses simple keywords."""
    if not set(schema) <= _PLAIN_KEYWORDS or "type" not in schema:
        return None
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    checks = [_TYPE_CHECKS[k] for k in kinds]
    longest = schema.get("maxLength")
    allowed = schema.get("enum")
    if len(checks) == 1 and longest is None and allowed is None:
        return checks[0]

    def check(value: Any) -> bool:
        if not any(c(value) for c in checks):
            return False
        if longest is not None and isinstance(value, str) and len(value) > longest:
            return False
        return allowed is None or any(value is a or (value == a and type(value) is type(a))
                                      for a in allowed)

    return check


class ImageValidator:
    """``schema.validate(obj)`` of Glance's image schema, fast for one key at a time.

    A PATCH checks each operation as ``{path: value}``; tens of thousands of them must not
    run the whole validator each time, so a value is first tried against a plain check
    (or a validator) of that key's own subschema, and only a refusal runs the full schema
    for the message.
    """

    def __init__(self, minor: int) -> None:
        self.schema = image_schema(minor)
        cls = jsonschema.validators.validator_for(self.schema)
        self._whole = cls(self.schema)
        self._per_key: dict[str, Callable[[Any], bool]] = {}
        for key, sub in [*self.schema["properties"].items(),
                         ("", self.schema["additionalProperties"])]:
            self._per_key[key] = _quick_check(sub) or cls(sub).is_valid

    def validate(self, document: Any) -> None:
        """Raise the 400 Glance answers when ``document`` does not match the schema."""
        error = jsonschema.exceptions.best_match(self._whole.iter_errors(document))
        if error is not None:
            raise HttpError(400, f"Provided object does not match schema 'image': {error}")

    def validate_one(self, key: str, value: Any) -> None:
        """``validate({key: value})``, in constant time when the value is fine."""
        check = self._per_key.get(key) or self._per_key[""]
        if not check(value):
            self.validate({key: value})


def schema_error(name: str, document: Any, schema: dict[str, Any]) -> HttpError | None:
    """Glance's 400 for ``document`` against a small schema ``name`` (None when valid)."""
    cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(document))
    if error is None:
        return None
    return HttpError(400, f"Provided object does not match schema '{name}': {error}")
