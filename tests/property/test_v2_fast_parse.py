"""The compiled v2 pass agrees with the reference parse (jsonschema, then conversion).

``v2_fast`` answers only when it is sure; whenever it answers, its record must equal the
reference's, and whatever it is given, the public readers (``v2_json_to_v2image``,
``from_v2`` and the list forms) must give what the reference gives: the same record, or
the same exception (type, field and message). Documents are a server's answers, whole or
broken in one place: a value of the wrong type, out of range or of a bad format, a key
missing or added, odd unicode, an odd Python container.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from imgcompat import from_v2
from imgcompat.core.fields import BY_V2_KEY
from imgcompat.core.immutable import FrozenDict
from imgcompat.core.model import V2Image
from imgcompat.core.scalars import parse_time, zulu_time
from imgcompat.core.schema import _FORMATS, _Validator, inlined_schema
from imgcompat.core.seam import _wire_to_image, from_v2_list
from imgcompat.core.translate import v2_to_image
from imgcompat.core.v2 import (
    _v2image_reference,
    _v2images_reference,
    v2_json_list_to_v2images,
    v2_json_to_v2image,
    v2image_to_v2_json,
)
from imgcompat.core.v2_fast import checker, v2_list_wire_fast, v2_wire_fast, wire_to_v2image
from tests.property.strategies import property_names, v2_images

ID = "985df77b-9844-478d-943c-c2e15fe354f3"

_EDGE_TEXT = st.sampled_from([
    "", " ", "active", "active\n", "Active", "new_status_2", "QCOW2", "raw ", "qcow2",
    "2026-11-24T17:07:57Z", "2026-11-24t17:07:57z", "2026-11-24 17:07:57Z",
    "2026-11-24T17:07:57", "2026-11-24T17:07:57+05:30", "2026-11-24T17:07:57.5Z",
    "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T23:59:60Z",
    "2026-11-24T17:07:57Z\n", " 2026-11-24T17:07:57Z", "2026-11-24", ID, ID + "\n",
    ID.upper(), ID.replace("-", ""), "\ud800", "\x00", "ünï", "x" * 32, "x" * 33, "x" * 64,
    "x" * 65, "x" * 128, "x" * 129, "x" * 255, "x" * 256, "[]", "none", "None", "[{}]",
])
_LOCATIONS: st.SearchStrategy[list[Any]] = st.lists(st.one_of(
    st.fixed_dictionaries({"url": st.sampled_from(["file:///a", "x" * 255, "x" * 256]),
                           "metadata": st.dictionaries(st.text(max_size=3),
                                                       st.text(max_size=3), max_size=2)},
                          optional={"validation_data": st.sampled_from([{}, "x", []]),
                                    "other": st.integers()}),
    st.fixed_dictionaries({}, optional={"url": st.one_of(st.none(), st.integers(), st.text()),
                                        "metadata": st.one_of(st.lists(st.none()), st.none(),
                                                              st.just({}))}),
    st.text(max_size=3),
), max_size=3)
_HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([2**40, 2**64, -(2**63)]),
    st.floats(allow_nan=False), st.sampled_from([5.0, -0.0, 0.0]),
    st.text(max_size=8), _EDGE_TEXT,
    st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    _LOCATIONS,
)


_DATE_EDGES = st.sampled_from([
    "2026-11-24T17:07:57Z", "2026-11-24t17:07:57z", "2026-11-24 17:07:57Z",
    "2026-11-24T17:07:57", "2026-11-24T17:07:57+05:30", "2026-11-24T17:07:57.5Z",
    "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T23:59:60Z",
    "2026-11-24T17:07:57Z\n", " 2026-11-24T17:07:57Z", "2026-11-24", "2026-11-24T17:07Z",
    "2026-11-24T17:07:57-00:00", "2026-11-24T17:07:57+24:00", "0000-01-01T00:00:00Z",
    # 20 characters, as the usual form, that Python's fromisoformat takes and RFC 3339 not
    "20261124T170757+0000", "2026-W47-2T17:07:57Z", "20261124T17:07:57.1Z",
    "2026-11-24T170757.5Z", "\uff12026-11-24T17:07:57Z",
])
_ONE_OF_EACH_TYPE: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, False, 0, 1, -1, 5.0, 0.5, "", "x", [], {}])


def _edges(sub: Any) -> st.SearchStrategy[Any]:
    """Values at the edges of what a subschema of the entity accepts: lengths and bounds
    either side of the limit, strings near its pattern, dates near the format."""
    out: list[st.SearchStrategy[Any]] = [_ONE_OF_EACH_TYPE]
    if not isinstance(sub, dict):
        return out[0]
    if "maxLength" in sub:
        n = sub["maxLength"]
        out.append(st.sampled_from(["x" * n, "x" * (n + 1), "é" * n, "é" * (n + 1)]))
    if "minimum" in sub:
        m = sub["minimum"]
        out.append(st.sampled_from([m - 1, m, m + 1, float(m), True, 2**63]))
    if "pattern" in sub:
        near = st.from_regex(sub["pattern"].replace("$", r"\Z"))
        out.append(near)
        out.append(near.map(lambda text: text + "\n"))  # Python's "$" would take it
        out.append(st.tuples(near, st.sampled_from([" ", "A", "-", "é", "\x00"])).map(
            lambda p: p[0] + p[1]))
    if sub.get("format") == "date-time":
        out.append(_DATE_EDGES)
    if "items" in sub:
        out.append(st.lists(_edges(sub["items"]), max_size=3))
    if {"properties", "required", "additionalProperties"} & set(sub):
        names = sorted({*sub.get("properties", {}), *sub.get("required", []), "other"})
        out.append(st.dictionaries(st.sampled_from(names), _ONE_OF_EACH_TYPE, max_size=3))
    return st.one_of(out)


_ENTITY = inlined_schema("v2-image")


class _Text(str):
    """A str subclass: jsonschema takes it as a string; the fast pass steps aside."""


_MUTATIONS = ("none", "value", "drop", "extra", "special", "subclass", "container")


@st.composite
def v2_documents(draw: st.DrawFn) -> tuple[Any, bool]:
    """A v2 entity as a server answers it, broken in one place or not; (doc, broken)."""
    doc: dict[Any, Any] = v2image_to_v2_json(draw(v2_images()))
    if draw(st.booleans()):
        doc.setdefault("locations", draw(_LOCATIONS.filter(bool).map(
            lambda locs: [loc for loc in locs if _is_location(loc)])))
    mutation = draw(st.sampled_from(_MUTATIONS))
    keys = sorted(doc, key=str)
    if mutation == "value":
        key = draw(st.sampled_from(sorted({*keys, *_ENTITY["properties"]}, key=str)))
        near = _edges(_ENTITY["properties"].get(key, _ENTITY["additionalProperties"]))
        doc[key] = draw(st.one_of(near, _HOSTILE))
    elif mutation == "drop":
        doc.pop(draw(st.sampled_from(keys)))
    elif mutation == "extra":
        name = draw(st.one_of(property_names(api="2"), st.text(max_size=6),
                              st.sampled_from(["Size", "self ", "deleted", "os_glance_x", "",
                                               "k" * 255, "k" * 256, "é" * 256])))
        doc[name] = draw(st.one_of(_HOSTILE, st.text(max_size=8)))
    elif mutation == "special":
        doc[draw(st.sampled_from(["kernel_id", "ramdisk_id"]))] = draw(
            st.one_of(st.none(), st.integers(), st.just(ID), _EDGE_TEXT))
    elif mutation == "subclass":
        texts = [k for k in keys if isinstance(doc[k], str)]
        if texts:
            key = draw(st.sampled_from(texts))
            doc[key] = _Text(doc[key])
        else:
            doc[_Text("x_prop")] = "value"
    elif mutation == "container":
        return draw(st.sampled_from([OrderedDict, FrozenDict, list]))(doc), True
    return doc, mutation != "none"


def _is_location(item: Any) -> bool:
    return (isinstance(item, dict) and set(item) >= {"url", "metadata"}
            and isinstance(item["url"], str) and len(item["url"]) <= 255
            and isinstance(item["metadata"], dict)
            and isinstance(item.get("validation_data", {}), dict))


def _outcome(parse: Any) -> Any:
    try:
        return parse()
    except Exception as exc:  # the same refusal: type, field and message
        return type(exc), getattr(exc, "field", None), str(exc)


def _wire_outcomes(doc: Any) -> tuple[Any, Any]:
    """The fast pass's V2Image and seam record (each from a fresh read), or None."""
    wire = v2_wire_fast(doc)
    if wire is None:
        return None, None
    again = v2_wire_fast(doc)
    assert again is not None
    return _outcome(lambda: wire_to_v2image(wire)), _outcome(lambda: _wire_to_image(again))


