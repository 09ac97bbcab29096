"""Glance v1 wire codec: ``x-image-meta-*`` headers and v1 JSON <-> :class:`V1Image`.

Header encoding rule (one rule, applied on send and undone on receipt): a property name is
sent as-is when it is made of HTTP token characters, and a value when it is printable ASCII
without spaces; every other character (non-ASCII, space, control characters such as CR,
LF and NUL, and ``%`` itself) is percent-encoded as UTF-8. So nothing raw ever reaches a
header, and whatever we send decodes back exactly. A real v1 server stores the encoded text
as it arrived; the translation's ``Loss`` report says so (see :func:`header_losses`).
"""

from __future__ import annotations

import functools
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from imgcompat.core import scalars
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import (
    BY_V1_KEY,
    V1_FIELDS,
    V1_META_PREFIX,
    V1_PROPERTY_PREFIX,
    V1_PURGE_HEADER,
    Kind,
)
from imgcompat.core.immutable import FrozenDict
from imgcompat.core.model import Loss, V1Image
from imgcompat.core.schema import _compile, load_schema, validate

Headers = tuple[tuple[str, str], ...]
HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]

_TCHAR = "!#$&'*+-.^_`|~" + string.ascii_letters + string.digits
_VALUE_SAFE = "".join(
    c for c in map(chr, range(0x21, 0x7F)) if c != "%"
)


#: Texts made only of safe characters are sent as they are: no need to call quote().
_NAME_AS_IS = re.compile("[" + re.escape(_TCHAR) + "]*")
_VALUE_AS_IS = re.compile("[" + re.escape(_VALUE_SAFE) + "]*")


def encode_name(name: str) -> str:
    """A property name as header-name text (token characters; others percent-encoded)."""
    if _NAME_AS_IS.fullmatch(name):
        return name
    return _quote(name, _TCHAR, "property name")


def encode_value(value: str) -> str:
    """A header value: printable ASCII kept, the rest percent-encoded UTF-8."""
    if _VALUE_AS_IS.fullmatch(value):
        return value
    return _quote(value, _VALUE_SAFE, "value")


def _quote(text: str, safe: str, what: str) -> str:
    try:
        return quote(text, safe=safe)
    except UnicodeEncodeError as exc:  # a lone surrogate has no UTF-8 form
        raise InvalidRecord(f"the {what} {text[:60]!r} is not valid Unicode text") from exc


def decode_text(text: str, field: str) -> str:
    """Undo :func:`encode_value` / :func:`encode_name`; bad UTF-8 is an InvalidRecord."""
    if "%" not in text:
        return text
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRecord("percent-encoding is not valid UTF-8", field=field) from exc


def _lower_pairs(headers: HeaderInput) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    try:
        pairs = [(name, value) for name, value in items]
    except (TypeError, ValueError) as exc:
        raise InvalidRecord("headers must be a mapping or (name, value) pairs") from exc
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidRecord(f"header {name!r} is not text")
        out[name.lower()] = value
    return out


def v1_headers_to_v1image(
    headers: HeaderInput, *, percent_decode: bool = True, strict: bool = False
) -> V1Image:
    """Parse the metadata headers of a v1 answer (or request, for a server).

    ``strict`` refuses unknown ``x-image-meta-*`` names as the v1 server did (400);
    ``percent_decode=False`` keeps values exactly as they arrived, as the v1 server stored them.
    """
    if not isinstance(headers, Mapping):
        try:  # an iterator is read once: keep the pairs for the reference parse
            headers = tuple(headers)
        except (TypeError, ValueError) as exc:
            raise InvalidRecord("headers must be a mapping or (name, value) pairs") from exc
    image = _v1image_fast(headers, percent_decode, strict)
    if image is None:
        image = _v1image_reference(headers, percent_decode=percent_decode, strict=strict)
    return image


