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
    "show_after_mismatch": Accepted(
        "Glance 33 bug: after refusing an upload whose bytes do not match disk_format (415), "
        "the image stays queued with size null yet keeps the refused data's checksum, "
        "multihash, store and direct_url (the file stays in the store; a download then "
        "answers 500); the emulator leaves a plain queued image, as before the upload",
        frozenset({"checksum", "os_hash_algo", "os_hash_value", "hash_algo", "hash_value",
                   "stores", "direct_url"})),
}
