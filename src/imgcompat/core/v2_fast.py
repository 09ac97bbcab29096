"""The compiled v2 read path: JSON entity -> :class:`V2Image` without jsonschema.

Validating an entity with ``jsonschema`` cost ~90% of a v2 parse. This module compiles the
same schema (``schemas/v2-image.json``, exactly as
:func:`~imgcompat.core.schema.inlined_schema` gives it to the validator) and the field
table's JSON parsers (:func:`~imgcompat.core.scalars.json_parser`) into one generated
function: straight-line code that looks each key up once, checks it with inline
expressions and converts it. Generated code is kept apart from the codec (``v2``), as
cattrs keeps its own, and has an oracle: the reference parse (``v2._v2image_reference``:
schema validation, then the table-driven conversion) that
``tests/property/test_v2_fast_parse.py`` compares it with.

It never decides a refusal. It answers a record only when it is sure the schema accepts
the document and the reference would give that same record; on anything else (a check
failing, a keyword it does not compile, a Python type JSON does not produce, any exception)
it answers None, and the reference decides and names the field, as before. Its checks:

* ``type`` by exact Python type (``str``, ``int``, ``bool``, ``None``, ``list``, ``dict``,
  ``float`` for ``number``); a subclass or a float holding an integer steps aside.
* ``maxLength``/``minLength`` (``len``, as jsonschema counts), ``minimum``/``maximum``,
  ``pattern`` (the schema module's ECMA-262 compilation) and ``format`` (its checker).
* ``items``, ``required``, ``properties`` and ``additionalProperties`` (``true``,
  ``false`` or a schema), and the entity's ``propertyNames`` (every key, as a string);
  annotations are ignored. A subschema with any other keyword
  (``enum``, ``patternProperties``, a ``$ref`` left unresolved...) accepts nothing: a
  document holding that key always steps aside.

A server's usual values take a shorter way, to the same answer: a declared enum member
the schema accepts is one dict lookup (no pattern, no parse), a time in a server's own form
one parse (:func:`~imgcompat.core.scalars.zulu_time`: the ``date-time`` format accepts it
and the parse gives it, which the property test holds it to), key names bounded only in
length are checked all at once, and an entity without custom properties shares one empty
map.

fastjsonschema compiles schemas too, but to drafts 4-7 semantics, with Python's ``$`` in
patterns and its own date-time: it would accept what the schema here refuses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final

from imgcompat.core.fields import BY_V2_KEY, Kind
from imgcompat.core.immutable import FrozenDict
from imgcompat.core.model import V2Image
from imgcompat.core.scalars import declared_members, json_parser, json_unchanged, zulu_time
from imgcompat.core.schema import _compile, format_check, inlined_schema

__all__ = ["Wire", "checker", "v2_list_wire_fast", "v2_wire_fast", "wire_to_v2image"]

Check = Callable[[Any], bool]

#: Exact Python types of each JSON Schema type, as ``json.loads`` produces them.
_EXACT_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "null": (type(None),),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_ANY_JSON: Final = tuple(dict.fromkeys(t for ts in _EXACT_TYPES.values() for t in ts))
#: Keywords that change no validation result (``x-message`` only words the error).
_ANNOTATIONS: Final = frozenset(
    {"description", "title", "examples", "$comment", "readOnly", "writeOnly", "deprecated",
     "default", "x-message"}
)
_STRING_KEYWORDS: Final = frozenset({"maxLength", "minLength", "pattern"})
_NUMBER_KEYWORDS: Final = frozenset({"minimum", "maximum"})
_OBJECT_KEYWORDS: Final = frozenset({"required", "properties", "additionalProperties"})
_COMPILED: Final = (frozenset({"type", "format", "items"}) | _STRING_KEYWORDS
                    | _NUMBER_KEYWORDS | _OBJECT_KEYWORDS | _ANNOTATIONS)
#: Keywords of a document's root that say nothing about the document itself.
_ROOT_ONLY: Final = frozenset({"$schema", "$id", "$defs"})


# ------------------------------------------------------------------------ compilation


class _Source:
    """Generated code and the objects it refers to (bound as globals, by name)."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {}

    def bind(self, value: Any, stem: str = "c") -> str:
        name = f"_{stem}{len(self.names)}"
        self.names[name] = value
        return name

    def function(self, source: str, name: str) -> Any:
        namespace = dict(self.names)
        exec(compile(source, f"<imgcompat.core.v2_fast {name}>", "exec"), namespace)
        return namespace[name]


