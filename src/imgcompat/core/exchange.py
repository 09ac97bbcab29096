"""One request and its answer: the planned values, and the rules every answer goes through.

The dialects build :class:`Request` values, the clients send them and hand back a
:class:`Response`; :func:`judge` turns an unexpected status into the typed error. Whatever
the server says is then parsed under :func:`from_server`, so a record that breaks the wire
format reaches the caller as an :class:`~imgcompat.core.errors.InvalidServerRecord`: the
fault is the server's, not the caller's, and ``except InvalidResponse`` sees it.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs

from imgcompat.core.errors import (
    RETRYABLE_STATUSES,
    InvalidRecord,
    InvalidServerRecord,
    UnexpectedResponse,
    error_for,
)
from imgcompat.core.model import Image

Pairs = tuple[tuple[str, str], ...]

JSON_PATCH = "application/openstack-images-v2.1-json-patch"
OCTET = "application/octet-stream"
ACCEPT_JSON: Pairs = (("accept", "application/json"),)
#: A real Glance answers 500 (or 409) to a DELETE that races the end of an aborted upload.
CLEANUP_RETRY_ON = RETRYABLE_STATUSES | {409, 500}
#: Known Glance bugs answer 500 to some downloads (a Range on an image being written, a
#: ``Content-Length: None``): worth another try on the next server, like a 503.
DOWNLOAD_RETRY_ON = RETRYABLE_STATUSES | {500}

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")


@attrs.frozen
class Request:
    """One HTTP request, planned. ``path`` is relative to the API server's root URL."""

    method: str
    path: str
    params: Pairs = ()
    headers: Pairs = ACCEPT_JSON
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
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class Failure(enum.Enum):
    """How an attempt failed, as far as the retry rule cares."""

    NOT_SENT = "the connection was never established: nothing was sent"
    NO_ANSWER = "the request may have reached the server, but no answer came back"
    RETRYABLE_STATUS = "the server answered that it could not serve the request"


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
    """Whether ``status`` is worth another attempt of ``request`` on the next server."""
    return status in request.retry_on


def judge(request: Request, response: Response) -> Response:
    """The response when its status is one the plan expects; else the typed error."""
    if response.status in request.expect:
        return response
    raise error_for(response.status, response.body, request.image_id)


def answer_object(response: Response, image_id: str | None) -> Mapping[str, Any]:
    """The JSON object in an answer's body; anything else is the server's fault.

    Invalid JSON (or JSON nested past what the decoder can follow) and JSON that is not an
    object both raise :class:`UnexpectedResponse`, an ``InvalidResponse``.
    """
    try:
        doc = json.loads(response.body)
    except (ValueError, RecursionError) as exc:
        raise UnexpectedResponse(f"the server's answer is not JSON: {response.body[:80]!r}",
                                 image_id=image_id, status=response.status) from exc
    if not isinstance(doc, Mapping):
        raise UnexpectedResponse("the server's answer is not a JSON object",
                                 image_id=image_id, status=response.status)
    return doc


@contextmanager
def from_server(image_id: str | None, status: int | None) -> Iterator[None]:
    """Parse a server's answer inside this block: an ``InvalidRecord`` the codecs raise
    leaves it as :class:`InvalidServerRecord` (same message and field, with the call's image
    id and the answer's status where the record did not carry them)."""
    try:
        yield
    except InvalidServerRecord:
        raise
    except InvalidRecord as exc:
        raise InvalidServerRecord.from_record(exc, image_id=image_id, status=status) from exc


def without_locations(image: Image) -> Image:
    """The record as the seam shows it when locations were not asked for."""
    if image.direct_url is None and not image.locations:
        return image
    return attrs.evolve(image, direct_url=None, locations=())
