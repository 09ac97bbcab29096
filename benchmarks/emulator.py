"""Benchmark: 1,000 sequential v2 show requests against the in-process emulator.

Run: ``.venv/bin/python benchmarks/emulator.py``. The issue's bar is under one second for
the 1,000 requests on the development machine; both in-process transports are measured.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from imgcompat.testing import Emulator

N = 1000
BODY = {"name": "bench", "disk_format": "raw", "container_format": "bare", "k": "v"}


async def run_async(emu: Emulator) -> float:
    async with httpx.AsyncClient(transport=emu.async_transport(), base_url="http://g") as c:
        image_id = (await c.post("/v2/images", json=BODY)).json()["id"]
        started = time.perf_counter()
        for _ in range(N):
            response = await c.get(f"/v2/images/{image_id}")
            assert response.status_code == 200
        return time.perf_counter() - started


def run_sync(emu: Emulator) -> float:
    with httpx.Client(transport=emu.sync_transport(), base_url="http://g") as c:
        image_id = c.post("/v2/images", json=BODY).json()["id"]
        started = time.perf_counter()
        for _ in range(N):
            response = c.get(f"/v2/images/{image_id}")
            assert response.status_code == 200
        return time.perf_counter() - started


def report(label: str, seconds: float) -> None:
    print(f"{label:<22} {N} shows in {seconds:.3f} s  ({N / seconds:,.0f} requests/s)")


def main() -> None:
    report("async (in process)", asyncio.run(run_async(Emulator(api="v2"))))
    report("sync (in process)", run_sync(Emulator(api="v2")))


if __name__ == "__main__":
    main()
