"""One test body for both clients: a driver runs each seam call to its end, sync or async.

``Driver("async", url, ...)`` runs every call on one event loop of its own (an
``asyncio.Runner``), so the async client's pool stays on one loop; a listing is drained
into a list and a download without a target into bytes, so both flavours return the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import tenacity

from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient

Flavour = Literal["sync", "async"]
FLAVOURS: tuple[Flavour, ...] = ("sync", "async")


class Driver:
    """A client of either flavour with one synchronous face (``call``, ``close``)."""

    def __init__(self, flavour: Flavour, api_servers: Any, **options: Any) -> None:
        options.setdefault("backoff", tenacity.wait_none())
        self.flavour = flavour
        self._runner: asyncio.Runner | None = None
        self.client: ImageClient | AsyncImageClient
        if flavour == "sync":
            self.client = ImageClient(api_servers, **options)
        else:
            self._runner = asyncio.Runner()
            self.client = AsyncImageClient(api_servers, **options)

    def view(self, client: ImageClient | AsyncImageClient) -> Driver:
        """This driver acting through ``client`` (a view: ``for_request``, ``with_limits``)."""
        other = object.__new__(Driver)
        other.__dict__.update(self.__dict__)
        other.client = client
        return other

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``client.name(*args, **kwargs)`` to its end and return what it gave."""
        if self._runner is None:
            result = getattr(self.client, name)(*args, **kwargs)
            if isinstance(result, Iterator):
                drained = list(result)
                return b"".join(drained) if name == "download" else drained
            return result
        return self._runner.run(self._acall(name, *args, **kwargs))

    async def _acall(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = await getattr(self.client, name)(*args, **kwargs)
        if isinstance(result, AsyncIterator):
            drained = [item async for item in result]
            return b"".join(drained) if name == "download" else drained
        return result

    def close(self) -> None:
        """Close the client (and the driver's event loop)."""
        if self._runner is None:
            assert isinstance(self.client, ImageClient)
            self.client.close()
            return
        assert isinstance(self.client, AsyncImageClient)
        self._runner.run(self.client.close())
        self._runner.close()
