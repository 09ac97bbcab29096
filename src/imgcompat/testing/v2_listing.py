"""``GET /v2/images``: Glance's filters, sorting and paging, over the caller's images.

The query string is read as webob does: ``limit``, ``marker``, ``member_status`` and
``sort`` are popped once (the first value), ``tag``, ``sort_key`` and ``sort_dir`` until
none is left, and what remains becomes the filters (the last value of a repeated key
wins). The filters then follow the database layer: columns compare on the column,
anything else on a custom property; ``<column>_min`` / ``<column>_max`` are ranges;
``name``, ``id``, ``status`` and the formats take ``eq:``/``in:``, the times
``gt:``/``gte:``/``lt:``/``lte:``/``eq:``/``neq:``. The marker is any image the caller
may see: the page starts after it in the sort order, wherever the filters put it.

A page costs what it walks, not what the store holds: for the sorts the store keeps in
order (Glance's default, ``name`` and ``updated_at``; see :mod:`.orders`) the marker is
found by bisection and the records after it are checked one by one until the page is
full (:func:`walk_page`). Any other sort filters and sorts every record
(:func:`scan_page`), the definition the walk is held to by a property test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import attrs

from imgcompat.core import scalars
from imgcompat.core.enums import Status
from imgcompat.core.errors import InvalidRecord

from .http import json_array, json_bytes, json_object
from .http_errors import HttpError
from .identity import Identity, listed, visible
from .orders import Start, order_key, sort_value
from .store import Record, Store
from .v2_api import Call

_SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
              "created_at", "updated_at")
_LIMIT_DEFAULT, _LIMIT_MAX = 25, 1000
_MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
_VISIBILITIES = ("community", "public", "private", "shared", "all")
#: models.Image columns a plain filter compares with (others are custom properties).
_COLUMNS = frozenset({"id", "name", "disk_format", "container_format", "size",
                      "virtual_size", "status", "checksum", "os_hash_algo", "os_hash_value",
                      "min_disk", "min_ram", "owner", "protected", "os_hidden", "created_at",
                      "updated_at", "deleted_at", "deleted", "visibility"})
#: Popped (first value) by the database layer; a repeated one also filters on its last.
_POPPED = ("visibility", "checksum", "os_hash_value")
_RANGE_COLUMNS = frozenset({"size", "virtual_size", "min_disk", "min_ram"})
_OP_COLUMNS = ("name", "id", "status", "container_format", "disk_format")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b, "neq": lambda a, b: a != b, "eq": lambda a, b: a == b}
_SCHEMA = json_bytes("/v2/schemas/images")
_QUOTED_VALUES = re.compile(r'"([^\"\\]*(?:\\.[^\"\\]*)*)",?|([^,]+),?|,')


class Query:
    """The query string, popped the way Glance's deserializer pops its MultiDict."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def pop(self, key: str) -> str | None:
        """Remove and return the first value of ``key``."""
        for i, (k, v) in enumerate(self.pairs):
            if k == key:
                del self.pairs[i]
                return v
        return None

    def pop_all(self, key: str) -> list[str]:
        """Remove and return every value of ``key``, in order."""
        values = [v for k, v in self.pairs if k == key]
        self.pairs = [(k, v) for k, v in self.pairs if k != key]
        return values

    def rest(self) -> dict[str, str]:
        """What remains, as ``dict()`` of a MultiDict: the last value of a key wins."""
        return dict(self.pairs)

    def first(self, key: str) -> str | None:
        """The first value of ``key`` (what the database layer's ``pop`` takes)."""
        return next((v for k, v in self.pairs if k == key), None)

    def repeated(self, key: str) -> bool:
        """Is ``key`` given more than once?"""
        return sum(1 for k, _ in self.pairs if k == key) > 1


