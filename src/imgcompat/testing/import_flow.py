"""The interoperable import, run in the background as Glance's task flow runs it.

``POST /v2/images/{id}/import`` answers 202 at once; the work happens in a thread, step
by step, each step visible to a client that polls (``Emulator(task_delay=...)`` slows the
steps down so a test can watch them):

1. the task goes ``pending`` → ``processing``; the image goes ``importing`` (not for
   ``copy-image``), ``os_glance_importing_to_stores`` lists the target stores and they
   leave ``os_glance_failed_import``;
2. the bytes are fetched: the staged ones (``glance-direct``), the URL's
   (``web-download``, 127.0.0.1 only) or the image's own (``copy-image``);
3. each target store receives them (hashed, and inspected as an upload is); the image
   becomes ``active`` with the last one and each store leaves the importing list;
4. the task ends ``success`` (``result: {"image_id": ...}``, "Copied N MiB") and the
   import lock (``os_glance_import_task``) goes.

A failure ends the task ``failure`` ("Task failed due to Internal Error"), puts the
image back to ``queued`` (``copy-image`` leaves it active) and lists the failed stores
in ``os_glance_failed_import``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs
import httpx

from imgcompat.core.enums import Status

from .data import FormatMismatch, Refused, Stored, receive_data
from .store import CHUNK_SIZE, NotFound, Record, Task, precise_now

if TYPE_CHECKING:
    from .emulator import Emulator

IMPORTING = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"
LOCK = "os_glance_import_task"
STAGE_HOST = "os_glance_stage_host"
#: Glance's ``task_time_to_live`` (hours): a finished task expires this long after.
TASK_TTL = timedelta(hours=48)
_MIB = 1024 * 1024
_FETCH_TIMEOUT = 30.0


class ImportFailed(Exception):
    """A step of the import could not be done."""


def merge_stores(properties: dict[str, str | None], key: str, stores: list[str], *,
                 subtract: bool = False) -> None:
    """Glance's ``merge_store_list``: a sorted comma list, as a set."""
    existing = set((properties.get(key) or "").split(","))
    wanted = {s for s in stores if s}
    merged = existing - wanted if subtract else existing | wanted
    properties[key] = ",".join(sorted(s for s in merged if s))


@attrs.frozen
class ImportJob:
    """What one import was asked to do."""

    task_id: str
    image_id: str
    method: str
    uri: str | None
    stores: tuple[str, ...]
    all_stores_must_succeed: bool


