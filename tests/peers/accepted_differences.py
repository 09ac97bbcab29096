"""Every difference between the emulator and the real Glance that the differential tests accept.

Keys are ``"step"`` (any client) or ``"client:step"`` (one client: ``sdk``, ``glanceclient``,
``cli``). Each entry says why the difference is right to keep — a bug of the real server that
the emulator should not copy, or something no normalisation can make deterministic — and, in
``fields``, which attributes it covers (by name, under any client's spelling); a difference
anywhere else in that step still fails. An empty ``fields`` covers the whole step. A gap of
the emulator is never a reason: such a step fails until the emulator does what Glance does.
A listed step that stops differing passes, and should then leave this list.
"""

from __future__ import annotations

from typing import NamedTuple


class Accepted(NamedTuple):
    """Why a step may differ, and where."""

    reason: str
    fields: frozenset[str] = frozenset()


ACCEPTED: dict[str, Accepted] = {
    # none today: the emulator matches the real Glance 33 at every step of every client
}
