"""Sans-I/O request plans and response judging, shared by the sync and async clients.

Everything the clients decide lives here: which path, verb, headers and body each seam
operation needs on v1 or v2, which statuses mean success, how a page continues, which
failures may be retried. The clients only move bytes. Multi-request operations (update,
create, snapshot) are generators: they yield :class:`Step` values, the client performs each
one and sends the outcome back (``gen.send``), or throws the failure in (``gen.throw``) so
the operation can clean up (a snapshot deletes its half-made record).
"""

from __future__ import annotations

import contextlib
import enum
import json
import re
from collections.abc import Generator, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import attrs

from imgcompat.core.discovery import VersionChoice, choose_version
from imgcompat.core.enums import Api, ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import (
    RETRYABLE_STATUSES,
    ImageNotFound,
    ImageUnacceptable,
    InvalidRecord,
    UnexpectedResponse,
    UnsupportedMediaType,
    error_for,
)
from imgcompat.core.fields import V1_PROPERTY_PREFIX
from imgcompat.core.immutable import JSON
from imgcompat.core.model import Image, Loss
from imgcompat.core.query import filters_for, is_paging_key
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

T = TypeVar("T")
Pairs = tuple[tuple[str, str], ...]

JSON_PATCH = "application/openstack-images-v2.1-json-patch"
OCTET = "application/octet-stream"
_ACCEPT_JSON: Pairs = (("accept", "application/json"),)
#: Page size asked of a v1 server (it has no next links: a short page ends the listing).
DEFAULT_PAGE_SIZE = 20
#: Formats tried, in order, for an image created active without data (seam-contract.md).
EMPTY_IMAGE_DISK_FORMATS = (DiskFormat.QCOW2, DiskFormat.VHD, DiskFormat.VMDK, DiskFormat.RAW)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")


# --------------------------------------------------------------------------- values


@attrs.frozen
class Request:
    """One HTTP request, planned. ``path`` is relative to the API server's root URL."""

    method: str
    path: str
    params: Pairs = ()
    headers: Pairs = _ACCEPT_JSON
    body: bytes | None = None
    image_id: str | None = None
    #: May be sent again after its bytes left (GET, PUT of metadata, DELETE).
    idempotent: bool = True
    expect: frozenset[int] = frozenset({200})
    #: Answers worth another attempt on the next server.
    retry_on: frozenset[int] = RETRYABLE_STATUSES


@attrs.frozen
class Response:
    """The facts of one answer: status, headers (names lower case), the whole body."""

    status: int
    headers: Pairs = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@attrs.frozen
class Upload:
    """Step: send ``request`` with ``data`` streamed as its body; the answer is
    :class:`Uploaded` (the upload source knows the size and digests afterwards)."""

    request: Request
    data: Any
    size: int | None = None


@attrs.frozen
class Uploaded:
    response: Response
    source: Any


@attrs.frozen
class CheckUpload:
    """Step: compare what was streamed with the server's record (raises on a mismatch)."""

    source: Any
    image: Image


@attrs.frozen
class Report:
    """Step: hand a translation's losses to the caller's ``on_loss``."""

    losses: tuple[Loss, ...]


Step = Request | Upload | CheckUpload | Report
Op = Generator[Step, Any, T]


class Failure(enum.Enum):
    """How an attempt failed, as far as the retry rule cares."""

    NOT_SENT = "the connection was never established: nothing was sent"
    NO_ANSWER = "the request may have reached the server, but no answer came back"
    RETRYABLE_STATUS = "the server answered that it could not serve the request"


# --------------------------------------------------------------------------- small rules


def check_image_id(image_id: object) -> str:
    """An id safe to put in a URL path: UUID-like, or ``[A-Za-z0-9._-]`` without ``..``."""
    if not isinstance(image_id, str) or not (
        _UUID.match(image_id) or (_SAFE_ID.match(image_id) and ".." not in image_id)
    ):
        raise InvalidRecord(f"not a usable image id: {image_id!r}", field="id")
    return image_id


