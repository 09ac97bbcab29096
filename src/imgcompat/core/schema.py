"""The JSON Schemas of every document imgcompat reads or writes, and one call to check them.

The schemas are plain JSON files (draft 2020-12), one per document kind, kept in the
repository's top-level ``schemas/`` directory and packaged into the wheel as
``imgcompat/schemas``. They refer to each other by ``$id``. This module is pure: apart
from reading those files once (lazily), it does no I/O.

``validate(name, document)`` raises :class:`~imgcompat.core.errors.InvalidRecord` naming the
offending field (``size``, ``images/0/size``, ``x-image-meta-size``) with a short human
message; the offending value is shown through ``repr`` and truncated, so a CR or LF in
it never reaches a log line raw.

Two deliberate departures from stock ``jsonschema`` behaviour:

* ``pattern`` follows JSON Schema (ECMA 262) semantics for ``$``: end of the string only.
  Python's ``re`` also lets ``$`` match before a trailing newline, which would let
  ``"123\\n"`` pass ``^[0-9]+$`` -- exactly the header-injection case the v1 schema guards.
* ``format: date-time`` is asserted (RFC 3339, a zone required) by a small local checker:
  the stock one silently accepts anything unless an optional dependency is installed.

A subschema may carry a non-standard ``x-message`` keyword: the human message used when
one of its keywords (other than ``type``, ``required`` and ``additionalProperties``)
fails.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import extend
from referencing import Registry, Resource

from imgcompat.core.errors import InvalidRecord

__all__ = ["SCHEMA_NAMES", "inlined_schema", "load_schema", "schema_dir", "validate"]

#: Every schema this module knows, by name (the file is ``schemas/<name>.json``).
SCHEMA_NAMES: Final[tuple[str, ...]] = (
    "v2-image",
    "v2-image-create",
    "v2-images",
    "v1-headers",
    "v1-image",
    "v1-image-document",
    "seam-image",
    "versions",
)

_MAX_SHOWN = 60
#: Keywords whose failure is best described by the generic message, not by ``x-message``.
_GENERIC_KEYWORDS = frozenset({"type", "required", "additionalProperties"})
#: Keywords followed in a schema path by a property name or an index.
_KEYWORDS_WITH_ARGUMENT = frozenset(
    {"properties", "patternProperties", "$defs", "dependentSchemas", "dependentRequired",
     "allOf", "anyOf", "oneOf", "prefixItems"}
)
_FORMAT_MESSAGES = {
    "date-time": "must be an RFC 3339 date-time with a zone, e.g. 2026-11-24T17:02:34Z",
}
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


# --------------------------------------------------------------------------- loading


@functools.cache
def schema_dir() -> Path:
    """Where the schema files are: inside the installed package, else the source tree."""
    packaged = Path(__file__).parent.parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schemas"


def _check_name(name: str) -> None:
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")


@functools.cache
def _raw(name: str) -> dict[str, Any]:
    _check_name(name)
    path = schema_dir() / f"{name}.json"
    with path.open(encoding="utf-8") as fh:
        contents: dict[str, Any] = json.load(fh)
    return contents


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (e.g. ``"v2-image"``) as a fresh dict (callers may change it)."""
    return copy.deepcopy(_raw(name))


@functools.cache
def _registry() -> Registry[Any]:
    resources = [Resource.from_contents(_raw(name)) for name in SCHEMA_NAMES]
    pairs = []
    for resource in resources:
        uri = resource.id()
        if uri is None:  # pragma: no cover - every schema file carries $id (tested)
            raise ValueError("schema without $id")
        pairs.append((uri, resource))
    return Registry().with_resources(pairs).crawl()


# ----------------------------------------------------------------- keyword overrides