@given(v2_documents())
def test_fast_entity_pass_equals_the_reference(case: tuple[Any, bool]) -> None:
    _agree(*case)


#: Every key the schema declares, and one it does not (a custom property).
_KEYS = [*sorted(_ENTITY["properties"]), "os_distro"]


@given(v2_images(), st.sampled_from(_KEYS), st.data())
def test_one_value_at_the_edge(image: V2Image, key: str, data: st.DataObject) -> None:
    """One key of a server's answer at the edge of what its subschema accepts."""
    doc = v2image_to_v2_json(image)
    sub = _ENTITY["properties"].get(key, _ENTITY["additionalProperties"])
    doc[key] = data.draw(_edges(sub))
    _agree(doc, True)


@given(v2_images(), st.sampled_from(["", "k" * 255, "k" * 256, "é" * 255, "é" * 256]),
       st.one_of(_HOSTILE, st.text(max_size=3)))
def test_a_key_at_the_edge_of_the_names(image: V2Image, name: str, value: Any) -> None:
    """A custom property whose name is at the edge of what ``propertyNames`` accepts."""
    doc = v2image_to_v2_json(image)
    doc[name] = value
    _agree(doc, True)


@given(st.one_of(_DATE_EDGES, st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
                                             r":[0-9]{2}Z\Z"), st.text(max_size=22)))