def may_retry(request: Request, failure: Failure, *, body_replayable: bool = True) -> bool:
    """The idempotency rule: replay only what cannot act twice.

    An idempotent request is retried after any of the three failures. A create or upload
    is retried only when the server provably did not act: the connection never opened, or
    the server answered 503-like before acting, and then only when its body can be
    produced again (a one-shot upload stream cannot).
    """
    if failure is Failure.NOT_SENT:
        return True
    if request.idempotent:
        return True
    return failure is Failure.RETRYABLE_STATUS and body_replayable


def is_retryable_status(request: Request, status: int) -> bool:
    return status in request.retry_on


#: A real Glance answers 500 (or 409) to a DELETE that races the end of an aborted upload.
CLEANUP_RETRY_ON = RETRYABLE_STATUSES | {409, 500}
#: Known Glance bugs answer 500 to some downloads (a Range on an image being written, a
#: ``Content-Length: None``): worth another try on the next server, like a 503.
DOWNLOAD_RETRY_ON = RETRYABLE_STATUSES | {500}


def judge(request: Request, response: Response) -> Response:
    """The response when its status is one the plan expects; else the typed error."""
    if response.status in request.expect:
        return response
    raise error_for(response.status, response.body, request.image_id)


def _json(response: Response, image_id: str | None) -> Any:
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise UnexpectedResponse(f"the server's answer is not JSON: {response.body[:80]!r}",
                                 image_id=image_id, status=response.status) from exc


def _mapping(doc: Any, image_id: str | None, status: int) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise UnexpectedResponse("the server's answer is not a JSON object",
                                 image_id=image_id, status=status)
    return doc


def without_locations(image: Image) -> Image:
    """The record as the seam shows it when locations were not asked for."""
    if image.direct_url is None and not image.locations:
        return image
    return attrs.evolve(image, direct_url=None, locations=())


# --------------------------------------------------------------------------- discovery


def discovery_request() -> Request:
    """``GET /`` on the unversioned root: 300 (or 200 behind some proxies) + versions."""
    return Request("GET", "/", expect=frozenset({200, 300}))


def judge_versions(
    response: Response, pin: Api | str | None, *, endpoint: str
) -> tuple[Mapping[str, Any], VersionChoice]:
    """The versions document (to cache) and the choice it gives for ``pin``."""
    judge(discovery_request(), response)
    doc = _mapping(_json(response, None), None, response.status)
    return doc, choose_version(doc, pin, endpoint=endpoint)


# --------------------------------------------------------------------------- single requests


def _image_path(choice: VersionChoice, image_id: str) -> str:
    return f"/v{choice.api.value}/images/{check_image_id(image_id)}"


def show_request(choice: VersionChoice, image_id: str) -> Request:
    if choice.api is Api.V1:
        return Request("HEAD", _image_path(choice, image_id), image_id=image_id)
    return Request("GET", _image_path(choice, image_id), image_id=image_id)


def judge_image(choice: VersionChoice, request: Request, response: Response) -> Image:
    """The seam record in a show, create, update or upload answer."""
    judge(request, response)
    image_id = request.image_id
    if choice.api is Api.V1 and request.method == "HEAD":
        return from_v1_headers(response.headers)
    doc = _mapping(_json(response, image_id), image_id, response.status)
    if choice.api is Api.V1:
        return from_v1_json(doc)
    return from_v2(doc)


def judge_show(
    choice: VersionChoice,
    request: Request,
    response: Response,
    *,
    include_locations: bool = False,
    show_deleted: bool = True,
) -> Image:
    image = judge_image(choice, request, response)
    if image.deleted and not show_deleted:
        raise ImageNotFound("the image is deleted", image_id=request.image_id, status=404)
    return image if include_locations else without_locations(image)


def delete_request(choice: VersionChoice, image_id: str) -> Request:
    # v1 answers 200 with an empty body, v2 204.
    expect = frozenset({200, 204}) if choice.api is Api.V1 else frozenset({204})
    return Request("DELETE", _image_path(choice, image_id), image_id=image_id, expect=expect)