@functools.cache
def _compile(pattern: str) -> re.Pattern[str]:
    """Compile a JSON Schema regex; an unescaped ``$`` outside a class means end of input."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            out.append(char)
            i += 1
            # "[^]" / "[]" : a leading "^" negates, a leading "]" is literal in Python.
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return re.compile("".join(out))


def _pattern(
    validator: Any, pattern: str, instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and _compile(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_date_time(instance: object) -> bool:
    """RFC 3339 date-time (a zone is required), with real calendar and clock ranges."""
    if not isinstance(instance, str):
        return True
    if _RFC3339.fullmatch(instance) is None:
        return False
    try:
        datetime.fromisoformat(instance.upper().replace(" ", "T"))
    except ValueError:
        return False
    return True


# The stubs leave `extend` unannotated; it returns a validator class like Draft202012Validator.
_Validator: Any = extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]


@functools.cache
def _validator(name: str) -> Any:
    return _Validator(_inlined(name), registry=_registry(), format_checker=_FORMATS)


def _inlined(name: str) -> Any:
    raw = _raw(name)
    return _inline(raw, raw["$id"])


def inlined_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` exactly as :func:`validate` applies it (``$ref``s inlined where
    that is equivalent), as a fresh dict: what a compiled fast path is built from."""
    inlined: dict[str, Any] = copy.deepcopy(_inlined(name))
    return inlined


def format_check(format_name: str) -> Callable[[object], bool] | None:
    """The check :func:`validate` applies for ``format: <format_name>`` (its answer is
    truthy when the value passes), or None when that format is not asserted here (an
    annotation: anything passes)."""
    if format_name not in _FORMATS.checkers:
        return None
    func, raises = _FORMATS.checkers[format_name]
    if not raises:  # the checker itself, without the FormatChecker round trip
        return func
    return lambda value: _FORMATS.conforms(value, format_name)


# ------------------------------------------------------------------- $ref inlining
#
# jsonschema resolves every `$ref` on every validation (a registry lookup and one more
# subschema: about as much as the rest of a property's check). The files keep their
# `$ref`s for readability; the validators get a copy where a `$ref` is replaced by its
# target wherever that is exactly equivalent: the target is fully resolvable (no `$ref`
# left in it) and its keywords do not overlap, or interact with, the referrer's own.
# Anything else keeps its `$ref` and is resolved through the registry as usual.

#: Keywords that change no validation result.
_ANNOTATIONS = frozenset(
    {"description", "title", "examples", "$comment", "readOnly", "writeOnly", "deprecated",
     "default"}
)
#: Keywords whose meaning depends on their siblings (never merged with other keywords).
_ADJACENT = frozenset(
    {"properties", "patternProperties", "additionalProperties", "unevaluatedProperties",
     "items", "prefixItems", "unevaluatedItems", "contains", "minContains", "maxContains",
     "if", "then", "else", "$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$ref",
     "$schema", "$vocabulary"}
)
#: Keywords holding instance data, not subschemas.
_DATA = frozenset({"enum", "const", "examples", "default"})
_MAX_DEPTH = 16


def _inline(node: Any, base: str, depth: int = 0) -> Any:
    if isinstance(node, list):
        return [_inline(item, base, depth) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: v if k in _DATA else _inline(v, base, depth) for k, v in node.items()}
    ref = out.get("$ref")
    if not isinstance(ref, str) or depth >= _MAX_DEPTH:
        return out
    found = _resolve(ref, base)
    if found is None:
        return out
    target_node, target_base = found
    target = _inline(target_node, target_base, depth + 1)
    if not isinstance(target, dict):
        return out
    target = {k: v for k, v in target.items() if k not in ("$id", "$schema", "$defs")}
    if _has_ref(target):
        return out
    siblings = {k: v for k, v in out.items() if k != "$ref"}
    if not _mergeable(set(siblings) - _ANNOTATIONS, set(target) - _ANNOTATIONS):
        return out
    return {**target, **siblings}


def _mergeable(mine: set[str], theirs: set[str]) -> bool:
    if not mine or not theirs:
        return True
    if mine & theirs or (mine | theirs) & _ADJACENT:
        return False
    # x-message describes the failures of its own schema's keywords: merging it with the
    # other side's keywords would change their messages (type/required keep theirs).
    plain = {"type", "required"}
    if "x-message" in mine and theirs - plain:
        return False
    return not ("x-message" in theirs and mine - plain)


def _resolve(ref: str, base: str) -> tuple[Any, str] | None:
    uri, _, fragment = urljoin(base, ref).partition("#")
    doc = _documents().get(uri)
    if doc is None or (fragment and not fragment.startswith("/")):
        return None
    node: Any = doc
    for escaped in fragment.split("/")[1:]:
        token = escaped.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node, uri


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    return {_raw(name)["$id"]: _raw(name) for name in SCHEMA_NAMES}


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(
            _has_ref(v) for k, v in node.items() if k not in _DATA
        )
    if isinstance(node, list):
        return any(_has_ref(item) for item in node)
    return False