def _types(schema: Mapping[str, Any]) -> tuple[type, ...] | None:
    declared = schema.get("type")
    if declared is None:
        return _ANY_JSON
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not all(n in _EXACT_TYPES for n in names):
        return None
    return tuple(dict.fromkeys(t for n in names for t in _EXACT_TYPES[n]))


def _conditions(schema: Mapping[str, Any], of: type, var: str, src: _Source) -> list[str] | None:
    """What ``schema``'s keywords (other than ``type`` and ``format``) ask of a value of the
    exact type ``of``, as Python expressions on ``var``; None when one is not compiled."""
    out: list[str] = []
    if of is str:
        longest, shortest = schema.get("maxLength"), schema.get("minLength")
        pattern = schema.get("pattern")
        for bound, op in ((longest, "<="), (shortest, ">=")):
            if bound is not None:
                if type(bound) is not int:
                    return None
                out.append(f"len({var}) {op} {bound}")
        if pattern is not None:
            if not isinstance(pattern, str):
                return None
            out.append(f"{src.bind(_compile(pattern).search, 'search')}({var}) is not None")
    elif of in (int, float):
        for bound, op in ((schema.get("minimum"), ">="), (schema.get("maximum"), "<=")):
            if bound is not None:
                if type(bound) not in (int, float):
                    return None
                out.append(f"{var} {op} {src.bind(bound, 'bound')}")
    elif of is list and "items" in schema:
        items = checker(schema["items"])
        if items is None:
            return None
        out.append(f"all(map({src.bind(items, 'items')}, {var}))")
    elif of is dict and _OBJECT_KEYWORDS & set(schema):
        keys = _object_check(schema)
        if keys is None:
            return None
        out.append(f"{src.bind(keys, 'keys')}({var})")
    return out


def _expression(schema: Any, var: str, src: _Source) -> str | None:
    """A Python expression, True only when ``schema`` certainly accepts ``var``; None when
    the subschema uses a keyword this compiler does not know."""
    if schema is True or (isinstance(schema, Mapping) and not set(schema) - _ANNOTATIONS):
        schema = {}
    if schema is False:
        return "False"
    if not isinstance(schema, Mapping) or set(schema) - _COMPILED:
        return None
    types = _types(schema)
    fmt = schema.get("format")
    if types is None or not isinstance(fmt, str | None):
        return None
    clauses = []
    for of in types:
        test = f"{var} is None" if of is type(None) else f"type({var}) is {of.__name__}"
        conditions = _conditions(schema, of, var, src)
        if conditions is None:
            return None
        clauses.append(" and ".join([test, *conditions]))
    body = " or ".join(f"({c})" for c in clauses) if clauses else "False"
    check = format_check(fmt) if fmt is not None else None
    if check is not None:
        body = f"{src.bind(check, 'format')}({var}) and ({body})"
    return f"({body})"


def checker(schema: Any) -> Check | None:
    """A predicate, True only for values ``schema`` certainly accepts; None when the
    subschema uses a keyword this compiler does not know (then nothing is certain)."""
    src = _Source()
    expression = _expression(schema, "value", src)
    if expression is None:
        return None
    check: Check = src.function(f"def check(value):\n    return {expression}\n", "check")
    return check


#: ``(required keys, checks of declared keys, check of any other key's value or None when
#: other keys are refused)``: an object schema's keys, compiled.
ObjectRules = tuple[frozenset[str], dict[str, Check | None], Check | None]


def object_rules(schema: Mapping[str, Any]) -> ObjectRules | None:
    """The key rules of an object schema (``required``, ``properties``,
    ``additionalProperties``); None when one of them is not that simple."""
    required = schema.get("required", [])
    declared = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
        return None
    if not isinstance(declared, Mapping):
        return None
    others = None if extra is False else checker(extra)
    if others is None and extra is not False:
        return None
    return frozenset(required), {k: checker(v) for k, v in declared.items()}, others


def keys_pass(rules: ObjectRules, value: Mapping[Any, Any]) -> bool:
    """True when every key of ``value`` certainly passes ``rules``."""
    required, declared, others = rules
    if not required <= value.keys():
        return False
    for key, item in value.items():
        key_check = declared.get(key, others)
        if key_check is None or not key_check(item):
            return False
    return True


def _object_check(schema: Mapping[str, Any]) -> Check | None:
    rules = object_rules(schema)
    return None if rules is None else functools.partial(keys_pass, rules)


# ----------------------------------------------------------------------------- entity

_MISSING: Final = object()
_STR_ONLY: Final = frozenset({str})
#: The properties of every entity without custom ones (a frozen map may be shared).
_NO_PROPERTIES: Final[FrozenDict[str, str]] = FrozenDict()