def download_request(choice: VersionChoice, image_id: str, offset: int = 0) -> Request:
    """``GET`` of the bytes; ``Range: bytes=offset-`` to resume (v1 has no ranges)."""
    headers: Pairs = (("accept", OCTET),)
    if offset > 0 and choice.api is Api.V2:
        headers += (("range", f"bytes={offset}-"),)
    if choice.api is Api.V1:
        return Request("GET", _image_path(choice, image_id), headers=headers,
                       image_id=image_id, expect=frozenset({200}), retry_on=DOWNLOAD_RETRY_ON)
    return Request("GET", _image_path(choice, image_id) + "/file", headers=headers,
                   image_id=image_id, expect=frozenset({200, 204, 206}),
                   retry_on=DOWNLOAD_RETRY_ON)


_NO_DATA = frozenset({Status.QUEUED, Status.SAVING, Status.UPLOADING, Status.IMPORTING,
                      Status.KILLED})


def check_downloadable(image: Image) -> Image:
    """An image whose status says it has no data yet is refused before any byte moves
    (v2 would answer 204, v1 404: the seam says ImageUnacceptable for both)."""
    if image.status in _NO_DATA:
        raise ImageUnacceptable(f"image has no data (status {image.status!s})",
                                image_id=image.id)
    return image


def resumable(choice: VersionChoice) -> bool:
    """Only v2 serves byte ranges (since Pike, without a version bump)."""
    return choice.api is Api.V2


def upload_request(choice: VersionChoice, image_id: str, size: int | None = None) -> Request:
    """The request whose body is the image data (never replayed once bytes left)."""
    headers: Pairs = (*_ACCEPT_JSON, ("content-type", OCTET))
    if choice.api is Api.V1:
        # Explicitly no purge: a v1 PUT without the header wipes the properties.
        headers += (("x-glance-registry-purge-props", "false"),)
        if size is not None:
            headers += (("x-image-meta-size", str(size)),)
        return Request("PUT", _image_path(choice, image_id), headers=headers,
                       image_id=image_id, idempotent=False, expect=frozenset({200}))
    return Request("PUT", _image_path(choice, image_id) + "/file", headers=headers,
                   image_id=image_id, idempotent=False, expect=frozenset({204}))


def _patch_request(image_id: str, ops: Iterable[Mapping[str, Any]]) -> Request:
    body = json.dumps(list(ops)).encode()
    return Request("PATCH", f"/v2/images/{check_image_id(image_id)}",
                   headers=(*_ACCEPT_JSON, ("content-type", JSON_PATCH)), body=body,
                   image_id=image_id)


# --------------------------------------------------------------------------- listing


_PAGING_KWARGS = ("marker", "limit", "page_size", "sort_key", "sort_dir")


@attrs.frozen
class Pager:
    """Where a listing stands: the next request to send, or None when it is over.

    v2 continues while the answer has a ``next`` link (its marker is taken, the caller's
    own parameters are re-sent: the link loses a path prefix and repeated parameters);
    v1 continues while a page comes back full. ``remaining`` is the caller's total limit.
    """

    choice: VersionChoice
    params: Pairs
    marker: str | None = None
    page_size: int | None = None
    remaining: int | None = None
    strictly_after: datetime | None = None
    losses: tuple[Loss, ...] = ()
    done: bool = False

    def request(self) -> Request | None:
        if self.done or self.remaining == 0:
            return None
        params = list(self.params)
        limit = self._limit()
        if limit is not None:
            params.append(("limit", str(limit)))
        if self.marker is not None:
            params.append(("marker", self.marker))
        path = "/v1/images/detail" if self.choice.api is Api.V1 else "/v2/images"
        return Request("GET", path, params=tuple(params))

    def _limit(self) -> int | None:
        size = self.page_size
        if size is None and self.choice.api is Api.V1:
            size = DEFAULT_PAGE_SIZE
        if self.remaining is not None:
            size = self.remaining if size is None else min(size, self.remaining)
        return size

    def feed(self, response: Response) -> tuple[tuple[Image, ...], Pager]:
        """The records of one page (filtered, capped) and the pager for the next one."""
        request = self.request()
        if request is None:
            return (), self
        judge(request, response)
        doc = _mapping(_json(response, None), None, response.status)
        if self.choice.api is Api.V1:
            raw = from_v1_json_list(doc)
            limit = self._limit()
            more = limit is not None and len(raw) >= limit
        else:
            raw = from_v2_list(doc)
            more = isinstance(doc.get("next"), str) and bool(raw)
        marker = _next_marker(doc.get("next")) if self.choice.api is Api.V2 else None
        if marker is None and raw:
            marker = raw[-1].id
        if marker is None or marker == self.marker:
            more = False
        kept = tuple(without_locations(i) for i in raw if self._keeps(i))
        remaining = self.remaining
        if remaining is not None:
            kept = kept[:remaining]
            remaining -= len(kept)
        return kept, attrs.evolve(self, marker=marker, remaining=remaining, done=not more)

    def _keeps(self, image: Image) -> bool:
        after = self.strictly_after
        return after is None or image.updated_at is None or image.updated_at > after


