"""The :class:`Emulator`: one emulated Glance (store, bytes, faults, config) and its app.

Both APIs share the store, as on a real Glance with v1 and v2 enabled. The status moves
of an upload live here because both APIs use them: claim (queued → saving), finish
(→ active with checksums), release (→ killed on v1, back to queued on v2).
"""

from __future__ import annotations

import os
import threading
from typing import Literal

import attrs
import httpx

from imgcompat.core.enums import Status

from .app import App
from .data import Stored
from .faults import Faults
from .store import Blobs, DirectoryBlobs, MemoryBlobs, Record, Store, now

ApiMode = Literal["v1", "v2", "both"]


class Emulator:
    """An embedded Glance: ``api`` "v1", "v2" or "both"; ``v2_minor`` the advertised 2.x.

    ``data_dir`` keeps image bytes as files there (else in memory); ``pending_delete``
    makes DELETE leave images ``pending_delete`` (delayed delete) instead of ``deleted``.
    ``show_direct_url`` shows ``direct_url`` on images with data, as the reference server
    is configured to. ``requests`` logs every (method, path) received, for assertions.
    """

    def __init__(
        self,
        api: ApiMode = "both",
        v2_minor: int = 17,
        data_dir: str | os.PathLike[str] | None = None,
        pending_delete: bool = False,
        *,
        show_direct_url: bool = True,
        owner: str | None = None,
    ) -> None:
        if api not in ("v1", "v2", "both"):
            raise ValueError(f"api must be 'v1', 'v2' or 'both', not {api!r}")
        if not 0 <= v2_minor <= 18:
            raise ValueError(f"v2_minor must be 0..18, not {v2_minor}")
        self.api: ApiMode = api
        self.v2_minor = v2_minor
        self.pending_delete = pending_delete
        self.show_direct_url = show_direct_url
        self.owner = owner
        self.data_dir = data_dir
        self.store = Store()
        self.blobs: Blobs = DirectoryBlobs(data_dir) if data_dir is not None else MemoryBlobs()
        self.store_id = "fs" if data_dir is not None else "memory"
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self._log_lock = threading.Lock()
        self.app = App(self)

    @property
    def v1_enabled(self) -> bool:
        return self.api in ("v1", "both")

    @property
    def v2_enabled(self) -> bool:
        return self.api in ("v2", "both")

    def log_request(self, method: str, path: str) -> None:
        with self._log_lock:
            self.requests.append((method, path))

    def reset(self) -> None:
        """Forget every image, request and armed fault (between tests)."""
        for record in self.store.all():
            if record.location is not None:
                self.blobs.delete(record.location)
        self.store = Store()
        self.faults.clear()
        with self._log_lock:
            self.requests.clear()

    # ------------------------------------------------------------- in-process use

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """An httpx async transport that calls the app in process, streaming both ways."""
        from .transports import AsyncEmulatorTransport

        return AsyncEmulatorTransport(self.app)

    def sync_transport(self) -> httpx.BaseTransport:
        """An httpx sync transport: the app runs on a private event loop in a thread."""
        from .transports import SyncEmulatorTransport

        return SyncEmulatorTransport(self.app)

    # ---------------------------------------------------------- shared state moves

    def claim_upload(self, image_id: str, *, from_status: Status) -> Record | None:
        """queued → saving, atomically; None when the image is not in ``from_status``."""
        claimed: list[Record] = []

        def change(record: Record) -> Record:
            if record.status != from_status or record.gone:
                return record
            new = attrs.evolve(record, status=Status.SAVING)
            claimed.append(new)
            return new

        self.store.update(image_id, change)
        return claimed[0] if claimed else None

    def release_upload(self, image_id: str, status: Status) -> None:
        """An upload failed: ``killed`` (v1) or back to ``queued`` (v2), no data kept."""
        self.store.update(image_id, lambda r: attrs.evolve(
            r, status=status, size=None if status == Status.QUEUED else r.size,
            checksum=None, os_hash_algo=None, os_hash_value=None, location=None))

    def finish_upload(self, image_id: str, stored: Stored) -> Record:
        def change(record: Record) -> Record:
            if record.gone:  # deleted while uploading: keep it deleted, drop the bytes
                self.blobs.delete(stored.location)
                return record
            return attrs.evolve(
                record, status=Status.ACTIVE, size=stored.size, checksum=stored.md5,
                os_hash_algo="sha512", os_hash_value=stored.sha512,
                virtual_size=stored.virtual_size, location=stored.location)

        return self.store.update(image_id, change)

    def delete_record(self, record: Record) -> Record:
        """Soft-delete as Glance does: status, ``deleted``, time; properties go too."""
        status = Status.PENDING_DELETE if self.pending_delete else Status.DELETED
        if record.location is not None and not self.pending_delete:
            self.blobs.delete(record.location)
        stamp = now()
        return self.store.update(record.id, lambda r: attrs.evolve(
            r, status=status, deleted=True, deleted_at=stamp, properties={},
            location=r.location if self.pending_delete else None))
