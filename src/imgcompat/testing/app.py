"""The ASGI application: version discovery, the caller, routing to v1/v2, faults.

As in Glance's paste pipeline, version negotiation answers first (``/``, ``/versions``
and unknown versions get the versions document, without a request id); then the
context middleware establishes the caller (or refuses it with 401) and stamps every
answer past it with ``x-openstack-request-id``.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from .faults import ConnectionDropped
from .http import BodyBroken, Receive, Request, Responder, Scope, Send
from .http_errors import HttpError
from .identity import Identity, Unauthenticated, identify, request_id
from .v1_api import V1Api
from .v2_api import V2Api

if TYPE_CHECKING:
    from .emulator import Emulator


#: v2 minors a real Glance lists only with ``image_cache_dir`` configured.
_CACHE_ONLY = frozenset({14, 16, 18})
#: ``/v2.<minor>/`` prefixes the version negotiation rewrites to ``/v2/``.
_MINOR_PREFIX = re.compile(r"v2\.(\d+)")


class App:
    """A plain ASGI 3 callable serving one :class:`~.emulator.Emulator`."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.v1 = V1Api(emu)
        self.v2 = V2Api(emu)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        req = Request.from_scope(scope, receive)
        resp = Responder(send, req, self.emu.faults)
        self.emu.log_request(req.method, req.path)
        try:
            await self._handle(req, resp)
        except BodyBroken:
            return  # the client went away mid-upload: there is no one to answer
        except ConnectionDropped:
            raise
        except Exception:
            if resp.status is None:
                await resp.error(HttpError(500))
            raise

    async def _handle(self, req: Request, resp: Responder) -> None:
        faults = self.emu.faults
        delay = faults.take_delay()
        if delay:
            await asyncio.sleep(delay)
        failure = faults.take_failure()
        if failure is not None:
            await resp.error(HttpError(failure, "fault injected by the emulator"))
            return
        segments = req.path.split("/")[1:]
        head = segments[0] if segments else ""
        if not head and len(segments) <= 1:
            await resp.json(300, self.versions(req))
        elif head == "versions" and len(segments) == 1:
            await resp.json(200, self.versions(req))
        elif head == "v1" and self.emu.v1_enabled:
            who = await self._caller(req, resp)
            if who is not None:
                await self.v1(req, resp, [p for p in segments[1:] if p])
        elif self.emu.v2_enabled and self._is_v2(head):
            if len(segments) == 1:
                await resp.body(302, b"", "text/plain; charset=utf8",
                                [("Location", f"{req.base_url}/{head}/")])
                return
            who = await self._caller(req, resp)
            if who is not None:
                await self.v2(req, resp, who, "/".join(segments[1:]))
        else:
            # Glance answers any version it does not serve with the versions document.
            await resp.json(300, self.versions(req))

    def _is_v2(self, head: str) -> bool:
        match = _MINOR_PREFIX.fullmatch(head)
        return head == "v2" or (match is not None and int(match.group(1)) <= self.emu.v2_minor)

    async def _caller(self, req: Request, resp: Responder) -> Identity | None:
        """The caller, with the answer's request id set; None when refused (answered)."""
        try:
            who = identify(req, self.emu.auth, self.emu.identities)
            resp.request_id = request_id(req, self.emu.auth)
        except Unauthenticated as exc:
            await req.drain()
            if exc.error is not None:
                await resp.error(exc.error)
            else:
                await resp.body(401, exc.body, "application/json")
            return None
        except HttpError as exc:
            await req.drain()
            await resp.error(exc)
            return None
        return who

    def versions(self, req: Request) -> dict[str, Any]:
        """The discovery document; like the real server's, not sorted by version."""
        entries: list[dict[str, Any]] = []
        if self.emu.v2_enabled:
            minor = self.emu.v2_minor
            link = [{"rel": "self", "href": f"{req.base_url}/v2/"}]
            # Minors that only a cache-enabled server lists are left out (no cache API here).
            supported = [{"id": f"v2.{m}", "status": "SUPPORTED", "links": link}
                         for m in range(minor - 1, -1, -1) if m not in _CACHE_ONLY]
            current = {"id": f"v2.{minor}", "status": "CURRENT", "links": link}
            # Glance 33 lists the CURRENT entry between v2.8 and v2.7 (a clue for clients
            # that pick by position): do the same whenever there are entries above 2.7.
            cut = sum(1 for e in supported if int(str(e["id"]).split(".")[1]) >= 8)
            entries.extend([*supported[:cut], current, *supported[cut:]])
        if self.emu.v1_enabled:
            link = [{"rel": "self", "href": f"{req.base_url}/v1/"}]
            entries.extend({"id": v, "status": "DEPRECATED", "links": link}
                           for v in ("v1.1", "v1.0"))
        return {"versions": entries}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