def _conversion(kind: Kind, schema: Any, key: str, src: _Source) -> str:
    """How a checked value of the key becomes the attribute: as it is when the table's
    parser would give it back unchanged for every type the schema lets through."""
    as_is = json_unchanged(kind)
    types = _types(schema) if isinstance(schema, Mapping) else None
    parse = f"{src.bind(json_parser(kind), 'parse')}(raw, {key!r})"
    if types is not None and set(types) <= {as_is, type(None)}:
        return "raw"
    if types is not None and type(None) in types:
        return f"None if raw is None else {parse}"
    return parse


def _quick(kind: Kind, schema: Any, src: _Source) -> str | None:
    """An expression giving the attribute straight from the usual texts of its key (None
    for any other value: the general check and conversion take it), when there are such
    texts: an enum's declared members the schema accepts (found by one dict lookup instead
    of a pattern and a parse), and times in a server's form (:func:`zulu_time`, which the
    ``date-time`` format accepts and the parse gives) when a string of that format is all
    the schema asks."""
    check = checker(schema)
    members = declared_members(kind)
    if members and check is not None:
        table = {text: member for text, member in members.items() if check(text)}
        if table:
            return f"{src.bind(table, 'members')}.get(raw) if type(raw) is str else None"
    plain = isinstance(schema, Mapping) and not set(schema) - _ANNOTATIONS - {"type", "format"}
    if (kind is Kind.DATETIME and plain and schema.get("format") == "date-time"
            and str in (_types(schema) or ())):
        return f"{src.bind(zulu_time, 'zulu')}(raw) if type(raw) is str else None"
    return None


def _names_source(names: Any, src: _Source) -> list[str] | None:
    """The check of every key's name (``propertyNames``), as lines of the entity parser:
    length bounds alone are checked over all keys at once."""
    if not isinstance(names, Mapping):
        return None
    longest, shortest = names.get("maxLength"), names.get("minLength")
    if (not set(names) - _ANNOTATIONS - {"type", "maxLength", "minLength"}
            and names.get("type", "string") == "string"
            and type(longest or 0) is int and type(shortest or 0) is int):
        lines = ["    if not _STR_ONLY.issuperset(map(type, doc)):",
                 "        return None"]
        if longest is not None:
            lines += [f"    if max(map(len, doc), default=0) > {longest}:",
                      "        return None"]
        if shortest is not None:
            lines += [f"    if min(map(len, doc), default={shortest}) < {shortest}:",
                      "        return None"]
        return lines
    test = _expression({**names, "type": "string"}, "k", src)
    if test is None:
        return None
    return ["    for k in doc:",
            f"        if not {test}:",
            "            return None"]


def _entity_source(schema: Mapping[str, Any], src: _Source) -> str | None:
    """The entity parser's code: the schema's keys joined with the field table's."""
    if set(schema) - _COMPILED - _ROOT_ONLY - {"propertyNames"} or schema.get("type") != "object":
        return None
    required = schema.get("required", [])
    declared: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if not isinstance(required, list) or not isinstance(declared, Mapping):
        return None
    lines = ["def entity(doc):",
             f"    if not {src.bind(frozenset(required), 'required')} <= doc.keys():",
             "        return None",
             "    get = doc.get"]
    names = schema.get("propertyNames")
    if names is not None:  # every key's name, as a string (a JSON key is one)
        checks = _names_source(names, src)
        if checks is None:
            return None
        lines += checks
    attrs: list[str] = []
    for key, f in BY_V2_KEY.items():  # the base attributes
        sub = declared.get(key, extra)
        test = _expression(sub, "raw", src) or "False"
        quick = _quick(f.kind, sub, src)
        lines += [f"    raw = get({key!r}, _MISSING)",
                  "    if raw is _MISSING:",
                  f"        v_{f.name} = None"]
        if quick is not None:
            lines += [f"    elif (quick := {quick}) is not None:",
                      f"        v_{f.name} = quick"]
        lines += [f"    elif {test}:",
                  f"        v_{f.name} = {_conversion(f.kind, sub, key, src)}",
                  "    else:",
                  "        return None"]
        attrs.append(f.name)
    customs = [k for k in declared if k not in BY_V2_KEY]
    for key in customs:  # declared by the schema, custom properties to the table
        test = _expression(declared[key], "raw", src) or "False"
        lines += [f"    raw = get({key!r}, _MISSING)",
                  f"    if raw is not _MISSING and not (type(raw) is str and {test}):",
                  "        return None"]
    # Every other key is a custom property: the reference keeps it when it is a string.
    table = src.bind(frozenset(BY_V2_KEY), "table")
    fields = "{" + ", ".join(f"{a!r}: v_{a}" for a in attrs) + "}"
    lines += [f"    if doc.keys() <= {table}:",
              f"        return {fields}, _NO_PROPERTIES",
              f"    props = {{k: v for k, v in doc.items() if k not in {table}}}",
              "    if props:",
              "        if not (_STR_ONLY.issuperset(map(type, props.values()))",
              "                and _STR_ONLY.issuperset(map(type, props))):",
              "            return None"]
    others = _extra_test(extra, src)
    if others != "True":
        lines += ["        for k, value in props.items():",
                  f"            if k not in {src.bind(frozenset(customs), 'declared')}"
                  f" and not {others}:",
                  "                return None"]
    lines.append(f"    return {fields}, _FrozenDict(props)")
    return "\n".join(lines) + "\n"


