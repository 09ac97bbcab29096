"""Who one call acts for: the user's token, the service's token, the request id.

A compute service serves many users from one client: each incoming API request becomes a
:class:`RequestIdentity` (through ``client.for_request``), and every request sent for it
carries exactly its headers. The values are checked here, before anything reaches a wire:
a header value with CR/LF would split the request, and a request id not of the OpenStack
form ``req-<uuid>`` would be refused (or rewritten) by the server's middleware, breaking
the join between the two services' logs that is its whole point.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from imgcompat.core.errors import InvalidRecord

TOKEN_HEADER = "x-auth-token"
SERVICE_TOKEN_HEADER = "x-service-token"
REQUEST_ID_HEADER = "x-openstack-request-id"
#: oslo.middleware's form of a request id (lowercase hex, as it generates them).
REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
#: A token is printable ASCII without spaces (keystone's UUID, Fernet and JWS tokens are).
_TOKEN = re.compile(r"^[\x21-\x7e]+\Z")
REDACTED = "***"


def _check_token(field: str) -> Callable[[Any, Any, str | None], None]:
    def check(_inst: object, _attr: object, value: str | None) -> None:
        if value is not None and not (isinstance(value, str) and _TOKEN.match(value)):
            # never echo the value: it is a secret, and may be a broken one
            raise InvalidRecord("must be non-empty printable ASCII without spaces or "
                                "control characters", field=field)
    return check


def _check_request_id(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and not (isinstance(value, str) and REQUEST_ID.match(value)):
        shown = value[:60].encode("unicode_escape").decode() if isinstance(value, str) else value
        raise InvalidRecord(f"must be 'req-' followed by a lowercase UUID, got {shown!r}",
                            field="request_id")


@attrs.frozen(repr=False)
class RequestIdentity:
    """The per-call identity; ``None`` fields fall back to the client's own."""

    token: str | None = attrs.field(default=None, validator=_check_token("token"))
    service_token: str | None = attrs.field(default=None,
                                            validator=_check_token("service_token"))
    request_id: str | None = attrs.field(default=None, validator=_check_request_id)

    def __repr__(self) -> str:
        token = REDACTED if self.token else None
        service = REDACTED if self.service_token else None
        return (f"RequestIdentity(token={token!r}, service_token={service!r}, "
                f"request_id={self.request_id!r})")

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The headers this identity adds besides the user token (which may come from the
        client's auth when the identity names none)."""
        out: tuple[tuple[str, str], ...] = ()
        if self.service_token:
            out += ((SERVICE_TOKEN_HEADER, self.service_token),)
        if self.request_id:
            out += ((REQUEST_ID_HEADER, self.request_id),)
        return out

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a message, a log line or a repr."""
        return tuple(s for s in (self.token, self.service_token) if s)


#: The identity of a client used without ``for_request``: its own auth, no request id.
ANONYMOUS = RequestIdentity()
