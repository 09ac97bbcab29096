"""What ``detail`` hands its caller (:class:`Listing`, :class:`AsyncListing`), and the next
page, fetched while the client reads the current one.

A listing page costs the server its query and the client its parse (about 12 ms per 1,000
records here), one after the other. :class:`~imgcompat.core.listing.OpenPage` names the
request that will most likely follow before the records are read; these two send it
(on a worker thread, or as a task) while the pager reads them, so the two costs overlap.

The pager stays the authority: a fetched-ahead answer is used only when the pager then asks
for that very request; otherwise it is dropped and the right request is sent. At most one
page is ahead, so a caller who stops early has cost the server one request more. A
fetched-ahead page is a call of its own (its own deadline), like every page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from imgcompat.core.exchange import Request, Response
from imgcompat.core.model import Image, Loss

__all__ = ["AsyncFetchAhead", "AsyncListing", "FetchAhead", "Listing"]


class Listing(Iterator[Image]):
    """The lazy result of ``detail``: iterate it for the records; ``losses`` says what the
    API could not do (e.g. on v2, that deleted images are not visible to changes-since)."""

    def __init__(self, pages: Generator[Image, None, None], losses: tuple[Loss, ...]) -> None:
        self._pages = pages
        self.losses = losses

    def __next__(self) -> Image:
        return next(self._pages)

    def close(self) -> None:
        """Stop early: a page fetched ahead is dropped (also done when this is collected)."""
        self._pages.close()


class AsyncListing(AsyncIterator[Image]):
    """The lazy result of ``detail``: ``async for`` the records; ``losses`` as in
    :class:`~imgcompat.shell.client.Listing`."""

    def __init__(self, pages: AsyncGenerator[Image, None], losses: tuple[Loss, ...]) -> None:
        self._pages = pages
        self.losses = losses

    async def __anext__(self) -> Image:
        return await anext(self._pages)

    async def aclose(self) -> None:
        """Stop early: a page fetched ahead is cancelled."""
        await self._pages.aclose()


class FetchAhead:
    """The sync twin: one worker thread (started with the first page ahead) sends it."""

    def __init__(self, send: Callable[[Request], Response]) -> None:
        self._send = send
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Request, Future[Response]] | None = None

    def fetch(self, request: Request | None) -> None:
        """Start sending ``request`` (None: nothing to fetch)."""
        if request is None:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1,
                                            thread_name_prefix="imgcompat-listing")
        self._pending = (request, self._pool.submit(self._send, request))

    def take(self, request: Request) -> Response | None:
        """The answer to ``request`` if it was fetched ahead (its failure raised here,
        where the caller would have met it), else None."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if pending[0] != request:
            pending[1].cancel()
            return None
        return pending[1].result()

    def close(self) -> None:
        """Drop a page still ahead; its request ends on its own (never waited for)."""
        self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class AsyncFetchAhead:
    """The asyncio twin: the page ahead is a task, started before the records are read."""

    def __init__(self, send: Callable[[Request], Awaitable[Response]]) -> None:
        self._send = send
        self._pending: tuple[Request, asyncio.Task[Response]] | None = None

    async def fetch(self, request: Request | None) -> None:
        """Start sending ``request``: the task runs up to its first wait on the network
        before this returns, so the server has the request while the records are read."""
        if request is None:
            return
        task = asyncio.ensure_future(self._send(request))
        self._pending = (request, task)
        await asyncio.sleep(0)

    async def take(self, request: Request) -> Response | None:
        """The answer to ``request`` if it was fetched ahead, else None."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if pending[0] != request:
            await _cancelled(pending[1])
            return None
        return await pending[1]

    async def close(self) -> None:
        """Cancel a page still ahead."""
        if self._pending is not None:
            task, self._pending = self._pending[1], None
            await _cancelled(task)


async def _cancelled(task: asyncio.Task[Response]) -> None:
    """Cancel ``task`` and let it end (its failure, if it had one, is nobody's now)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
