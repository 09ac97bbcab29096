"""Sans-I/O seam operations, shared by the sync and async clients.

Each operation is written once for both APIs: it asks its dialect
(:func:`~imgcompat.core.dialect.dialect_for`) for every request and for the reading of every
answer, so nothing here compares API versions. The clients only move bytes. Multi-request
operations (update, create, snapshot) are generators: they yield :class:`Step` values, the
client performs each one and sends the outcome back (``gen.send``), or throws the failure in
(``gen.throw``) so the operation can clean up (a snapshot deletes its half-made record).
The request values, the retry rule (:mod:`imgcompat.core.exchange`) and the pager
(:mod:`imgcompat.core.listing`) are re-exported here, where the clients look for them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Generator, Mapping
from typing import Any, TypedDict, TypeVar, Unpack

import attrs

from imgcompat.core.dialect import Dialect, V1Dialect, dialect_for
from imgcompat.core.discovery import VersionChoice, choose_version
from imgcompat.core.download import Verification
from imgcompat.core.enums import Api, ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import (
    Conflict,
    ImageIdMismatch,
    ImageNotFound,
    ImageUnacceptable,
    InvalidRecord,
    UnexpectedResponse,
    UnsupportedMediaType,
)
from imgcompat.core.exchange import (
    CLEANUP_RETRY_ON,
    DOWNLOAD_RETRY_ON,
    JSON_PATCH,
    OCTET,
    Failure,
    Pairs,
    Request,
    Response,
    answer_object,
    check_image_id,
    from_server,
    is_retryable_status,
    judge,
    may_retry,
    without_locations,
)
from imgcompat.core.immutable import JSON
from imgcompat.core.integrity import UPLOAD_DIGESTS
from imgcompat.core.listing import Pager, start_listing
from imgcompat.core.model import Image, Loss, Translated
from imgcompat.core.seam import as_image, merge_seam_dict

__all__ = [
    "CLEANUP_RETRY_ON", "DEFAULT_PAGE_SIZE", "DOWNLOAD_RETRY_ON", "EMPTY_IMAGE_DISK_FORMATS",
    "JSON_PATCH", "OCTET", "CheckUpload", "Failure", "Op", "Pager", "Pairs", "Report",
    "Request", "Response", "Step", "Upload", "Uploaded", "check_downloadable",
    "check_image_id", "create_op", "delete_op", "delete_request", "discovery_request",
    "download_request", "is_retryable_status", "judge", "judge_image", "judge_show",
    "judge_versions", "may_retry", "resumable", "same_image_id", "show_op", "show_request",
    "SnapshotOptions", "snapshot_image",
    "snapshot_op", "start_listing", "update_op", "upload_digests", "upload_op",
    "upload_request",
    "without_locations",
]

T = TypeVar("T")

#: The v1 page size when larger pages are refused (see :class:`~imgcompat.core.listing.Paging`).
DEFAULT_PAGE_SIZE = V1Dialect.default_page_size
#: Formats tried, in order, for an image created active without data (seam-contract.md).
EMPTY_IMAGE_DISK_FORMATS = (DiskFormat.QCOW2, DiskFormat.VHD, DiskFormat.VMDK, DiskFormat.RAW)


# --------------------------------------------------------------------------- steps


@attrs.frozen
class Upload:
    """Step: send ``request`` with ``data`` streamed as its body, hashing ``digests`` on
    the way (the verification policy's choice for this API, see :func:`upload_digests`);
    the answer is :class:`Uploaded` (the upload source knows the size and digests
    afterwards)."""

    request: Request
    data: Any
    size: int | None = None
    digests: tuple[str, ...] = UPLOAD_DIGESTS


@attrs.frozen
class Uploaded:
    """The answer to an :class:`Upload`: the server's response and the drained source."""

    response: Response
    source: Any


@attrs.frozen
class CheckUpload:
    """Step: compare what was streamed with the server's record (raises on a mismatch);
    the answer is the :class:`~imgcompat.core.integrity.Verified` outcome, which the
    client logs when nothing could be compared."""

    source: Any
    image: Image


@attrs.frozen
class Report:
    """Step: hand a translation's losses to the caller's ``on_loss``."""

    losses: tuple[Loss, ...]


Step = Request | Upload | CheckUpload | Report
Op = Generator[Step, Any, T]


# --------------------------------------------------------------------------- discovery


def discovery_request() -> Request:
    """``GET /`` on the unversioned root: 300 (or 200 behind some proxies) + versions."""
    return Request("GET", "/", expect=frozenset({200, 300}))


def judge_versions(
    response: Response, pin: Api | str | None, *, endpoint: str
) -> tuple[Mapping[str, Any], VersionChoice]:
    """The versions document (to cache) and the choice it gives for ``pin``."""
    judge(discovery_request(), response)
    doc = answer_object(response, None)
    with from_server(None, response.status):
        return doc, choose_version(doc, pin, endpoint=endpoint)


# --------------------------------------------------------------------------- single requests


def show_request(choice: VersionChoice, image_id: str) -> Request:
    """The request reading one image's record (v1 ``HEAD``, v2 ``GET``)."""
    return dialect_for(choice).show_request(image_id)


def judge_image(choice: VersionChoice, request: Request, response: Response) -> Image:
    """The seam record in a show, create, update or upload answer."""
    return _judge_image(dialect_for(choice), request, response)


def _judge_image(dialect: Dialect, request: Request, response: Response) -> Image:
    """The record in an answer, which must be about the image the request named: a server
    (or a cache in front of it) answering ``show(A)`` with image B must not make the
    caller act on B as if it were A (download B's bytes, patch B)."""
    judge(request, response)
    with from_server(request.image_id, response.status):
        image = dialect.read_image(request, response)
    if request.image_id is not None and not same_image_id(request.image_id, image.id):
        raise ImageIdMismatch(expected=request.image_id, actual=image.id,
                              status=response.status)
    return image


def same_image_id(asked: str, answered: str | None) -> bool:
    """Whether an answer's id names the image asked for (UUIDs in any spelling: case,
    dashes)."""
    if answered is None:
        return False
    if asked == answered:
        return True
    try:
        return uuid.UUID(asked) == uuid.UUID(answered)
    except ValueError:
        return False


def judge_show(
    choice: VersionChoice,
    request: Request,
    response: Response,
    *,
    include_locations: bool = False,
    show_deleted: bool = True,
) -> Image:
    """The record a show returns: deleted images refused unless asked for, locations
    hidden unless asked for."""
    image = judge_image(choice, request, response)
    if image.deleted and not show_deleted:
        raise ImageNotFound("the image is deleted", image_id=request.image_id, status=404)
    return image if include_locations else without_locations(image)


def delete_request(choice: VersionChoice, image_id: str) -> Request:
    """``DELETE`` of one image (v1 answers 200, v2 204)."""
    return dialect_for(choice).delete_request(image_id)


def download_request(choice: VersionChoice, image_id: str, offset: int = 0) -> Request:
    """``GET`` of the bytes; ``Range: bytes=offset-`` to resume (v1 has no ranges)."""
    return dialect_for(choice).download_request(image_id, offset)


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
    return dialect_for(choice).resumable


def upload_request(choice: VersionChoice, image_id: str, size: int | None = None) -> Request:
    """The request whose body is the image data (never replayed once bytes left)."""
    return dialect_for(choice).upload_request(image_id, size)


def upload_digests(choice: VersionChoice,
                   verification: Verification = Verification.STRONGEST) -> tuple[str, ...]:
    """The digests an upload to this API computes under ``verification``: md5 on v1 (its
    record publishes nothing else); on v2 the multihash alone (sha512) by default, md5 and
    sha512 with ``Verification.ALL``."""
    return verification.upload_digests(dialect_for(choice).published_digests)


# --------------------------------------------------------------------------- operations


def show_op(
    choice: VersionChoice, image_id: str, *, include_locations: bool = False,
    show_deleted: bool = True,
) -> Op[Image]:
    """Read one image."""
    request = show_request(choice, image_id)
    response = yield request
    return judge_show(choice, request, response, include_locations=include_locations,
                      show_deleted=show_deleted)


def delete_op(choice: VersionChoice, image_id: str) -> Op[None]:
    """Delete one image."""
    request = delete_request(choice, image_id)
    judge(request, (yield request))


def _reread(dialect: Dialect, image_id: str) -> Op[Image]:
    request = dialect.show_request(image_id)
    return _judge_image(dialect, request, (yield request))


def upload_op(
    choice: VersionChoice, image_id: str, data: Any, size: int | None = None, *,
    verification: Verification = Verification.STRONGEST,
) -> Op[Image]:
    """Stream the data, re-read the record, and check it against what was sent (the
    digests ``verification`` chooses, see :func:`upload_digests`)."""
    return (yield from _upload(dialect_for(choice), image_id, data, size, verification))


def _upload(dialect: Dialect, image_id: str, data: Any, size: int | None,
            verification: Verification) -> Op[Image]:
    request = dialect.upload_request(image_id, size)
    digests = verification.upload_digests(dialect.published_digests)
    uploaded: Uploaded = yield Upload(request, data, size, digests)
    judge(request, uploaded.response)
    image = yield from _reread(dialect, image_id)
    yield CheckUpload(uploaded.source, image)
    return without_locations(image)


def _schema_disk_formats(response: Response) -> tuple[str, ...]:
    doc = answer_object(response, None)
    prop = doc.get("properties", {})
    prop = prop.get("disk_format", {}) if isinstance(prop, Mapping) else None
    values = prop.get("enum", ()) if isinstance(prop, Mapping) else None
    if not isinstance(values, list | tuple):
        raise UnexpectedResponse("the image schema's disk_format has no list of values",
                                 status=response.status)
    return tuple(v for v in values if isinstance(v, str))


def create_op(
    choice: VersionChoice, image: Image | Mapping[str, Any], data: Any = None, *,
    size: int | None = None, activate_empty: bool = True,
    verification: Verification = Verification.STRONGEST,
) -> Op[Image]:
    """Create; with data upload it; with ``size == 0`` and no data end ``active``.

    ``activate_empty=False`` reserves a queued record instead (the snapshot flow, or a
    caller uploading later). A classic seam dict without ``size`` means that too, as it
    did in the classic seam: only ``size: 0`` asked for an empty active image.
    ``verification``: the digests an upload computes (:func:`upload_digests`).
    """
    dialect = dialect_for(choice)
    if not isinstance(image, Image) and image.get("size") in (None, ""):
        activate_empty = False
    image = as_image(image)
    empty = data is None and image.size == 0 and activate_empty
    candidates: tuple[DiskFormat, ...] = ()
    if empty:
        if image.container_format is None:
            image = attrs.evolve(image, container_format=ContainerFormat.BARE)
        if image.disk_format is None:
            candidates = EMPTY_IMAGE_DISK_FORMATS
            schema = dialect.schema_request()
            if schema is not None:
                allowed = _schema_disk_formats(judge(schema, (yield schema)))
                candidates = tuple(f for f in candidates if f in allowed) or candidates
            image = attrs.evolve(image, disk_format=candidates[0])
    image_id = yield from _post(dialect, image, data, empty=empty)
    locations = dialect.location_requests(image_id, image)
    for request in locations:
        judge(request, (yield request))
    if data is not None:
        return (yield from _upload(dialect, image_id, data, size, verification))
    if not (empty and dialect.empty_by_upload) or locations:
        # v1 re-reads through HEAD too: its JSON answer carries property text exactly as
        # stored, headers are decoded by the one v1 rule, so every v1 read looks the same.
        return without_locations((yield from _reread(dialect, image_id)))
    # Empty data must make the image active. A server that inspects data refuses an empty
    # qcow2 (415) and leaves the record in a state a second upload breaks (500): so, when
    # the format was ours to choose, the record is deleted and made again in the next one.
    for index in range(len(candidates) or 1):
        try:
            return (yield from _upload(dialect, image_id, b"", 0, verification))
        except UnsupportedMediaType:
            if index + 1 >= len(candidates):
                raise
            cleanup = dialect.delete_request(image_id)
            judge(cleanup, (yield cleanup))
            image = attrs.evolve(image, disk_format=candidates[index + 1])
            image_id = yield from _post(dialect, image, data, empty=empty, report=False)
    raise AssertionError("unreachable")  # pragma: no cover


def _post(
    dialect: Dialect, image: Image, data: Any, *, empty: bool, report: bool = True
) -> Op[str]:
    create = dialect.create_request(image, with_data=data is not None, empty=empty)
    if create.losses and report:
        yield Report(create.losses)
    request = create.value
    response = yield request
    created = _judge_image(dialect, request, response)
    if created.id is None:
        raise UnexpectedResponse("the created image has no id", status=response.status)
    with from_server(None, response.status):
        return check_image_id(created.id)


def update_op(
    choice: VersionChoice, image_id: str, wanted: Image | Mapping[str, Any], data: Any = None,
    *, size: int | None = None, purge_props: bool = True,
    current: Image | Mapping[str, Any] | None = None,
    verification: Verification = Verification.STRONGEST,
) -> Op[Image]:
    """Send the minimal change from the current record to ``wanted``, then upload data if any.

    ``current``: the record the caller holds (from a show, a create or its last update); the
    change is computed against it without reading the image first, so a v2 update is one
    request. A view gone stale shows on v2 as a ``409`` (a ``replace`` or ``remove`` of a
    property that is no longer there): the record is then read once and the change computed
    again and sent; a second 409 is raised. v1 has no conditional update and never answers
    a stale change with a 409: its ``PUT`` carries the fields that differ between
    ``current`` and ``wanted`` (and, with ``purge_props``, the whole wanted property set,
    which the server takes as it is), so on either API a field someone else changed since,
    and the caller did not, keeps their value. Without ``current`` the record is read first.

    A classic seam dict as ``wanted`` changes only the keys it has: it is laid over the
    record the change is computed against (:func:`~imgcompat.core.seam.merge_seam_dict`);
    an ``Image`` is the whole wanted record. ``verification``: the digests the upload of
    ``data`` computes (:func:`upload_digests`).
    """
    dialect = dialect_for(choice)
    held = _held_record(current, image_id)
    base = held if held is not None else (yield from _reread(dialect, image_id))
    change = yield from _change_request(dialect, image_id, base,
                                        _wanted(wanted, base, purge_props),
                                        purge_props=purge_props)
    try:
        result = yield from _send_change(dialect, image_id, base, change.value)
    except Conflict:
        if held is None:
            raise
        fresh = yield from _reread(dialect, image_id)
        retry = yield from _change_request(dialect, image_id, fresh,
                                           _wanted(wanted, fresh, purge_props),
                                           purge_props=purge_props, told=change.losses)
        result = yield from _send_change(dialect, image_id, fresh, retry.value)
    if data is not None:
        return (yield from _upload(dialect, image_id, data, size, verification))
    return without_locations(result)


def _wanted(wanted: Image | Mapping[str, Any], base: Image, purge_props: bool) -> Image:
    return wanted if isinstance(wanted, Image) else merge_seam_dict(base, wanted, purge_props)


def _held_record(current: Image | Mapping[str, Any] | None, image_id: str) -> Image | None:
    if current is None:
        return None
    held = as_image(current)
    if held.id is not None and held.id != image_id:
        raise InvalidRecord(f"current is the record of image {held.id!r}, not {image_id!r}",
                            field="id")
    return held


def _change_request(
    dialect: Dialect, image_id: str, current: Image, wanted: Image, *, purge_props: bool,
    told: tuple[Loss, ...] = (),
) -> Op[Translated[Request | None]]:
    """The request turning ``current`` into ``wanted``, its losses reported (those in
    ``told`` were already)."""
    change = dialect.update_request(image_id, current, wanted, purge_props)
    losses = tuple(loss for loss in change.losses if loss not in told)
    if losses:
        yield Report(losses)
    return change


def _send_change(
    dialect: Dialect, image_id: str, current: Image, request: Request | None
) -> Op[Image]:
    """The record after ``request`` (``current`` when there is nothing to send)."""
    if request is None:
        return current
    response = yield request
    if dialect.rereads_update:
        judge(request, response)
        return (yield from _reread(dialect, image_id))
    return _judge_image(dialect, request, response)


class SnapshotOptions(TypedDict, total=False):
    """What a snapshot record is made of besides its name and instance (the keywords of
    ``snapshot``).

    ``base_image_ref``: the image the instance booted from. ``user_id``: who asked.
    ``inherited``: what the snapshot inherits from the instance's image: a property
    mapping (as built from instance system metadata), or that image's seam record (an
    :class:`Image` or a classic seam dict, recognised by its ``properties`` mapping), whose
    properties, ``min_ram`` and ``min_disk`` carry over. ``disk_format`` /
    ``container_format``: of the data to come.
    """

    base_image_ref: str | None
    user_id: str | None
    inherited: Image | Mapping[str, Any] | None
    disk_format: DiskFormat | str | None
    container_format: ContainerFormat | str | None


def snapshot_image(name: str, instance_uuid: str, **options: Unpack[SnapshotOptions]
                   ) -> Image:
    """The private snapshot record (the compute service's common snapshot code)."""
    base = _inherited_record(options.get("inherited"))
    props: dict[str, JSON] = dict(base.properties)
    props.update({"image_type": "snapshot", "instance_uuid": instance_uuid})
    for key in ("base_image_ref", "user_id"):
        value = options.get(key)
        if value is not None:
            props[key] = value
    return Image(name=name, status=Status.QUEUED, visibility=Visibility.PRIVATE,
                 is_public=False, disk_format=options.get("disk_format"),
                 container_format=options.get("container_format"), properties=props,
                 min_ram=base.min_ram, min_disk=base.min_disk)


def _inherited_record(inherited: Image | Mapping[str, Any] | None) -> Image:
    if inherited is None:
        return Image()
    if isinstance(inherited, Image) or isinstance(inherited.get("properties"), Mapping):
        return as_image(inherited)
    return Image(properties=inherited)


def snapshot_op(
    choice: VersionChoice, image: Image, data: Any = None, *, size: int | None = None,
    verification: Verification = Verification.STRONGEST,
) -> Op[Image]:
    """Create the queued record, upload (hashing what ``verification`` chooses); when the
    upload fails, delete the record."""
    record = yield from create_op(choice, image, activate_empty=False)
    if data is None:
        return record
    assert record.id is not None
    try:
        return (yield from upload_op(choice, record.id, data, size,
                                     verification=verification))
    except Exception:
        cleanup = attrs.evolve(delete_request(choice, record.id), retry_on=CLEANUP_RETRY_ON)
        with contextlib.suppress(Exception):  # the upload's failure is the one to report
            judge(cleanup, (yield cleanup))
        raise
