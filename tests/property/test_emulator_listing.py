"""The emulator's indexed listing answers what the full scan answers.

``walk_page`` reads a ``GET /v2/images`` page along one of the store's sorted orders, from
the marker on; ``scan_page`` filters and sorts every record (the definition). Over random
stores (changed after they were filled: renames, deletions, touched times), callers,
filters, sorts, markers and limits, both give the same page or refuse the same way. The
store's orders are also checked against a fresh sort after writes from several threads.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import event, given
from hypothesis import strategies as st

from imgcompat.core.enums import Status, Visibility
from imgcompat.testing.http_errors import HttpError
from imgcompat.testing.identity import NOAUTH, Identity
from imgcompat.testing.orders import ORDERS
from imgcompat.testing.store import Member, Record, Store
from imgcompat.testing.v2_listing import page_query, scan_page, walk_page

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TIMES = [T0 + timedelta(seconds=s) for s in range(4)]
NAMES = [None, "", "a", "ab", "b", "B"]
PROJECTS = [None, "p1", "p2"]
CALLERS = [NOAUTH, Identity(project_id="p1"), Identity(project_id="p2"),
           Identity(project_id=None), Identity(project_id="p1", roles=("admin",))]
#: The indexed columns come up most (the walk is what is under test).
SORT_KEYS = ["name", "name", "name", "updated_at", "updated_at", "created_at", "id", "status",
             "size", "disk_format"]
#: Mostly listable statuses; the others still come up.
STATUSES = [Status.ACTIVE, Status.ACTIVE, Status.QUEUED, *Status]


@st.composite
def records(draw: st.DrawFn) -> Record:
    """One image row with the columns listings look at, drawn from small sets (ties)."""
    return Record(
        id=str(draw(st.uuids())), created_at=draw(st.sampled_from(TIMES)),
        updated_at=draw(st.sampled_from(TIMES)), name=draw(st.sampled_from(NAMES)),
        status=draw(st.sampled_from(STATUSES)),
        visibility=draw(st.sampled_from(list(Visibility))),
        protected=draw(st.booleans()), os_hidden=draw(st.integers(0, 4)) == 0,
        disk_format=draw(st.sampled_from([None, "raw", "qcow2"])),
        owner=draw(st.sampled_from(PROJECTS)), size=draw(st.sampled_from([None, 0, 3, 10])),
        tags=tuple(draw(st.sets(st.sampled_from(["x", "y"])))),
        properties=draw(st.sampled_from([{}, {"k": "v"}, {"k": "w"}])))


def _change(draw: st.DrawFn, record: Record) -> Record:
    kind = draw(st.sampled_from(["rename", "touch", "delete", "revive", "recreate"]))
    if kind == "rename":
        return attrs.evolve(record, name=draw(st.sampled_from(NAMES)))
    if kind == "touch":
        return attrs.evolve(record, updated_at=draw(st.sampled_from(TIMES)))
    if kind == "delete":
        return attrs.evolve(record, status=Status.DELETED, deleted=True)
    if kind == "revive":
        return attrs.evolve(record, status=Status.ACTIVE, deleted=False)
    return attrs.evolve(record, created_at=draw(st.sampled_from(TIMES)))


@st.composite
def stores(draw: st.DrawFn) -> tuple[Store, list[str]]:
    """A filled store, then changed through ``put`` and ``update``; and its ids."""
    store = Store()
    rows = draw(st.lists(records(), max_size=14, unique_by=lambda r: r.id))
    for row in rows:
        store.put(row)
        for member in draw(st.sets(st.sampled_from(["p1", "p2"]))):
            store.put_member(Member(row.id, member,
                                    draw(st.sampled_from(["pending", "accepted", "rejected"])),
                                    T0, T0))
    for _ in range(draw(st.integers(0, 6)) if rows else 0):
        row = store.get(draw(st.sampled_from(rows)).id, include_gone=True)
        changed = _change(draw, row)
        if draw(st.booleans()):
            store.put(changed)
        else:  # the store's own clock moves updated_at
            store.update(row.id, lambda _, changed=changed: changed)  # type: ignore[misc]
    return store, [r.id for r in rows]


def _time(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["gt", "gte", "lt", "lte", "eq", "neq"]))
    return f"{op}:{draw(st.sampled_from(TIMES)).strftime('%Y-%m-%dT%H:%M:%SZ')}"


@st.composite
def queries(draw: st.DrawFn, ids: list[str]) -> list[tuple[str, str]]:
    """A query string: a sort (old or new syntax, or none), filters, a marker, a limit."""
    pairs: list[tuple[str, str]] = []
    count = draw(st.sampled_from([1, 1, 1, 2, 3, 0]))
    keys = draw(st.lists(st.sampled_from(SORT_KEYS), min_size=count, max_size=count,
                         unique=True))
    dirs = draw(st.lists(st.sampled_from(["asc", "desc"]),
                         min_size=min(1, len(keys)), max_size=max(1, len(keys))))
    if len(dirs) > 1:
        dirs = (dirs * len(keys))[:len(keys)]
    if draw(st.booleans()) and keys:
        pairs.append(("sort", ",".join(f"{k}:{d}" for k, d in zip(keys, dirs, strict=False))))
    else:
        pairs += [("sort_key", k) for k in keys] + [("sort_dir", d) for d in dirs]
    filters: list[tuple[str, Any]] = [
        ("name", st.sampled_from(["a", "", "in:a,b", 'in:"",ab'])),
        ("status", st.sampled_from(["active", "queued", "in:active,killed"])),
        ("visibility", st.sampled_from(["public", "private", "shared", "community", "all"])),
        ("member_status", st.sampled_from(["pending", "accepted", "rejected", "all"])),
        ("os_hidden", st.sampled_from(["true", "false"])),
        ("protected", st.sampled_from(["true", "false"])),
        ("size_min", st.sampled_from(["0", "3"])), ("size_max", st.sampled_from(["3", "9"])),
        ("tag", st.sampled_from(["x", "y"])), ("k", st.sampled_from(["v", "w"])),
        ("disk_format", st.sampled_from(["raw", "qcow2"])),
        ("created_at", st.builds(lambda: None)), ("updated_at", st.builds(lambda: None)),
    ]
    for key, values in draw(st.lists(st.sampled_from(filters), max_size=3)):
        value = _time(draw) if key.endswith("_at") else draw(values)
        pairs.append((key, value))
    marker = draw(st.sampled_from(["known", "known", "known", "none", "unknown"]))
    if marker == "known" and ids:
        pairs.append(("marker", draw(st.sampled_from(ids))))
    elif marker == "unknown":
        pairs.append(("marker", str(draw(st.uuids()))))
    if draw(st.booleans()):
        pairs.append(("limit", str(draw(st.integers(0, 8)))))
    return draw(st.permutations(pairs))


def _outcome(page: Any) -> Any:
    try:
        got = page()
    except HttpError as exc:
        return ("refused", exc.status, str(exc))
    return None if got is None else [r.id for r in got]


@given(st.data())
def test_walk_answers_what_the_full_scan_answers(data: st.DataObject) -> None:
    store, ids = data.draw(stores())
    who = data.draw(st.sampled_from(CALLERS))
    pairs = data.draw(queries(ids))
    try:
        query = page_query(pairs)
    except HttpError:
        event("query refused")
        return
    walked = _outcome(lambda: walk_page(store, who, query))
    if walked is None:
        event("sort no order serves")
        return
    event("walked" if query.marker is None else "walked from a marker")
    assert walked == _outcome(lambda: scan_page(store, who, query)), (pairs, who)


def test_the_orders_serve_glance_default_and_common_sorts() -> None:
    store = Store()
    store.put(Record(id=str(uuid.uuid4()), created_at=T0, updated_at=T0, name="a"))
    for pairs in ([], [("sort_key", "name")], [("sort", "updated_at:asc")],
                  [("sort_key", "created_at"), ("sort_key", "id"), ("sort_dir", "asc")]):
        assert walk_page(store, NOAUTH, page_query(pairs)) is not None, pairs
    for pairs in ([("sort_key", "size")], [("sort", "name:asc,created_at:desc")]):
        assert walk_page(store, NOAUTH, page_query(pairs)) is None, pairs


def test_orders_stay_sorted_under_concurrent_writes() -> None:
    """Writers rename, touch and delete while readers walk: every walk comes out sorted,
    and afterwards each order walks exactly the live records, sorted as the scan sorts."""
    store = Store()
    ids = [str(uuid.UUID(int=i)) for i in range(60)]
    for i, image_id in enumerate(ids):
        store.put(Record(id=image_id, created_at=TIMES[i % 4], updated_at=T0,
                         name=NAMES[i % len(NAMES)]))
    failures: list[str] = []

    def write(worker: int) -> None:
        for step in range(300):
            image_id = ids[(worker * 7 + step * 13) % len(ids)]
            if step % 11 == 0:
                store.update(image_id, lambda r: attrs.evolve(r, deleted=not r.deleted))
            else:
                store.update(image_id, lambda r, s=step: attrs.evolve(  # type: ignore[misc]
                    r, name=NAMES[s % len(NAMES)]))

    def read() -> None:
        for step in range(300):
            query = page_query([("sort_key", ["name", "updated_at", "created_at"][step % 3]),
                                ("limit", "1000")])
            page = walk_page(store, NOAUTH, query)
            assert page is not None
            keys = [tuple(_sortable(getattr(r, k)) for k, _ in query.spec) for r in page]
            if keys != sorted(keys, reverse=True):
                failures.append(f"unsorted page at step {step}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    for columns in ORDERS:
        for direction in ("asc", "desc"):
            pairs = [("sort_key", c) for c in columns] + [("sort_dir", direction),
                                                          ("limit", "1000")]
            query = page_query(pairs)
            walked = walk_page(store, NOAUTH, query)
            assert walked is not None
            assert [r.id for r in walked] == [r.id for r in scan_page(store, NOAUTH, query)]
            assert {r.id for r in walked} == {r.id for r in store.all() if not r.gone}


def _sortable(value: Any) -> tuple[bool, Any]:
    return (value is not None, "" if value is None else value)
