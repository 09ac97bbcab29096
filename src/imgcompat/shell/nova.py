"""The classic call shapes of a compute service's image seam, over one :class:`ImageClient`.

Nova's ``nova/image/glance.py`` (``GlanceImageServiceV2``; ``GlanceImageService`` spoke v1
until Ocata) takes the request context first in every call and hands back plain dicts. This
module keeps those shapes, so the seam's callers move over unchanged, while what runs
underneath is imgcompat's: one client per service (one pool, one discovery), a cheap
per-request view for each call (:meth:`ImageClient.for_request`), typed errors, verified
downloads. ``docs/nova-seam.md`` maps each classic function here, with what changed and why.

How a context becomes a view (duck-typed, so Nova's ``RequestContext`` -- an oslo.context
one -- fits as it is, and so does any object with the same attributes):

- ``auth_token``: the user's token (``X-Auth-Token``); absent or empty, the client's own
  auth is used.
- ``service_token`` (oslo.context's name for one): ``X-Service-Token``; when the context
  has none, the service's own (``ImageService(service_token=...)``, a text or a callable
  asked once per call), which is what Nova sends with ``[service_user]
  send_service_user_token`` (``nova/service_auth.py``): it lets a long upload outlive the
  user's token.
- the request id: the first of ``global_id`` (oslo.context: the id the whole chain of
  services shares, else the context's own) and ``request_id`` that has the OpenStack form
  ``req-<uuid>``. A malformed one is skipped, with one warning per attribute, rather than
  failing the call: Glance's own middleware (oslo.middleware ``RequestId``) drops such an id
  instead of refusing the request, and the seam's callers do not choose the id -- their
  middleware did. :meth:`ImageClient.for_request` itself still refuses one, since a
  caller naming an id there chose it.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, Unpack

import httpx

from imgcompat.core.enums import Api
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.identity import REQUEST_ID
from imgcompat.core.integrity import Verified
from imgcompat.core.listing import ListingOptions
from imgcompat.core.model import Image
from imgcompat.core.seam import LOCATION_KEYS, to_seam_dict
from imgcompat.shell.client import ClientOptions, ImageClient

LOG = logging.getLogger("imgcompat")

#: Where a context's request id is looked for, in this order.
REQUEST_ID_ATTRIBUTES = ("global_id", "request_id")
#: The service's own token: a text, or a callable giving the current one (or None).
ServiceToken = str | Callable[[], str | None] | None
SeamDict = dict[str, Any]


class ImageService:
    """One per compute service: the classic seam's calls, each acting for its context.

    ``api_servers`` and ``options`` are :class:`ImageClient`'s (``transport=`` too, for
    tests); ``service_token`` is the service's own token, sent where the context carries
    none. Thread-safe: each call makes its own view, and the views share the one client.
    """

    def __init__(self, api_servers: str | Sequence[str], *,
                 transport: httpx.BaseTransport | None = None,
                 service_token: ServiceToken = None,
                 **options: Unpack[ClientOptions]) -> None:
        """The service's image seam; one client (pool, discovery cache) for all calls."""
        self._client = ImageClient(api_servers, transport=transport, **options)
        self._service_token = service_token
        self._skipped: set[str] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> ImageClient:
        """The client inside, for the typed API (``snapshot``, ``Image`` records) and for
        ``for_request`` views of one's own; it is shared, so do not close it separately."""
        return self._client

    def pinned(self, version: Api | str | int | None, *, caller: str | None = None
               ) -> ImageService:
        """The same service speaking ``version`` -- the classic per-driver v1 fallback (the
        xenapi dom0 plugin spoke v1 only) without a second pool or discovery; ``caller``
        names the driver in the v1 deprecation warning."""
        view = copy.copy(self)
        view._client = self._client.pinned(version, caller=caller)
        return view

    # ------------------------------------------------------------------ the seam

    def show(self, context: object, image_id: str, include_locations: bool = False,
             show_deleted: bool = True) -> SeamDict:
        """The seam dict of one image, as the classic ``show`` gave it: ``ImageNotFound``
        when absent (or deleted and ``show_deleted`` is false). With ``include_locations``
        the ``direct_url`` is among ``locations`` too (the classic seam appended it, and the
        download handlers read only ``locations``), once."""
        image = self._view(context).show(image_id, include_locations=include_locations,
                                         show_deleted=show_deleted)
        return _classic_dict(image, include_locations=include_locations)

    def detail(self, context: object, *, filters: Mapping[str, Any] | None = None,
               marker: str | None = None, limit: int | None = None,
               sort_key: str | None = None, sort_dir: str | None = None,
               page_size: int | None = None) -> list[SeamDict]:
        """Every matching image as a list of seam dicts, all pages read (the classic seam
        returned a list, so a failure shows here rather than mid-iteration). Filters are
        the classic ones (``property-<key>``, ``changes-since``, ``is_public``, ...); as
        in the classic seam an empty or zero paging value means "not given", so
        ``limit=0`` lists everything."""
        paging = ListingOptions(marker=marker or None, limit=limit or None,
                                page_size=page_size or None, sort_key=sort_key or None,
                                sort_dir=sort_dir or None)
        return [to_seam_dict(image)
                for image in self._view(context).detail(dict(filters or {}), **paging)]

    def create(self, context: object, image_meta: Image | Mapping[str, Any],
               data: Any = None) -> SeamDict:
        """A new image from a seam dict (values may be text, as built from instance system
        metadata) or an ``Image``; with ``data`` (a path, file, bytes or iterator of
        bytes) uploaded, verified and active. Without data the record stays queued for a
        later ``update(..., data=...)`` -- unless the dict says ``size: 0``, the classic
        way to ask for an empty active image (a volume-backed snapshot)."""
        return to_seam_dict(self._view(context).create(image_meta, data))

    def update(self, context: object, image_id: str, image_meta: Image | Mapping[str, Any],
               data: Any = None, purge_props: bool = True) -> SeamDict:
        """Change what ``image_meta`` names, and upload ``data`` if given (into a queued
        image). A dict changes only the keys it has, as the classic seam's did (its ``id``
        is ignored); ``purge_props`` removes the properties it lacks -- all of them when it
        has no ``properties``, as before. New ``locations`` are refused (``InvalidRecord``):
        an update does not send them. An ``Image`` is the whole wanted record."""
        view = self._view(context)
        wanted = image_meta
        if not isinstance(image_meta, Image) and any(k in image_meta for k in LOCATION_KEYS):
            # what show() gave (direct_url listed among the locations) may come back as is
            now = _classic_dict(view.show(image_id, include_locations=True),
                                include_locations=True)
            for key in LOCATION_KEYS:
                if key in image_meta and image_meta[key] != now[key]:
                    raise InvalidRecord("an update does not change an image's locations; "
                                        "give them to create", field=key, image_id=image_id)
            wanted = {k: v for k, v in image_meta.items() if k not in LOCATION_KEYS}
        return to_seam_dict(view.update(image_id, wanted, data, purge_props))

    def delete(self, context: object, image_id: str) -> bool:
        """Delete the image (``ImageNotFound`` if it does not exist, ``Conflict`` if it
        cannot be deleted now); True, as the classic seam returned."""
        self._view(context).delete(image_id)
        return True

    def download(self, context: object, image_id: str, data: IO[bytes] | None = None,
                 dst_path: str | os.PathLike[str] | None = None
                 ) -> Verified | Iterator[bytes]:
        """The image's bytes, checked against the strongest digest the server published
        (the client's default :class:`~imgcompat.core.download.Verification`): into
        ``data`` (an open binary file; it wins over ``dst_path``, as in the classic seam),
        into ``dst_path`` (written atomically: no partial file is ever left there), or --
        neither given -- an iterator of chunks, whose last chunk comes only once the
        digests matched. The classic seam returned None for a file or path; the
        ``Verified`` returned instead says what was checked."""
        return self._view(context).download(
            image_id, dst_path=dst_path if data is None else None, data=data)

    def close(self) -> None:
        """Close the client's pool (once, when the service stops; pinned services share it)."""
        self._client.close()

    def __enter__(self) -> ImageService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ contexts

    def _view(self, context: object) -> ImageClient:
        """The client view acting for ``context`` (see the module docstring)."""
        token = getattr(context, "auth_token", None) or None
        service = getattr(context, "service_token", None) or self._own_service_token()
        return self._client.for_request(token, service_token=service,
                                        request_id=self._request_id(context))

    def _own_service_token(self) -> str | None:
        source = self._service_token
        return (source() if callable(source) else source) or None

    def _request_id(self, context: object) -> str | None:
        for name in REQUEST_ID_ATTRIBUTES:
            value = getattr(context, name, None)
            if value is None or value == "":
                continue
            if isinstance(value, str) and REQUEST_ID.match(value):
                return value
            self._skip(name, value)
        return None

    def _skip(self, name: str, value: object) -> None:
        with self._lock:
            if name in self._skipped:
                return
            self._skipped.add(name)
        shown = str(value)[:60].encode("unicode_escape").decode()
        LOG.warning("context.%s %r is not an OpenStack request id (req-<uuid>): not sent "
                    "to the image service, whose logs will not join on it", name, shown)


def _classic_dict(image: Image, *, include_locations: bool = False) -> SeamDict:
    """The seam dict, with the ``direct_url`` among the ``locations`` as the classic seam
    listed it (once: the classic seam appended it even when already there)."""
    record = to_seam_dict(image, include_locations=include_locations)
    direct = record.get("direct_url")
    if direct and direct not in [loc["url"] for loc in record["locations"]]:
        record["locations"].append({"url": direct, "metadata": {}})
    return record
