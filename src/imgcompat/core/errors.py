"""One exception tree, and the pure mapping from an HTTP answer to it.

Every failure a caller can see is an :class:`ImgcompatError`; each carries the image id
(where known), the HTTP status (where there was one) and the server's own message. The
tree has one base per kind of failure a caller catches (as httpx draws its own)::

    ImgcompatError
    ├── InvalidRecord (also ValueError)   input that does not describe a valid image
    │   └── InvalidServerRecord           ... when the server sent it (also InvalidResponse)
    ├── VersionNotAvailable               discovery: the API asked for is not offered
    ├── ImageUnacceptable                 the image cannot be used as asked (no data yet)
    │   ├── ImageNotVerifiable            a download that must be verified has no usable digest
    │   └── ImageTooLarge                 a download past its ``max_size``
    ├── SourceNotRewindable               a one-shot upload source asked for its bytes twice
    ├── DigestNotComputed                 an upload source asked for a digest it did not
    │                                     compute (also LookupError)
    ├── MissingExtra (also ImportError)   a part used without the extra that installs it
    ├── ConnectionFailed                  no usable answer from any API server
    │   └── TransferInterrupted           the connection broke while bytes moved
    ├── LimitExceeded                     a safety limit (core.limits.Limits) was hit; the
    │   │                                 message names it and how to raise it
    │   ├── ResponseTooLarge              an answer past max_answer_bytes / max_versions_bytes
    │   │                                 (also InvalidResponse)
    │   ├── TooManyPages                  a listing past max_pages (also InvalidResponse)
    │   ├── DeadlineExceeded              a call past its deadline (also ConnectionFailed)
    │   └── TransferStalled               a download under the minimum progress (also
    │                                     ConnectionFailed; not resumed)
    ├── StatusError                       the server answered with an error status
    │   ├── Invalid                       400
    │   │   └── ImageBadRequest           400 on an image
    │   ├── Forbidden                     401 / 403
    │   │   └── ImageNotAuthorized        401 / 403 on an image
    │   ├── NotFound                      404
    │   │   └── ImageNotFound             404 on an image
    │   ├── Conflict                      409
    │   ├── ImageQuotaExceeded            413
    │   ├── UnsupportedMediaType          415
    │   ├── RangeNotSatisfiable           416
    │   └── ServerError                   5xx
    │       └── ServiceUnavailable        502 / 503 / 504, once retries are over
    └── InvalidResponse                   the server answered, but not with something usable
        ├── UnexpectedResponse            a status or shape the seam has no meaning for
        │   ├── UnexpectedTransferResponse  a download answer the resume rules cannot use
        │   └── PagingLoop                a listing whose next marker came round again
        ├── InvalidServerRecord           (see above)
        ├── ImageIdMismatch               the answer is about another image than the one asked
        ├── ChecksumMismatch              the bytes do not have the promised digest
        │   └── SizeMismatch              ... nor the promised length
        └── (cli) CheckFailed             the demo: an answer that breaks the seam's promise

The split between ``NotFound`` and ``ImageNotFound`` (and their 400/403 twins) is the
classic seam's: a call about one image raises the ``Image*`` class, a list or a create the
plain one; ``except NotFound`` catches both.

A ``LimitExceeded`` is also the error of the failure it cut short (a too large answer is an
``InvalidResponse``, a deadline a ``ConnectionFailed``...), so a caller that does not care
which limit was hit catches it where it already catches that failure.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

_MAX_MESSAGE = 500


class ImgcompatError(Exception):
    """Root of every error imgcompat raises.

    ``request_id`` is the id this call sent (``X-OpenStack-Request-ID``, when the caller
    gave one) and ``server_request_id`` the one the server answered with: together they
    let an operator find the image service's side of a failure.
    """

    request_id: str | None = None
    server_request_id: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        image_id: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message
        self.image_id = image_id
        self.status = status
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.image_id:
            parts.append(f"image {self.image_id}")
        if self.message:
            parts.append(self.message)
        text = ": ".join(parts) or type(self).__name__
        if self.status is not None:
            text += f" (HTTP {self.status})"
        return text


class InvalidRecord(ImgcompatError, ValueError):
    """Input that does not describe a valid image (bad header, JSON or schema violation)."""

    def __init__(self, message: str, *, field: str | None = None, **kw: object) -> None:
        self.field = field
        text = f"{field}: {message}" if field else message
        super().__init__(text, **kw)  # type: ignore[arg-type]


class VersionNotAvailable(ImgcompatError):
    """The server does not offer the API major that was asked for."""


class ImageUnacceptable(ImgcompatError):
    """The image cannot be used as asked (e.g. it has no data to download)."""


class ImageNotVerifiable(ImageUnacceptable):
    """A download asked to be verified (``require_verified``), but the record publishes no
    digest this Python can check (``reasons`` says why); nothing is left at the destination.
    """

    def __init__(self, reasons: Sequence[str], *, image_id: str | None = None) -> None:
        self.reasons = tuple(reasons)
        why = "; ".join(self.reasons) or "the server published no checksum"
        super().__init__(f"the download cannot be verified ({why}); pass "
                         "require_verified=False to accept unverified bytes",
                         image_id=image_id)


class ImageTooLarge(ImageUnacceptable):
    """A download announced or sent more bytes than its ``max_size`` allows.

    A record with no size (or 0 and no checksum) bounds nothing: without this limit an
    endless body would fill the disk. ``size`` is the size announced or reached.
    """

    def __init__(self, *, limit: int, size: int, image_id: str | None = None) -> None:
        self.limit = limit
        self.size = size
        super().__init__(f"the image is at least {size} bytes, over the download's max_size "
                         f"of {limit}; "
                         "raise max_size (DownloadOptions.max_size, or the client's "
                         "download(max_size=...)) to accept it", image_id=image_id)


class SourceNotRewindable(ImgcompatError):
    """An upload source that can be read only once was asked for its bytes a second time."""


class DigestNotComputed(ImgcompatError, LookupError):
    """An upload source was asked for a digest its read did not compute.

    An upload hashes only what the server's record will be compared with (the strongest
    digest by default): there is no value to give, and an empty or made-up one would pass
    for a digest. ``computed`` names what was hashed.
    """

    def __init__(self, algorithm: str, computed: Sequence[str]) -> None:
        self.algorithm = algorithm
        self.computed = tuple(computed)
        super().__init__(
            f"this upload did not compute {algorithm} (it computed "
            f"{', '.join(self.computed) or 'no digest'}); upload with "
            "verification=Verification.ALL, or build the source with "
            f"digests=(..., {algorithm!r}), to have it")


class MissingExtra(ImgcompatError, ImportError):
    """A part of imgcompat was used without the extra that installs its dependency.

    Also an ``ImportError``, so code that treats a missing optional dependency that way
    (``except ImportError``) keeps working; ``extra`` names what to install.
    """

    def __init__(self, message: str, *, extra: str) -> None:
        self.extra = extra
        super().__init__(message)


class StatusError(ImgcompatError):
    """The server answered with an error status (``status`` says which)."""


class Invalid(StatusError):
    """400 on a call that names no image (a list, a create)."""


class ImageBadRequest(Invalid):
    """400 on an image."""


class Forbidden(StatusError):
    """401/403 on a call that names no image (a list, a create)."""


class ImageNotAuthorized(Forbidden):
    """401/403 on an image: not allowed to see or change it (also: protected)."""


class NotFound(StatusError):
    """A 404 on a call that names no image (a list, a create)."""


class ImageNotFound(NotFound):
    """The image does not exist (or is deleted, on v2)."""


class Conflict(StatusError):
    """409: e.g. uploading to an image that is not queued."""


class ImageQuotaExceeded(StatusError):
    """413: the image (or the owner's storage) is over quota."""


class UnsupportedMediaType(StatusError):
    """415: the server refused the content type, or data that did not match disk_format."""


class RangeNotSatisfiable(StatusError):
    """416: a download range the server cannot serve."""


class ServerError(StatusError):
    """An unexpected 5xx answer."""


class ServiceUnavailable(ServerError):
    """503 and other retryable server states; raised only when retries are over."""


class InvalidResponse(ImgcompatError):
    """The server answered, but the answer cannot be used: its shape, status or bytes."""


class UnexpectedResponse(InvalidResponse):
    """A status code or document shape the seam has no meaning for."""


class UnexpectedTransferResponse(UnexpectedResponse):
    """A download answer the resume rules cannot use (e.g. a Content-Range for other bytes)."""


class InvalidServerRecord(InvalidRecord, InvalidResponse):
    """A record in the server's answer that breaks the wire format (its schema, its types).

    Both an :class:`InvalidRecord` (what the parser found) and an :class:`InvalidResponse`
    (whose fault it is), so callers catching either kind see it.
    """

    @classmethod
    def from_record(
        cls, exc: InvalidRecord, *, image_id: str | None = None, status: int | None = None
    ) -> InvalidServerRecord:
        """``exc`` blamed on the server: its message and field kept, and the image id and
        status it lacks taken from the call and the answer."""
        message = exc.message
        prefix = f"{exc.field}: "
        if exc.field and message.startswith(prefix):
            message = message[len(prefix):]
        return cls(message, field=exc.field, image_id=exc.image_id or image_id,
                   status=exc.status if exc.status is not None else status)


class ImageIdMismatch(InvalidResponse):
    """The server answered about another image than the one the request named."""

    def __init__(self, *, expected: str, actual: str | None, status: int | None = None
                 ) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"the answer describes image {actual!r}", image_id=expected,
                         status=status)