def _v1image_reference(
    headers: HeaderInput, *, percent_decode: bool = True, strict: bool = False
) -> V1Image:
    """The plain parse (every step separate): the oracle of the fast pass, and what runs
    whenever that pass is unsure, so errors name the header exactly as the schema does."""
    lowered = _lower_pairs(headers)
    meta = {k: v for k, v in lowered.items() if k.startswith(V1_META_PREFIX)}
    checked = meta if strict else _known_only(meta)
    if not _fast_valid(checked):
        validate("v1-headers", checked)
    values: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, raw in meta.items():
        if name.startswith(V1_PROPERTY_PREFIX):
            key = name[len(V1_PROPERTY_PREFIX):]
            if not key:
                raise InvalidRecord("empty property name", field=name)
            if percent_decode:
                properties[decode_text(key, name)] = decode_text(raw, name)
            else:
                properties[key] = raw
            continue
        # The v1 server read "-" as "_" in core field names (x-image-meta-disk-format).
        f = BY_V1_KEY.get(name[len(V1_META_PREFIX):].replace("-", "_"))
        if f is None or f.v1 is None:
            continue  # copy_from and friends: request-only, not part of the record
        text = decode_text(raw, name) if percent_decode else raw
        values[f.v1] = scalars.from_text(f, text)
    return V1Image(**values, properties=properties)


#: Keywords the fast header check understands; a subschema using any other one is left to
#: the full JSON Schema validator.
_FAST_KEYWORDS = frozenset({"$ref", "type", "pattern", "maxLength", "description",
                            "x-message", "examples"})
_Check = Callable[[str], bool] | None