class ImportRunner:
    """Runs an emulator's imports, one thread each; :meth:`wait` for tests."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, job: ImportJob) -> None:
        """Run ``job`` in the background."""
        thread = threading.Thread(target=self._run, args=(job,), daemon=True,
                                  name=f"imgcompat-import-{job.task_id[:8]}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for every running import; False if some were still running at timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    # ------------------------------------------------------------------ the flow

    def _pause(self) -> None:
        if self.emu.task_delay:
            time.sleep(self.emu.task_delay)

    def _update(self, image_id: str, change: Callable[[Record], Record]) -> Record:
        return self.emu.store.update(image_id, change)

    def _run(self, job: ImportJob) -> None:
        store = self.emu.store
        store.update_task(job.task_id, lambda t: attrs.evolve(t, status="processing"))
        self._pause()
        copy = job.method == "copy-image"

        def begin(record: Record) -> Record:
            props = dict(record.properties)
            merge_stores(props, IMPORTING, list(job.stores))
            merge_stores(props, FAILED, list(job.stores), subtract=True)
            props.pop(STAGE_HOST, None)
            status = record.status if copy else Status.IMPORTING
            return attrs.evolve(record, status=status, properties=props)

        try:
            self.emu.store.update(job.image_id, begin)
            self._pause()
            stored = self._fetch(job)
            copied = self._to_stores(job, stored)
        except (ImportFailed, FormatMismatch, NotFound, OSError, httpx.HTTPError):
            self._fail(job)
            return
        self._succeed(job, copied)

    def _fetch(self, job: ImportJob) -> Stored | None:
        """The bytes to import (None for copy-image: they are the image's own)."""
        record = self._live(job.image_id)
        if job.method == "copy-image":
            return None
        if job.method == "glance-direct":
            if record.staged is None:
                raise ImportFailed("nothing staged")
            return self._store_from(self.emu.staging.read(record.staged, 0, record.size or 0),
                                    record)
        return self._download(job, record)

    def _download(self, job: ImportJob, record: Record) -> Stored:
        assert job.uri is not None  # checked before the task was made
        with httpx.Client(timeout=_FETCH_TIMEOUT) as client, \
                client.stream("GET", job.uri) as response:
            if response.status_code != 200:
                raise ImportFailed(f"{job.uri} answered {response.status_code}")
            return self._store_from(response.iter_raw(CHUNK_SIZE), record)

    def _store_from(self, chunks: Iterator[bytes], record: Record) -> Stored:
        async def source() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        try:
            return asyncio.run(receive_data(source(), self.emu.blobs, record.id,
                                            record.disk_format,
                                            container_format=record.container_format,
                                            inspect="enforce"))
        except Refused as exc:
            if exc.stored.location != record.location:
                self.emu.blobs.delete(exc.stored.location)
            raise

    def _to_stores(self, job: ImportJob, stored: Stored | None) -> int:
        """Put the data in each target store; the bytes copied."""
        copied = 0
        for index, store_id in enumerate(job.stores, 1):
            self._pause()
            record = self._live(job.image_id)
            if stored is None:  # copy-image: the same bytes, one more store
                copied = record.size or 0
                self._add_store(job.image_id, store_id)
            else:
                copied = stored.size
                activate = not job.all_stores_must_succeed or index == len(job.stores)
                self._place(job.image_id, stored, store_id, activate=activate)

            def done(r: Record, s: str = store_id) -> Record:
                props = dict(r.properties)
                merge_stores(props, IMPORTING, [s], subtract=True)
                return attrs.evolve(r, properties=props)

            self._update(job.image_id, done)
        return copied

    def _add_store(self, image_id: str, store_id: str) -> None:
        def change(record: Record) -> Record:
            return attrs.evolve(record, stores=tuple(dict.fromkeys((*record.stores, store_id))))

        self._update(image_id, change)

    def _place(self, image_id: str, stored: Stored, store_id: str, *, activate: bool) -> None:
        def change(record: Record) -> Record:
            stores = tuple(dict.fromkeys((*record.stores, store_id)))
            status = Status.ACTIVE if activate else record.status
            return attrs.evolve(record, status=status, size=stored.size,
                                checksum=stored.md5, os_hash_algo="sha512",
                                os_hash_value=stored.sha512,
                                virtual_size=stored.virtual_size, location=stored.location,
                                stores=stores)

        self._update(image_id, change)

    def _live(self, image_id: str) -> Record:
        return self.emu.store.get(image_id)  # NotFound when deleted meanwhile

    def _finish(self, image_id: str) -> None:
        """Drop the staged bytes and the import lock."""
        def change(record: Record) -> Record:
            if record.staged is not None:
                self.emu.staging.delete(record.staged)
            props = {k: v for k, v in record.properties.items() if k != LOCK}
            return attrs.evolve(record, properties=props, staged=None)

        with contextlib.suppress(NotFound):
            self._update(image_id, change)

    def _succeed(self, job: ImportJob, copied: int) -> None:
        self._pause()
        self._finish(job.image_id)
        stamp = precise_now()
        self.emu.store.update_task(job.task_id, lambda t: attrs.evolve(
            t, status="success", result={"image_id": job.image_id},
            message=f"Copied {copied // _MIB} MiB", expires_at=stamp + TASK_TTL))

    def _fail(self, job: ImportJob) -> None:
        copy = job.method == "copy-image"

        def revert(record: Record) -> Record:
            props = dict(record.properties)
            merge_stores(props, IMPORTING, list(job.stores), subtract=True)
            merge_stores(props, FAILED, list(job.stores))
            if copy or record.status == Status.ACTIVE:
                return attrs.evolve(record, properties=props)
            return attrs.evolve(record, status=Status.QUEUED, size=None, virtual_size=None,
                                properties=props)

        with contextlib.suppress(NotFound):
            self._update(job.image_id, revert)
        self._finish(job.image_id)
        stamp = precise_now()
        self.emu.store.update_task(job.task_id, lambda t: attrs.evolve(
            t, status="failure", message="Task failed due to Internal Error",
            expires_at=stamp + TASK_TTL))


def new_task(job: ImportJob, *, owner: str | None, user_id: str | None,
             request_id: str | None, body: dict[str, object]) -> Task:
    """The task row an import makes (``api_image_import``, ``pending``)."""
    stamp = precise_now()
    return Task(id=job.task_id, type="api_image_import", status="pending", owner=owner,
                image_id=job.image_id, user_id=user_id, request_id=request_id,
                input={"image_id": job.image_id, "import_req": body,
                       "backend": list(job.stores)},
                created_at=stamp, updated_at=stamp)
