"""The ``imgcompat demo`` main job: one image life cycle through the seam, per API mode.

The life cycle (:func:`run_lifecycle`) and the cross-mode comparison (:func:`compare`)
return plain records, so tests can check them; ``demo_report.py`` only draws them (rich)
or writes them as JSON, and this module needs no terminal library.
The demo fails when the seam record differs between modes in a way no ``Loss`` explains:
that is exactly the promise of the seam.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api, Status
from imgcompat.core.errors import ImageNotFound, ImgcompatError, InvalidResponse
from imgcompat.core.immutable import thaw
from imgcompat.core.model import Image, Loss
from imgcompat.core.seam import SEAM_KEYS, to_seam_json
from imgcompat.core.translate import image_to_v1, image_to_v2

if TYPE_CHECKING:
    from imgcompat.shell.client import ImageClient

Mode = Literal["v1", "v2", "both"]
#: Emulator modes, in table order, with their column titles.
MODES: Final[tuple[tuple[Mode, str], ...]] = (("v1", "v1-only"), ("v2", "v2-only"),
                                             ("both", "v1+v2"))
#: Values that differ on every run, whatever the API: never compared.
PER_RUN_KEYS: Final[frozenset[str]] = frozenset({"id", "created_at", "updated_at",
                                                 "deleted_at"})
#: Seam keys that one ``Loss`` field speaks for together.
LINKED_FIELDS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"os_hash_algo", "os_hash_value"}),
    frozenset({"is_public", "visibility"}),
)
PAYLOAD_SIZE: Final = 1 << 20
DESCRIPTION: Final = "café ☃ — snapshot of a naïve VM"
BLOCK_DEVICE_MAPPING: Final[list[dict[str, Any]]] = [
    {"boot_index": 0, "device_name": "/dev/vda", "source_type": "volume",
     "destination_type": "volume", "volume_id": "0b6b4c4f-5d2a-4f0b-9a51-6f1c7b3f5a10",
     "delete_on_termination": False},
    {"boot_index": -1, "device_name": "/dev/vdb", "source_type": "blank",
     "destination_type": "local", "guest_format": "ext4", "volume_size": 1},
]
#: A key a record lacks (``None`` is a value a record can hold).
ABSENT: Final = object()
_LOGGER_NAME = "imgcompat"


class CheckFailed(InvalidResponse):
    """The server answered, but not what the seam promises (a demo step's own check)."""


@attrs.frozen
class StepResult:
    """One life-cycle step: whether it kept the seam's promise, and how long it took."""

    name: str
    ok: bool
    detail: str
    seconds: float


@attrs.frozen
class ModeRun:
    """Everything one mode's life cycle produced."""

    label: str
    url: str
    choice: VersionChoice | None
    steps: tuple[StepResult, ...]
    warnings: tuple[str, ...]
    losses: tuple[tuple[str, Loss], ...]
    record: Image | None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps) and self.record is not None

    @property
    def api(self) -> Api | None:
        return self.choice.api if self.choice is not None else None


@attrs.frozen
class Difference:
    """One seam key whose value is not the same in every mode."""

    key: str
    values: tuple[tuple[str, Any], ...]
    explained_by: tuple[tuple[str, Loss], ...]
    unexplained: tuple[tuple[str, str], ...]

    @property
    def explained(self) -> bool:
        return not self.unexplained


@attrs.frozen
class DemoReport:
    """The runs and their comparison; ``ok`` is the demo's exit status."""

    runs: tuple[ModeRun, ...]
    differences: tuple[Difference, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs) and all(d.explained for d in self.differences)

    @property
    def failures(self) -> tuple[str, ...]:
        out = [f"{run.label}: {step.name}: {step.detail}"
               for run in self.runs for step in run.steps if not step.ok]
        out += [f"{run.label}: no record to compare" for run in self.runs
                if run.record is None and all(step.ok for step in run.steps)]
        for diff in self.differences:
            for a, b in diff.unexplained:
                out.append(f"{diff.key}: {a} and {b} differ and no Loss explains it")
        return tuple(out)


# --------------------------------------------------------------------------- capture


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """The library's warnings (v1 deprecation, ...) while the block runs, kept for the
    report instead of being printed in the middle of it."""
    logger = logging.getLogger(_LOGGER_NAME)
    handler = _Capture()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


