"""The differential tests' own machinery, without servers: normalising and comparing lines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.peers import comparison
from tests.peers.accepted_differences import Accepted
from tests.peers.comparison import accepted, compare, differences
from tests.peers.scenario_runner import Run

ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
OTHER = "11111111-2222-4333-8444-555555555555"


def line(outcome: str = "ok", result: Any = None, message: str | None = None) -> dict[str, Any]:
    return {"step": "s", "outcome": outcome, "result": result, "message": message}


def test_normalise_hides_what_two_servers_cannot_share() -> None:
    run = Run(server="http://127.0.0.1:1234", source="http://127.0.0.1:9/x.raw", refs={"a": ID})
    shown = run.normalise({
        "id": ID, "other": OTHER, "file": f"/v2/images/{ID}/file",
        "created_at": "2026-11-27T09:15:13Z", "updated": "2026-11-27T09:15:13.250475",
        "request_id": "req-" + OTHER, "uri": "http://127.0.0.1:9/x.raw",
        "message": f"Client Error for url: http://127.0.0.1:1234/v2/images/{ID}",
        "direct_url": "file:///tmp/x", "locations": [{"url": "file:///tmp/x", "metadata": {}}],
        "tags": ["b", "a"], "size": 3, "protected": False, "virtual_size": None,
    })
    assert shown == {
        "id": "<a>", "other": "<uuid>", "file": "/v2/images/<a>/file",
        "created_at": "<time>", "updated": "<time>", "request_id": "<request-id>",
        "uri": "<source>", "message": "Client Error for url: <server>/v2/images/<a>",
        "direct_url": "<str>", "locations": [{"url": "<str>", "metadata": {}}],
        "tags": ["a", "b"], "size": 3, "protected": False, "virtual_size": None,
    }


@pytest.mark.parametrize(("tags", "stable"), [
    ("['two', 'one']", "['one', 'two']"), ("two, one", "one, two"), ("", ""), (None, None),
])
def test_tags_printed_by_the_command_are_ordered(tags: str | None, stable: str | None) -> None:
    run = Run(server="http://127.0.0.1:1", source="http://127.0.0.1:2/x")
    assert run.normalise({"Tags": tags}) == {"Tags": stable}


def test_differences_name_attributes_types_then_values() -> None:
    real = {"a": 1, "b": "x", "c": [1, 2], "gone": 0, "d": {"e": None}}
    emulated = {"a": 2, "b": None, "c": [1, 3], "new": 0, "d": {"e": None}}
    assert differences(real, emulated) == [
        (".gone", "missing"), (".new", "extra"), (".a", "1 != 2"),
        (".b", "str 'x' != NoneType None"), (".c[1]", "2 != 3")]
    assert differences([1], [1, 2]) == [("result", "[1] != [1, 2]")]
    assert differences({"a": [{"b": 1}]}, {"a": [{"b": 1}]}) == []


def test_a_different_outcome_says_it_all() -> None:
    found = compare(line("ok", {"a": 1}), line("NotFoundException 404", None, "gone"))
    assert [where for where, _ in found] == ["outcome"]
    assert "gone" in found[0][1]
    assert compare(line("E 409", None, "one"), line("E 409", None, "two")) == [
        ("message", "'one' != 'two'")]
    assert compare(line(result=[1]), line(result=[1])) == []


def test_accepted_covers_only_the_fields_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comparison, "ACCEPTED", {
        "bug": Accepted("server bug", frozenset({"checksum", "stores"})),
        "cli:whole": Accepted("nondeterministic"),
    })
    assert accepted("sdk", "bug", [(".checksum", "x"), (".properties.stores", "y")]) == \
        "server bug"
    assert accepted("sdk", "bug", [(".checksum", "x"), (".owner", "y")]) is None
    assert accepted("cli", "whole", [("outcome", "x")]) == "nondeterministic"
    assert accepted("sdk", "whole", [("outcome", "x")]) is None
