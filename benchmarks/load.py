"""Load benchmark: operations/s and peak RSS of ``AsyncImageClient`` at 50, 200 and 1,000
concurrent operations, against the emulator on a real loopback socket.

One *operation* is one seam call; each concurrent worker runs one image's life cycle
(create with data, show, list, update, download to a path, delete: six operations), so
``N`` concurrent workers keep ``N`` operations in flight. The emulator (v2, bytes on
disk) runs in its own process, and each concurrency level runs in a fresh client
process, so the peak RSS reported is the client's own (no faults here: the soak test,
``tests/load/test_soak.py``, runs the same life cycle under them).

Run: ``python benchmarks/load.py`` (50/200/1,000, 64 KiB images, about a minute) or
``python benchmarks/load.py --concurrency 50 --size-kib 16`` for a quick look. Not a test:
on a 2-core box shared with other work the figures move a lot. The life cycle itself is
also what ``tests/load/test_soak.py`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.stream import MiB, _child, _rss, emulator_process, markdown_table

KiB = 1024
Run = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def life_cycle(client: Any, index: int, data: bytes, where: Path, *, run: Run,
                     prefix: str = "load-") -> None:
    """One image's life: create with data, show, list, update, download to a path, delete.

    ``run(kind, make)`` performs one operation (``make()`` returns its awaitable) and
    returns its result, or None when it failed; a failed create ends the life cycle.
    """
    from imgcompat.core.model import Image

    name = f"{prefix}{index}"
    image = await run("create", lambda: client.create(
        Image(name=name, disk_format="raw", container_format="bare"), data=data))
    if image is None:
        return
    await run("show", lambda: client.show(image.id))

    async def listing() -> list[Any]:
        return [i async for i in await client.detail({"name": name}, page_size=5)]

    await run("list", listing)
    changed = attrs.evolve(image, properties={**image.properties, "cycle": str(index)})
    await run("update", lambda: client.update(image.id, changed))
    target = where / f"{name}.img"
    if await run("download", lambda: client.download(image.id, target)) is not None:
        if target.read_bytes() != data:
            raise AssertionError(f"{name}: the downloaded bytes differ")
        target.unlink()
    await run("delete", lambda: client.delete(image.id))


# ----------------------------------------------------------------------------- processes


async def _load(url: str, workers: int, size: int, where: Path) -> dict[str, Any]:
    from imgcompat.core.errors import ImgcompatError
    from imgcompat.core.limits import Limits
    from imgcompat.shell.aclient import AsyncImageClient

    data = os.urandom(size)
    done = failed = 0

    async def run(kind: str, make: Callable[[], Awaitable[Any]]) -> Any:
        nonlocal done, failed
        try:
            result = await make()
        except ImgcompatError:
            failed += 1
            return None
        done += 1
        return result

    client = AsyncImageClient(url, timeout=120.0, limits=Limits(deadline=600.0))
    await client.discover()
    started = time.perf_counter()
    await asyncio.gather(*(life_cycle(client, i, data, where, run=run)
                           for i in range(workers)))
    seconds = time.perf_counter() - started
    await client.close()
    return {"operations": done, "failed": failed, "seconds": seconds}


def run_level(url: str, workers: str, size: str, work: str) -> None:
    """In a fresh process: one concurrency level; its figures as one JSON line."""
    rss0 = _rss()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(_load(url, int(workers), int(size), Path(work)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = (usage.ru_utime - cpu0.ru_utime) + (usage.ru_stime - cpu0.ru_stime)
    result["peak_rss"] = usage.ru_maxrss * KiB
    result["rss_growth"] = max(0, usage.ru_maxrss * KiB - rss0)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--size-kib", type=int, default=64, help="image size")
    parser.add_argument("--workdir", default=None, help="where the emulator's bytes go")
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    with emulator_process(args.workdir, "imgcompat-load-") as (url, root, _server):
        for workers in args.concurrency:
            got = _child(["run", url, str(workers), str(args.size_kib * KiB),
                          str(root / "out")], script=__file__, timeout=1800)
            print(f"{workers} concurrent: {got}", file=sys.stderr, flush=True)
            if "skipped" in got:
                rows.append((str(workers), "-", "-", "-", "-", "-", got["skipped"][:60]))
                continue
            rows.append((str(workers), str(got["operations"]), str(got["failed"]),
                         f"{got['seconds']:.2f}", f"{got['operations'] / got['seconds']:,.0f}",
                         f"{got['peak_rss'] / MiB:.0f}", f"{got['rss_growth'] / MiB:.0f}"))
    print(f"{args.size_kib} KiB images; load average after the run: "
          f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print(markdown_table(("concurrent", "operations", "failed", "seconds", "ops/s",
                          "peak RSS MiB", "RSS growth MiB"), rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        run_level(*sys.argv[2:6])
    else:
        main()
