"""``PATCH /v2/images/{id}``: Glance's restricted JSON patch, step by step as it does it.

Two media types: ``...v2.1-json-patch`` (``{"op", "path", "value"}``, RFC 6902 subset)
and the older ``...v2.0-json-patch`` (``{"add": "/path", "value"}``, draft 04), where
``add`` of anything already there (a base field included) is a 409 instead of a replace.

As in Glance, every operation is first checked on its own (shape, pointer, read-only and
reserved names, the value against the image schema: 400/403) before anything is applied;
then the operations are applied in order with the owner, policy and domain rules
(403/409/400), and the result is saved with the quotas (413) and database limits (400).
Nothing is saved unless every operation passes.

An operation costs constant time (a patch of 80,000 operations takes well under a
second): values are checked against the schema of their one key, and the image being
patched is one mutable working copy, turned back into a record once at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from imgcompat.core.enums import Status
from imgcompat.core.fields import BY_V2_KEY

from .http_errors import HttpError
from .identity import Identity, mutable
from .render import v2_base_keys
from .store import Record
from .v2_schemas import ImageValidator

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"
MEDIA_TYPES = {V20: 4, V21: 10}
_ALLOWED = ", ".join(sorted(MEDIA_TYPES))
_OPS = ("add", "remove", "replace")
#: RequestDeserializer._readonly_properties / _reserved_properties of Glance 33.
READ_ONLY = frozenset({"created_at", "updated_at", "status", "checksum", "size",
                       "virtual_size", "direct_url", "self", "file", "schema", "id",
                       "os_hash_algo", "os_hash_value"})
RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
_DEPTH = {"locations": {"add": 2, "remove": 2, "replace": 1}}
_ADJACENT = re.compile(r"/\s*?/")
_BAD_ESCAPE = re.compile("~[^01]")
_INT_MAX = 2**31 - 1


@attrs.frozen
class Change:
    """One checked operation: ``op`` on ``path`` (decoded tokens) with ``value``."""

    op: str
    path: tuple[str, ...]
    value: Any
    draft: int


def media_type_error(content_type: str | None) -> HttpError:
    """The 415 for a PATCH in any other media type (with ``Accept-Patch``)."""
    del content_type  # webob fills it in from the request
    return HttpError(415, detail=f"Image PATCH expects Content-Type one of: {_ALLOWED}",
                     headers=[("Accept-Patch", _ALLOWED)])


def _op_and_path(raw: dict[str, Any], draft: int) -> tuple[str, Any]:
    if draft == 10:
        op = raw.get("op")
        if op is None:
            raise HttpError(400, "Unable to find `op` in JSON Schema change. It must be one "
                                 f"of the following: {', '.join(_OPS)}.")
        if op not in _OPS:
            raise HttpError(400, f"Invalid operation: `{op}`. It must be one of the "
                                 f"following: {', '.join(_OPS)}.")
        if "path" not in raw:
            raise HttpError(400, "Unable to find 'path' in JSON Schema change")
        return op, raw["path"]
    found = [key for key in _OPS if key in raw]
    if len(found) > 1:
        raise HttpError(400, 'Operation objects must contain only one member named "add", '
                             '"remove", or "replace".')
    if not found:
        raise HttpError(400, 'Operation objects must contain exactly one member named '
                             '"add", "remove", or "replace".')
    return found[0], raw[found[0]]


def decode_pointer(pointer: Any) -> tuple[str, ...]:
    """Glance's restricted JSON pointer: validated, split, unescaped, each token stripped.

    A pointer that is not a string is refused like one without its leading ``/`` (Glance
    33 answers 500 there).
    """
    if (isinstance(pointer, str) and pointer[:1] == "/" and pointer.count("/") == 1
            and "~" not in pointer):
        return (pointer[1:].strip(),)  # one token: none of the checks below can fail
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise HttpError(400, f'Pointer `{pointer}` does not start with "/".')
    if _ADJACENT.search(pointer[1:]):
        raise HttpError(400, f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise HttpError(400, f'Pointer `{pointer}` end with "/".')
    if pointer[1:].strip() == "/":
        raise HttpError(400, f"Pointer `{pointer}` does not contains valid token.")
    if _BAD_ESCAPE.search(pointer) or pointer.endswith("~"):
        raise HttpError(400, f'Pointer `{pointer}` contains "~" not part of a recognized '
                             "escape sequence.")
    return tuple(part.replace("~1", "/").replace("~0", "~").strip()
                 for part in pointer.lstrip("/").split("/"))


def parse(body: Any, media_type: str, validator: ImageValidator) -> list[Change]:
    """The deserializer's half: every operation checked, nothing applied yet."""
    draft = MEDIA_TYPES[media_type]
    if not isinstance(body, list):
        raise HttpError(400, "Request body must be a JSON array of operation objects.")
    changes: list[Change] = []
    for raw in body:
        if not isinstance(raw, dict):
            raise HttpError(400, "Operations must be JSON objects.")
        op, pointer = _op_and_path(raw, draft)
        path = decode_pointer(pointer)
        if len(path) != _DEPTH.get(path[0], {}).get(op, 1):
            raise HttpError(400, "Invalid JSON pointer for this resource: "
                                 f"'/{'/'.join(path)}'")
        value = None
        if op != "remove":
            if "value" not in raw:
                raise HttpError(400, f'Operation "{op}" requires a member named "value".')
            value = raw["value"]
        _check(op, path, value, validator)
        changes.append(Change(op, path, value, draft))
    return changes


