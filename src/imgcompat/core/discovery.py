"""Version discovery as a pure function: a versions document in, a choice out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from imgcompat.core.enums import Api, parse_api
from imgcompat.core.errors import InvalidRecord, VersionNotAvailable
from imgcompat.core.schema import validate

_VERSION_ID = re.compile(r"^v(\d+)(?:\.(\d+))?$")
_VERSIONED_PATH = re.compile(r"/v(\d+)(?:\.\d+)?/?$")
_VERSION_SUFFIX = re.compile(r"/v([12])(?:\.\d+)?$")
#: Statuses a client may build on, best first; EXPERIMENTAL only when nothing else is there.
_USABLE = ("CURRENT", "SUPPORTED", "DEPRECATED")




@attrs.frozen
class Endpoint:
    """A configured API server URL reduced to the unversioned root discovery needs."""

    root: str
    configured: str
    pinned_major: Api | None = None
    warning: str | None = None


@attrs.frozen
class VersionChoice:
    """The API chosen, its highest minor, the root URL to build paths on, and why."""

    api: Api
    minor: int
    root_url: str
    reason: str
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"v{self.api.value}.{self.minor}"


def normalize_endpoint(url: str) -> Endpoint:
    """Accept ``host:port``, ``http://h/image``, ``https://h/v2``; strip a version suffix.

    A versioned URL still works, but the deployer should configure the root: the returned
    warning says so (the shell logs it; the core does not).
    """
    text = url.strip()
    if not text:
        raise InvalidRecord("empty API server URL", field="api_servers")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unbalanced "[" (IPv6 literal)
        raise InvalidRecord(f"not a URL: {url!r}", field="api_servers") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRecord(f"not an http(s) URL: {url!r}", field="api_servers")
    path = parts.path.rstrip("/")
    match = _VERSION_SUFFIX.search(path)
    pinned: Api | None = None
    warning = None
    if match is not None:
        path = path[: match.start()]
        pinned = Api(match.group(1))
        root = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        warning = (f"the image API endpoint {url} names a version; configure the "
                   f"unversioned root {root} instead (versioned endpoints are deprecated "
                   "configuration)")
    root = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return Endpoint(root=root, configured=url, pinned_major=pinned, warning=warning)


def _root_from_href(href: str) -> str:
    try:
        parts = urlsplit(href)
    except ValueError as exc:
        raise InvalidRecord(f"not a URL: {href!r}", field="versions") from exc
    path = _VERSIONED_PATH.sub("", parts.path.rstrip("/") + "/").rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _entries(document: Mapping[str, Any]) -> list[tuple[int, int, str, str]]:
    validate("versions", document)
    out = []
    for entry in document["versions"]:
        match = _VERSION_ID.match(str(entry.get("id", "")))
        if match is None:
            continue
        href = next((link.get("href", "") for link in entry.get("links", ())
                     if link.get("rel") == "self"), "")
        out.append((int(match.group(1)), int(match.group(2) or 0),
                    str(entry.get("status", "")).upper(), href))
    return out


def choose_version(
    versions_document: Mapping[str, Any],
    pin: Api | str | int | None = None,
    *,
    endpoint: str | None = None,
) -> VersionChoice:
    """Pick the API to speak: v2 preferred, v1 only when v2 is absent or pinned.

    The list may come unsorted (real servers do): entries are ranked by status and then
    by minor, never by position. ``endpoint`` (the root that was asked) is used when an
    entry's href is missing; otherwise the href's root, path prefix kept, is used.
    """
    wanted = parse_api(pin) if pin is not None else None
    entries = _entries(versions_document)
    majors = sorted({major for major, *_ in entries})
    for major in ([int(wanted.value)] if wanted else [2, 1]):
        candidates = [e for e in entries if e[0] == major]
        if not candidates:
            continue
        usable = [e for e in candidates if e[2] in _USABLE] or candidates
        best = max(usable, key=lambda e: e[1])
        root = _root_from_href(best[3]) if best[3] else (endpoint or "")
        if not root:
            raise InvalidRecord("the versions document gives no URL", field="versions")
        api = Api(str(major))
        if wanted is not None:
            reason = f"v{major} pinned by the caller; the server offers v{major}.{best[1]}"
        elif major == 2:
            reason = f"v2.{best[1]} is the highest v2 the server lists ({best[2]}); v2 preferred"
        else:
            reason = f"the server lists no v2; falling back to v1.{best[1]} ({best[2]})"
        warnings: tuple[str, ...] = ()
        if api is Api.V1:
            warnings = (f"Glance v1 is deprecated and removed from Glance; {root} is "
                        "being used through v1",)
        return VersionChoice(api=api, minor=best[1], root_url=root, reason=reason,
                             warnings=warnings)
    offered = ", ".join(f"v{m}" for m in majors) or "nothing"
    asked = f"v{wanted.value}" if wanted else "v1 or v2"
    raise VersionNotAvailable(f"asked for {asked}; the server offers {offered}")