# --------------------------------------------------------------------------- life cycle


@attrs.frozen
class Scenario:
    """What every mode is asked to do: the same bytes, names and ids, so records compare."""

    run_id: str
    payload: bytes
    instance_uuid: str
    base_image_ref: str

    @classmethod
    def new(cls, size: int = PAYLOAD_SIZE) -> Scenario:
        """Random bytes (a raw disk: a server that inspects data accepts them as ``raw``)."""
        return cls(uuid.uuid4().hex[:12], os.urandom(size), str(uuid.uuid4()),
                   str(uuid.uuid4()))

    @property
    def name(self) -> str:
        return f"imgcompat-demo-{self.run_id}"

    def inherited(self) -> dict[str, Any]:
        """What the instance's snapshot inherits: non-ASCII text and a structured mapping."""
        return {
            "description": DESCRIPTION,
            "block_device_mapping": BLOCK_DEVICE_MAPPING,
            "bdm_v2": "True",
            "root_device_name": "/dev/vda",
            "hw_disk_bus": "virtio",
            "os_distro": "ubuntu",
            "demo_run": self.run_id,
        }


class _Steps:
    """Runs named steps in order; the first failure stops the rest."""

    def __init__(self) -> None:
        self.results: list[StepResult] = []
        self.current = "setup"

    @property
    def failed(self) -> bool:
        return any(not r.ok for r in self.results)

    def run(self, name: str, action: Callable[[], str]) -> bool:
        if self.failed:
            return False
        self.current = name
        start = time.perf_counter()
        try:
            detail = action()
            ok = True
        except Exception as exc:  # any failure is this step's verdict; cleanup still runs
            detail, ok = f"{type(exc).__name__}: {exc}", False
        self.results.append(StepResult(name, ok, detail, time.perf_counter() - start))
        return ok


def short(value: Any, width: int) -> str:
    """A value as text of at most ``width`` characters (JSON for structures, ``…`` if cut)."""
    text = value if isinstance(value, str) else json.dumps(thaw(value), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} B"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _prop_problems(expected: Mapping[str, Any], got: Mapping[str, Any],
                   explained: Callable[[str], bool]) -> list[str]:
    """Properties that did not survive, except those a Loss already announced."""
    expected, got = thaw(expected), thaw(got)
    problems = []
    for key in sorted(set(expected) | set(got)):
        if explained(f"properties.{key}"):
            continue
        if key not in got:
            problems.append(f"{key} missing")
        elif key not in expected:
            problems.append(f"{key} unexpected")
        elif expected[key] != got[key]:
            problems.append(f"{key}={short(got[key], 30)} (sent {short(expected[key], 30)})")
    return problems