def _next_marker(link: object) -> str | None:
    if not isinstance(link, str):
        return None
    markers = [v for k, v in parse_qsl(urlsplit(link).query) if k == "marker"]
    return markers[-1] if markers else None


def start_listing(
    choice: VersionChoice,
    filters: Mapping[str, Any] | None = None,
    *,
    marker: str | None = None,
    limit: int | None = None,
    page_size: int | None = None,
    sort_key: str | None = None,
    sort_dir: str | None = None,
) -> Pager:
    """The first pager of a ``detail`` call; paging keys may also come inside ``filters``."""
    given = dict(filters or {})
    paging = {k: given.pop(k) for k in list(given) if is_paging_key(k)}
    explicit = {"marker": marker, "limit": limit, "page_size": page_size,
                "sort_key": sort_key, "sort_dir": sort_dir}
    paging.update({k: v for k, v in explicit.items() if v is not None})
    losses: list[Loss] = []
    if "os_hidden" in given and (choice.api is Api.V1 or choice.minor < 7):
        given.pop("os_hidden")
        losses.append(Loss("os_hidden", f"{choice.label} has no os_hidden filter (v2.7+): "
                                        "not sent"))
    plan = filters_for(choice.api, given)
    params = list(plan.params)
    for key in ("sort_key", "sort_dir"):
        if paging.get(key) is not None:
            params.append((key, str(paging[key])))
    first_marker = paging.get("marker")
    if first_marker is not None:
        check_image_id(first_marker)
    return Pager(
        choice=choice,
        params=tuple(params),
        marker=first_marker,
        page_size=_positive(paging.get("page_size"), "page_size"),
        remaining=_positive(paging.get("limit"), "limit", zero_ok=True),
        strictly_after=plan.strictly_after,
        losses=tuple(losses) + plan.losses,
    )


def _positive(value: Any, name: str, *, zero_ok: bool = False) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"must be an integer, got {value!r}", field=name) from exc
    if number < (0 if zero_ok else 1):
        raise InvalidRecord(f"out of range: {number}", field=name)
    return number


# --------------------------------------------------------------------------- operations


def show_op(
    choice: VersionChoice, image_id: str, *, include_locations: bool = False,
    show_deleted: bool = True,
) -> Op[Image]:
    request = show_request(choice, image_id)
    response = yield request
    return judge_show(choice, request, response, include_locations=include_locations,
                      show_deleted=show_deleted)


def delete_op(choice: VersionChoice, image_id: str) -> Op[None]:
    request = delete_request(choice, image_id)
    judge(request, (yield request))


def _reread(choice: VersionChoice, image_id: str) -> Op[Image]:
    request = show_request(choice, image_id)
    return judge_image(choice, request, (yield request))


