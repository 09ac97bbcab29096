"""The emulator's image store: one record type for both APIs, and where image bytes live.

A real Glance with v1 and v2 enabled keeps one database row per image and renders it for
each API; the emulator does the same. :class:`Record` is that row (frozen; a change is a
new record put back into the :class:`Store`), and the v1/v2 handlers turn it into the
core's wire models (``V1Image`` / ``V2Image``) so the wire itself is always produced by
the core codecs. Bytes live apart from the records, in a :class:`Blobs` store: in memory
by default, or files in a directory (written to a temporary name, renamed on success),
so a multi-GiB image is never held in memory when a directory is given.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import attrs

from imgcompat.core.enums import Status, Visibility

from .orders import ORDERS, SortedIndex, Start

CHUNK_SIZE = 1024 * 1024


def now() -> datetime:
    """The store's clock: UTC, truncated to whole seconds as Glance's database kept it."""
    return datetime.now(UTC).replace(microsecond=0)


def precise_now() -> datetime:
    """The tasks' clock: their rows keep microseconds (``/v2/images/{id}/tasks`` shows them)."""
    return datetime.now(UTC)


@attrs.frozen
class Record:
    """One image as the emulated database holds it (both APIs read and write this).

    ``properties`` values may be None: a v1 header with an empty value stored NULL.
    """

    id: str
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    status: Status = Status.QUEUED
    visibility: Visibility = Visibility.SHARED
    protected: bool = False
    os_hidden: bool = False
    disk_format: str | None = None
    container_format: str | None = None
    min_ram: int = 0
    min_disk: int = 0
    owner: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    location: str | None = None
    deleted: bool = False
    deleted_at: datetime | None = None
    tags: tuple[str, ...] = ()
    properties: dict[str, str | None] = attrs.field(factory=dict)
    #: The stores (``/v2/info/stores`` ids) holding the data, first the upload's.
    stores: tuple[str, ...] = ()
    #: Where ``PUT .../stage`` left the bytes for a ``glance-direct`` import.
    staged: str | None = None

    @property
    def has_data(self) -> bool:
        return self.location is not None and self.size is not None

    @property
    def gone(self) -> bool:
        """Soft-deleted: v2 answers 404, v1 shows it only under ``changes-since``."""
        return self.deleted or self.status in (Status.DELETED, Status.PENDING_DELETE)


@attrs.frozen
class Member:
    """One image membership (``image_members`` row); a deleted one is kept for re-use."""

    image_id: str
    member_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


@attrs.frozen
class Task:
    """One task (``tasks`` row): what an import did, as ``/v2/tasks`` reports it."""

    id: str
    type: str
    status: str
    owner: str | None
    image_id: str | None
    user_id: str | None
    request_id: str | None
    input: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    result: dict[str, Any] | None = None
    message: str = ""
    expires_at: datetime | None = None


class NotFound(LookupError):
    """No live image with that id."""


