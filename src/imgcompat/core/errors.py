"""One exception hierarchy, and the pure mapping from an HTTP answer to it.

Every failure a caller can see is an :class:`ImgcompatError`; each carries the image id
(where known), the HTTP status (where there was one) and the server's own message.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

_MAX_MESSAGE = 500


class ImgcompatError(Exception):
    """Root of every error imgcompat raises."""

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


class ImageNotFound(ImgcompatError):
    """The image does not exist (or is deleted, on v2)."""


class NotFound(ImgcompatError):
    """A 404 on a call that names no image (a list, a create)."""


class ImageNotAuthorized(ImgcompatError):
    """401/403 on an image: not allowed to see or change it (also: protected)."""


class Forbidden(ImgcompatError):
    """401/403 on a call that names no image (a list, a create)."""


class ImageBadRequest(ImgcompatError):
    """400 on an image."""


class Invalid(ImgcompatError):
    """400 on a call that names no image (a list, a create)."""


class Conflict(ImgcompatError):
    """409: e.g. uploading to an image that is not queued."""


class ImageQuotaExceeded(ImgcompatError):
    """413: the image (or the owner's storage) is over quota."""


class UnsupportedMediaType(ImgcompatError):
    """415: the server refused the content type, or data that did not match disk_format."""


class RangeNotSatisfiable(ImgcompatError):
    """416: a download range the server cannot serve."""


class ServiceUnavailable(ImgcompatError):
    """503 and other retryable server states; raised only when retries are over."""


class ServerError(ImgcompatError):
    """An unexpected 5xx answer."""


class UnexpectedResponse(ImgcompatError):
    """A status code the seam has no meaning for."""


class ChecksumMismatch(ImgcompatError):
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


class ImageUnacceptable(ImgcompatError):
    """The image cannot be used as asked (e.g. it has no data to download)."""


class ConnectionFailed(ImgcompatError):
    """No API server answered usefully after every retry."""

    def __init__(self, message: str, *, servers: Sequence[str] = (), **kw: object) -> None:
        self.servers = tuple(servers)
        tried = f" (tried: {', '.join(self.servers)})" if self.servers else ""
        super().__init__(message + tried, **kw)  # type: ignore[arg-type]


_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def message_from_body(body: bytes | str | None) -> str:
    """The human message in an error body, whether JSON, HTML or plain text."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        doc = json.loads(text)
    except ValueError:
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


#: Statuses worth asking another API server about.
RETRYABLE_STATUSES = frozenset({502, 503, 504})


class TransferInterrupted(ConnectionFailed):
    """The connection broke while image bytes were moving (resumable where the API allows)."""

    def __init__(self, message: str, *, offset: int = 0, **kw: object) -> None:
        self.offset = offset
        super().__init__(message, **kw)  # type: ignore[arg-type]