def upload_op(
    choice: VersionChoice, image_id: str, data: Any, size: int | None = None
) -> Op[Image]:
    """Stream the data, re-read the record, and check it against what was sent."""
    request = upload_request(choice, image_id, size)
    uploaded: Uploaded = yield Upload(request, data, size)
    judge(request, uploaded.response)
    image = yield from _reread(choice, image_id)
    yield CheckUpload(uploaded.source, image)
    return without_locations(image)


def _schema_disk_formats(response: Response) -> tuple[str, ...]:
    doc = _mapping(_json(response, None), None, response.status)
    prop = doc.get("properties", {}).get("disk_format", {})
    return tuple(v for v in prop.get("enum", ()) if isinstance(v, str))


def create_op(
    choice: VersionChoice, image: Image, data: Any = None, *, size: int | None = None,
    activate_empty: bool = True,
) -> Op[Image]:
    """Create; with data upload it; with ``size == 0`` and no data end ``active``.

    ``activate_empty=False`` reserves a queued record instead (the snapshot flow, or a
    caller uploading later).
    """
    empty = data is None and image.size == 0 and activate_empty
    candidates: tuple[DiskFormat, ...] = ()
    if empty:
        if image.container_format is None:
            image = attrs.evolve(image, container_format=ContainerFormat.BARE)
        if image.disk_format is None:
            candidates = EMPTY_IMAGE_DISK_FORMATS
            if choice.api is Api.V2:
                schema = Request("GET", "/v2/schemas/image")
                allowed = _schema_disk_formats(judge(schema, (yield schema)))
                candidates = tuple(f for f in candidates if f in allowed) or candidates
            image = attrs.evolve(image, disk_format=candidates[0])
    if choice.api is Api.V1:
        return (yield from _create_v1(choice, image, data, size, empty))
    return (yield from _create_v2(choice, image, data, size, empty=empty,
                                      candidates=candidates))


def _create_v2(
    choice: VersionChoice, image: Image, data: Any, size: int | None, *, empty: bool,
    candidates: tuple[DiskFormat, ...],
) -> Op[Image]:
    urls = [loc.url for loc in image.locations] or ([image.direct_url] if image.direct_url
                                                    else [])
    image_id = yield from _post_v2(choice, image)
    for url in urls:
        patch = _patch_request(image_id, [{"op": "add", "path": "/locations/-",
                                           "value": {"url": url, "metadata": {}}}])
        judge(patch, (yield patch))
    if data is not None:
        return (yield from upload_op(choice, image_id, data, size))
    if not empty or urls:
        return without_locations((yield from _reread(choice, image_id)))
    # Empty data must make the image active. A server that inspects data refuses an empty
    # qcow2 (415) and leaves the record in a state a second upload breaks (500): so, when
    # the format was ours to choose, the record is deleted and made again in the next one.
    for index in range(len(candidates) or 1):
        try:
            return (yield from upload_op(choice, image_id, b"", 0))
        except UnsupportedMediaType:
            if index + 1 >= len(candidates):
                raise
            cleanup = delete_request(choice, image_id)
            judge(cleanup, (yield cleanup))
            image = attrs.evolve(image, disk_format=candidates[index + 1])
            image_id = yield from _post_v2(choice, image, report=False)
    raise AssertionError("unreachable")  # pragma: no cover


def _post_v2(choice: VersionChoice, image: Image, *, report: bool = True) -> Op[str]:
    body = image_to_v2_create(image, minor=choice.minor)
    if body.losses and report:
        yield Report(body.losses)
    request = Request("POST", "/v2/images", body=json.dumps(body.value).encode(),
                      headers=(*_ACCEPT_JSON, ("content-type", "application/json")),
                      idempotent=False, expect=frozenset({201}))
    created = judge_image(choice, request, (yield request))
    if created.id is None:
        raise UnexpectedResponse("the created image has no id", status=201)
    return created.id


