"""What differs between Glance v1 and v2, held in one frozen object per API.

An operation in :mod:`imgcompat.core.plan` is written once and asks its dialect for each
request and for the reading of each answer; the listing's pager does the same. A dialect
holds the :class:`~imgcompat.core.discovery.VersionChoice` it came from (the v2 minor
decides which fields a create or patch may carry and which filters a listing may send).

The facts each API brings (``seam-contract.md``, ``glance-wire.md``):

- v1 reads an image with ``HEAD`` (metadata in headers), v2 with ``GET`` (JSON);
- v1 uploads and downloads on the image path, v2 on ``.../file``; only v2 serves ranges;
- v1 creates with headers (a location or ``size: 0`` in the same request), v2 with JSON and
  adds locations afterwards; an empty v2 image becomes active by uploading zero bytes,
  after asking the schema which disk formats the server knows;
- v1 updates with one ``PUT`` of headers, v2 with one JSON patch;
- a v1 record publishes only md5 (``checksum``); a v2 one, from 2.7 (Rocky), the multihash
  beside it (sha512 unless the server's ``hashing_algorithm`` says otherwise);
- a v1 listing has no next links: a full page means there may be more, a short one may be
  the end or a page the server capped silently (``api_limit_max``); v2 says ``next``, also
  under a cap, so its short page without a link is the end.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import attrs

from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api
from imgcompat.core.exchange import (
    ACCEPT_JSON,
    DOWNLOAD_RETRY_ON,
    JSON_PATCH,
    OCTET,
    Pairs,
    Request,
    Response,
    answer_object,
    check_image_id,
)
from imgcompat.core.fields import BY_NAME, V1_PROPERTY_PREFIX
from imgcompat.core.integrity import UPLOAD_DIGESTS
from imgcompat.core.model import Image, Translated
from imgcompat.core.seam import (
    from_v1_headers,
    from_v1_json,
    from_v1_json_list,
    from_v2,
    from_v2_list,
)
from imgcompat.core.translate import image_to_v1
from imgcompat.core.writes import (
    image_to_v1_create_headers,
    image_to_v2_create,
    v1_update_headers,
    v2_patch,
)

_PURGE = "x-glance-registry-purge-props"
_CONTENT_JSON: Pairs = (*ACCEPT_JSON, ("content-type", "application/json"))
_CONTENT_OCTET: Pairs = (*ACCEPT_JSON, ("content-type", OCTET))
_ACCEPT_OCTET: Pairs = (("accept", OCTET),)
#: v2 minor from which ``os_hidden`` may be sent as a list filter.
_OS_HIDDEN_MINOR = 7
#: v2 minor from which a record carries the multihash (the field table says).
_MULTIHASH_MINOR = BY_NAME["os_hash_value"].v2_min_minor


@attrs.frozen
class Page:
    """One listing answer as its API reads it.

    ``more`` says whether the API signals a next page; ``marker`` is the marker the server
    named for it (v2's ``next`` link), None when the caller must take the last record's id.
    ``maybe_capped``: the page is shorter than asked and the API cannot say whether that is
    the end or a silent cap on the page size (v1: Glance caps ``limit`` at ``api_limit_max``
    without a word), so the pager must ask once more before it ends the listing.
    """

    images: tuple[Image, ...]
    more: bool
    marker: str | None = None
    maybe_capped: bool = False

    @property
    def count(self) -> int:
        """How many records the page holds (what :class:`Frame` says before reading)."""
        return len(self.images)


@attrs.frozen
class Frame:
    """What a listing answer says about paging before its records are read: how many it
    holds, whether more follow, the next marker (the server's, else the last record's id).
    A :class:`Page`'s framing, for a pager that fetches the next page ahead."""

    count: int
    more: bool
    marker: str | None = None
    maybe_capped: bool = False


@attrs.frozen
class Dialect(abc.ABC):
    """One image API's requests and readings; obtain it with :func:`dialect_for`."""

    choice: VersionChoice

    api: ClassVar[Api]
    #: The page sizes asked, in turn, when the caller gives none and the server refuses
    #: one with a 400: Glance's own ``api_limit_max`` (1000 unless configured; a larger
    #: ``limit`` is capped, not refused), then glanceclient's v2 page size.
    large_page_sizes: ClassVar[tuple[int, ...]] = (1000, 200)
    #: The page size of the API's classic paging, asked when every larger one was refused
    #: (None: the server's own default, ``limit_param_default``).
    default_page_size: ClassVar[int | None]
    #: Whether a download may continue from an offset (a ``Range`` request).
    resumable: ClassVar[bool]
    #: Whether an image created empty becomes active by an upload of zero bytes (else the
    #: create itself says ``size: 0``).
    empty_by_upload: ClassVar[bool]
    #: Whether the answer to an update is re-read (else it is the updated record itself).
    rereads_update: ClassVar[bool]
    list_path: ClassVar[str]
    create_path: ClassVar[str]
    #: The statuses of a successful delete.
    delete_expect: ClassVar[frozenset[int]]

    @property
    def minor(self) -> int:
        """The minor version the server offers for this API."""
        return self.choice.minor

    @property
    def filters_os_hidden(self) -> bool:
        """Whether a listing may send the ``os_hidden`` filter."""
        return False

    @property
    def published_digests(self) -> tuple[str, ...]:
        """The digests a record of this API publishes once a default Glance has the data,
        weakest first: what an upload may compute to be compared with it
        (:meth:`~imgcompat.core.download.Verification.upload_digests` chooses)."""
        return ("md5",)

    def image_path(self, image_id: str) -> str:
        """The path of one image (its id checked so it cannot leave the path)."""
        return f"/v{self.api.value}/images/{check_image_id(image_id)}"

    def delete_request(self, image_id: str) -> Request:
        """``DELETE`` of one image."""
        return Request("DELETE", self.image_path(image_id), image_id=image_id,
                       expect=self.delete_expect)

    def schema_request(self) -> Request | None:
        """The request for the image schema an empty create consults, or None."""
        return None

    def _create(self, headers: Pairs, body: bytes | None = None) -> Request:
        return Request("POST", self.create_path, headers=headers, body=body,
                       idempotent=False, expect=frozenset({201}))

    @abc.abstractmethod
    def show_request(self, image_id: str) -> Request:
        """The request that reads one image's record."""

    @abc.abstractmethod
    def download_request(self, image_id: str, offset: int = 0) -> Request:
        """``GET`` of an image's bytes, from ``offset`` where the API can resume."""

    @abc.abstractmethod
    def upload_request(self, image_id: str, size: int | None = None) -> Request:
        """The request whose body is the image data (never replayed once bytes left)."""

    @abc.abstractmethod
    def create_request(self, image: Image, *, with_data: bool, empty: bool) -> Translated[Request]:
        """The request making the record (with the losses of translating it).

        ``with_data``: data will be uploaded next; ``empty``: the image must end active
        without data.
        """

    @abc.abstractmethod
    def location_requests(self, image_id: str, image: Image) -> tuple[Request, ...]:
        """The requests that attach ``image``'s locations after its create, if the create
        could not carry them."""

    @abc.abstractmethod
    def update_request(
        self, image_id: str, current: Image, wanted: Image, purge_props: bool
    ) -> Translated[Request | None]:
        """The one request changing ``current`` into ``wanted`` (None: nothing to send)."""

    @abc.abstractmethod
    def read_image(self, request: Request, response: Response) -> Image:
        """The seam record in a successful show, create, update or upload answer."""

    def read_page(self, response: Response, asked: int | None) -> Page:
        """One successful listing answer; ``asked`` is the ``limit`` the request sent."""
        return self.read_document(answer_object(response, None), asked)

    @abc.abstractmethod
    def read_document(self, doc: Mapping[str, Any], asked: int | None) -> Page:
        """:meth:`read_page` of the answer's decoded JSON document."""

    @abc.abstractmethod
    def frame(self, doc: Mapping[str, Any], asked: int | None) -> Frame | None:
        """What a listing document says about paging, its records unread (None: a shape
        that only :meth:`read_document` can judge). A guess the pager may act on early,
        never a verdict: :meth:`read_document` stays the authority."""


@attrs.frozen
class V1Dialect(Dialect):
    """Glance v1: metadata in ``x-image-meta-*`` headers, no ranges, no next links."""

    api = Api.V1
    default_page_size = 20  # glanceclient's v1 page; v1 needs a size to tell a full page
    resumable = False
    empty_by_upload = False
    rereads_update = True  # a HEAD, so every v1 read is decoded by the one header rule
    list_path = "/v1/images/detail"
    create_path = "/v1/images"
    delete_expect = frozenset({200, 204})  # v1 answers 200 with an empty body

    def show_request(self, image_id: str) -> Request:
        """``HEAD`` of the image: its metadata comes back as headers."""
        return Request("HEAD", self.image_path(image_id), image_id=image_id)

    def download_request(self, image_id: str, offset: int = 0) -> Request:
        """``GET`` of the image path; v1 has no ranges, so ``offset`` is not sent."""
        return Request("GET", self.image_path(image_id), headers=_ACCEPT_OCTET,
                       image_id=image_id, expect=frozenset({200}), retry_on=DOWNLOAD_RETRY_ON)

    def upload_request(self, image_id: str, size: int | None = None) -> Request:
        """``PUT`` of the data on the image path, explicitly without purging properties
        (a v1 PUT without the header wipes them)."""
        headers: Pairs = (*_CONTENT_OCTET, (_PURGE, "false"))
        if size is not None:
            headers += (("x-image-meta-size", str(size)),)
        return Request("PUT", self.image_path(image_id), headers=headers, image_id=image_id,
                       idempotent=False, expect=frozenset({200}))

    def create_request(self, image: Image, *, with_data: bool, empty: bool) -> Translated[Request]:
        """``POST`` of headers; a location (when no data follows) or ``size: 0`` (an empty
        image, which v1 makes active at once) travels in the same request."""
        translated = image_to_v1_create_headers(image)
        headers: Pairs = (*ACCEPT_JSON, *translated.value)
        url = image.locations[0].url if image.locations else image.direct_url
        if url is not None and not with_data:
            headers += (("x-image-meta-location", url),)
        elif empty:
            headers += (("x-image-meta-size", "0"),)
        return Translated(self._create(headers), translated.losses)

    def location_requests(self, image_id: str, image: Image) -> tuple[Request, ...]:
        """None: the v1 create carried the location."""
        return ()

    def update_request(
        self, image_id: str, current: Image, wanted: Image, purge_props: bool
    ) -> Translated[Request | None]:
        """One ``PUT`` of the changed headers, or nothing when it would only move
        ``updated_at``."""
        translated = v1_update_headers(current, wanted, purge_props)
        meta = [h for h in translated.value if h[0] != _PURGE]
        base = [h for h in meta if not h[0].startswith(V1_PROPERTY_PREFIX)]
        props_now = image_to_v1(current).value.properties
        props_wanted = image_to_v1(wanted).value.properties
        unchanged = props_now == props_wanted or (not purge_props and not meta)
        if not base and unchanged:
            return Translated(None, translated.losses)
        request = Request("PUT", self.image_path(image_id), image_id=image_id,
                          headers=(*ACCEPT_JSON, *translated.value))
        return Translated(request, translated.losses)

    def read_image(self, request: Request, response: Response) -> Image:
        """Headers for a ``HEAD``, the v1 JSON image otherwise."""
        if request.method == "HEAD":
            return from_v1_headers(response.headers)
        return from_v1_json(answer_object(response, request.image_id))

    def read_document(self, doc: Mapping[str, Any], asked: int | None) -> Page:
        """A full page means there may be more (v1 has no next links); a short, non-empty
        one may be the end or a page capped at the server's ``api_limit_max``."""
        images = from_v1_json_list(doc)
        frame = self._framing(doc["images"], asked)
        return Page(images, more=frame.more, maybe_capped=frame.maybe_capped)

    def frame(self, doc: Mapping[str, Any], asked: int | None) -> Frame | None:
        """The page's size, and its last record's id as the marker."""
        items = doc.get("images")
        return self._framing(items, asked) if isinstance(items, list) else None

    @staticmethod
    def _framing(items: list[Any], asked: int | None) -> Frame:
        full = asked is not None and len(items) >= asked
        return Frame(len(items), more=full, marker=_last_id(items),
                     maybe_capped=bool(items) and not full)


@attrs.frozen
class V2Dialect(Dialect):
    """Glance v2: JSON records, ``.../file`` for the bytes, JSON patch, next links."""

    api = Api.V2
    default_page_size = None
    resumable = True  # byte ranges since Pike, without a version bump
    empty_by_upload = True
    rereads_update = False  # the patch answer is the updated record
    list_path = "/v2/images"
    create_path = "/v2/images"
    delete_expect = frozenset({204})

    @property
    def filters_os_hidden(self) -> bool:
        """``os_hidden`` is a v2.7+ filter."""
        return self.minor >= _OS_HIDDEN_MINOR

    @property
    def published_digests(self) -> tuple[str, ...]:
        """md5 (``checksum``), and the multihash (sha512 by default) from 2.7 on: a server
        offering less has no multihash, so an upload to it computes md5 whatever the
        policy."""
        return UPLOAD_DIGESTS if self.minor >= _MULTIHASH_MINOR else ("md5",)

    def schema_request(self) -> Request:
        """``GET /v2/schemas/image``: the disk formats this server accepts."""
        return Request("GET", "/v2/schemas/image")

    def show_request(self, image_id: str) -> Request:
        """``GET`` of the image entity."""
        return Request("GET", self.image_path(image_id), image_id=image_id)

    def download_request(self, image_id: str, offset: int = 0) -> Request:
        """``GET .../file``; ``Range: bytes=offset-`` to resume."""
        headers = _ACCEPT_OCTET
        if offset > 0:
            headers += (("range", f"bytes={offset}-"),)
        return Request("GET", self.image_path(image_id) + "/file", headers=headers,
                       image_id=image_id, expect=frozenset({200, 204, 206}),
                       retry_on=DOWNLOAD_RETRY_ON)

    def upload_request(self, image_id: str, size: int | None = None) -> Request:
        """``PUT .../file`` (the size is known from the body itself)."""
        return Request("PUT", self.image_path(image_id) + "/file", headers=_CONTENT_OCTET,
                       image_id=image_id, idempotent=False, expect=frozenset({204}))

    def create_request(self, image: Image, *, with_data: bool, empty: bool) -> Translated[Request]:
        """``POST`` of the JSON entity this minor knows; locations follow as patches."""
        body = image_to_v2_create(image, minor=self.minor)
        return Translated(self._create(_CONTENT_JSON, json.dumps(body.value).encode()),
                          body.losses)

    def location_requests(self, image_id: str, image: Image) -> tuple[Request, ...]:
        """One ``add /locations/-`` patch per location (or the direct URL)."""
        urls = [loc.url for loc in image.locations] or (
            [image.direct_url] if image.direct_url else [])
        return tuple(self._patch(image_id, [{"op": "add", "path": "/locations/-",
                                             "value": {"url": url, "metadata": {}}}])
                     for url in urls)

    def update_request(
        self, image_id: str, current: Image, wanted: Image, purge_props: bool
    ) -> Translated[Request | None]:
        """One minimal JSON patch, or nothing when the records already agree."""
        patch = v2_patch(current, wanted, purge_props, minor=self.minor)
        request = self._patch(image_id, patch.value) if patch.value else None
        return Translated(request, patch.losses)

    def _patch(self, image_id: str, ops: Any) -> Request:
        return Request("PATCH", self.image_path(image_id),
                       headers=(*ACCEPT_JSON, ("content-type", JSON_PATCH)),
                       body=json.dumps(list(ops)).encode(), image_id=image_id)

    def read_image(self, request: Request, response: Response) -> Image:
        """The v2 image entity."""
        return from_v2(answer_object(response, request.image_id))

    def read_document(self, doc: Mapping[str, Any], asked: int | None) -> Page:
        """A ``next`` link on a non-empty page means more; its marker is taken. A server
        capping the page size still links the next page, so a short page is never in
        doubt."""
        images = from_v2_list(doc)
        return Page(images, more=self._more(doc, images), marker=_next_marker(doc.get("next")))

    def frame(self, doc: Mapping[str, Any], asked: int | None) -> Frame | None:
        """The page's size and its ``next`` link's marker (the last record's id without one)."""
        items = doc.get("images")
        if not isinstance(items, list):
            return None
        marker = _next_marker(doc.get("next"))
        return Frame(len(items), more=self._more(doc, items),
                     marker=_last_id(items) if marker is None else marker)

    @staticmethod
    def _more(doc: Mapping[str, Any], items: Sequence[object]) -> bool:
        return isinstance(doc.get("next"), str) and bool(items)


def _last_id(items: list[Any]) -> str | None:
    """The raw id of a page's last record (what the pager takes as the marker), if a str."""
    last = items[-1].get("id") if items and isinstance(items[-1], Mapping) else None
    return last if isinstance(last, str) else None


def _next_marker(link: object) -> str | None:
    if not isinstance(link, str):
        return None
    markers = [v for k, v in parse_qsl(urlsplit(link).query) if k == "marker"]
    return markers[-1] if markers else None


_DIALECTS: Mapping[Api, type[Dialect]] = {Api.V1: V1Dialect, Api.V2: V2Dialect}


def dialect_for(choice: VersionChoice) -> Dialect:
    """The dialect of the API ``choice`` speaks."""
    return _DIALECTS[choice.api](choice)
