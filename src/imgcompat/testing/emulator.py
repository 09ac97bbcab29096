"""The :class:`Emulator`: one emulated Glance (store, bytes, faults, config) and its app.

Both APIs share the store, as on a real Glance with v1 and v2 enabled. The status moves
of an upload live here because both APIs use them: claim (queued → saving), finish
(→ active with checksums), release (→ killed on v1, back to queued on v2).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import attrs
import httpx

from imgcompat.core.enums import Status

from .app import App
from .data import Stored, inspectors
from .faults import Faults
from .identity import AUTH_MODES, AuthMode, Identity
from .import_flow import ImportRunner
from .store import Blobs, DirectoryBlobs, MemoryBlobs, Record, Store, now

ApiMode = Literal["v1", "v2", "both"]
#: Glance 33's ``enabled_import_methods`` as ``../shared/glance-server/start.sh`` sets it.
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")


class Emulator:
    """An embedded Glance: ``api`` "v1", "v2" or "both"; ``v2_minor`` the advertised 2.x.

    ``data_dir`` keeps image bytes as files there (else in memory); ``pending_delete``
    makes DELETE leave images ``pending_delete`` (delayed delete) instead of ``deleted``.
    ``show_direct_url`` shows ``direct_url`` on images with data, as the reference server
    is configured to. ``requests`` logs every (method, path) received, for assertions.

    Who calls (see :mod:`.identity`): by default (``auth="none"``) nobody is
    authenticated and every caller is an admin without a project, as on a Glance without
    keystone; ``owner`` is then the owner of new images. ``auth="trusted"`` reads the
    identity from the headers a keystone middleware sets (``X-Identity-Status:
    Confirmed``, ``X-Project-Id``, ``X-User-Id``, ``X-Roles``), as
    ``GLANCE_AUTH=trusted`` does on the reference server; ``identities={token:
    Identity(...)}`` (``auth="keystone"``, the default when identities are given) maps
    ``X-Auth-Token`` values to callers. ``publicize_admin_only`` restores Glance's stock
    policy, where only admins make images public (the reference server lets anyone).

    ``stores`` are the store ids (``/v2/info/stores``, the first the default; by default
    one, ``fs`` with a ``data_dir`` and ``memory`` without); ``import_methods`` the
    enabled import methods. ``image_property_quota``, ``image_tag_quota`` and
    ``image_member_quota`` are Glance's (128 each; negative: no limit);
    ``json_body_limit`` the largest JSON request body taken (413 past it; Glance itself
    has no limit). ``task_delay`` is how long each step of an import waits, so that a
    test can watch ``importing`` go by.
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
        auth: AuthMode | None = None,
        identities: Mapping[str, Identity] | None = None,
        publicize_admin_only: bool = False,
        stores: Sequence[str] | None = None,
        import_methods: Sequence[str] = IMPORT_METHODS,
        image_property_quota: int = 128,
        image_tag_quota: int = 128,
        image_member_quota: int = 128,
        json_body_limit: int = 16 * 1024 * 1024,
        task_delay: float = 0.0,
    ) -> None:
        if api not in ("v1", "v2", "both"):
            raise ValueError(f"api must be 'v1', 'v2' or 'both', not {api!r}")
        inspectors()  # the `emulator` extra: say so now, not at the first upload
        if not 0 <= v2_minor <= 18:
            raise ValueError(f"v2_minor must be 0..18, not {v2_minor}")
        self.identities: dict[str, Identity] = dict(identities or {})
        mode = auth if auth is not None else ("keystone" if self.identities else "none")
        if mode not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, not {auth!r}")
        unknown = set(import_methods) - set(IMPORT_METHODS)
        if unknown:
            raise ValueError(f"unknown import methods: {sorted(unknown)}")
        self.api: ApiMode = api
        self.v2_minor = v2_minor
        self.pending_delete = pending_delete
        self.show_direct_url = show_direct_url
        self.owner = owner
        self.auth: AuthMode = mode
        self.publicize_admin_only = publicize_admin_only
        self.import_methods = tuple(import_methods)
        self.image_property_quota = image_property_quota
        self.image_tag_quota = image_tag_quota
        self.image_member_quota = image_member_quota
        self.json_body_limit = json_body_limit
        self.task_delay = task_delay
        self.data_dir = data_dir
        self.store = Store()
        self.blobs: Blobs = DirectoryBlobs(data_dir) if data_dir is not None else MemoryBlobs()
        self.staging: Blobs = (DirectoryBlobs(Path(data_dir) / "staging")
                               if data_dir is not None else MemoryBlobs())
        default_store = "fs" if data_dir is not None else "memory"
        self.stores: tuple[str, ...] = tuple(stores) if stores else (default_store,)
        if len(set(self.stores)) != len(self.stores):
            raise ValueError(f"store ids must differ: {self.stores}")
        self.faults = Faults()
        self.imports = ImportRunner(self)
        self.requests: list[tuple[str, str]] = []
        self._log_lock = threading.Lock()
        self.app = App(self)

    @property
    def store_id(self) -> str:
        """The default store (where uploads go)."""
        return self.stores[0]

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
        """Forget every image, task, request and armed fault (between tests)."""
        self.imports.wait()
        for record in self.store.all():
            if record.location is not None:
                self.blobs.delete(record.location)
            if record.staged is not None:
                self.staging.delete(record.staged)
        self.store = Store()
        self.faults.clear()
        with self._log_lock:
            self.requests.clear()

    def wait_for_imports(self, timeout: float = 30.0) -> bool:
        """Wait until no import runs; False when some still ran after ``timeout``."""
        return self.imports.wait(timeout)

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
            virtual_size=None if status == Status.QUEUED else r.virtual_size,
            checksum=None, os_hash_algo=None, os_hash_value=None, location=None,
            stores=(), staged=None))

    def refuse_upload(self, image_id: str, stored: Stored, store_id: str) -> None:
        """The inspection refused stored data: back to ``queued``, as Glance 33 leaves it.

        Glance keeps the checksum, multihash and location of the refused data (its
        download and re-upload then answer 500); here a download answers 204 and a new
        upload replaces the data.
        """
        self.store.update(image_id, lambda r: attrs.evolve(
            r, status=Status.QUEUED, size=None, virtual_size=None, checksum=stored.md5,
            os_hash_algo="sha512", os_hash_value=stored.sha512, location=stored.location,
            stores=(store_id,)))

    def finish_upload(self, image_id: str, stored: Stored) -> Record:
        """Data stored: ``active`` with its checksums, in ``stored.store`` (or the default)."""
        def change(record: Record) -> Record:
            if record.gone:  # deleted while uploading: keep it deleted, drop the bytes
                self.blobs.delete(stored.location)
                return record
            if record.location is not None and record.location != stored.location:
                self.blobs.delete(record.location)
            return attrs.evolve(
                record, status=Status.ACTIVE, size=stored.size, checksum=stored.md5,
                os_hash_algo="sha512", os_hash_value=stored.sha512,
                virtual_size=stored.virtual_size, location=stored.location,
                stores=(stored.store or self.store_id,))

        return self.store.update(image_id, change)

    def delete_record(self, record: Record) -> Record:
        """Soft-delete as Glance does: status, ``deleted``, time; properties go too."""
        status = Status.PENDING_DELETE if self.pending_delete else Status.DELETED
        if record.location is not None and not self.pending_delete:
            self.blobs.delete(record.location)
        if record.staged is not None:
            self.staging.delete(record.staged)
        self.store.drop_members(record.id)
        stamp = now()
        return self.store.update(record.id, lambda r: attrs.evolve(
            r, status=status, deleted=True, deleted_at=stamp, properties={},
            location=r.location if self.pending_delete else None, staged=None))