def _create_v1(
    choice: VersionChoice, image: Image, data: Any, size: int | None, empty: bool
) -> Op[Image]:
    translated = image_to_v1_create_headers(image)
    if translated.losses:
        yield Report(translated.losses)
    headers: Pairs = (*_ACCEPT_JSON, *translated.value)
    url = image.locations[0].url if image.locations else image.direct_url
    if url is not None and data is None:
        headers += (("x-image-meta-location", url),)
    elif empty:
        headers += (("x-image-meta-size", "0"),)  # v1: size 0 without data is active
    request = Request("POST", "/v1/images", headers=headers, idempotent=False,
                      expect=frozenset({201}))
    created = judge_image(choice, request, (yield request))
    if created.id is None:
        raise UnexpectedResponse("the created image has no id", status=201)
    if data is not None:
        return (yield from upload_op(choice, created.id, data, size))
    # Re-read through HEAD: the v1 JSON answer carries property text exactly as stored,
    # headers are decoded by the one v1 rule, so every v1 read looks the same.
    return without_locations((yield from _reread(choice, created.id)))


def update_op(
    choice: VersionChoice, image_id: str, wanted: Image, data: Any = None, *,
    size: int | None = None, purge_props: bool = True,
) -> Op[Image]:
    """Read the current record, send the minimal change, then upload data if any."""
    current = yield from _reread(choice, image_id)
    if choice.api is Api.V1:
        result = yield from _update_v1(choice, image_id, current, wanted, purge_props)
    else:
        patch = v2_patch(current, wanted, purge_props, minor=choice.minor)
        if patch.losses:
            yield Report(patch.losses)
        result = current
        if patch.value:
            request = _patch_request(image_id, patch.value)
            result = judge_image(choice, request, (yield request))
    if data is not None:
        return (yield from upload_op(choice, image_id, data, size))
    return without_locations(result)


def _update_v1(
    choice: VersionChoice, image_id: str, current: Image, wanted: Image, purge_props: bool
) -> Op[Image]:
    translated = v1_update_headers(current, wanted, purge_props)
    if translated.losses:
        yield Report(translated.losses)
    meta = [h for h in translated.value if h[0] != "x-glance-registry-purge-props"]
    base = [h for h in meta if not h[0].startswith(V1_PROPERTY_PREFIX)]
    props_now = image_to_v1(current).value.properties
    props_wanted = image_to_v1(wanted).value.properties
    unchanged = props_now == props_wanted or (not purge_props and not meta)
    if not base and unchanged:
        return current  # a PUT would only move updated_at: nothing to send
    request = Request("PUT", _image_path(choice, image_id), image_id=image_id,
                      headers=(*_ACCEPT_JSON, *translated.value))
    judge(request, (yield request))
    return (yield from _reread(choice, image_id))


def snapshot_image(
    name: str,
    instance_uuid: str,
    *,
    base_image_ref: str | None = None,
    user_id: str | None = None,
    inherited: Mapping[str, JSON] | None = None,
    disk_format: DiskFormat | str | None = None,
    container_format: ContainerFormat | str | None = None,
) -> Image:
    """The private snapshot record (the compute service's common snapshot code)."""
    props: dict[str, JSON] = dict(inherited or {})
    props.update({"image_type": "snapshot", "instance_uuid": instance_uuid})
    if base_image_ref is not None:
        props["base_image_ref"] = base_image_ref
    if user_id is not None:
        props["user_id"] = user_id
    return Image(name=name, status=Status.QUEUED, visibility=Visibility.PRIVATE,
                 is_public=False, disk_format=disk_format, container_format=container_format,
                 properties=props)


def snapshot_op(
    choice: VersionChoice, image: Image, data: Any = None, *, size: int | None = None
) -> Op[Image]:
    """Create the queued record, upload; when the upload fails, delete the record."""
    record = yield from create_op(choice, image, activate_empty=False)
    if data is None:
        return record
    assert record.id is not None
    try:
        return (yield from upload_op(choice, record.id, data, size))
    except Exception:
        cleanup = attrs.evolve(delete_request(choice, record.id), retry_on=CLEANUP_RETRY_ON)
        with contextlib.suppress(Exception):  # the upload's failure is the one to report
            judge(cleanup, (yield cleanup))
        raise