def _sort_spec(query: Query) -> list[tuple[str, str]]:
    keys: list[str] = []
    dirs: list[str] = []

    def key_ok(key: str) -> str:
        if key not in _SORT_KEYS:
            raise HttpError(400, f"Invalid sort key: {key}. It must be one of the following: "
                                 f"{', '.join(_SORT_KEYS)}.")
        return key

    def dir_ok(direction: str) -> str:
        if direction not in ("asc", "desc"):
            raise HttpError(400, f"Invalid sort direction: {direction}")
        return direction

    sort = query.pop("sort")
    if sort is not None:
        if any(k in ("sort_key", "sort_dir") for k, _ in query.pairs):
            raise HttpError(400, "Old and new sorting syntax cannot be combined")
        for item in sort.strip().split(","):
            key, _, direction = item.partition(":")
            keys.append(key_ok(key.strip()))
            dirs.append(dir_ok((direction or "desc").strip()))
    else:
        keys = [key_ok(k.strip()) for k in query.pop_all("sort_key")]
        dirs = [dir_ok(d.strip()) for d in query.pop_all("sort_dir")]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise HttpError(400, "Number of sort dirs does not match the number of sort keys")
    keys = keys or ["created_at"]
    dirs = dirs or ["desc"]
    default_dir = "desc"
    if len(dirs) == 1:  # one direction applies to every key, and to the implicit ones
        default_dir = dirs[0]
        dirs = dirs * len(keys)
    spec = list(zip(keys, dirs, strict=True))
    for extra in ("created_at", "id"):
        if extra not in keys:
            spec.append((extra, default_dir))
    return spec


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as Glance's ``parse_isotime`` takes it (None: not one)."""
    try:
        return scalars.parse_time(text, "filter")
    except (InvalidRecord, ValueError, OverflowError):
        return None


def _split_op(expression: str) -> tuple[str, str]:
    left, sep, right = expression.partition(":")
    if sep and parse_time(expression) is None:
        return left, right
    return "eq", expression


def _in_values(text: str) -> list[str]:
    opened = True
    for i, char in enumerate(text):
        if char != '"' or (i and text[i - 1] == "\\"):
            continue
        if opened and i and text[i - 1] != ",":
            raise HttpError(400, f"Invalid filter value {text}. There is no comma before "
                                 "opening quotation mark.")
        if not opened and i + 1 != len(text) and text[i + 1] != ",":
            raise HttpError(400, f"Invalid filter value {text}. There is no comma after "
                                 "closing quotation mark.")
        opened = not opened
    if not opened:
        raise HttpError(400, f"Invalid filter value {text}. The quote is not closed.")
    return [a or b for a, b in _QUOTED_VALUES.findall(text)]


def _column_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return scalars.format_v1_time(value)
    return str(value)


def _matcher(key: str, value: str) -> Callable[[Record], bool]:
    """One filter of the database layer, as a predicate (errors raised at once)."""
    if key.endswith(("_min", "_max")):
        column = key[:-4]
        try:
            bound = int(value)
        except ValueError:
            raise HttpError(400, "Unable to filter on a range with a non-numeric "
                                 "value.") from None
        if column not in _RANGE_COLUMNS:  # Glance 33 answers 500 for other columns
            raise HttpError(400, f"Unable to filter on a range of {column}.")
        low = key.endswith("_min")
        return lambda r: ((v := getattr(r, column)) is not None
                          and (v >= bound if low else v <= bound))
    if key in ("created_at", "updated_at"):
        op, text = _split_op(value)
        when = parse_time(text)
        if when is None:
            raise HttpError(400, f'Bad "{key}" query filter format. Use ISO 8601 DateTime '
                                 "notation.")
        if op not in _COMPARE:
            raise HttpError(400, "Unable to filter on a unknown operator.")
        compare = _COMPARE[op]
        return lambda r: compare(getattr(r, key), when)
    if key in _OP_COLUMNS:
        op, text = _split_op(value)
        if op == "in":
            wanted = set(_in_values(text))
            return lambda r: _column_text(getattr(r, key)) in wanted
        if op != "eq":
            raise HttpError(400, f"Unable to filter by unknown operator '{op}'.")
        return lambda r: _column_text(getattr(r, key)) == text
    if key in _COLUMNS:
        return lambda r: _column_text(getattr(r, key)) == value
    return lambda r: key in r.properties and r.properties[key] == value


