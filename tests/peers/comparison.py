"""How two runs of one step are compared: the emulator's line against the real Glance's.

A line is what a driver printed for a step (``outcome``, ``result``, ``message``, already
normalised). A different outcome says it all; otherwise every missing or extra attribute,
every change of JSON type and every different value is one :data:`Difference`, named by its
path in the result. :mod:`tests.peers.accepted_differences` may excuse some of them.
"""

from __future__ import annotations

import re
from typing import Any

from tests.peers.accepted_differences import ACCEPTED

Line = dict[str, Any]
Difference = tuple[str, str]  # (where: "outcome", "message" or a path in the result, what)


def differences(real: Any, emulated: Any, path: str = "") -> list[Difference]:
    """Where ``emulated`` departs from ``real``: names, JSON types, then values."""
    where = path or "result"
    if isinstance(real, dict) and isinstance(emulated, dict):
        found = [(f"{path}.{key}", "missing") for key in sorted(real.keys() - emulated.keys())]
        found += [(f"{path}.{key}", "extra") for key in sorted(emulated.keys() - real.keys())]
        for key in sorted(real.keys() & emulated.keys()):
            found += differences(real[key], emulated[key], f"{path}.{key}")
        return found
    if type(real) is not type(emulated):
        return [(where, f"{type(real).__name__} {real!r:.200} "
                        f"!= {type(emulated).__name__} {emulated!r:.200}")]
    if isinstance(real, list) and len(real) == len(emulated):
        return [d for i, (r, e) in enumerate(zip(real, emulated, strict=True))
                for d in differences(r, e, f"{path}[{i}]")]
    return [] if real == emulated else [(where, f"{real!r:.300} != {emulated!r:.300}")]


def compare(real: Line, emulated: Line) -> list[Difference]:
    """Every way one step's lines differ; a different outcome says it all."""
    if real["outcome"] != emulated["outcome"]:
        return [("outcome", f"{real['outcome']} != {emulated['outcome']}\n"
                            f"  real message: {real['message']!r:.400}\n"
                            f"  emulator message: {emulated['message']!r:.400}")]
    found = differences(real["result"], emulated["result"])
    if real["message"] != emulated["message"]:
        found.append(("message", f"{real['message']!r:.400} != {emulated['message']!r:.400}"))
    return found


def accepted(client: str, step: str, found: list[Difference]) -> str | None:
    """The reason for ``found``, when :data:`ACCEPTED` covers every one of them."""
    entry = ACCEPTED.get(f"{client}:{step}") or ACCEPTED.get(step)
    if entry is None:
        return None
    leaves = {re.sub(r"\[\d+\]$", "", where).rsplit(".", 1)[-1] for where, _ in found}
    return entry.reason if not entry.fields or leaves <= entry.fields else None
