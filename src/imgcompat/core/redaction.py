"""Secrets out of every text a caller or a log can see: one function, :func:`redact`.

A server can echo what it was sent (a token in an error message, in a field that fails to
parse, in a non-JSON body) and a configured URL can carry a ``user:password``. The core
builds its messages from server text without knowing the secrets; the shell, which holds
them, passes every message, log line and error through :func:`redact` /
:func:`scrub_error` on its way out (see ``imgcompat.shell.client``). This module is where
both live, pure: text in, text out.

A secret is searched in every form a message can hold it: as sent, as Python shows it in
a ``repr`` (quotes and backslashes escaped, as ``str`` or ``bytes``), JSON-escaped,
percent- and HTML-encoded; and a prefix of it left just before a ``…`` (a message cut
short in the middle of the secret) is removed too.

URL credentials never travel in a URL: :func:`split_userinfo` takes them out of a
configured URL (they go as an ``Authorization: Basic`` header), and
:func:`without_userinfo` shows any URL-ish text without them.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

import attrs

REDACTED = "***"
ELLIPSIS = "…"
#: A prefix of a secret shorter than this, left before a cut, is not worth hiding (and
#: would match ordinary text).
_MIN_PARTIAL = 4
_SCHEME_AUTHORITY = re.compile(r"(?P<head>^|[^A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
                               r"(?P<userinfo>[^/?#\s]*)@")


@functools.lru_cache(maxsize=256)
def secret_forms(secret: str) -> tuple[str, ...]:
    """Every spelling of ``secret`` a message may contain, longest first."""
    forms = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        html.escape(secret),
    }
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every secret replaced by ``***`` (see the module)."""
    wanted = [s for s in secrets if s]
    if not wanted or not text:
        return text
    for secret in wanted:
        for form in secret_forms(secret):
            if form in text:
                text = text.replace(form, REDACTED)
    if ELLIPSIS in text:
        text = _cut_prefixes(text, wanted)
    return text


def _cut_prefixes(text: str, secrets: list[str]) -> str:
    """Remove a secret's prefix that ends right at a ``…`` (a message truncated in it)."""
    pieces = text.split(ELLIPSIS)
    for index in range(len(pieces) - 1):
        for secret in secrets:
            for form in secret_forms(secret):
                for size in range(len(form) - 1, _MIN_PARTIAL - 1, -1):
                    if pieces[index].endswith(form[:size]):
                        pieces[index] = pieces[index][:-size] + REDACTED
                        break
    return ELLIPSIS.join(pieces)


def scrub_error(error: BaseException, secrets: Iterable[str | None]) -> BaseException:
    """``error`` with no secret in its message, its arguments, its text attributes or its
    notes, nor in the exceptions chained to it; returned for ``raise scrub_error(...)``.

    An imgcompat error is rewritten in place. A foreign exception in the chain (an httpx
    or parser error) that shows a secret is cut off the chain instead: it is not ours to
    rewrite, and the typed error above it says what happened.
    """
    wanted = tuple(s for s in secrets if s)
    if not wanted:
        return error
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        _scrub_one(current, wanted)
        following = current.__cause__ or current.__context__
        if following is not None and not _is_ours(following) and _shows(following, wanted):
            current.__cause__ = None
            current.__context__ = None
            current.__suppress_context__ = True
            following = None
        current = following
    return error


def _is_ours(error: BaseException) -> bool:
    return type(error).__module__.startswith("imgcompat.")


def _shows(error: BaseException, secrets: tuple[str, ...]) -> bool:
    try:
        text = f"{error!s} {error.args!r} {getattr(error, '__notes__', '')!r}"
    except Exception:  # a broken __str__ shows nothing, and is not kept either
        return True
    return redact(text, secrets) != text


def _scrub_one(error: BaseException, secrets: tuple[str, ...]) -> None:
    if _is_ours(error):
        for name, value in vars(error).items():
            if isinstance(value, str):
                setattr(error, name, redact(value, secrets))
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                setattr(error, name, tuple(redact(v, secrets) for v in value))
        error.args = tuple(redact(a, secrets) if isinstance(a, str) else a
                           for a in error.args)
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [redact(n, secrets) if isinstance(n, str) else n for n in notes]


@attrs.frozen(repr=False)
class Credentials:
    """The ``user:password`` a configured URL carried, sent as ``Authorization: Basic``."""

    username: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"Credentials({REDACTED})"

    def authorization(self) -> str:
        """The ``Authorization`` header value (RFC 7617)."""
        pair = f"{self.username}:{self.password or ''}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the password (the user name too when it comes alone,
        as a token would), the pair, and the header value."""
        secret = self.password if self.password else self.username
        pair = f"{self.username}:{self.password or ''}"
        encoded = self.authorization().partition(" ")[2]
        return tuple(s for s in (secret, pair, quote(secret, safe=""), encoded) if s)


def split_userinfo(url: str) -> tuple[str, Credentials | None]:
    """``url`` without its ``user:password@`` part, and the credentials it held (percent
    decoded); a URL without them comes back unchanged with None."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, Credentials(unquote(user), unquote(password) if colon else None)


def without_userinfo(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it removed, whether or not the
    URL parses (an invalid one is shown in error messages too)."""
    if "@" not in text:
        return text
    return _SCHEME_AUTHORITY.sub(lambda m: m.group("head") + m.group("scheme"), text)
