"""Faults on demand, for testing how a client copes with a misbehaving Glance.

Each fault is armed for a bounded number of requests and disarms itself once used, so a
test states exactly what goes wrong and the emulator is healthy again afterwards. The
controller is shared by every connection of an emulator and may be changed from any
thread while the emulator runs.
"""

from __future__ import annotations

import threading

import attrs


class ConnectionDropped(Exception):
    """Raised by the app to abort the connection mid-body (the server drops the socket)."""


@attrs.frozen
class Delay:
    seconds: float


class Faults:
    """What should go wrong next. All counters are bounded and count down as they fire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._fail: list[int] = []
            self._reset: list[int] = []
            self._delays: list[float] = []
            self._corrupt = 0
            self._malformed = 0
            self._ignore_range = 0

    def fail_next(self, k: int = 1, status: int = 503) -> None:
        """Answer the next ``k`` requests (any path) with ``status`` and an error body."""
        with self._lock:
            self._fail.extend([status] * k)

    def reset_after(self, n_bytes: int, times: int = 1) -> None:
        """Drop the connection after ``n_bytes`` of body of the next ``times`` downloads."""
        with self._lock:
            self._reset.extend([n_bytes] * times)

    def delay(self, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` requests for ``seconds`` before answering."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def corrupt_next_download(self, times: int = 1) -> None:
        """Flip bytes of the next downloads; headers (``Content-MD5``) stay truthful."""
        with self._lock:
            self._corrupt += times

    def malformed_json_next(self, times: int = 1) -> None:
        """Cut the next JSON answers short, so they no longer parse."""
        with self._lock:
            self._malformed += times

    def ignore_range_next(self, times: int = 1) -> None:
        """Answer the next ranged downloads with 200 and the whole body."""
        with self._lock:
            self._ignore_range += times

    # ------------------------------------------------------------------ used by the app

    def take_failure(self) -> int | None:
        with self._lock:
            return self._fail.pop(0) if self._fail else None

    def take_delay(self) -> float | None:
        with self._lock:
            return self._delays.pop(0) if self._delays else None

    def take_reset(self) -> int | None:
        with self._lock:
            return self._reset.pop(0) if self._reset else None

    def take_corrupt(self) -> bool:
        with self._lock:
            if self._corrupt:
                self._corrupt -= 1
                return True
            return False

    def take_malformed(self) -> bool:
        with self._lock:
            if self._malformed:
                self._malformed -= 1
                return True
            return False

    def take_ignore_range(self) -> bool:
        with self._lock:
            if self._ignore_range:
                self._ignore_range -= 1
                return True
            return False
