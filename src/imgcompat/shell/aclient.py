"""``AsyncImageClient``: the asyncio twin of :class:`~imgcompat.shell.client.ImageClient`.

Same plans, same judging, same per-client state (:class:`~imgcompat.shell.client.ClientState`);
only the byte moving is awaited.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import IO, Any, Self, TypeVar, Unpack

import httpx

from imgcompat.core import plan
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.download import DownloadPolicy, Progress, Verification
from imgcompat.core.enums import Api
from imgcompat.core.integrity import Verified
from imgcompat.core.listing import ListingOptions
from imgcompat.core.model import Image
from imgcompat.core.plan import SnapshotOptions
from imgcompat.shell.bounds import Budget
from imgcompat.shell.client import (
    ClientOptions,
    ClientViews,
    OpRun,
    build_state,
    snapshot_record,
)
from imgcompat.shell.download import adownload
from imgcompat.shell.listing import AsyncFetchAhead, AsyncListing
from imgcompat.shell.transport import AsyncTransport

T = TypeVar("T")


class AsyncImageClient(ClientViews):
    """The image seam over Glance v1, v2 or both, for asyncio callers."""

    _transport: AsyncTransport

    def __init__(self, api_servers: str | Sequence[str], *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 **options: Unpack[ClientOptions]) -> None:
        """A client of the API servers ``api_servers``; the options are
        :class:`~imgcompat.shell.client.ClientOptions`, as for the sync client."""
        self._state, sender = build_state(api_servers, options)
        self._pin: Api | None = self._state.config.version
        self._limits = self._state.config.limits
        self._transport = AsyncTransport(self._state.roots, transport=transport, **sender)

    # ------------------------------------------------------------------ the loop

    async def discover(self) -> VersionChoice:
        """The API this view speaks: discovered once per client, then cached."""
        with self._guard():
            return await self._discover(self._budget())

    async def _discover(self, budget: Budget) -> VersionChoice:
        cached = self._state.cached_choice(self._pin)
        if cached is not None:
            return self._speaking(cached)
        response = await self._transport.send(plan.discovery_request(), self._identity,
                                              budget, limit="max_versions_bytes")
        versions, choice = plan.judge_versions(response, self._pin,
                                               endpoint=self._state.endpoints[0].root)
        return self._speaking(self._state.remember(versions, choice, self._pin,
                                                   self._secrets()))

    async def _perform(self, step: plan.Step, budget: Budget) -> Any:
        if isinstance(step, plan.Request):
            return await self._transport.send(step, self._identity, budget)
        if isinstance(step, plan.Upload):
            source = self._upload_source(step)
            return plan.Uploaded(
                await self._transport.send_stream(step.request, source, self._identity,
                                                  budget), source)
        if isinstance(step, plan.CheckUpload):
            return self._check_upload(step)
        self._state.report(step.losses, self._secrets())
        return None

    async def _run(self, op: plan.Op[T], budget: Budget) -> T:
        run = OpRun(self, op)
        while not run.done:
            try:
                outcome = await self._perform(run.step, budget)
            except Exception as exc:
                run.failed(exc)
            else:
                run.succeeded(outcome)
        return run.value()

    async def _call(self, make: Callable[[VersionChoice], plan.Op[T]], *,
                    moves_data: bool = False) -> T:
        """One seam call: discover, then run the operation, within one budget."""
        with self._guard():
            budget = self._budget(moves_data=moves_data)
            return await self._run(make(await self._discover(budget)), budget)

    # ------------------------------------------------------------------ the seam

    async def show(self, image_id: str, include_locations: bool = False,
                   show_deleted: bool = True) -> Image:
        """The seam record of one image (``ImageNotFound`` if absent; a deleted one too
        when ``show_deleted`` is false). Locations are stripped unless asked for: they can
        hold credentials of the store."""
        return await self._call(lambda choice: plan.show_op(
            choice, image_id, include_locations=include_locations, show_deleted=show_deleted))

    async def detail(self, filters: Mapping[str, Any] | None = None,
               **options: Unpack[ListingOptions]) -> AsyncListing:
        """Every matching record, fetched page by page as the caller iterates; filters
        as the classic seam takes them, paging as :class:`ListingOptions` says. Each page
        is a call of its own (its own deadline); ``max_pages`` bounds them all."""
        with self._guard():
            pager = plan.start_listing(await self._discover(self._budget()), filters,
                                       max_pages=self._limits.max_pages, **options)
            self._state.report(pager.losses, self._secrets())
        return AsyncListing(self._pages(pager), pager.losses)

    async def _pages(self, pager: plan.Pager) -> AsyncGenerator[Image, None]:
        """The pages in turn, the next one fetched while this one is read (:mod:`.listing`)."""
        ahead = AsyncFetchAhead(lambda request: self._transport.send(
            request, self._identity, self._budget()))
        try:
            while True:
                with self._guard():
                    request = pager.request()
                    if request is None:
                        return
                    response = await ahead.take(request) or await self._transport.send(
                        request, self._identity, self._budget())
                    page = pager.open(response)
                    await ahead.fetch(page.ahead)
                    images, pager = self._read_page(page)
                for image in images:
                    yield image
        finally:
            await ahead.close()

    async def create(self, image: Image | Mapping[str, Any], data: Any = None, *,
                     size: int | None = None, activate_empty: bool = True,
                     verification: Verification = Verification.STRONGEST) -> Image:
        """A new image; with data, uploaded and active; ``size == 0`` without data ends
        active too unless ``activate_empty=False`` (a queued reservation).
        ``verification``: the digests the upload computes and compares (the strongest
        the API publishes by default), as for :meth:`ImageClient.create
        <imgcompat.shell.client.ImageClient.create>`."""
        return await self._call(lambda choice: plan.create_op(
            choice, image, data, size=size, activate_empty=activate_empty,
            verification=verification), moves_data=data is not None)

    async def update(self, image_id: str, image: Image | Mapping[str, Any],
                     data: Any = None, purge_props: bool = True, *, size: int | None = None,
                     current: Image | Mapping[str, Any] | None = None,
                     verification: Verification = Verification.STRONGEST) -> Image:
        """Change the record to ``image`` with the minimal request; ``current`` (a held
        record) saves the read; ``verification``: the digests the upload of ``data``
        computes. As :meth:`ImageClient.update
        <imgcompat.shell.client.ImageClient.update>` says."""
        return await self._call(lambda choice: plan.update_op(
            choice, image_id, image, data, size=size, purge_props=purge_props,
            current=current, verification=verification), moves_data=data is not None)

    async def delete(self, image_id: str) -> None:
        """Delete the image (``ImageNotFound`` if it does not exist)."""
        await self._call(lambda choice: plan.delete_op(choice, image_id))

    async def upload(self, image_id: str, data: Any, size: int | None = None, *,
                     verification: Verification = Verification.STRONGEST) -> Image:
        """Stream data into a queued image; the record after, checked against the bytes
        (the digests ``verification`` chooses, as for :meth:`create`)."""
        return await self._call(lambda choice: plan.upload_op(
            choice, image_id, data, size, verification=verification), moves_data=True)

    async def snapshot(self, name: str, instance_uuid: str, *, data: Any = None,
                 size: int | None = None,
                 verification: Verification = Verification.STRONGEST,
                 **options: Unpack[SnapshotOptions]) -> Image:
        """Create the private snapshot record and upload; a failed upload deletes it.
        The record's details are :class:`SnapshotOptions` (raw/bare unless given);
        ``verification``: the digests the upload computes, as for :meth:`create`."""
        record = snapshot_record(name, instance_uuid, options)
        return await self._call(
            lambda choice: plan.snapshot_op(choice, record, data, size=size,
                                            verification=verification),
            moves_data=data is not None)

    async def download(
        self,
        image_id: str,
        dst_path: str | os.PathLike[str] | None = None,
        data: IO[bytes] | None = None,
        progress: Progress | None = None,
        **policy: Unpack[DownloadPolicy],
    ) -> Verified | AsyncIterator[bytes]:
        """Verified bytes: into ``dst_path`` (atomically), into ``data``, or as an
        async iterator; ``policy`` as for :meth:`ImageClient.download
        <imgcompat.shell.client.ImageClient.download>`."""
        with self._guard():
            budget = self._budget(moves_data=True)
            choice = await self._discover(budget)
            image = await self._run(plan.show_op(choice, image_id), budget)
            expected, options, open_stream = self._download_setup(
                choice, image_id, image, progress=progress, policy=policy, budget=budget)
            into = dst_path if dst_path is not None else data
            result = await adownload(open_stream, expected, into=into, options=options,
                                     secrets=self._secrets())
        return result if isinstance(result, Verified) else self._guarded(result)

    async def _guarded(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` with every error leaving through :meth:`_guard`."""
        try:
            while True:
                with self._guard():
                    chunk = await anext(chunks, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def close(self) -> None:
        """Close the connection pool (pinned views share it: close the client once)."""
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
