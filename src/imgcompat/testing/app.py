"""The ASGI application: version discovery, routing to v1/v2, and per-request faults."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .faults import ConnectionDropped
from .http import BodyBroken, Receive, Request, Responder, Scope, Send
from .v1_api import V1Api
from .v2_api import V2Api

if TYPE_CHECKING:
    from .emulator import Emulator


#: v2 minors a real Glance lists only with ``image_cache_dir`` configured.
_CACHE_ONLY = frozenset({14, 16, 18})


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
                await resp.error(500, "The server has either erred or is incapable of "
                                      "performing the requested operation.")
            raise

    async def _handle(self, req: Request, resp: Responder) -> None:
        faults = self.emu.faults
        delay = faults.take_delay()
        if delay:
            await asyncio.sleep(delay)
        failure = faults.take_failure()
        if failure is not None:
            await resp.error(failure, "fault injected by the emulator")
            return
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            await resp.json(300, self.versions(req))
            return
        head, rest = parts[0], parts[1:]
        if head == "versions" and not rest:
            await resp.json(200, self.versions(req))
        elif head == "v1" and self.emu.v1_enabled:
            await self.v1(req, resp, rest)
        elif head == "v2" and self.emu.v2_enabled:
            if not rest:
                await resp.error(404, "The resource could not be found.")
            else:
                await self.v2(req, resp, rest)
        else:
            # Glance answers any version it does not serve with the versions document.
            await resp.json(300, self.versions(req))

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