class ChecksumMismatch(InvalidResponse):
    """The bytes moved do not have the digest the server promised."""

    def __init__(
        self,
        *,
        algorithm: str,
        expected: str,
        actual: str,
        image_id: str | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{algorithm} mismatch: expected {expected}, got {actual}", image_id=image_id
        )


#: The classic seam's name for the same failure.
ImageChecksumMismatch = ChecksumMismatch


class SizeMismatch(ChecksumMismatch):
    """The image has a different number of bytes than the server's record says."""

    def __init__(self, *, expected: int, actual: int, image_id: str | None = None) -> None:
        super().__init__(
            algorithm="size", expected=str(expected), actual=str(actual), image_id=image_id
        )
        self.expected_size = expected
        self.actual_size = actual


class ConnectionFailed(ImgcompatError):
    """No API server answered usefully after every retry."""

    def __init__(self, message: str, *, servers: Sequence[str] = (), **kw: object) -> None:
        self.servers = tuple(servers)
        tried = f" (tried: {', '.join(self.servers)})" if self.servers else ""
        super().__init__(message + tried, **kw)  # type: ignore[arg-type]


class TransferInterrupted(ConnectionFailed):
    """The connection broke while image bytes were moving (resumable where the API allows)."""

    def __init__(self, message: str, *, offset: int = 0, **kw: object) -> None:
        self.offset = offset
        super().__init__(message, **kw)  # type: ignore[arg-type]


