"""filters_for: every filter rule of seam-contract.md, for both APIs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from imgcompat import Api, InvalidRecord, filters_for
from imgcompat.core.query import is_paging_key

T = datetime(2016, 6, 21, 3, 22, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("filters", "v1", "v2"),
    [
        ({"property-os_distro": "ubuntu"}, [("property-os_distro", "ubuntu")],
         [("os_distro", "ubuntu")]),
        # strip the exact prefix, nothing more (nova's lstrip ate leading p/r/o/e/t/y/-)
        ({"property-property-x": "1"}, [("property-property-x", "1")], [("property-x", "1")]),
        ({"property-type": "t"}, [("property-type", "t")], [("type", "t")]),
        ({"property-pro": "p"}, [("property-pro", "p")], [("pro", "p")]),
        ({"is_public": True}, [("is_public", "True")], [("visibility", "public")]),
        ({"is_public": "true"}, [("is_public", "True")], [("visibility", "public")]),
        ({"is_public": "False"}, [("is_public", "False")], [("visibility", "private")]),
        ({"is_public": False}, [("is_public", "False")], [("visibility", "private")]),
        ({"is_public": None}, [("is_public", "None")], []),
        ({"is_public": "none"}, [("is_public", "None")], []),
        ({"name": "cirros"}, [("name", "cirros")], [("name", "cirros")]),
        ({"name": "a:b"}, [("name", "eq:a:b")], [("name", "eq:a:b")]),
        ({"name": "in:a,b"}, [("name", "in:a,b")], [("name", "in:a,b")]),
        ({"status": "active"}, [("status", "active")], [("status", "active")]),
        ({"container_format": "bare"}, [("container_format", "bare")],
         [("container_format", "bare")]),
        ({"disk_format": "qcow2"}, [("disk_format", "qcow2")], [("disk_format", "qcow2")]),
        ({"size_min": 10}, [("size_min", "10")], [("size_min", "10")]),
        ({"size_max": 20}, [("size_max", "20")], [("size_max", "20")]),
        ({"marker": "m"}, [("marker", "m")], [("marker", "m")]),
        ({"limit": 5}, [("limit", "5")], [("limit", "5")]),
        ({"page_size": 5}, [("limit", "5")], [("limit", "5")]),
        ({"page_size": 5, "limit": 100}, [("limit", "5")], [("limit", "5")]),
        ({"sort_key": "name", "sort_dir": "asc"}, [("sort_key", "name"), ("sort_dir", "asc")],
         [("sort_key", "name"), ("sort_dir", "asc")]),
        ({"owner": None}, [], []),
        ({"protected": True}, [("protected", "true")], [("protected", "true")]),
    ],
)
def test_filter_rules(filters: dict[str, Any], v1: list[tuple[str, str]],
                      v2: list[tuple[str, str]]) -> None:
    assert list(filters_for(Api.V1, filters).params) == with_v1_default(v1)
    assert list(filters_for("2", filters).params) == v2


def with_v1_default(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A v1 listing that names no is_public asks for every project's images (as v2 shows)."""
    if any(key == "is_public" for key, _ in params):
        return params
    return [*params, ("is_public", "None")]


def test_v1_listing_without_is_public_shows_every_project() -> None:
    assert filters_for("1", {}).params == (("is_public", "None"),)
    assert filters_for("v1", {"name": "x"}).params == (("name", "x"), ("is_public", "None"))
    assert filters_for("1", {"is_public": False}).params == (("is_public", "False"),)
    assert filters_for("2", {}).params == ()


@pytest.mark.parametrize("spelling", [1, 2, "1", "2", "v1", "v2", "V2", "2.0", "1.0", "v2.15",
                                      " 2 "])
def test_api_versions_as_users_spell_them(spelling: Any) -> None:
    expected = Api.V1 if str(spelling).strip().lower().lstrip("v").startswith("1") else Api.V2
    assert filters_for(spelling, {}).params == (() if expected is Api.V2
                                               else (("is_public", "None"),))


@pytest.mark.parametrize("spelling", ["3", "v3", "", "two", "2.x", True, 2.0, None, "v", "12"])
def test_unknown_api_spelling_lists_the_known_ones(spelling: Any) -> None:
    with pytest.raises(InvalidRecord) as info:
        filters_for(spelling, {})
    assert info.value.field == "version"
    assert "v2" in str(info.value)
    assert "2.0" in str(info.value)


@pytest.mark.parametrize("key", ["changes-since", "changes_since"])
@pytest.mark.parametrize("value", [T, "2016-06-21T03:22:20Z", "2016-06-21T03:22:20.000000"])
def test_changes_since(key: str, value: Any) -> None:
    v1 = filters_for("1", {key: value})
    assert v1.params == (("changes-since", "2016-06-21T03:22:20.000000"), ("is_public", "None"))
    assert v1.losses == ()
    assert v1.strictly_after is None
    v2 = filters_for("2", {key: value})
    assert v2.params == (("updated_at", "gte:2016-06-21T03:22:20Z"),)
    assert v2.strictly_after == T
    assert [loss.field for loss in v2.losses] == ["changes-since"]


def test_bad_changes_since() -> None:
    with pytest.raises(InvalidRecord):
        filters_for("2", {"changes-since": "yesterday"})


def test_bad_is_public() -> None:
    with pytest.raises(InvalidRecord) as info:
        filters_for("2", {"is_public": "maybe"})
    assert info.value.field == "is_public"


def test_tags() -> None:
    assert filters_for("2", {"tag": ["a", "b"]}).params == (("tag", "a"), ("tag", "b"))
    assert filters_for("2", {"tags": "a"}).params == (("tag", "a"),)
    v1 = filters_for("1", {"tag": "a"})
    assert v1.params == (("is_public", "None"),)
    assert [loss.field for loss in v1.losses] == ["tag"]


@pytest.mark.parametrize(
    ("visibility", "params", "lossy"),
    [("public", [("is_public", "True")], False), ("private", [("is_public", "False")], False),
     ("shared", [("is_public", "None")], True), ("community", [("is_public", "None")], True)],
)
def test_visibility_on_v1(visibility: str, params: list[tuple[str, str]], lossy: bool) -> None:
    plan = filters_for("1", {"visibility": visibility})
    assert list(plan.params) == params
    assert bool(plan.losses) is lossy
    assert filters_for("2", {"visibility": visibility}).params == (("visibility", visibility),)


def test_paging_keys() -> None:
    assert all(is_paging_key(k) for k in ("marker", "limit", "page_size", "sort_key",
                                          "sort_dir"))
    assert not is_paging_key("name")


def test_an_empty_visibility_filter_on_v1_is_an_invalid_record() -> None:
    """Found by the fuzz suite: '' is no visibility, and must not escape as ValueError."""
    with pytest.raises(InvalidRecord) as info:
        filters_for("1", {"visibility": ""})
    assert info.value.field == "visibility"