def test_a_time_in_the_usual_form_is_what_the_schema_and_the_parse_say(text: str) -> None:
    """The compiled read takes :func:`zulu_time`'s answer as valid and as the value."""
    quick = zulu_time(text)
    if quick is not None:
        assert _FORMATS.conforms(text, "date-time"), text
        parsed = parse_time(text, "t")
        assert quick == parsed
        assert quick.tzinfo is parsed.tzinfo


def _agree(doc: Any, broken: bool) -> None:
    reference = _outcome(lambda: _v2image_reference(doc))
    seam_reference = _outcome(lambda: v2_to_image(_v2image_reference(doc)))
    fast, fast_seam = _wire_outcomes(doc)
    if fast is not None:
        assert isinstance(reference, V2Image), (doc, reference)
        assert fast == reference
        assert fast_seam == seam_reference
    else:  # a server's own answer is what the fast pass is for: it must not step aside
        assert broken or not isinstance(reference, V2Image), doc
    assert _outcome(lambda: v2_json_to_v2image(doc)) == reference
    assert _outcome(lambda: from_v2(doc)) == seam_reference


_LINKS = st.fixed_dictionaries({}, optional={
    "first": st.one_of(st.just("/v2/images"), _HOSTILE),
    "next": st.just("/v2/images?marker=" + ID),
    "schema": st.just("/v2/schemas/images"),
    "other": _HOSTILE,
})


@st.composite
def v2_pages(draw: st.DrawFn) -> Any:
    """A list answer: entities (some broken), the links, sometimes a broken page."""
    images = [draw(v2_documents())[0] for _ in range(draw(st.integers(0, 4)))]
    page: dict[str, Any] = {"images": images, **draw(_LINKS)}
    shape = draw(st.sampled_from(["page", "page", "no images", "not a list", "tuple"]))
    if shape == "no images":
        del page["images"]
    elif shape == "not a list":
        page["images"] = draw(_HOSTILE)
    elif shape == "tuple":
        page["images"] = tuple(images)
    return page