class PagingLoop(UnexpectedResponse):
    """A listing's next marker is one already paged past: the pages go round in a loop."""


class LimitExceeded(ImgcompatError):
    """A safety limit was hit. ``limit`` names the field of
    :class:`~imgcompat.core.limits.Limits` and ``value`` its setting; the message says how
    to raise it."""

    def __init__(self, message: str, *, limit: str, value: object, **kw: object) -> None:
        self.limit = limit
        self.value = value
        hint = (f"{message} [limit {limit}={value!r}: raise it with "
                f"limits=Limits({limit}=...) or client.with_limits({limit}=...)]")
        super().__init__(hint, **kw)  # type: ignore[arg-type]


class ResponseTooLarge(LimitExceeded, InvalidResponse):
    """An answer (a JSON document, an error body, the versions document) larger, once
    decoded, than its limit: it is not read further."""


class TooManyPages(LimitExceeded, InvalidResponse):
    """A listing went on for more pages than ``max_pages`` (a server that always says
    there is more)."""


class DeadlineExceeded(LimitExceeded, ConnectionFailed):
    """A call took longer than its deadline, retries and waits included."""


class TransferStalled(LimitExceeded, ConnectionFailed):
    """A download received fewer bytes than the minimum progress rule asks in its window.

    Not a :class:`TransferInterrupted`: a server that trickles is not asked again (it
    would trickle again); the download fails at once, its temporary file removed.
    """


_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def message_from_body(body: bytes | str | None) -> str:
    """The human message in an error body, whether JSON, HTML or plain text."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past what the decoder follows
        doc = None
    if isinstance(doc, dict):
        for holder in (doc, *[v for v in doc.values() if isinstance(v, dict)]):
            for key in ("message", "detail", "title", "explanation"):
                value = holder.get(key)
                if isinstance(value, str) and value.strip():
                    return _squash(html.unescape(_TAGS.sub(" ", value)))
    plain = html.unescape(_TAGS.sub(" ", text))
    return _squash(plain)


def _squash(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def error_for(status: int, body: bytes | str | None, image_id: str | None) -> ImgcompatError:
    """The typed exception for an HTTP error answer.

    ``image_id`` says whether the call was about one image (show, update, download,
    delete) or not (list, create): the seam distinguishes ImageNotFound from NotFound.
    """
    message = message_from_body(body)
    on_image = image_id is not None
    kind: type[ImgcompatError]
    if status in (401, 403):
        kind = ImageNotAuthorized if on_image else Forbidden
    elif status == 404:
        kind = ImageNotFound if on_image else NotFound
    elif status == 400:
        kind = ImageBadRequest if on_image else Invalid
    elif status == 409:
        kind = Conflict
    elif status == 413:
        kind = ImageQuotaExceeded
    elif status == 415:
        kind = UnsupportedMediaType
    elif status == 416:
        kind = RangeNotSatisfiable
    elif status in (502, 503, 504):
        kind = ServiceUnavailable
    elif 500 <= status < 600:
        kind = ServerError
    else:
        kind = UnexpectedResponse
    return kind(message, image_id=image_id, status=status)


def tag_request_ids(error: ImgcompatError, ours: str | None, theirs: str | None
                    ) -> ImgcompatError:
    """Fill in the request ids an error does not carry yet (the first one seen wins)."""
    if error.request_id is None:
        error.request_id = ours
    if error.server_request_id is None:
        error.server_request_id = theirs
    return error


#: Statuses worth asking another API server about.
RETRYABLE_STATUSES = frozenset({502, 503, 504})