# ------------------------------------------------------------------------ validation


def validate(name: str, document: object) -> None:
    """Check ``document`` against the schema ``name``; raise InvalidRecord if it fails.

    The error names the field (a ``/``-separated path such as ``images/0/size``, or a
    header name) and says in a few words what is wrong, with the bad value shown by
    ``repr`` and truncated.
    """
    error = best_match(_validator(name).iter_errors(document))
    if error is None:
        return
    field, message = _describe(error)
    raise InvalidRecord(message, field=field)


def _describe(error: ValidationError) -> tuple[str | None, str]:
    path: list[str | int] = list(error.absolute_path)
    keyword = error.validator
    show_value = True
    if keyword == "required" and isinstance(error.instance, Mapping):
        missing = [k for k in _strings(error.validator_value) if k not in error.instance]
        if missing:
            path.append(missing[0])
        message, show_value = "is required", False
    elif keyword == "additionalProperties" and error.validator_value is False:
        path.extend(_unexpected(error)[:1])
        message, show_value = "is not allowed here", False
    else:
        message = _x_message(error) or _generic_message(error)
    if _in_property_names(error):
        path.append(str(error.instance))
        show_value = False
    if show_value:
        message += f" (got {_show(error.instance)})"
    field = "/".join(_part(p) for p in path) or None
    return field, message


def _x_message(error: ValidationError) -> str | None:
    # A combinator (anyOf / oneOf) describes its alternatives better than any one of them.
    parent = error.parent
    while parent is not None:
        text = _schema_message(parent.schema)
        if text:
            return text
        parent = parent.parent
    if error.validator in _GENERIC_KEYWORDS:
        return None
    return _schema_message(error.schema)


def _schema_message(schema: object) -> str | None:
    if isinstance(schema, Mapping):
        text = schema.get("x-message")
        if isinstance(text, str):
            return text
    return None


def _generic_message(error: ValidationError) -> str:
    # The stubs say `str | Unset`; a `false` subschema's error really carries None.
    keyword: object = error.validator
    value: Any = error.validator_value
    match keyword:
        case None:  # a `false` subschema
            return "is not allowed here"
        case "type":
            names = [value] if isinstance(value, str) else list(value)
            names.sort(key=lambda t: t == "null")
            return "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in names)
        case "enum":
            return "must be one of " + _show(list(value))
        case "const":
            return f"must be {_show(value)}"
        case "not":
            return "is not allowed here"
        case "pattern":
            return f"must match {value}"
        case "format":
            return _FORMAT_MESSAGES.get(value, f"must be a valid {value}")
        case "minimum":
            return f"must be at least {value}"
        case "maximum":
            return f"must be at most {value}"
        case "minLength":
            return f"must be at least {value} characters long"
        case "maxLength":
            return f"must be at most {value} characters long"
        case "minItems" | "minProperties":
            return f"must have at least {value} entries"
        case "maxItems" | "maxProperties":
            return f"must have at most {value} entries"
        case _:
            return _clip(error.message)


def _strings(value: object) -> list[str]:
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [v for v in value if isinstance(v, str)]
    return []


def _unexpected(error: ValidationError) -> list[str]:
    """The keys an ``additionalProperties: false`` refused, in document order."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = schema.get("properties", {})
    patterns = [_compile(p) for p in schema.get("patternProperties", {})]
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return [
        k for k in instance if k not in known and not any(p.search(k) for p in patterns)
    ]


def _in_property_names(error: ValidationError) -> bool:
    """True when the error is about a key's name (``propertyNames``), not its value."""
    schema_path = list(error.absolute_schema_path)
    i = 0
    while i < len(schema_path):
        keyword = schema_path[i]
        if keyword == "propertyNames":
            return True
        # Skip the argument of keywords that take a name or an index (a property may
        # itself be called "propertyNames" or "properties").
        i += 2 if keyword in _KEYWORDS_WITH_ARGUMENT else 1
    return False


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _show(value: object) -> str:
    """``repr`` (so CR, LF and NUL are escaped), truncated."""
    return _clip(repr(value))


def _part(item: str | int) -> str:
    if isinstance(item, int):
        return str(item)
    return _clip(item) if item.isprintable() else _show(item)
