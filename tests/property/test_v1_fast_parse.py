"""The fast v1 header pass agrees with the plain reference parse, or steps aside.

``_v1image_fast`` is an optimisation compiled from the field table and the v1-headers
schema; whenever it answers (not None) its record must equal what the reference parse
gives, and whenever the reference refuses the input the public parser must refuse it too.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from imgcompat.core.errors import ImgcompatError
from imgcompat.core.model import V1Image
from imgcompat.core.v1 import (
    _v1image_fast,
    _v1image_reference,
    v1_headers_to_v1image,
    v1image_to_v1_headers,
)
from tests.property.strategies import v1_images

_CASES = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])
_HOSTILE = st.sampled_from(["", " ", "-1", "abc", "True", "none", "x\r\ny", "\x00", "%ZZ",
                            "%C3%A9", "%C3", "2016-06-21T03:22:20.000000", "queued", "ünï"])


@st.composite
def server_headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A v1 server's header set, re-spelled and sometimes broken in one place."""
    image: V1Image = draw(v1_images())
    pairs = [(draw(_CASES)(name), value) for name, value in v1image_to_v1_headers(image)]
    pairs.append(("Content-Type", "text/html"))
    mutation = draw(st.sampled_from(["none", "value", "name", "repeat", "dash"]))
    if pairs and mutation != "none":
        i = draw(st.integers(0, len(pairs) - 1))
        name, value = pairs[i]
        if mutation == "value":
            pairs[i] = (name, draw(_HOSTILE | st.text(max_size=8)))
        elif mutation == "name":
            pairs[i] = ("x-image-meta-" + draw(st.text(max_size=8)), value)
        elif mutation == "repeat":
            pairs.append((name.upper(), draw(_HOSTILE)))
        else:
            pairs[i] = (name.replace("_", "-"), value)
    return pairs


def _outcome(parse: Any) -> Any:
    try:
        return parse()
    except ImgcompatError as exc:
        return type(exc)


@given(server_headers(), st.booleans(), st.booleans(), st.booleans())
def test_fast_pass_equals_the_reference(pairs: list[tuple[str, str]], as_dict: bool,
                                        decode: bool, strict: bool) -> None:
    headers: Any = dict(pairs) if as_dict else tuple(pairs)
    reference = _outcome(lambda: _v1image_reference(headers, percent_decode=decode,
                                                    strict=strict))
    for _ in range(2):  # the second time through, the pass's caches are warm
        fast = _outcome(lambda: _v1image_fast(headers, decode, strict))
        if fast is not None and isinstance(reference, V1Image):
            assert fast == reference
        elif fast is not None:
            assert not isinstance(fast, V1Image), (fast, reference)
        public = _outcome(lambda: v1_headers_to_v1image(headers, percent_decode=decode,
                                                        strict=strict))
        assert public == reference