def run_lifecycle(
    url: str,
    scenario: Scenario,
    *,
    label: str,
    token: str | None = None,
    verify: bool = True,
    version: str | None = None,
    timeout: float = 60.0,
    num_retries: int = 3,
    client_factory: Callable[..., ImageClient] | None = None,
) -> ModeRun:
    """Discover, snapshot, upload, show, update (purge), list, download, delete, re-show.

    Nothing is left behind: when a step fails after the record exists, it is deleted.
    """
    from imgcompat.shell.client import ImageClient

    factory = client_factory or ImageClient
    payload, run_id = scenario.payload, scenario.run_id
    steps = _Steps()
    losses: list[tuple[str, Loss]] = []
    notes: list[str] = []
    state: dict[str, Any] = {}

    def sink(found: Sequence[Loss]) -> None:
        losses.extend((steps.current, loss) for loss in found)

    def explained(field: str) -> bool:
        return any(_covers(loss.field, field) for _, loss in losses)

    with captured_warnings() as warnings:
        client = factory([url], token=token, verify=verify, timeout=timeout,
                         version=version, num_retries=num_retries, on_loss=sink)
        inherited = scenario.inherited()

        def discover() -> str:
            choice = client.discover()
            state["choice"] = choice
            return choice.label

        def snapshot() -> str:
            image = client.snapshot(
                scenario.name, scenario.instance_uuid,
                base_image_ref=scenario.base_image_ref, user_id="demo-user",
                inherited=inherited, disk_format="raw", container_format="bare")
            _require(image.id is not None, "the server gave the snapshot no id")
            state["id"] = image.id
            _require(image.status == Status.QUEUED,
                     f"a snapshot without data should be queued, is {image.status}")
            return f"queued, {len(image.properties)} properties"

        def upload() -> str:
            image = client.upload(state["id"], payload, size=len(payload))
            _require(image.status == Status.ACTIVE, f"status {image.status} after upload")
            _require(image.size == len(payload), f"size {image.size}, sent {len(payload)}")
            md5 = hashlib.md5(payload, usedforsecurity=False).hexdigest()
            _require(image.checksum == md5, f"checksum {image.checksum}, sent {md5}")
            multihash = ""
            if image.os_hash_algo and image.os_hash_value:
                digest = hashlib.new(image.os_hash_algo, payload).hexdigest()
                _require(image.os_hash_value == digest, f"{image.os_hash_algo} differs")
                multihash = f"+{image.os_hash_algo}"
            return f"{_mib(len(payload))}, md5{multihash} ok"

        def show() -> str:
            image = client.show(state["id"])
            _require(image.status == Status.ACTIVE, f"status {image.status}")
            wanted = {**inherited, "image_type": "snapshot"}
            problems = _prop_problems(
                wanted, {k: image.properties.get(k, None) for k in wanted
                         if k in image.properties}, explained)
            _require(not problems, "properties: " + "; ".join(problems))
            state["shown"] = image
            return "active, properties intact"

        def update() -> str:
            shown: Image = state["shown"]
            wanted = attrs.evolve(
                shown.with_properties(hw_disk_bus=None, demo_stage="updated ✓"),
                name=f"{scenario.name} (renamed)")
            client.update(state["id"], wanted, purge_props=True)
            image = client.show(state["id"])
            _require(image.name == wanted.name, f"name {image.name!r}")
            problems = _prop_problems(dict(wanted.properties), dict(image.properties),
                                      explained)
            _require(not problems, "properties: " + "; ".join(problems))
            state["record"] = image
            return "renamed, -1 +1 property"

        def listing() -> str:
            record: Image = state["record"]
            assert record.created_at is not None
            since = record.created_at - timedelta(seconds=1)
            filters = {"changes-since": since, "property-demo_run": run_id}
            found = list(islice(client.detail(filters), 100))
            ids = [image.id for image in found]
            _require(ids == [state["id"]], f"expected only our image, got {len(ids)}: "
                                           f"{[str(i)[:8] for i in ids]}")
            listed, shown = flatten(found[0]), flatten(record)
            diff = [key for key in dict.fromkeys([*listed, *shown])
                    if listed.get(key, ABSENT) != shown.get(key, ABSENT)]
            unexplained = [key for key in diff if not explained(key)]
            _require(not unexplained, "the listed record differs from the shown one at "
                                      + ", ".join(unexplained))
            for key in diff:
                notes.append(f"list and show differ at {key} (a Loss said so): listed "
                             f"{short(listed.get(key), 40)!r}, shown "
                             f"{short(shown.get(key), 40)!r}")
            return "found by changes-since + property"

        def download() -> str:
            with tempfile.TemporaryDirectory(prefix="imgcompat-demo-") as tmp:
                path = Path(tmp) / "image.raw"
                client.download(state["id"], dst_path=str(path))
                data = path.read_bytes()
            _require(data == payload, f"downloaded {len(data)} bytes that differ from "
                                      "the upload")
            return f"{_mib(len(data))}, same bytes"

        def delete() -> str:
            client.delete(state["id"])
            state["deleted"] = True
            return "deleted"

        def gone() -> str:
            try:
                image = client.show(state["id"], show_deleted=False)
            except ImageNotFound:
                return "ImageNotFound"
            raise CheckFailed(f"still there after delete (status {image.status})")

        for name, action in (("discover", discover), ("snapshot", snapshot),
                             ("upload", upload), ("show", show), ("update", update),
                             ("list", listing), ("download", download), ("delete", delete),
                             ("show deleted", gone)):
            steps.run(name, action)
        if "id" in state and not state.get("deleted"):
            with contextlib.suppress(ImgcompatError, OSError):
                client.delete(state["id"])
        close = getattr(client, "close", None)
        if callable(close):
            close()
    return ModeRun(label=label, url=url, choice=state.get("choice"),
                   steps=tuple(steps.results), warnings=tuple(dict.fromkeys(warnings)),
                   losses=tuple(dict.fromkeys(losses)), record=state.get("record"),
                   notes=tuple(notes))