@given(v2_pages())
def test_fast_list_pass_equals_the_reference(page: Any) -> None:
    reference = _outcome(lambda: _v2images_reference(page))
    fast = v2_list_wire_fast(page)
    if fast is not None:
        assert len(fast) == len(page["images"])
        for wire, item in zip(fast, page["images"], strict=True):
            if wire is not None:
                assert wire_to_v2image(wire) == _v2image_reference(item)
    assert _outcome(lambda: v2_json_list_to_v2images(page)) == reference
    seam_reference = _outcome(lambda: tuple(map(v2_to_image, _v2images_reference(page))))
    assert _outcome(lambda: from_v2_list(page)) == seam_reference


def test_every_table_key_is_compiled() -> None:
    """The generated pass covers the whole table: no base key always steps aside."""
    when = "2026-11-24T17:07:57Z"
    doc = {
        "id": ID, "name": "n", "status": "active", "visibility": "public", "protected": False,
        "os_hidden": True, "checksum": "0" * 32, "os_hash_algo": "sha512",
        "os_hash_value": "0" * 128, "owner": "p", "size": 3, "virtual_size": None,
        "disk_format": "raw", "container_format": "bare", "min_ram": 0, "min_disk": 1,
        "created_at": when, "updated_at": when, "tags": ["a"], "direct_url": "file:///a",
        "locations": [{"url": "file:///a", "metadata": {"store": "fs"}}],
        "self": "/v2/images/" + ID, "file": "/f", "schema": "/s", "stores": "fs",
        "kernel_id": ID, "os_distro": "ünï",
    }
    assert set(doc) >= set(BY_V2_KEY)
    wire = v2_wire_fast(doc)
    assert wire is not None
    assert wire_to_v2image(wire) == _v2image_reference(doc)


# ------------------------------------------------- the compiler itself, on any small schema

_PATTERNS = st.sampled_from(["^[a-z0-9_]+$", "^x", "b$", "^[^\\r\\n]*$", "[0-9]{2}"])
_KEYWORDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.one_of(st.sampled_from(["null", "string", "integer", "number", "boolean",
                                       "array", "object"]),
                      st.lists(st.sampled_from(["null", "string", "integer", "boolean"]),
                               min_size=1, max_size=3, unique=True)),
    "maxLength": st.integers(0, 3), "minLength": st.integers(0, 2),
    "minimum": st.integers(-1, 1), "maximum": st.integers(0, 2),
    "pattern": _PATTERNS, "format": st.sampled_from(["date-time", "uri"]),
    "description": st.just("an annotation"), "enum": st.just(["x", 1]),
}
#: A few keywords at a time, so that each one often decides alone.
_SCALAR_SCHEMAS = st.lists(st.sampled_from(sorted(_KEYWORDS)), max_size=3, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({name: _KEYWORDS[name] for name in names}))


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("array"), "items": children}),
        st.fixed_dictionaries({"type": st.just("object")}, optional={
            "properties": st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2),
            "required": st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True),
            "additionalProperties": st.one_of(st.booleans(), children),
        }),
        st.booleans(),
    )


#: Half of them one subschema alone: a keyword is best caught where it decides alone.
_SCHEMAS = st.one_of(_SCALAR_SCHEMAS, st.recursive(_SCALAR_SCHEMAS, _extend, max_leaves=4))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.floats(-2, 3),
              st.text("xab0129_\n", max_size=5), _DATE_EDGES),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["a", "b", "c"]), children,
                                               max_size=3)),
    max_leaves=6,
)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(map(_has_float, value))
    return isinstance(value, dict) and any(map(_has_float, value.values()))


@given(_SCHEMAS, st.data())
def test_compiled_check_agrees_with_jsonschema(sub: Any, data: st.DataObject) -> None:
    """A compiled check never accepts what the validator refuses, and (floats aside, which
    it leaves to the validator) never refuses what it accepts."""
    value = data.draw(st.one_of(_JSON, _edges(sub)))
    check = checker(sub)
    if check is None:
        return  # a keyword it does not compile (enum): every such value steps aside
    valid = _Validator(sub, format_checker=_FORMATS).is_valid(value)
    if check(value):
        assert valid, (sub, value)
    elif not _has_float(value):
        assert not valid, (sub, value)
