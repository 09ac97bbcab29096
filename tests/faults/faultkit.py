"""Shared pieces of the fault tests: the image bytes and a served emulator holding them."""

from __future__ import annotations

import os
from pathlib import Path

from imgcompat.core.model import Image
from imgcompat.testing import Emulator

#: Large enough for several network reads and engine buffers, small enough to be quick.
SIZE = 5 * 1024 * 1024 + 123
DATA = os.urandom(SIZE)


class Glance:
    """A served emulator, its URL, and one image with DATA uploaded."""

    def __init__(self, api: str, emulator: Emulator, url: str, image: Image) -> None:
        self.api, self.emulator, self.url, self.image = api, emulator, url, image

    @property
    def image_id(self) -> str:
        assert self.image.id is not None
        return self.image.id

    def file_requests(self) -> list[tuple[str, str]]:
        """Data requests seen so far (v2 ``/file``, v1 ``GET /v1/images/<id>``)."""
        if self.api == "v2":
            return [r for r in self.emulator.requests if r[1].endswith("/file")]
        return [r for r in self.emulator.requests
                if r == ("GET", f"/v1/images/{self.image_id}")]


def leftovers(directory: Path) -> list[str]:
    """Temporary download files left in ``directory`` (there must never be any)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))