def _after(record: Record, marker: Record, spec: tuple[tuple[str, str], ...]) -> bool:
    """Is ``record`` past ``marker`` in this order (Glance's pagination criteria)?"""
    for key, direction in spec:
        mine, theirs = getattr(record, key), getattr(marker, key)
        if mine == theirs:
            continue
        if mine is None or theirs is None:  # NULL compares as the column's default
            mine, theirs = mine or 0, theirs or 0
            if isinstance(mine, str) or isinstance(theirs, str):
                mine, theirs = str(mine or ""), str(theirs or "")
            if mine == theirs:
                continue
        return bool(mine > theirs) if direction == "asc" else bool(mine < theirs)
    return False


@attrs.frozen
class PageQuery:
    """One ``GET /v2/images`` as the database layer gets it: what to match, in which
    order, from which marker, how many."""

    conditions: tuple[Callable[[Record], bool], ...]
    spec: tuple[tuple[str, str], ...]
    marker: str | None
    limit: int
    member_status: str = "accepted"
    visibility: str | None = None


def page_query(pairs: list[tuple[str, str]]) -> PageQuery:
    """The query string read as Glance reads it, refused (:class:`HttpError`) as Glance
    refuses it, in Glance's order of checks."""
    query = Query(pairs)
    limit_text = query.pop("limit")
    marker = query.pop("marker")
    member_status = query.pop("member_status")
    member_status = "accepted" if member_status is None else member_status
    tags = [t.strip() for t in query.pop_all("tag")]
    params = query.rest()
    visibility = params.get("visibility")
    if visibility and visibility not in _VISIBILITIES:
        raise HttpError(400, f"Invalid visibility value: {visibility}")
    if params.get("changes-since"):
        raise HttpError(400, 'The "changes-since" filter is no longer available on v2.')
    if member_status not in _MEMBER_STATUSES:
        raise HttpError(400, f"Invalid status: {member_status}")
    limit = _LIMIT_DEFAULT
    if limit_text is not None:
        try:
            limit = int(limit_text)
        except ValueError:
            raise HttpError(400, "limit param must be an integer") from None
        if limit < 0:
            raise HttpError(400, "limit param must be positive")
    spec = _sort_spec(query)
    popped = {key: query.first(key) for key in _POPPED}
    filters = query.rest()
    for key in _POPPED:
        if not query.repeated(key):
            filters.pop(key, None)
    conditions = _conditions(filters, tags)
    for key in ("checksum", "os_hash_value"):
        if popped[key] is not None:
            conditions.append(_matcher(key, popped[key] or ""))
    return PageQuery(tuple(conditions), tuple(spec), marker, min(limit, _LIMIT_MAX),
                     member_status=member_status, visibility=popped["visibility"])


async def index(call: Call) -> None:
    """``GET /v2/images``."""
    query = page_query(call.req.query)
    page = list_page(call.emu.store, call.who, query)
    link_params = {k: v for k, v in dict(call.req.query).items() if k != "marker"}
    # The entities are joined as the store keeps them encoded: the bytes are those of
    # the whole document encoded at once (tests/property/test_emulator_pages.py).
    first = "/v2/images" + (f"?{urlencode(link_params)}" if link_params else "")
    members = [("images", json_array(call.api.entities(page))),
               ("first", json_bytes(first)), ("schema", _SCHEMA)]
    if page and len(page) == query.limit:  # the database returned ``limit`` rows
        next_link = "/v2/images?" + urlencode({**link_params, "marker": page[-1].id})
        members.append(("next", json_bytes(next_link)))
    await call.resp.encoded_json(200, json_object(members))


def _conditions(filters: dict[str, str], tags: list[str]) -> list[Callable[[Record], bool]]:
    hidden = filters.pop("os_hidden", "false").lower()
    if hidden not in ("true", "false"):
        raise HttpError(400, f"Invalid value '{hidden}' for 'os_hidden' filter. Valid values "
                             "are 'true' or 'false'.")
    want_hidden = hidden == "true"
    conditions: list[Callable[[Record], bool]] = [lambda r: r.os_hidden == want_hidden]
    protected = filters.pop("protected", None)
    if protected is not None:
        if protected not in ("true", "false"):
            raise HttpError(400, f"Invalid value '{protected}' for 'protected' filter. Valid "
                                 "values are 'true' or 'false'.")
        want_protected = protected == "true"
        conditions.append(lambda r: r.protected == want_protected)
    filters.pop("deleted", None)
    conditions.extend(_matcher(k, v) for k, v in filters.items())
    conditions.extend(_has_tag(t) for t in tags)
    return conditions