def _check(op: str, path: tuple[str, ...], value: Any, validator: ImageValidator) -> None:
    root = path[0]
    if root in READ_ONLY:
        raise HttpError(403, f"Attribute '{root}' is read-only.")
    if root in RESERVED or root.startswith(RESERVED_PREFIX):
        raise HttpError(403, f"Attribute '{root}' is reserved.")
    if op == "remove":
        return
    if len(path) == 1:
        validator.validate_one(root, value)
    elif validator.schema["properties"].get(root, {}).get("type") == "array":
        validator.validate_one(root, [value])


# ---------------------------------------------------------------------------- apply


class Patching:
    """The image being patched: base fields and properties, mutable, then one record.

    ``publicize`` says whether the caller may make images public (the policy); the
    quotas are ``image_property_quota`` and ``image_tag_quota`` (negative: no limit).
    """

    def __init__(self, record: Record, who: Identity, *, minor: int,
                 publicize: Callable[[Identity], bool], property_quota: int,
                 tag_quota: int) -> None:
        self.record = record
        self.who = who
        self.publicize = publicize
        self.property_quota = property_quota
        self.tag_quota = tag_quota
        base = v2_base_keys(minor)
        self.base = frozenset(k for k in base if not BY_V2_KEY[k].read_only
                              and k != "locations")
        self.fields: dict[str, Any] = {}
        self.props = dict(record.properties)
        self.tags: list[str] | None = None
        self.status = record.status

    def _value(self, key: str) -> Any:
        if key in self.fields:
            return self.fields[key]
        return getattr(self.record, BY_V2_KEY[key].name)

    def _may_modify(self, key: str, value: Any = None) -> None:
        if key == "visibility" and value == "public" and not self.publicize(self.who):
            raise HttpError(403, "You are not authorized to complete publicize_image action.")
        if not mutable(self.who, self.record):
            raise HttpError(403, "You do not own this image")

    def _set_base(self, key: str, value: Any) -> None:
        if key in ("disk_format", "container_format") and self.status not in (
                Status.QUEUED, Status.IMPORTING):
            raise HttpError(403, f"Attribute {key} can be only replaced for a queued image.")
        if key in ("min_disk", "min_ram") and value and value < 0:
            raise HttpError(400, f"Invalid value '{value}' for parameter '{key}': Cannot be "
                                 "a negative value")
        if key == "tags":
            check_tag_quota(len(value), self.tag_quota)
            self.tags = list(dict.fromkeys(value))
            return
        self.fields[key] = int(value) if key in ("min_disk", "min_ram") else value

    def apply(self, change: Change) -> None:
        """One operation, with Glance's controller rules."""
        root = change.path[0]
        if change.op == "replace":
            self._replace(root, change.value)
        elif change.op == "add":
            self._add(root, change.value, change.draft)
        else:
            self._remove(root)

    def _replace(self, root: str, value: Any) -> None:
        if root == "locations":
            if not value:
                raise HttpError(403, detail="Cannot set locations to empty list.")
            raise HttpError(403, "It's not allowed to update locations if locations are "
                                 "invisible.")
        if root == "owner" and not self.who.is_admin:
            raise HttpError(403, detail="Owner can't be updated by non admin.")
        self._may_modify(root, value)
        if root in self.base:
            self._set_base(root, value)
        elif root in self.props:
            self.props[root] = value
        else:
            raise HttpError(409, detail=f"Property {root} does not exist.")

    def _add(self, root: str, value: Any, draft: int) -> None:
        if root == "locations":
            raise HttpError(403, "It's not allowed to add locations if locations are "
                                 "invisible.")
        self._may_modify(root, value)
        if draft == 4 and (root in self.base or root in self.props):
            raise HttpError(409, detail=f"Property {root} already present.")
        if root in self.base:
            self._set_base(root, value)
        else:
            self.props[root] = value

    def _remove(self, root: str) -> None:
        if root == "locations":
            if not mutable(self.who, self.record):
                raise HttpError(403, "You do not own this image")
            raise HttpError(403, "It's not allowed to remove locations if locations are "
                                 "invisible.")
        self._may_modify(root)
        if root in self.base:
            raise HttpError(403, detail=f"Property {root} may not be removed.")
        if root not in self.props:
            raise HttpError(409, detail=f"Property {root} does not exist.")
        del self.props[root]

    def result(self) -> Record:
        """The patched record, after the save-time checks (quotas, database limits)."""
        if any(k not in self.record.properties for k in self.props):
            check_property_quota(self.props, self.property_quota)
        for key in ("min_disk", "min_ram"):
            value = self._value(key)
            if value and value > _INT_MAX:
                raise HttpError(400, f"'{key}' value out of range, must not exceed "
                                     f"{_INT_MAX}.")
        changes = {BY_V2_KEY[k].name: v for k, v in self.fields.items()}
        if "owner" in changes and not changes["owner"]:
            changes["owner"] = None
        if self.tags is not None:
            changes["tags"] = tuple(self.tags)
        return attrs.evolve(self.record, properties=self.props, **changes)


def check_tag_quota(count: int, quota: int) -> None:
    """``image_tag_quota``: at most ``quota`` tags (counted before duplicates go)."""
    if 0 <= quota < count:
        raise HttpError(413, "The limit has been exceeded on the number of allowed image "
                             f"tags. Attempted: {count}, Maximum: {quota}")


def check_property_quota(props: dict[str, Any], quota: int) -> None:
    """``image_property_quota``: at most ``quota`` properties (``os_glance*`` not counted)."""
    if quota < 0:
        return
    attempted = sum(1 for k in props if not k.startswith(RESERVED_PREFIX))
    if attempted > quota:
        raise HttpError(413, "The limit has been exceeded on the number of allowed image "
                             f"properties. Attempted: {attempted}, Maximum: {quota}")
