"""What the contract cases run against: one client (sync, or async behind a sync facade)
on one server (the emulator in some mode, or the real Glance), plus bookkeeping.

The cases are written once against :class:`Glance`; the emulator suite and the real-Glance
integration suite only build different harnesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

import attrs

from imgcompat.core.enums import Api
from imgcompat.core.errors import ImgcompatError
from imgcompat.core.immutable import JSON
from imgcompat.core.model import Image, Loss
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.testing import Emulator

T = TypeVar("T")


def payload(size: int, seed: str = "imgcompat") -> bytes:
    """Deterministic bytes no format inspector mistakes for a disk image header."""
    block = b"".join(hashlib.sha256(f"{seed}{i}".encode()).digest() for i in range(128))
    return (block * (size // len(block) + 1))[:size]


class _SyncIter(Iterator[T]):
    def __init__(self, run: Callable[[Coroutine[Any, Any, Any]], Any],
                 source: AsyncIterator[T]) -> None:
        self._run = run
        self._source = source
        self.losses: tuple[Loss, ...] = getattr(source, "losses", ())

    def __next__(self) -> T:
        try:
            item: T = self._run(self._source.__anext__())  # type: ignore[arg-type]
        except StopAsyncIteration:
            raise StopIteration from None
        return item


class AsyncFacade:
    """The async client driven from sync test code, on a private event loop."""

    def __init__(self, client: AsyncImageClient, loop: asyncio.AbstractEventLoop) -> None:
        self.inner = client
        self._loop = loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    @property
    def version_choice(self) -> Any:
        return self.inner.version_choice

    def pinned(self, version: str | None, *, caller: str | None = None) -> AsyncFacade:
        return AsyncFacade(self.inner.pinned(version, caller=caller), self._loop)

    def show(self, *args: Any, **kwargs: Any) -> Image:
        return self._run(self.inner.show(*args, **kwargs))

    def detail(self, *args: Any, **kwargs: Any) -> _SyncIter[Image]:
        return _SyncIter(self._run, self._run(self.inner.detail(*args, **kwargs)))

    def create(self, *args: Any, **kwargs: Any) -> Image:
        return self._run(self.inner.create(*args, **kwargs))

    def update(self, *args: Any, **kwargs: Any) -> Image:
        return self._run(self.inner.update(*args, **kwargs))

    def delete(self, image_id: str) -> None:
        self._run(self.inner.delete(image_id))

    def upload(self, *args: Any, **kwargs: Any) -> Image:
        return self._run(self.inner.upload(*args, **kwargs))

    def snapshot(self, *args: Any, **kwargs: Any) -> Image:
        if "data" in kwargs and isinstance(kwargs["data"], Iterator):
            kwargs["data"] = _to_async(kwargs["data"])
        return self._run(self.inner.snapshot(*args, **kwargs))

    def download(self, *args: Any, **kwargs: Any) -> Any:
        result: Any = self._run(self.inner.download(*args, **kwargs))
        if hasattr(result, "__anext__"):
            return _SyncIter(self._run, result)
        return result

    def close(self) -> None:
        self._run(self.inner.close())


async def _to_async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@attrs.define
class Glance:
    """One server + one client view, and the images a case made (deleted afterwards)."""

    client: Any
    api: Api
    emulator: Emulator | None = None
    run: str = attrs.field(factory=lambda: uuid.uuid4().hex[:12])
    losses: list[Loss] = attrs.field(factory=list)
    made: list[str] = attrs.field(factory=list)

    @property
    def real(self) -> bool:
        return self.emulator is None

    def record(self, name: str, **props: JSON) -> Image:
        """A record of this run: raw/bare (a real Glance inspects data), tagged with the run."""
        return Image(name=f"{name}-{self.run}", disk_format="raw", container_format="bare",
                     properties={"contract_run": self.run, **props})

    def create(self, image: Image, data: Any = None, **kwargs: Any) -> Image:
        made: Image = self.client.create(image, data, **kwargs)
        assert made.id is not None
        self.made.append(made.id)
        return made

    def mine(self, **filters: Any) -> list[Image]:
        """This run's images, listed through the seam."""
        return list(self.client.detail({"property-contract_run": self.run, **filters}))

    def cleanup(self) -> None:
        for image_id in self.made:
            with contextlib.suppress(ImgcompatError):
                current = self.client.show(image_id)
                if current.protected:
                    self.client.update(image_id, attrs.evolve(current, protected=False))
                self.client.delete(image_id)


def collect_losses(into: list[Loss]) -> Callable[[Any], None]:
    def on_loss(losses: Any) -> None:
        into.extend(losses)

    return on_loss


def build_client(flavor: str, server: str, *, transport: Any = None, version: str | None = None,
                 on_loss: Any = None, loop: asyncio.AbstractEventLoop | None = None,
                 **options: Any) -> Any:
    """A sync client, or the async one behind :class:`AsyncFacade`."""
    from tenacity import wait_none

    options.setdefault("backoff", wait_none())
    if flavor == "sync":
        return ImageClient(server, transport=transport, version=version, on_loss=on_loss,
                           **options)
    assert loop is not None
    client = AsyncImageClient(server, transport=transport, version=version, on_loss=on_loss,
                              **options)
    return AsyncFacade(client, loop)


def mapping_without(record: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}
