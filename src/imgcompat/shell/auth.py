"""Where the ``X-Auth-Token`` comes from: a static token, a callable, or a keystone session.

Tokens are secrets: no object here shows one in its ``repr`` (nor the callable that
produces one: its ``repr`` may hold the token, as a ``functools.partial`` does), and
:func:`redact` scrubs a token out of any text before it reaches a log line or an exception
message (it is :func:`imgcompat.core.redaction.redact`, the one redaction function).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from imgcompat.core import redaction
from imgcompat.core.errors import ImgcompatError
from imgcompat.core.redaction import REDACTED

TOKEN_HEADER = "x-auth-token"


@runtime_checkable
class Auth(Protocol):
    """Gives the token for the next request; ``invalidate`` after a 401 (may refresh)."""

    def token(self) -> str | None: ...

    def invalidate(self) -> None: ...


class StaticToken:
    """A token that never changes (``OS_AUTH_TOKEN``)."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n\x00"):
            raise ImgcompatError("the auth token is empty or holds control characters")
        self._token = token

    def token(self) -> str | None:
        return self._token

    def invalidate(self) -> None:
        """A static token cannot be renewed."""

    def __repr__(self) -> str:
        return f"StaticToken({REDACTED})"


class CallableToken:
    """A token fetched from a callable before every request (the caller caches)."""

    __slots__ = ("_fetch",)

    def __init__(self, fetch: Callable[[], str | None]) -> None:
        self._fetch = fetch

    def token(self) -> str | None:
        return self._fetch()

    def invalidate(self) -> None:
        """The callable decides when to renew."""

    def __repr__(self) -> str:
        name = getattr(self._fetch, "__qualname__", None) or type(self._fetch).__name__
        return f"CallableToken({name})"


class SessionAuth:
    """A keystoneauth1 ``Session`` (or anything with ``get_token()``/``invalidate()``)."""

    __slots__ = ("session",)

    def __init__(self, session: Any) -> None:
        if not callable(getattr(session, "get_token", None)):
            raise ImgcompatError("a keystone session needs a get_token() method")
        self.session = session

    def token(self) -> str | None:
        value = self.session.get_token()
        return None if value is None else str(value)

    def invalidate(self) -> None:
        invalidate = getattr(self.session, "invalidate", None)
        if callable(invalidate):
            invalidate()

    def __repr__(self) -> str:
        return f"SessionAuth({type(self.session).__name__})"


def make_auth(
    token: str | Callable[[], str | None] | None = None, session: Any = None
) -> Auth | None:
    """The auth source for the client's ``token=`` / ``session=`` arguments."""
    if token is not None and session is not None:
        raise ImgcompatError("give either a token or a session, not both")
    if session is not None:
        return SessionAuth(session)
    if token is None:
        return None
    if isinstance(token, str):
        return StaticToken(token)
    if callable(token):
        return CallableToken(token)
    raise ImgcompatError(f"a token must be a string or a callable, got {type(token).__name__}")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret replaced by ``***`` (in every form a message may
    hold it: see :func:`imgcompat.core.redaction.redact`)."""
    return redaction.redact(text, secrets)


def keystone_session(environ: Mapping[str, str]) -> Any:
    """A keystoneauth1 session built from ``OS_AUTH_URL`` and friends (``keystone`` extra).

    Password auth from ``OS_USERNAME``/``OS_PASSWORD``, or application credentials from
    ``OS_APPLICATION_CREDENTIAL_ID``/``_SECRET``; project and domain from the usual
    ``OS_PROJECT_*`` / ``OS_*_DOMAIN_*`` variables; TLS from ``OS_CACERT``/``OS_INSECURE``.
    """
    try:
        from keystoneauth1 import loading  # type: ignore[import-not-found,unused-ignore]
        from keystoneauth1 import session as ks_session  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImgcompatError("OS_AUTH_URL needs keystoneauth1: install imgcompat[keystone]"
                             ) from exc
    env = environ
    options: dict[str, str] = {"auth_url": env["OS_AUTH_URL"]}
    if env.get("OS_APPLICATION_CREDENTIAL_ID"):
        plugin = "v3applicationcredential"
        options["application_credential_id"] = env["OS_APPLICATION_CREDENTIAL_ID"]
        options["application_credential_secret"] = env.get(
            "OS_APPLICATION_CREDENTIAL_SECRET", "")
    else:
        plugin = "password"
        for key in ("username", "password", "user_id", "project_name", "project_id",
                    "user_domain_name", "user_domain_id", "project_domain_name",
                    "project_domain_id"):
            value = env.get("OS_" + key.upper())
            if value:
                options[key] = value
    auth: Any = loading.get_plugin_loader(plugin).load_from_options(**options)
    verify: bool | str = env.get("OS_CACERT") or True
    if env.get("OS_INSECURE", "").strip().lower() in ("1", "true", "yes", "on"):
        verify = False
    return ks_session.Session(auth=auth, verify=verify)