class Store:
    """The records, by id; every change goes through :meth:`put` under one lock.

    Handlers may run on several event loops at once (an in-process sync transport runs its
    own loop in a thread), so the lock guards each read-modify-write done by :meth:`update`.
    The same lock keeps the sorted orders of :mod:`.orders` in step with the records:
    every write moves a record's keys before the lock is let go, and :meth:`walk` reads an
    order under it.

    Records are immutable, so what a record renders to (its JSON entity, per API and
    server settings) is worth keeping: :meth:`rendered` computes it once per record
    version, and :meth:`_store`, where every version is replaced, drops it. A listing
    page is then a join of kept fragments instead of a thousand renders.
    """

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._orders = {columns: SortedIndex(columns) for columns in ORDERS}
        self._members: dict[str, dict[str, Member]] = {}
        self._tasks: dict[str, Task] = {}
        #: Per image id: the record version rendered, and its renders by variant.
        self._rendered: dict[str, tuple[Record, dict[Hashable, bytes]]] = {}
        self._lock = threading.RLock()

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def get(self, image_id: str, *, include_gone: bool = False) -> Record:
        with self._lock:
            record = self._records.get(image_id)
        if record is None or (record.gone and not include_gone):
            raise NotFound(image_id)
        return record

    def exists(self, image_id: str) -> bool:
        with self._lock:
            return image_id in self._records

    def put(self, record: Record) -> Record:
        with self._lock:
            self._store(record)
        return record

    def update(self, image_id: str, change: Callable[[Record], Record]) -> Record:
        """Apply ``change`` to the current record atomically; ``updated_at`` moves."""
        with self._lock:
            current = self.get(image_id, include_gone=True)
            new = change(current)
            if new is not current:
                new = attrs.evolve(new, updated_at=now())
                self._store(new)
            return new

    def _store(self, record: Record) -> None:
        """Keep ``record`` and move its keys in every order (the lock is held)."""
        old = self._records.get(record.id)
        self._records[record.id] = record
        self._rendered.pop(record.id, None)
        was = None if old is None or old.gone else old
        live = None if record.gone else record
        for order in self._orders.values():
            order.move(was, live)

    def rendered(self, record: Record, variant: Hashable,
                 render: Callable[[Record], bytes]) -> bytes:
        """``render(record)``, computed once for this version of the record and this
        ``variant`` (what else the render depends on: API, minor, settings).

        Only the version the store holds is kept (a render of one it has replaced is
        computed and not kept), and a kept render is only given back for the very record
        object it was made from, so a page always shows the records it walked.
        """
        entry = self._rendered.get(record.id)
        if entry is None or entry[0] is not record:
            entry = (record, {})
            with self._lock:
                if self._records.get(record.id) is record:
                    entry = self._rendered.setdefault(record.id, entry)
        renders = entry[1]
        text = renders.get(variant)
        if text is None:
            text = renders[variant] = render(record)
        return text

    def all(self) -> list[Record]:
        with self._lock:
            return list(self._records.values())

    def ordered(self, columns: tuple[str, ...]) -> bool:
        """Does the store keep the order of ``columns`` (so :meth:`walk` serves it)?"""
        return columns in self._orders

    def walk(self, columns: tuple[str, ...], *, descending: bool, start: Start | None,
             keep: Callable[[Record], bool], limit: int) -> list[Record]:
        """The first ``limit`` live records that ``keep`` accepts, in the order of
        ``columns`` (or its reverse) from ``start`` on: the cost grows with the records
        walked, not with the store.

        ``keep`` runs under the store's lock (it may read the store: the lock is
        re-entrant) and must not write to it.
        """
        found: list[Record] = []
        if limit <= 0:
            return found
        with self._lock:
            for image_id in self._orders[columns].ids(start, descending=descending):
                record = self._records[image_id]
                if keep(record):
                    found.append(record)
                    if len(found) == limit:
                        break
        return found

    # -------------------------------------------------------------------- members

    def members(self, image_id: str) -> list[Member]:
        """The live memberships of an image, in the order they were first made."""
        with self._lock:
            return [m for m in self._members.get(image_id, {}).values() if not m.deleted]

    def member(self, image_id: str, member_id: str) -> Member | None:
        with self._lock:
            found = self._members.get(image_id, {}).get(member_id)
        return None if found is None or found.deleted else found

    def put_member(self, member: Member) -> Member:
        """Add or replace a membership (a deleted row of the same pair is re-used)."""
        with self._lock:
            self._members.setdefault(member.image_id, {})[member.member_id] = member
        return member

    def drop_members(self, image_id: str) -> None:
        with self._lock:
            self._members.pop(image_id, None)

    # ---------------------------------------------------------------------- tasks

    def put_task(self, task: Task) -> Task:
        with self._lock:
            self._tasks[task.id] = task
        return task

    def task(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def tasks(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())

    def update_task(self, task_id: str, change: Callable[[Task], Task]) -> Task:
        """Apply ``change`` to a task atomically; ``updated_at`` moves."""
        with self._lock:
            new = attrs.evolve(change(self._tasks[task_id]), updated_at=precise_now())
            self._tasks[task_id] = new
            return new


# ----------------------------------------------------------------------------- bytes


class BlobWriter(Protocol):
    """One upload in progress: bytes go in chunk by chunk, hashed as they arrive."""

    size: int

    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> str: ...
    def abort(self) -> None: ...


class Blobs(Protocol):
    """Where image bytes live; ``location`` strings are what :meth:`commit` returned."""

    def writer(self, image_id: str) -> BlobWriter: ...
    def read(self, location: str, start: int, end: int,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]: ...
    def delete(self, location: str) -> None: ...


class Hasher:
    """md5 (checksum) and sha512 (multihash) computed while the bytes stream through."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha512 = hashlib.sha512()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.sha512.update(chunk)
        self.size += len(chunk)


class _MemoryWriter:
    def __init__(self, blobs: MemoryBlobs, image_id: str) -> None:
        self._blobs, self._id = blobs, image_id
        self._buf = bytearray()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._buf += chunk
        self.size += len(chunk)

    def commit(self) -> str:
        location = f"memory://{self._id}"
        self._blobs.data[location] = bytes(self._buf)
        self._buf = bytearray()
        return location

    def abort(self) -> None:
        self._buf = bytearray()


class MemoryBlobs:
    """Image bytes in a dict (the default: fast, nothing to clean up)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def writer(self, image_id: str) -> BlobWriter:
        return _MemoryWriter(self, image_id)

    def read(self, location: str, start: int, end: int,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        view = memoryview(self.data[location])
        for offset in range(start, end, chunk_size):
            yield bytes(view[offset:min(offset + chunk_size, end)])

    def delete(self, location: str) -> None:
        self.data.pop(location, None)


class _FileWriter:
    def __init__(self, root: Path, image_id: str) -> None:
        self._final = root / image_id
        fd, name = tempfile.mkstemp(dir=root, prefix=f".{image_id}.", suffix=".part")
        self._tmp = Path(name)
        self._fh = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        self._fh.close()
        os.replace(self._tmp, self._final)
        return self._final.as_uri()

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


class DirectoryBlobs:
    """Image bytes as files in a directory: large images never sit in memory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, location: str) -> Path:
        path = Path(location.removeprefix("file://"))
        if path.parent != self.root:
            raise ValueError(f"not a location of this store: {location}")
        return path

    def writer(self, image_id: str) -> BlobWriter:
        self.root.mkdir(parents=True, exist_ok=True)  # made on first use
        return _FileWriter(self.root, image_id)

    def read(self, location: str, start: int, end: int,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self._path(location).open("rb") as fh:
            fh.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = fh.read(min(chunk_size, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def delete(self, location: str) -> None:
        self._path(location).unlink(missing_ok=True)