def _extra_test(extra: Any, src: _Source) -> str:
    """What ``additionalProperties`` asks of a custom property's value, known to be a str."""
    if extra is True or (isinstance(extra, Mapping) and not set(extra) - _ANNOTATIONS):
        return "True"
    sub = extra if isinstance(extra, Mapping) else {}
    types = _types(sub) if extra is not False and not set(sub) - _COMPILED else None
    conditions = _conditions(sub, str, "value", src) if types and str in types else None
    fmt = sub.get("format")
    if conditions is None or not isinstance(fmt, str | None):
        return "False"
    check = format_check(fmt) if fmt is not None else None
    if check is not None:
        conditions.append(f"{src.bind(check, 'format')}(value)")
    return " and ".join(conditions) if conditions else "True"


#: An entity as the fast pass reads it: every :class:`V2Image` attribute of the field
#: table by name (None when absent), and the custom properties.
Wire = tuple[dict[str, Any], FrozenDict[str, str]]


@functools.cache
def _entity_parser() -> Callable[[dict[Any, Any]], Wire | None] | None:
    src = _Source()
    src.names.update(_MISSING=_MISSING, _STR_ONLY=_STR_ONLY, _FrozenDict=FrozenDict,
                     _NO_PROPERTIES=_NO_PROPERTIES)
    source = _entity_source(inlined_schema("v2-image"), src)
    return None if source is None else src.function(source, "entity")


def v2_wire_fast(doc: Any) -> Wire | None:
    """A v2 entity's values when the compiled checks are sure of them, else None.

    ``V2Image(**values, properties=properties)`` of the answer equals what the reference
    parse gives; it answers only for a ``dict`` (what ``json.loads`` gives) that the
    schema accepts.
    """
    parse = _entity_parser()
    if parse is None or type(doc) is not dict:
        return None
    try:
        return parse(doc)
    except Exception:  # whatever it was, the reference parse reports it
        return None


def wire_to_v2image(wire: Wire) -> V2Image:
    """The wire record of what :func:`v2_wire_fast` read."""
    values, properties = wire
    return V2Image(**values, properties=properties)


# ------------------------------------------------------------------------------- list

_IMAGES: Final = "images"


@functools.cache
def _list_rules() -> ObjectRules | None:
    """The ``v2-images`` schema compiled, when its images are exactly v2-image entities."""
    schema = inlined_schema("v2-images")
    entity = {k: v for k, v in inlined_schema("v2-image").items() if k not in _ROOT_ONLY}
    images = schema.get("properties", {}).get(_IMAGES)
    if set(schema) - _COMPILED - _ROOT_ONLY or schema.get("type") != "object":
        return None
    if not isinstance(images, Mapping) or set(images) - _ANNOTATIONS - {"type", "items"}:
        return None
    if images.get("type") != "array" or images.get("items") != entity:
        return None
    if _entity_parser() is None:
        return None
    # The other keys of the list document; the images are checked one by one.
    rest = {**schema,
            "required": [k for k in schema.get("required", []) if k != _IMAGES],
            "properties": {k: v for k, v in schema["properties"].items() if k != _IMAGES}}
    return object_rules(rest)


def v2_list_wire_fast(doc: Any) -> tuple[Wire | None, ...] | None:
    """The entities of a v2 list answer, each as :func:`v2_wire_fast` reads it (None for one
    it is unsure of), or None when it is unsure of the list document itself."""
    rules = _list_rules()
    if rules is None or type(doc) is not dict:
        return None
    images = doc.get(_IMAGES)
    links = {k: v for k, v in doc.items() if k != _IMAGES}
    if type(images) is not list or not keys_pass(rules, links):
        return None
    return tuple(map(v2_wire_fast, images))