def _has_tag(tag: str) -> Callable[[Record], bool]:
    return lambda r: tag in r.tags


def list_page(store: Store, who: Identity, query: PageQuery) -> list[Record]:
    """One page of the images ``who`` may list: walked along one of the store's orders
    when one serves the sort, else :func:`scan_page`'s answer."""
    walked = walk_page(store, who, query)
    return scan_page(store, who, query) if walked is None else walked


def scan_page(store: Store, who: Identity, query: PageQuery) -> list[Record]:
    """The page as the database query defines it: every live record filtered, sorted,
    cut after the marker (what :func:`walk_page` must answer too)."""
    marker = _marker(store, who, query.marker)
    wanted = _wanted(store, who, query)
    rows = [r for r in store.all() if not r.gone and wanted(r)]
    for key, direction in reversed(query.spec):
        rows.sort(key=_by(key), reverse=direction == "desc")
    if marker is not None:
        rows = [r for r in rows if _after(r, marker, query.spec)]
    return rows[:query.limit]


def _by(column: str) -> Callable[[Record], tuple[bool, Any]]:
    return lambda record: sort_value(getattr(record, column))


def walk_page(store: Store, who: Identity, query: PageQuery) -> list[Record] | None:
    """The page read along the store's order for this sort, from the marker on, record by
    record until it is full; None when the store keeps no such order.

    The marker's place is found by bisection. Glance's marker criteria compare a NULL
    text as ``''`` (:func:`_after`), while the sort puts NULL first: a marker whose
    leading column is NULL or ``''`` starts the walk at the first of both (every record
    walked is still checked against the criteria).
    """
    order = _order(query.spec)
    if order is None or not store.ordered(order[0]):
        return None
    columns, descending = order
    marker = _marker(store, who, query.marker)
    wanted = _wanted(store, who, query)
    start: Start | None = None
    keep = wanted
    if marker is not None:
        spec = query.spec
        lead = getattr(marker, columns[0])
        if lead is None or lead == "":
            start = Start((sort_value(""),), inclusive=True) if descending else None
        else:
            start = Start(order_key(marker, columns))

        def keep(record: Record) -> bool:
            return wanted(record) and _after(record, marker, spec)

    return store.walk(columns, descending=descending, start=start, keep=keep,
                      limit=query.limit)


def _order(spec: tuple[tuple[str, str], ...]) -> tuple[tuple[str, ...], bool] | None:
    """The columns and direction of ``spec`` when one direction applies to them all;
    what follows ``id`` never decides anything (ids are unique)."""
    columns: list[str] = []
    directions = set()
    for key, direction in spec:
        columns.append(key)
        directions.add(direction)
        if key == "id":
            break
    if len(directions) != 1:
        return None
    return tuple(columns), directions.pop() == "desc"


def _marker(store: Store, who: Identity, marker: str | None) -> Record | None:
    """The marker's record (None: no marker), refused as Glance refuses it."""
    if marker is None:
        return None
    try:
        record = store.get(marker) if len(marker) <= 36 else None
    except LookupError:
        record = None
    if record is None:
        raise HttpError(400, f"No image found with ID {marker}")
    if not visible(who, record, store):
        raise HttpError(403, f"Forbidding request, image {marker} not visible")
    return record


def _wanted(store: Store, who: Identity, query: PageQuery) -> Callable[[Record], bool]:
    """Does the database query return a live record (before the marker cuts)?"""
    conditions = query.conditions
    member_status, visibility = query.member_status, query.visibility

    def wanted(record: Record) -> bool:
        if record.status == Status.KILLED or not listed(
                who, record, store, member_status=member_status, visibility=visibility):
            return False
        for condition in conditions:  # noqa: SIM110  # cheaper than all() over a genexpr
            if not condition(record):
                return False
        return True

    return wanted