def _resolve(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """A subschema with its local ``$ref`` chain merged in; None if it is not that simple."""
    merged: dict[str, Any] = {}
    seen = 0
    while True:
        if set(schema) - _FAST_KEYWORDS or seen > 8:
            return None
        for key, value in schema.items():
            merged.setdefault(key, value)
        ref = schema.get("$ref")
        if ref is None:
            return merged
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return None
        schema, seen = target, seen + 1


#: A pattern that is one character class repeated (``^[...]*$`` or ``^[...]+$``): a value
#: passes iff each of its characters is in the class, so many values can be checked at
#: once by matching their concatenation (one regex call instead of one per value).
_CLASS_RUN = re.compile(r"\^(\[(?:[^\\\]]|\\.)+\])([*+])\$")


_ESCAPES = {"r": "\r", "n": "\n", "t": "\t"}


def _banned(cls: str, run: re.Pattern[str]) -> str | None:
    """The characters of a negated class of plain literals (``[^\\r\\n\\u0000]``), else None.

    Only escapes and characters read the same in every regex dialect are taken, and the
    result is checked against the compiled regex itself, which stays the authority.
    """
    if not cls.startswith("[^"):
        return None
    body, out, i = cls[2:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            code = body[i + 1:i + 2]
            hex4 = body[i + 2:i + 6]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
            elif code == "u" and len(hex4) == 4 and all(c in string.hexdigits for c in hex4):
                out.append(chr(int(hex4, 16)))
                i += 6
            else:
                return None
        elif char in "-[]^&~|":
            return None  # ranges and set operations: leave them to the regex
        else:
            out.append(char)
            i += 1
    banned = "".join(out)
    probe = [chr(c) for c in range(0x80)] + ["\u00e9", "\u2028", "\U0001f600"]
    if not banned or any((run.search(c) is None) != (c in banned) for c in probe + out):
        return None
    return banned


class _ValueCheck:
    """One compiled string subschema: ``pattern`` and ``maxLength``, callable on a value.

    ``run`` is set when the pattern is a character-class run (see ``_CLASS_RUN``): then
    ``run`` matches any concatenation of passing values and ``min_len`` (0 or 1) is the
    per-value part of the check that concatenation loses.
    """

    __slots__ = ("banned", "bounded", "limit", "min_len", "regex", "run")

    def __init__(self, pattern: str | None, limit: int | None) -> None:
        self.regex = _compile(pattern) if pattern is not None else None
        self.limit = limit
        found = _CLASS_RUN.fullmatch(pattern) if pattern is not None else None
        self.run = _compile(f"^{found[1]}*$") if found else None
        self.min_len = 1 if found and found[2] == "+" else 0
        #: The class is "none of these characters": a substring test per character.
        self.banned = _banned(found[1], self.run) if found and self.run else None
        self.bounded = self.min_len > 0 or limit is not None

    def run_passes(self, joined: str) -> bool:
        """The class-run part of the check on a concatenation of values."""
        if self.banned is not None:
            return not any(c in joined for c in self.banned)
        return self.run is not None and self.run.search(joined) is not None

    def __call__(self, value: str) -> bool:
        if self.regex is not None and self.regex.search(value) is None:
            return False
        return self.limit is None or len(value) <= self.limit


def _string_check(root: dict[str, Any], schema: Any) -> _ValueCheck | None:
    """The compiled check of a string subschema, or None when it is not that simple."""
    sub = _resolve(root, schema) if isinstance(schema, dict) else None
    if sub is None or sub.get("type") != "string":
        return None
    return _ValueCheck(sub.get("pattern"), sub.get("maxLength"))


def _any_name(name: str) -> bool:
    return True


#: ``(property checks, pattern checks, name check, additional names allowed)``.
_Rules = tuple[dict[str, _ValueCheck | None], list[tuple[re.Pattern[str], _ValueCheck | None]],
               _Check, bool]


@functools.cache
def _fast_rules() -> _Rules:
    """The ``v1-headers`` schema compiled to plain checks (same file, same semantics)."""
    root = load_schema("v1-headers")
    props = {name: _string_check(root, sub) for name, sub in root.get("properties", {}).items()}
    patterns = [(_compile(p), _string_check(root, sub))
                for p, sub in root.get("patternProperties", {}).items()]
    names: _Check = _any_name
    if "propertyNames" in root:
        names = _string_check(root, root["propertyNames"])
    additional = root.get("additionalProperties", True) in (True, {})
    return props, patterns, names, additional


@functools.lru_cache(maxsize=4096)
def _checks_for(name: str) -> tuple[Callable[[str], bool], ...] | None:
    """The value checks the schema applies to header ``name``; None when unsure or refused."""
    props, patterns, names, additional = _fast_rules()
    if names is None or not names(name):
        return None
    checks: list[Callable[[str], bool]] = []
    matched = name in props
    if matched:
        check = props[name]
        if check is None:
            return None
        checks.append(check)
    for regex, pattern_check in patterns:
        if regex.search(name) is not None:
            matched = True
            if pattern_check is None:
                return None
            checks.append(pattern_check)
    if not matched and not additional:
        return None
    return tuple(checks)


def _fast_valid(meta: dict[str, str]) -> bool:
    """True when ``meta`` certainly passes the ``v1-headers`` schema.

    The full validator is slow (it dominated parsing); this check is compiled from the same
    schema and answers False whenever it is unsure, and then the full validator decides (and
    names the field). It never accepts what the schema refuses: ``properties`` and every
    matching ``patternProperties`` entry apply, ``additionalProperties`` only when none does.
    """
    for name, value in meta.items():
        checks = _checks_for(name)
        if checks is None or not isinstance(value, str):
            return False
        for check in checks:
            if not check(value):
                return False
    return True


def _known_only(meta: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in meta.items()
        if k.startswith(V1_PROPERTY_PREFIX)
        or k[len(V1_META_PREFIX):].replace("-", "_") in BY_V1_KEY
    }


#: Field kinds with a handful of values on the wire: their parsed values are remembered.
_FEW_VALUES = frozenset({Kind.BOOL, Kind.STATUS, Kind.VISIBILITY, Kind.DISK_FORMAT,
                         Kind.CONTAINER_FORMAT})
#: At most this many remembered values per header, and header names (bounded memory).
_MEMO_LIMIT = 64
_NAME_LIMIT = 4096

#: What a header name is to the fast pass.
_FIELD, _PROPERTY, _OTHER, _UNSURE = range(4)


class _Spec:
    """How the fast pass reads one header name (compiled from the field table and schema)."""

    __slots__ = ("attr", "check", "decoded", "key", "lname", "memo", "parse", "role", "slot")

    def __init__(self, role: int, lname: str, *, attr: str = "", key: str = "",
                 parse: Callable[[str], Any] | None = None, check: _ValueCheck | None = None,
                 slot: int = -1, few: bool = False) -> None:
        self.role = role
        self.lname = lname
        self.attr = attr
        self.parse = parse
        self.check = check
        #: Index of the batch this value joins (its check is a class run), else -1.
        self.slot = slot
        #: Raw text -> (parsed value,) for the few-valued kinds, filled as values pass.
        self.memo: dict[str, tuple[Any]] | None = {} if few else None
        #: A property's key as sent, and percent-decoded (None: not valid UTF-8).
        self.key = key
        self.decoded: str | None = None
        if role == _PROPERTY:
            try:
                self.decoded = decode_text(key, lname)
            except InvalidRecord:
                self.decoded = None


#: ``(field specs by lower-case name, property value check and its batch, batch checks)``.
_FastTable = tuple[dict[str, _Spec], _ValueCheck | None, int, tuple[_ValueCheck, ...]]


def _spellings(key: str) -> list[str]:
    """``a_b`` -> ``a_b``, ``a-b``: the v1 server read "-" as "_" in core field names."""
    out = [""]
    for part in key.split("_"):
        out = [f"{o}{sep}{part}" for o in out for sep in (("_", "-") if o else ("",))]
    return out


@functools.cache
def _fast_table() -> _FastTable:
    """The field table and the ``v1-headers`` schema compiled into one dispatch dict.

    A field header name goes in only when the schema gives it exactly one simple check;
    any other name takes the reference parse. Checks that are class runs are batched.
    """
    slots: dict[str, int] = {}
    runs: list[_ValueCheck] = []

    def slot_of(check: _ValueCheck) -> int:
        if check.run is None:
            return -1
        if check.run.pattern not in slots:
            slots[check.run.pattern] = len(runs)
            runs.append(check)
        return slots[check.run.pattern]

    table: dict[str, _Spec] = {}
    for f in V1_FIELDS:
        assert f.v1 is not None
        for spelling in _spellings(f.v1):
            name = V1_META_PREFIX + spelling
            checks = _checks_for(name)
            if checks is None or len(checks) != 1:
                continue
            check = checks[0]
            assert isinstance(check, _ValueCheck)
            few = f.kind in _FEW_VALUES
            table[name] = _Spec(_FIELD, name, attr=f.v1, parse=scalars.text_parser(f),
                                check=check, slot=-1 if few else slot_of(check), few=few)
    probe = _checks_for(V1_PROPERTY_PREFIX + "x")
    prop_check = probe[0] if probe is not None and len(probe) == 1 else None
    assert prop_check is None or isinstance(prop_check, _ValueCheck)
    prop_slot = slot_of(prop_check) if prop_check is not None else -1
    return table, prop_check, prop_slot, tuple(runs)


#: Header name as received -> its spec (names repeat: servers spell them the same way).
_BY_RAW_NAME: dict[str, _Spec] = {}


def _spec_for(name: str) -> _Spec:
    """Classify a header name (once; the answer is remembered by the name as received)."""
    table, prop_check, prop_slot, _ = _fast_table()
    lname = str.lower(name)  # TypeError for a name that is not text: the reference decides
    spec = table.get(lname)
    if spec is None:
        if lname.startswith(V1_PROPERTY_PREFIX):
            checks = _checks_for(lname)
            if prop_slot >= 0 and checks == (prop_check,):
                spec = _Spec(_PROPERTY, lname, key=lname[len(V1_PROPERTY_PREFIX):],
                             check=prop_check, slot=prop_slot)
            else:
                spec = _Spec(_UNSURE, lname)
        elif lname.startswith(V1_META_PREFIX):
            known = lname[len(V1_META_PREFIX):].replace("-", "_") in BY_V1_KEY
            # Unknown names are dropped unless strict; a field spelling the table did not
            # take (its check is not simple) goes to the reference parse.
            spec = _Spec(_UNSURE if known else _OTHER, lname, attr="meta")
        else:
            spec = _Spec(_OTHER, lname)
    if type(name) is str:
        if len(_BY_RAW_NAME) >= _NAME_LIMIT:
            _BY_RAW_NAME.clear()
        _BY_RAW_NAME[name] = spec
    return spec


def _v1image_fast(headers: HeaderInput, percent_decode: bool, strict: bool) -> V1Image | None:
    """One pass over the headers: dispatch, check, parse; None when unsure.

    It accepts only what the schema accepts (the same compiled checks, batched) and gives
    exactly what :func:`_v1image_reference` gives; on anything else (a check failing, a
    repeated field, an unusual name, any exception) it returns None and the reference
    parse decides, naming the header.
    """
    runs = _fast_table()[3]
    batches: list[list[str]] = [[] for _ in runs]
    values: dict[str, Any] = {}
    props: dict[str, str] = {}
    known = _BY_RAW_NAME.get
    try:
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, raw in items:
            spec = known(name) or _spec_for(name)
            role = spec.role
            if role == _PROPERTY:
                check = spec.check
                assert check is not None
                if check.bounded and (len(raw) < check.min_len or (
                        check.limit is not None and len(raw) > check.limit)):
                    return None
                batches[spec.slot].append(raw)
                if percent_decode:
                    key = spec.decoded
                    if key is None:
                        return None
                    text = decode_text(raw, spec.lname) if "%" in raw else raw
                else:
                    key, text = spec.key, raw
                if key in props:
                    return None  # two names for one key: order matters, reference
                props[key] = text
            elif role == _FIELD:
                attr = spec.attr
                if attr in values:
                    return None  # two spellings of one field: order matters, reference
                memo = spec.memo
                check = spec.check
                assert check is not None
                assert spec.parse is not None
                if memo is not None:
                    hit = memo.get(raw)
                    if hit is not None:
                        values[attr] = hit[0]
                        continue
                    if not check(raw):
                        return None
                    value = spec.parse(decode_text(raw, spec.lname) if percent_decode else raw)
                    if "%" not in raw and len(memo) < _MEMO_LIMIT:
                        memo[raw] = (value,)
                    values[attr] = value
                    continue
                if spec.slot >= 0:
                    if check.bounded and (len(raw) < check.min_len or (
                            check.limit is not None and len(raw) > check.limit)):
                        return None
                    batches[spec.slot].append(raw)
                elif not check(raw):
                    return None
                values[attr] = spec.parse(
                    decode_text(raw, spec.lname) if percent_decode and "%" in raw else raw)
            elif role == _OTHER:
                if not isinstance(raw, str) or (strict and spec.attr):
                    return None  # not text, or an unknown x-image-meta- name when strict
            else:
                return None
        for run, batch in zip(runs, batches, strict=True):
            if batch and not run.run_passes("".join(batch)):
                return None
        return V1Image(**values, properties=FrozenDict(props))
    except Exception:  # whatever it was, the reference parse reports it
        return None


def v1image_to_v1_headers(
    image: V1Image, *, writable_only: bool = False, percent_encode: bool = True
) -> Headers:
    """Headers for a v1 image; None is never sent (the classic seam sent "None")."""
    out: list[tuple[str, str]] = []
    for f in V1_FIELDS:
        assert f.v1 is not None
        if writable_only and f.read_only and not f.create_only:
            continue
        value = getattr(image, f.v1)
        if value is None:
            continue
        text = scalars.to_text(f, value)
        out.append((V1_META_PREFIX + f.v1, encode_value(text) if percent_encode else text))
    for key, value in image.properties.items():
        if not key:
            raise InvalidRecord("a property needs a name", field="properties")
        name = encode_name(key) if percent_encode else key
        out.append((V1_PROPERTY_PREFIX + name, encode_value(value) if percent_encode else value))
    if not percent_encode:
        for name, value in out:
            if any(c in value or c in name for c in "\r\n\x00"):
                raise InvalidRecord("CR, LF or NUL cannot travel in a header", field=name)
    return tuple(out)


def purge_header(purge: bool) -> tuple[str, str]:
    """Always sent explicitly: a v1 server purges when the header is missing."""
    return (V1_PURGE_HEADER, "true" if purge else "false")


#: ASCII letters only: the v1 server folds header names, not non-ASCII text.
_ASCII_FOLD = str.maketrans(string.ascii_uppercase + "-", string.ascii_lowercase + "_")


def header_losses(image: V1Image) -> tuple[Loss, ...]:
    """What the v1 header wire cannot carry faithfully for these properties."""
    losses: list[Loss] = []
    stored = {key: key.translate(_ASCII_FOLD) for key in image.properties}
    folded = Counter(stored.values())
    for key, value in image.properties.items():
        field = f"properties.{key}"
        if folded[stored[key]] > 1:
            losses.append(Loss(field, "another property differs from it only in case or in "
                                      "'-'/'_': the v1 server keeps one of them"))
        if "-" in key:
            losses.append(Loss(field, "the v1 server stores '-' in a property name as '_'"))
        if stored[key] != key.replace("-", "_"):
            losses.append(Loss(field, "v1 header names are case-insensitive: the name "
                                      "comes back in lower case"))
        if encode_name(key) != key or encode_value(value) != value:
            losses.append(Loss(field, "travels percent-encoded; the v1 server stores the "
                                      "encoded text, which a v2 reader sees as is"))
    if image.name is not None and encode_value(image.name) != image.name:
        losses.append(Loss("name", "travels percent-encoded; the v1 server stores the "
                                   "encoded text, which a v2 reader sees as is"))
    return tuple(losses)


def v1_json_to_v1image(doc: Mapping[str, Any], *, percent_decode: bool = True) -> V1Image:
    """One image object of a v1 JSON answer (``{"image": ...}`` or a bare object).

    Text our header rule percent-encoded was stored encoded by the v1 server, and its JSON
    answers carry it so: decoding here keeps a listed record equal to the same image shown
    through HEAD (``percent_decode=False`` keeps what the server stored).
    """
    if isinstance(doc, Mapping) and set(doc) == {"image"}:
        doc = doc["image"]
    validate("v1-image", doc)
    values: dict[str, Any] = {}
    for key, raw in doc.items():
        f = BY_V1_KEY.get(key)
        if f is not None and f.v1 is not None:
            text = decode_text(raw, key) if (
                percent_decode and isinstance(raw, str) and f.kind is Kind.STR) else raw
            values[f.v1] = scalars.from_json(f, text, api="1")
    # A NULL property (possible through v1) is left out, as the v1 HEAD answer does.
    props = {
        (decode_text(k, k) if percent_decode else k): (decode_text(v, k) if percent_decode else v)
        for k, v in (doc.get("properties") or {}).items()
        if v is not None
    }
    return V1Image(**values, properties=props)


def v1_json_list_to_v1images(doc: Mapping[str, Any]) -> tuple[V1Image, ...]:
    """The images of a v1 list answer ``{"images": [...]}``."""
    validate("v1-image-document", doc)
    images = doc.get("images")
    if not isinstance(images, list):
        raise InvalidRecord("a v1 list answer needs an 'images' list", field="images")
    return tuple(v1_json_to_v1image(item) for item in images)


def v1image_to_v1_json(image: V1Image) -> dict[str, Any]:
    """The v1 JSON object of an image (as a v1 server answers it)."""
    out: dict[str, Any] = {}
    for f in V1_FIELDS:
        assert f.v1 is not None
        out[f.v1] = scalars.to_json(f, getattr(image, f.v1), api="1")
    out["properties"] = dict(image.properties)
    return out
