"""What every peer driver shares: run :data:`scenario.STEPS`, normalise, print JSON lines.

A driver supplies, per action of the scenario, a function of a :class:`Call` that makes the
call with its client and returns what the client handed back, as plain JSON-able data. This
module resolves refs, catches the client's failure, replaces what cannot be the same on two
servers (ids, times, request ids, the servers' URLs) by placeholders and prints one line per
step: ``{"step", "outcome", "result", "message"}``. Stdlib only: it runs in the peer venv.

Usage of a driver, from the repository root: ``python -m tests.peers.DRIVER SERVER SOURCE``
(``SOURCE`` is a URL serving :data:`scenario.WEB_DATA`, for web-download).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers.scenario import MISSING, STEPS, Step


def digest(body: bytes) -> dict[str, Any]:
    """md5 and length of downloaded bytes."""
    return {"md5": hashlib.md5(body).hexdigest(), "size": len(body)}


class Unsupported(Exception):
    """The client has no way to express this step."""


class Unbound(Exception):
    """A step names what an earlier, failed step should have created."""


HERE = Path(__file__).resolve().parent
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_REQUEST_ID = re.compile(rf"req-{_UUID}")
_ANY_UUID = re.compile(_UUID)
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
#: Keys whose values name places on one server's disk: only their JSON type is compared.
SHAPE_ONLY = frozenset({"direct_url", "locations"})
#: Keys holding image tags: Glance keeps them as a set, so their order means nothing.
TAG_KEYS = frozenset({"tags", "Tags"})
#: Statuses an image passes through while the server still works on it.
TRANSITIONAL = frozenset({"saving", "importing"})
#: Properties Glance sets while an import or copy is under way.
IMPORT_MARKERS = ("os_glance_import_task", "os_glance_importing_to_stores")
WAIT_SECONDS = 30.0


@dataclass
class Run:
    """One driver's run against one server: the ids bound so far and the URLs to hide."""

    server: str
    source: str
    refs: dict[str, str] = field(default_factory=dict)

    def id_of(self, ref: str) -> str:
        """The id bound to ``ref`` by an earlier step."""
        if ref not in self.refs:
            raise Unbound(f"nothing bound to {ref!r}: an earlier step failed")
        return self.refs[ref]

    def normalise(self, value: Any, key: str | None = None) -> Any:
        """``value`` with placeholders where two servers cannot agree."""
        if key in SHAPE_ONLY and value is not None:
            return shape(value)
        if key in TAG_KEYS:
            value = unordered(value)
        if isinstance(value, Mapping):
            return {str(k): self.normalise(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.normalise(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))

    def text(self, value: str) -> str:
        """Placeholders in one string."""
        names = {v: k for k, v in self.refs.items()}
        value = value.replace(self.server, "<server>").replace(self.source, "<source>")
        value = _REQUEST_ID.sub("<request-id>", value)
        value = _ANY_UUID.sub(lambda m: f"<{names.get(m.group(0), 'uuid')}>", value)
        return _TIME.sub("<time>", value)


def unordered(tags: Any) -> Any:
    """Tags in a stable order: a list, its repr (``['a', 'b']``) or the CLI's ``a, b``."""
    if isinstance(tags, list):
        return sorted(tags, key=str)
    if not isinstance(tags, str) or not tags:
        return tags
    if tags.startswith("[") and tags.endswith("]"):
        return repr(sorted(ast.literal_eval(tags), key=str))
    return ", ".join(sorted(tags.split(", ")))


def shape(value: Any) -> Any:
    """The JSON types of ``value``, leaf by leaf."""
    if isinstance(value, Mapping):
        return {str(k): shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shape(v) for v in value]
    return f"<{type(value).__name__}>"


@dataclass
class Call:
    """One step as a driver sees it: the client for ``who``, the target id, the arguments."""

    step: Step
    client: Any
    run: Run

    @property
    def image_id(self) -> str:
        """The id of ``step.image``, or of no image at all for the 404 steps."""
        if self.step.image is not None:
            return self.run.id_of(self.step.image)
        if "missing" in self.step.args:
            return MISSING
        raise ValueError(f"step {self.step.name} names no image")

    def arg(self, name: str, default: Any = None) -> Any:
        """An argument of the step, with ``SOURCE`` and task refs resolved."""
        value = self.step.args.get(name, default)
        if value == "SOURCE":
            return self.run.source
        if name == "task":
            return self.run.id_of(value)
        return value

    def bind(self, image_id: str) -> None:
        """Bind the id of what this step created to its ``ref``."""
        if self.step.ref is not None:
            self.run.refs[self.step.ref] = image_id

    def refs(self, ids: list[str]) -> list[str]:
        """Image ids of a listing as sorted placeholders (listing order is not stable)."""
        return sorted(self.run.text(i) for i in ids)


Action = Callable[[Call], Any]


@dataclass
class Driver:
    """A client's translation of the scenario.

    ``client(who, server)`` builds the client for an identity and a base URL; ``actions``
    maps scenario actions to calls; ``failure(exc)`` turns the client's own exceptions into
    ``(outcome, message)`` and anything else into None; ``raw_image(call)`` answers the image
    under the server's field names, for waits.
    """

    client: Callable[[str, str], Any]
    actions: Mapping[str, Action]
    failure: Callable[[BaseException], tuple[str, str] | None]
    raw_image: Callable[[Call], Mapping[str, Any]]
    clients: dict[str, Any] = field(default_factory=dict)

    def client_for(self, who: str, server: str) -> Any:
        """One client per identity for the whole run."""
        if who not in self.clients:
            self.clients[who] = self.client(who, server)
        return self.clients[who]

    def wait(self, call: Call) -> Any:
        """Poll the image until no import or copy is under way; then show it."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            image = self.raw_image(call)
            busy = image.get("status") in TRANSITIONAL or any(
                image.get(marker) for marker in IMPORT_MARKERS)
            if not busy:
                return self.actions["show"](call)
            if time.monotonic() > deadline:
                raise TimeoutError(f"still busy after {WAIT_SECONDS} s: {image.get('status')}")
            time.sleep(0.2)

    def perform(self, step: Step, run: Run) -> dict[str, Any]:
        """Run one step; its JSON line as a dict."""
        action = self.wait if step.action == "wait" else self.actions.get(step.action)
        line: dict[str, Any] = {"step": step.name, "outcome": "ok", "result": None,
                                "message": None}
        if action is None:
            line["outcome"] = "unsupported"
            return line
        try:
            client = self.client_for(step.who, run.server)
            line["result"] = run.normalise(action(Call(step, client, run)))
        except Unsupported:
            line["outcome"] = "unsupported"
        except Exception as exc:  # every failure is an outcome to compare
            line["outcome"], message = self.outcome(exc)
            line["message"] = run.text(message)
        return line

    def outcome(self, exc: Exception) -> tuple[str, str]:
        """``(outcome, message)`` of a failed step.

        The client's own exceptions as ``failure`` words them; anything else raised inside a
        library (a client tripping over an answer) by class; raised here, it is a broken
        driver or scenario: ``driver-error`` with the trace, which must never happen against
        the real server.
        """
        if isinstance(exc, TimeoutError):
            return "timeout", str(exc)
        if isinstance(exc, Unbound):
            return "unbound", str(exc)
        known = self.failure(exc)
        if known is not None:
            return known
        frames = traceback.extract_tb(exc.__traceback__)
        if frames and Path(frames[-1].filename).resolve().parent != HERE:
            return type(exc).__name__, str(exc).split("\n", 1)[0]
        return (f"driver-error {type(exc).__name__}",
                "".join(traceback.format_exception(exc))[-1500:])

    def main(self, argv: list[str] | None = None) -> None:
        """Run every step against ``argv[1]``; print one JSON line each."""
        args = sys.argv if argv is None else argv
        run = Run(server=args[1].rstrip("/"), source=args[2])
        for step in STEPS:
            print(json.dumps(self.perform(step, run), sort_keys=True), flush=True)


__all__ = ["Call", "Driver", "Run", "Unbound", "Unsupported", "digest", "shape"]
