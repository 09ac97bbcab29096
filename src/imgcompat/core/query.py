"""List filters as the caller writes them (v1 style) -> each API's query parameters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from imgcompat.core.enums import Api, Visibility, parse_api
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.model import Loss
from imgcompat.core.scalars import format_v1_time, format_v2_time, parse_time

PROPERTY_PREFIX = "property-"
_CHANGES_SINCE = ("changes-since", "changes_since")
#: Keys whose value the server splits at ``op:``; a literal colon needs ``eq:`` (both APIs
#: reach the same database code).
_V2_OPERATOR_KEYS = frozenset({"name", "id", "status", "container_format", "disk_format"})
_PAGING = frozenset({"marker", "limit", "page_size", "sort_key", "sort_dir"})

Params = tuple[tuple[str, str], ...]


@attrs.frozen
class FilterPlan:
    """Query parameters for one API, and what the shell must still do or say.

    ``strictly_after``: v2 can only ask ``updated_at >= T``; the caller's ``changes-since``
    means strictly after T, so the shell drops records updated exactly at T.
    """

    params: Params
    losses: tuple[Loss, ...] = ()
    strictly_after: datetime | None = None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_v2_time(value)
    return str(value)


def _is_public(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("none", ""):
        return None
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidRecord(f"is_public must be true, false or none, got {value!r}",
                        field="is_public")


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return parse_time(value.isoformat(), "changes-since")
    return parse_time(str(value), "changes-since")


def filters_for(api: Api | str | int, filters: Mapping[str, Any]) -> FilterPlan:
    """Map the seam's filters to ``api``'s query parameters."""
    api = parse_api(api)
    params: list[tuple[str, str]] = []
    losses: list[Loss] = []
    strictly_after: datetime | None = None
    for key, value in filters.items():
        if value is None and key != "is_public":
            continue
        if key in _CHANGES_SINCE:
            since = _time(value)
            if api is Api.V1:
                params.append(("changes-since", format_v1_time(since)))
            else:
                params.append(("updated_at", "gte:" + format_v2_time(since)))
                strictly_after = since
                losses.append(Loss("changes-since", "v2 cannot list deleted images: "
                                                    "deletions since then are not seen"))
        elif key == "is_public":
            flag = _is_public(value)
            if api is Api.V1:
                params.append(("is_public", "None" if flag is None else str(flag)))
            elif flag is not None:
                params.append(("visibility", "public" if flag else "private"))
        elif key == "visibility" and api is Api.V1:
            try:
                vis = Visibility(str(value))
            except ValueError as exc:
                raise InvalidRecord(f"not a visibility: {value!r}", field="visibility") from exc
            if vis in (Visibility.PUBLIC, Visibility.PRIVATE):
                params.append(("is_public", str(vis == Visibility.PUBLIC)))
            else:
                losses.append(Loss("visibility", f"v1 cannot filter on {vis!s}"))
        elif key.startswith(PROPERTY_PREFIX) and api is Api.V2:
            params.append((key[len(PROPERTY_PREFIX):], _text(value)))
        elif key in {"tags", "tag"}:
            values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
            if api is Api.V1:
                losses.append(Loss("tag", "v1 has no tags to filter on"))
            else:
                params.extend(("tag", _text(v)) for v in values)
        elif key == "page_size":
            params.append(("limit", _text(value)))
        elif key == "limit" and "page_size" in filters:
            continue  # the caller's total, counted by the shell; page_size is per request
        else:
            text = _text(value)
            if key in _V2_OPERATOR_KEYS and ":" in text and not text.startswith("in:"):
                text = "eq:" + text
            params.append((key, text))
    if api is Api.V1 and not any(key == "is_public" for key, _ in params):
        # Without it a v1 server hides other projects' private images even from an
        # administrator, where the same v2 listing shows them: the classic seam sent it too.
        params.append(("is_public", "None"))
    return FilterPlan(tuple(params), tuple(losses), strictly_after)


def is_paging_key(key: str) -> bool:
    """Keys that steer paging rather than select images."""
    return key in _PAGING