def run_emulated(
    modes: Sequence[tuple[Mode, str]] = MODES, *, scenario: Scenario | None = None,
) -> DemoReport:
    """The life cycle against the embedded emulator in each mode, over a real socket."""
    from imgcompat.testing import Emulator, serve

    start = time.perf_counter()
    scenario = scenario or Scenario.new()
    runs = []
    for api, label in modes:
        with serve(Emulator(api=api)) as url:
            runs.append(run_lifecycle(url, scenario, label=label))
    return DemoReport(tuple(runs), compare(runs), time.perf_counter() - start)


def run_endpoint(url: str, *, token: str | None, verify: bool = True,
                 version: str | None = None, timeout: float = 60.0,
                 num_retries: int = 3) -> DemoReport:
    """The same life cycle against a real cloud (one column, nothing to compare)."""
    start = time.perf_counter()
    run = run_lifecycle(url, Scenario.new(), label="cloud", token=token, verify=verify,
                        version=version, timeout=timeout, num_retries=num_retries)
    return DemoReport((run,), (), time.perf_counter() - start)


# --------------------------------------------------------------------------- comparison


def _covers(loss_field: str, key: str) -> bool:
    """Whether a Loss on ``loss_field`` speaks for the seam key ``key``."""
    if loss_field == key or key.startswith(loss_field + "."):
        return True
    return any(loss_field in group and key in group for group in LINKED_FIELDS)


def flatten(record: Image) -> dict[str, Any]:
    """The seam record as rows: base keys, then one ``properties.<name>`` row each."""
    doc = to_seam_json(record)
    out = {key: doc[key] for key in SEAM_KEYS if key != "properties"}
    for name in sorted(doc["properties"]):
        out[f"properties.{name}"] = doc["properties"][name]
    return out


def cross_losses(record: Image, api: Api, minor: int) -> tuple[Loss, ...]:
    """What ``api`` cannot carry of a record another mode holds."""
    if api is Api.V1:
        return image_to_v1(record).losses
    return image_to_v2(record, minor=minor).losses


def _losses_for(run: ModeRun, others: Sequence[ModeRun]) -> list[tuple[str, Loss]]:
    out = list(run.losses)
    if run.choice is None:
        return out
    for other in others:
        if other is not run and other.record is not None:
            out.extend((f"reading {other.label}'s record", loss) for loss in
                       cross_losses(other.record, run.choice.api, run.choice.minor))
    return out


def compare(runs: Sequence[ModeRun]) -> tuple[Difference, ...]:
    """Keys whose values differ between modes, and the Losses that explain each pair.

    A pair of modes that disagree on a key is explained when a Loss of either mode (its
    own writes, or what its API cannot carry of the other's record) names that key.
    """
    rows = [(run, flatten(run.record)) for run in runs if run.record is not None]
    keys: dict[str, None] = {}
    for _, flat in rows:
        keys.update(dict.fromkeys(flat))
    out = []
    for key in keys:
        if key in PER_RUN_KEYS:
            continue
        values = [(run, flat.get(key, ABSENT)) for run, flat in rows]
        if all(value == values[0][1] for _, value in values):
            continue
        because: dict[tuple[str, Loss], None] = {}
        unexplained = []
        for i, (a, va) in enumerate(values):
            for b, vb in values[i + 1:]:
                if va == vb:
                    continue
                found = [(f"{run.label} ({why})", loss)
                         for run in (a, b) for why, loss in _losses_for(run, [a, b])
                         if _covers(loss.field, key)]
                if found:
                    because.update(dict.fromkeys(found))
                else:
                    unexplained.append((a.label, b.label))
        out.append(Difference(key, tuple((run.label, value) for run, value in values),
                              tuple(because), tuple(unexplained)))
    return tuple(out)
