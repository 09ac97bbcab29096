"""Hostile input: arbitrary Unicode through the v1 header codec, arbitrary data into parsers."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from imgcompat import (
    ImgcompatError,
    InvalidRecord,
    filters_for,
    from_seam_dict,
    from_v1_headers,
    from_v1_json,
    from_v2,
    to_v1_headers,
)
from imgcompat.core.discovery import choose_version, normalize_endpoint
from imgcompat.core.errors import error_for
from imgcompat.core.model import Image
from imgcompat.core.seam import from_v1_json_list, from_v2_list
from imgcompat.core.v1 import v1image_to_v1_headers, v1image_to_v1_json
from imgcompat.core.v2 import v2image_to_v2_json
from tests.property.strategies import v1_images, v2_images

#: Every code point, surrogates and control characters (CR, LF, NUL) included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=16)
HOSTILE = st.one_of(
    ANY_TEXT,
    st.sampled_from(["a\r\nx-injected: 1", "\x00", "\n", "%", "%zz", "%C3", "é", "\ud800",
                     "A", "a b", "a-b", "~/"]),
)

_NAME_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _lower_ascii(text: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


@given(HOSTILE, HOSTILE, HOSTILE)
def test_unicode_through_v1_headers_round_trips_or_is_refused(
    key: str, value: str, name: str
) -> None:
    image = Image(name=name, properties={key: value})
    try:
        sent = to_v1_headers(image)
    except InvalidRecord:
        return  # refused before anything reached a header
    for header, text in sent.value:
        assert set(header) <= _NAME_CHARS, header
        assert all(0x20 < ord(c) < 0x7F for c in text), text  # no raw CR/LF/NUL/non-ASCII
    back = from_v1_headers(dict(sent.value))
    assert back.name == name
    named = {loss.field for loss in sent.losses}
    if key in back.properties:
        assert back.properties[key] == value
    else:  # only ASCII upper case is lost, and a Loss says so
        assert back.properties[_lower_ascii(key)] == value
        assert f"properties.{key}" in named


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      ANY_TEXT)
JSON_VALUES = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(ANY_TEXT, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid document with a few keys replaced, removed or added at random."""
    doc = dict(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(doc)
        action = draw(st.integers(0, 2))
        if action == 0 and keys:
            doc[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
        elif action == 1 and keys:
            doc.pop(draw(st.sampled_from(keys)))
        else:
            doc[draw(ANY_TEXT)] = draw(JSON_VALUES)
    return doc


V2_DOCS = v2_images(max_props=2).map(v2image_to_v2_json)
V1_DOCS = v1_images(max_props=2).map(v1image_to_v1_json)
V1_HEADERS = v1_images(max_props=2).map(lambda i: dict(v1image_to_v1_headers(i)))
ARBITRARY = st.one_of(JSON_VALUES, mutated(V2_DOCS), mutated(V1_DOCS))


def _only_our_errors(call: Any, *args: Any) -> None:
    with contextlib.suppress(ImgcompatError):
        call(*args)


@given(st.one_of(ARBITRARY, mutated(V1_HEADERS),
                 st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=4)))
def test_v1_header_parser_raises_only_our_errors(doc: Any) -> None:
    _only_our_errors(from_v1_headers, doc)


@given(ARBITRARY)
def test_json_parsers_raise_only_our_errors(doc: Any) -> None:
    _only_our_errors(from_v2, doc)
    _only_our_errors(from_v2_list, {"images": [doc]})
    _only_our_errors(from_v2_list, doc)
    _only_our_errors(from_v1_json, doc)
    _only_our_errors(from_v1_json, {"image": doc})
    _only_our_errors(from_v1_json_list, {"images": [doc]})
    _only_our_errors(from_seam_dict, doc)
    _only_our_errors(choose_version, doc)
    _only_our_errors(choose_version, {"versions": [doc]})


@given(st.one_of(mutated(V2_DOCS), mutated(V1_DOCS)).map(json.dumps))
def test_parsers_of_text_from_json_raise_only_our_errors(text: str) -> None:
    _only_our_errors(from_v2, json.loads(text))


@given(st.dictionaries(st.one_of(ANY_TEXT, st.sampled_from(
    ["property-x", "changes-since", "is_public", "visibility", "tag", "page_size", "limit",
     "name"])), JSON_VALUES, max_size=4), st.sampled_from(["1", "2"]))
def test_filters_for_raises_only_our_errors(filters: dict[str, Any], api: str) -> None:
    _only_our_errors(filters_for, api, filters)


@given(st.integers(100, 599), st.one_of(st.none(), ANY_TEXT, st.binary(max_size=40)),
       st.one_of(st.none(), ANY_TEXT))
def test_error_for_always_returns_an_error(status: int, body: Any, image_id: Any) -> None:
    error = error_for(status, body, image_id)
    assert isinstance(error, ImgcompatError)
    assert error.status == status


@given(ANY_TEXT)
def test_normalize_endpoint_raises_only_our_errors(url: str) -> None:
    _only_our_errors(normalize_endpoint, url)
