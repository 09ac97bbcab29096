"""A soak: 200 image life cycles at once through ``AsyncImageClient`` against the emulator
on a real socket, with faults injected all along (issue 11, "Load").

Each life cycle (``benchmarks/load.py``'s, which measures the same at 50/200/1,000)
creates an image with data, shows it, lists, updates it, downloads it to a path and
deletes it, while a fault task keeps arming connection resets on downloads,
bursts of 503, and stalls. Every operation must succeed or fail with an
``ImgcompatError``; at the end no file descriptor, no ``.part`` file and no record is
left (each life cycle's image was made exactly once, so no create was replayed, and is
gone), and the peak RSS stayed bounded. Bounded to well under 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import tenacity
from benchmarks.load import life_cycle

from imgcompat.core.errors import ImgcompatError
from imgcompat.core.limits import Limits
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.testing import Emulator, serve

CONCURRENCY = 200
SIZE = 96 * 1024 + 17
#: The whole soak must end in this time (the CI bound is 60 s).
BUDGET_SECONDS = 50.0
#: Growth of the peak RSS allowed over the process's resident size at the start.
RSS_BOUND = 400 * 1024 * 1024
NAME = "soak-"
#: Requests between two rounds of faults (each: 2 resets, a burst of 1-3 5xx, 2 stalls).
FAULT_EVERY = 25


def open_fds() -> int:
    """File descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


def rss_now() -> int:
    """The resident set size now, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """The peak resident set size since the last :func:`reset_peak` (VmHWM), in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


class Tally:
    """What each kind of operation came to: successes, and typed failures by class."""

    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.untyped: list[BaseException] = []
        self.messages: list[str] = []
        #: Images whose create or delete failed typed (their records may rightly remain).
        self.unfinished: set[str | None] = set()

    async def run(self, kind: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """One operation; a typed failure is counted and returned as None."""
        try:
            result = await make()
        except ImgcompatError as exc:
            self.failed[f"{kind}: {type(exc).__name__}"] += 1
            self.messages.append(f"{kind}: {exc}")
            if kind in ("create", "delete"):  # its record may be left, rightly
                self.unfinished.add(getattr(exc, "image_id", None))
            return None
        except Exception as exc:  # the soak's point: nothing else may escape
            self.untyped.append(exc)
            return None
        self.ok[kind] += 1
        return result


async def inject_faults(emulator: Emulator, stop: asyncio.Event) -> int:
    """Keep arming faults until ``stop``: resets, 5xx bursts, stalls; the rounds armed.

    A round is armed every :data:`FAULT_EVERY` requests the emulator received, so the
    faults keep pace with the traffic (a fixed period would pile them onto the last few
    requests of the soak, past any retry policy).
    """
    rounds = 0
    pick = random.Random(11)
    armed_at = 0
    while not stop.is_set():
        if len(emulator.requests) >= armed_at + FAULT_EVERY:
            armed_at = len(emulator.requests)
            faults = emulator.faults
            faults.reset_after(pick.randrange(1, SIZE - 1), times=2)
            faults.fail_next(pick.randrange(1, 4), status=pick.choice([503, 502, 504]))
            faults.delay(pick.uniform(0.05, 0.6), times=2)
            rounds += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.02)
    return rounds


async def soak(url: str, emulator: Emulator, where: Path) -> tuple[Tally, int, float]:
    """The soak itself: the tally, the fault rounds and the seconds it took."""
    tally = Tally()
    data = os.urandom(SIZE)
    client = AsyncImageClient(
        url, num_retries=6, timeout=10.0,
        backoff=tenacity.wait_random_exponential(multiplier=0.02, max=0.3),
        limits=Limits(deadline=30.0, transfer_deadline=40.0))
    stop = asyncio.Event()
    faults = asyncio.create_task(inject_faults(emulator, stop))
    started = time.monotonic()
    try:
        await asyncio.gather(*(life_cycle(client, i, data, where, run=tally.run,
                                          prefix=NAME) for i in range(CONCURRENCY)))
    finally:
        stop.set()
        rounds = await faults
        await client.close()
    return tally, rounds, time.monotonic() - started


def test_200_concurrent_life_cycles_under_faults_leak_nothing(tmp_path: Path) -> None:
    emulator = Emulator(api="v2")
    gc.collect()
    fds_before = open_fds()
    rss_before = rss_now()
    can_reset = reset_peak()
    retries = _Count()
    logging.getLogger("imgcompat").addHandler(retries)
    try:
        with serve(emulator) as url:
            tally, rounds, seconds = asyncio.run(soak(url, emulator, tmp_path))
            emulator.faults.clear()
    finally:
        logging.getLogger("imgcompat").removeHandler(retries)
    peak = peak_rss()
    assert not tally.untyped, tally.untyped[:3]
    print("\n".join(sorted(set(tally.messages))[:5]))
    done = sum(tally.ok.values())
    print(f"\nsoak: {done} operations ok, {sum(tally.failed.values())} failed typed "
          f"{dict(tally.failed)}, {rounds} fault rounds, {seconds:.1f} s, "
          f"{done / seconds:.0f} ops/s, peak RSS +{(peak - rss_before) / 2**20:.0f} MiB")
    assert seconds < BUDGET_SECONDS
    # the faults really were armed all along, and hit: retried 5xx, resumed downloads
    assert rounds > 10
    assert retries.count > 10
    fetched = [p for m, p in emulator.requests if m == "GET" and p.endswith("/file")]
    assert len(fetched) > tally.ok["download"]
    # The faults slow the cycles down; retries and resumes carry nearly all of them.
    assert tally.ok["create"] >= CONCURRENCY * 0.9, tally.failed
    assert tally.ok["download"] >= tally.ok["create"] * 0.9, tally.failed
    # nothing left behind: temp files, records, file descriptors, memory
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    made = Counter(r.name for r in emulator.store.all())
    assert set(made.values()) == {1}, "an image was made twice: a create was replayed"
    alive = {r.id for r in emulator.store.all() if not r.gone}
    assert alive <= tally.unfinished, "a record outlived its life cycle unreported"
    _wait_for_fds(fds_before)
    if can_reset:
        assert peak - rss_before < RSS_BOUND, f"peak RSS grew {(peak - rss_before) >> 20} MiB"


class _Count(logging.Handler):
    """Counts the client's retry lines (each is one failed attempt tried again)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "attempt" in record.getMessage():
            self.count += 1


def _wait_for_fds(before: int, seconds: float = 5.0) -> None:
    """The descriptors return to what they were (sockets close a moment after the server)."""
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        now = open_fds()
        if now <= before:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{now - before} file descriptors leaked: "
                        f"{sorted(os.listdir('/proc/self/fd'), key=int)[-10:]}")
        time.sleep(0.1)

