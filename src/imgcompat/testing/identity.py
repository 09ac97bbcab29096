"""Who is calling, and what Glance lets that caller see and change.

Three ways to learn the caller, as three Glance deployments would:

``"none"`` (the default)
    Glance without authentication (``UnauthenticatedContextMiddleware``): every caller is
    an admin with no project, identity headers are ignored, images are created without an
    owner (unless ``Emulator(owner=...)`` names one) and every image is visible, but the
    unfiltered list still leaves out community images (Glance drops them for a caller
    without a project).
``"trusted"``
    Glance behind a keystone middleware that has already checked the token: the identity
    is read from ``X-Identity-Status: Confirmed``, ``X-Project-Id`` (or ``X-Tenant-Id`` /
    ``X-Tenant``), ``X-User-Id`` (or ``X-User``) and ``X-Roles``; without
    ``X-Identity-Status: Confirmed`` the answer is 401.
``"keystone"``
    Glance with keystonemiddleware, tokens known in advance: ``X-Auth-Token`` is looked
    up in ``Emulator(identities={token: Identity(...)})``; an unknown or missing token is
    refused with keystonemiddleware's 401.

The rules are Glance 33's with its legacy policy defaults (``enforce_new_defaults =
false``), where roles other than ``admin`` make no difference: an admin sees and changes
everything; others see public and community images, their own, images without an owner,
and shared images they are a member of (any member status); only the owner (or an admin)
changes an image. Lists follow the database query instead (see :func:`listed`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from imgcompat.core.enums import Visibility

from .http import Request
from .http_errors import HttpError
from .store import Record, Store

AuthMode = Literal["none", "trusted", "keystone"]
AUTH_MODES: tuple[AuthMode, ...] = ("none", "trusted", "keystone")
#: Glance's ``max_request_id_length``.
_MAX_REQUEST_ID = 64
_KEYSTONE_401 = (b'{"error": {"code": 401, "title": "Unauthorized", "message": "The request '
                 b'you have made requires authentication."}}')


def _roles(value: Iterable[str]) -> tuple[str, ...]:
    # Glance lower-cases the roles it is handed (bug 1010519).
    return tuple(r.strip().lower() for r in value if r.strip())


@attrs.frozen
class Identity:
    """A caller as Glance's ``RequestContext`` holds it.

    ``roles`` are lower-cased; ``is_admin`` follows from the ``admin`` role unless given
    (the unauthenticated context is an admin without roles).
    """

    project_id: str | None = None
    user_id: str | None = None
    roles: tuple[str, ...] = attrs.field(default=("member", "reader"), converter=_roles)
    is_admin: bool = attrs.field(
        default=attrs.Factory(lambda self: "admin" in self.roles, takes_self=True))

    @property
    def owner(self) -> str | None:
        """The owner this caller's images get and is compared with (its project)."""
        return self.project_id

    @property
    def admin_role(self) -> bool:
        """Does ``role:admin`` hold (policies such as ``copy_image``, ``tasks_api_access``)?

        Not the same as :attr:`is_admin`: the unauthenticated context is an admin for
        the database but has no roles, so those policies refuse it.
        """
        return "admin" in self.roles


#: The caller of an emulator without authentication.
NOAUTH = Identity(project_id=None, user_id=None, roles=(), is_admin=True)


class Unauthenticated(Exception):
    """The request carries no identity this emulator accepts (answered 401)."""

    def __init__(self, error: HttpError | None, keystone: bool) -> None:
        super().__init__("unauthenticated")
        self.error = error
        self.keystone = keystone

    @property
    def body(self) -> bytes:
        """keystonemiddleware's JSON refusal (only for ``keystone`` mode)."""
        return _KEYSTONE_401


def _first(req: Request, *names: str) -> str | None:
    headers = req.headers
    return next((headers[n] for n in names if n in headers), None)


def from_headers(req: Request) -> Identity:
    """The identity a keystone middleware hands Glance in its ``X-*`` headers."""
    roles = _first(req, "x-roles", "x-role")
    return Identity(project_id=_first(req, "x-project-id", "x-tenant-id", "x-tenant"),
                    user_id=_first(req, "x-user-id", "x-user"),
                    roles=(roles or "").split(","))


def identify(req: Request, mode: AuthMode,
             identities: Mapping[str, Identity]) -> Identity:
    """The caller of ``req``; :class:`Unauthenticated` when the mode refuses it."""
    if mode == "none":
        return NOAUTH
    if mode == "trusted":
        if req.header("x-identity-status") != "Confirmed":
            raise Unauthenticated(HttpError(401), keystone=False)
        return from_headers(req)
    token = req.header("x-auth-token")
    if token is None or token not in identities:
        raise Unauthenticated(None, keystone=True)
    return identities[token]


def request_id(req: Request, mode: AuthMode) -> str:
    """``x-openstack-request-id`` for this answer: the caller's own (``req-`` prefixed)
    when an authenticated context takes it, else a new ``req-<uuid4>``.

    Glance 33 answers a too long id (over 64 characters) with a 500 (its 431 is built but
    never raised): the emulator raises the 431 it meant.
    """
    given = req.header("x-openstack-request-id")
    if mode == "none" or not given:
        return f"req-{uuid.uuid4()}"
    if len(given) > _MAX_REQUEST_ID:
        raise HttpError(431, detail=f"x-openstack-request-id is too long, max size "
                                    f"{_MAX_REQUEST_ID}")
    return given if given.startswith("req-") else f"req-{given}"


# ----------------------------------------------------------------------- access rules


def visible(who: Identity, record: Record, store: Store) -> bool:
    """May ``who`` see ``record`` (show, and every call about one image)?"""
    if who.is_admin or record.owner is None:
        return True
    if record.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY):
        return True
    if who.owner is None:
        return False
    if who.owner == record.owner:
        return True
    return (record.visibility == Visibility.SHARED
            and store.member(record.id, who.owner) is not None)


def mutable(who: Identity, record: Record) -> bool:
    """May ``who`` change ``record`` (owner or admin)?"""
    if who.is_admin:
        return True
    return record.owner is not None and who.owner is not None and record.owner == who.owner


def listed(who: Identity, record: Record, store: Store, *, member_status: str,
           visibility: str | None) -> bool:
    """Does Glance's list query return ``record`` to ``who``?

    A non-admin gets public and community images, their own, and shared images they are
    a member of with ``member_status`` (``all`` for any); then, without a visibility
    filter, community images are kept only when the caller owns them (an admin included;
    a caller without a project gets none).
    """
    if not who.is_admin and not _regular_listed(who, record, store, member_status):
        return False
    if visibility is not None:
        return visibility in ("all", record.visibility)
    if record.visibility != Visibility.COMMUNITY:
        return True
    return who.owner is not None and record.owner == who.owner


def _regular_listed(who: Identity, record: Record, store: Store, member_status: str) -> bool:
    if record.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY):
        return True
    if who.owner is not None and record.owner == who.owner:
        return True
    if record.visibility != Visibility.SHARED:
        return False
    members = store.members(record.id)
    if who.owner is None:  # Glance's member query then has no member condition at all
        return bool(members)
    return any(m.member_id == who.owner and member_status in ("all", m.status)
               for m in members)
