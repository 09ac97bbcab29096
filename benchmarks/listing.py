"""The emulator's CPU per ``GET /v2/images`` page, by store size, page size and order.

Issue 13 asks for an emulator whose cost per page grows with the page, not with the store:
this walks every listing below through the next links, calling the ASGI app in process
(no HTTP client, no socket, the answer decoded after the clock stops: only the emulator's
own work is timed), and prints the median CPU of a full page. A page's cost should stay
flat down a column (more images) and grow along a row (larger pages). The images are
created through the API, whose answers leave each record's v2 entity encoded in the store,
so a page is finding, checking and joining records, not rendering them (the first listing
after a change renders what changed). Run: ``.venv/bin/python benchmarks/listing.py`` (about
a minute); ``--sizes`` and ``--pages`` change the grid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.stream import markdown_table

from imgcompat.testing import Emulator

#: (label, query) of the listings walked: Glance's default order, two indexed sorts,
#: a filter, and an order no index serves (the full scan).
ORDERS = (
    ("created_at desc (default)", ""),
    ("name asc", "sort_key=name&sort_dir=asc"),
    ("updated_at desc, status filter", "sort=updated_at:desc&status=queued"),
    ("size asc (full scan)", "sort_key=size&sort_dir=asc"),
)


async def _call(emu: Emulator, method: str, target: str, body: bytes = b"") -> bytes:
    """One request through the ASGI app; the body of the answer."""
    path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1),
             "headers": [(b"host", b"g"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await emu.app(scope, receive, send)
    return b"".join(chunks)


async def _seed(emu: Emulator, count: int) -> None:
    for i in range(count):
        body = {"name": f"bench-list-{i:05d}", "disk_format": "raw",
                "container_format": "bare"}
        await _call(emu, "POST", "/v2/images", json.dumps(body).encode())


async def _walk(emu: Emulator, query: str, page: int) -> tuple[int, int, float]:
    """Images listed, pages fetched, and the median CPU seconds of a full page (one that
    holds ``page`` images: the last, shorter page would flatter the figure)."""
    target: str | None = f"/v2/images?limit={page}" + (f"&{query}" if query else "")
    images = pages = 0
    full: list[float] = []
    while target is not None:
        started = time.process_time()
        answer = await _call(emu, "GET", target)
        spent = time.process_time() - started
        doc = json.loads(answer)
        images += len(doc["images"])
        pages += 1
        if len(doc["images"]) == page:
            full.append(spent)
        nxt = doc.get("next")
        target = None if nxt is None else f"{urlsplit(nxt).path}?{urlsplit(nxt).query}"
    return images, pages, statistics.median(full) if full else float("nan")


async def main(sizes: list[int], page_sizes: list[int]) -> None:
    """Seed a store per size and print the CPU per page of every listing."""
    head = ["images", "order", *(f"page of {p}: CPU ms" for p in page_sizes)]
    rows = []
    for size in sizes:
        emu = Emulator(api="v2")
        await _seed(emu, size)
        for label, query in ORDERS:
            cells = []
            for page in page_sizes:
                images, pages, cpu = await _walk(emu, query, page)
                cells.append(f"{cpu * 1000:.2f} ({pages} pages, {images} images)")
            rows.append([f"{size:,}", label, *cells])
    print(markdown_table(head, rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 8000])
    parser.add_argument("--pages", type=int, nargs="+", default=[25, 200, 1000])
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.pages))
