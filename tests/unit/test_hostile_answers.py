"""Whole clients, sync and async, against a server that lies (issue 11.4 and 11.5): an
answer about another image, unknown enum values that must not pile up in memory, a
download with nothing to verify or no end. The server is scripted per test
(``tests/unit/scripted.py``, an ``httpx.MockTransport``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imgcompat.core.download import Verification
from imgcompat.core.enums import Status
from imgcompat.core.errors import (
    ImageIdMismatch,
    ImageNotVerifiable,
    ImageTooLarge,
    InvalidResponse,
    InvalidServerRecord,
)
from imgcompat.core.integrity import Verified
from imgcompat.core.model import Image
from tests.unit.scripted import DATA, IMAGE_A, IMAGE_B, ScriptedGlance, endless, v2_record


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def call(glance: ScriptedGlance, mode: str, method: str, *args: Any, **kw: Any) -> Any:
    """``client.method(*args, **kw)`` with the sync client, or awaited with the async one."""
    if mode == "sync":
        with glance.client() as client:
            return getattr(client, method)(*args, **kw)

    async def run() -> Any:
        async with glance.aclient() as client:
            return await getattr(client, method)(*args, **kw)

    return asyncio.run(run())


# ------------------------------------------------------------------ another image's answer


def answering_b(_asked: str) -> dict[str, Any]:
    return v2_record(IMAGE_B, name="not the image you asked for")


def test_show_answered_with_another_image_is_refused(mode: str) -> None:
    glance = ScriptedGlance()
    glance.record = answering_b
    with pytest.raises(ImageIdMismatch) as info:
        call(glance, mode, "show", IMAGE_A)
    assert isinstance(info.value, InvalidResponse)
    assert info.value.expected == IMAGE_A
    assert info.value.actual == IMAGE_B
    assert info.value.image_id == IMAGE_A
    assert IMAGE_B in str(info.value)


def test_download_of_another_image_fetches_no_byte(mode: str, tmp_path: Path) -> None:
    glance = ScriptedGlance()
    glance.record = answering_b
    dest = tmp_path / "image.raw"
    with pytest.raises(ImageIdMismatch):
        call(glance, mode, "download", IMAGE_A, dst_path=dest)
    assert glance.file_requests() == 0
    assert list(tmp_path.iterdir()) == []


def test_update_whose_reread_names_another_image_sends_no_patch(mode: str) -> None:
    glance = ScriptedGlance()
    glance.record = answering_b
    with pytest.raises(ImageIdMismatch):
        call(glance, mode, "update", IMAGE_A, Image(name="renamed"))
    assert [m for m, _ in glance.requests if m == "PATCH"] == []


def test_patch_answered_with_another_image_is_refused(mode: str) -> None:
    glance = ScriptedGlance()
    answers = iter([v2_record(IMAGE_A), v2_record(IMAGE_B)])  # the re-read, then the PATCH
    glance.record = lambda _id: next(answers)
    with pytest.raises(ImageIdMismatch):
        call(glance, mode, "update", IMAGE_A, Image(name="renamed"))


def test_the_same_uuid_in_another_spelling_is_the_same_image(mode: str) -> None:
    glance = ScriptedGlance()
    glance.record = lambda asked: v2_record(asked.lower())
    image = call(glance, mode, "show", IMAGE_A.upper())
    assert image.id == IMAGE_A


# ------------------------------------------------------------------ enums: no slow leak


def grown(action: Callable[[], None], warm_up: Callable[[], None] | None = None) -> int:
    """Bytes still allocated after ``action`` and a full collection (first-use caches
    filled by ``warm_up``, not counted)."""
    gc.collect()
    tracemalloc.start()
    try:
        if warm_up is not None:
            warm_up()
            gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def shows(glance: ScriptedGlance, mode: str, count: int, *,
          refused: type[Exception] | None = None) -> Callable[[], None]:
    """``count`` shows through one client (each refused with ``refused``, if given)."""

    def one(show: Callable[[], Any]) -> Any:
        if refused is None:
            return show()
        with pytest.raises(refused):
            return show()

    def run() -> None:
        if mode == "sync":
            with glance.client() as client:
                for _ in range(count):
                    one(lambda: client.show(IMAGE_A))
            return

        async def go() -> None:
            async with glance.aclient() as client:
                for _ in range(count):
                    if refused is None:
                        await client.show(IMAGE_A)
                    else:
                        with pytest.raises(refused):
                            await client.show(IMAGE_A)

        asyncio.run(go())

    return run


def test_fresh_64k_statuses_do_not_pile_up(mode: str) -> None:
    glance = ScriptedGlance()
    count = iter(range(10**9))
    glance.record = lambda asked: v2_record(asked, status=f"s{next(count):08d}" * 7282)
    # 300 answers of 64 KiB statuses: 19 MiB of text went through (57 MiB once stayed)
    assert grown(shows(glance, mode, 300, refused=InvalidServerRecord)) < 8 * 1024 * 1024


def test_fresh_64k_statuses_do_not_pile_up_past_the_schema() -> None:
    # the enum itself, for a caller or codec that skips the schema
    def mint() -> None:
        for i in range(1000):
            assert not Status(f"s{i:08d}" * 7282).known

    # 64 MiB of statuses minted (192 MiB once stayed)
    assert grown(mint) < 8 * 1024 * 1024


def test_fresh_short_unknown_values_are_carried_but_not_kept(mode: str) -> None:
    glance = ScriptedGlance()
    count = iter(range(10**9))
    tag = uuid.uuid4().hex[:8]  # values no earlier test minted
    glance.record = lambda asked: v2_record(asked, status=f"st_{tag}_{next(count)}",
                                            disk_format=f"df_{tag}_{next(count)}")
    image = call(glance, mode, "show", IMAGE_A)
    assert image.status == f"st_{tag}_0"
    assert not image.status.known
    assert image.disk_format == f"df_{tag}_1"
    # 1,000 fresh values per 500 answers: about 400 KiB once stayed
    assert grown(shows(glance, mode, 500), warm_up=shows(glance, mode, 200)) < 128 * 1024


# ------------------------------------------------------------------ downloads


def no_digest(asked: str) -> dict[str, Any]:
    return v2_record(asked, checksum=None, os_hash_algo=None, os_hash_value=None)


def test_download_with_nothing_to_verify_is_refused_when_required(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    glance = ScriptedGlance()
    glance.record = no_digest
    dest = tmp_path / "image.raw"
    with pytest.raises(ImageNotVerifiable) as info:
        call(glance, mode, "download", IMAGE_A, dst_path=dest, require_verified=True)
    assert info.value.image_id == IMAGE_A
    assert list(tmp_path.iterdir()) == []
    assert any(IMAGE_A in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_download_with_nothing_to_verify_succeeds_by_default_with_a_warning(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="imgcompat")
    glance = ScriptedGlance()
    glance.record = no_digest
    result = call(glance, mode, "download", IMAGE_A, dst_path=tmp_path / "x")
    assert isinstance(result, Verified)
    assert not result.verified
    assert (tmp_path / "x").read_bytes() == DATA
    assert any(IMAGE_A in r.getMessage() and "NOT verified" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


def test_download_of_no_size_and_an_endless_body_stops_at_max_size(
    mode: str, tmp_path: Path
) -> None:
    glance = ScriptedGlance()
    glance.record = lambda asked: v2_record(asked, data=None)  # size null, no checksum
    glance.file = lambda _id: ({}, endless())
    with pytest.raises(ImageTooLarge) as info:
        call(glance, mode, "download", IMAGE_A, dst_path=tmp_path / "x",
             max_size=2 * 1024 * 1024)
    assert info.value.limit == 2 * 1024 * 1024
    assert list(tmp_path.iterdir()) == []


def test_download_checks_the_strongest_digest_unless_asked_for_all(
    mode: str, tmp_path: Path
) -> None:
    glance = ScriptedGlance()
    strongest = call(glance, mode, "download", IMAGE_A, dst_path=tmp_path / "a")
    assert set(strongest.checked) == {"sha512"}
    assert strongest.skipped == ("md5",)
    every = call(glance, mode, "download", IMAGE_A, dst_path=tmp_path / "b",
                 verification=Verification.ALL)
    assert set(every.checked) == {"md5", "sha512"}
    assert every.skipped == ()
