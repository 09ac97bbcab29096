"""Uploads through the real clients against the emulator, on v1 and v2: digests computed on
the fly agree with the server's record, and a failed snapshot leaves no record behind."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import tenacity

from imgcompat.core.download import Verification
from imgcompat.core.enums import Status
from imgcompat.core.errors import ChecksumMismatch, ImgcompatError, SizeMismatch
from imgcompat.core.model import Image
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.shell.upload import upload_source
from imgcompat.testing.data import Stored
from tests.faults.faultkit import DATA, SIZE, Glance

MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
RAW = Image(name="up", disk_format="raw", container_format="bare")


def client(g: Glance) -> ImageClient:
    return ImageClient(g.url, backoff=tenacity.wait_none())


def pieces(data: bytes = DATA, size: int = 100_003) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def assert_stored(g: Glance, image: Image) -> None:
    assert image.status == Status.ACTIVE
    assert image.size == SIZE
    assert image.checksum == MD5
    if g.api == "v2":
        assert (image.os_hash_algo, image.os_hash_value) == ("sha512", SHA512)


def live_ids(g: Glance) -> set[str]:
    return {r.id for r in g.emulator.store.all() if not r.gone}


@pytest.mark.parametrize("kind", ["path", "bytes", "file", "iterator"])
def test_create_with_data_from_every_source(g: Glance, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "img"
    path.write_bytes(DATA)
    data: Any = {"path": path, "bytes": DATA, "iterator": pieces()}.get(kind)
    with client(g) as c:
        if kind == "file":
            with path.open("rb") as fh:
                image = c.create(RAW, data=fh)
        else:
            image = c.create(RAW, data=data)
        assert_stored(g, image)
        assert image.id is not None
        assert b"".join(c.download(image.id)) == DATA  # type: ignore[arg-type]


def test_upload_into_a_queued_image_with_unknown_size(g: Glance) -> None:
    with client(g) as c:
        queued = c.create(RAW, activate_empty=False)
        assert queued.id is not None
        image = c.upload(queued.id, pieces())
        assert_stored(g, image)


async def test_async_upload_from_an_async_iterator(g: Glance) -> None:
    async def agen() -> AsyncIterator[bytes]:
        for piece in pieces():
            yield piece

    async with AsyncImageClient(g.url, backoff=tenacity.wait_none()) as c:
        queued = await c.create(RAW, activate_empty=False)
        assert queued.id is not None
        image = await c.upload(queued.id, agen())
        assert_stored(g, image)


def test_server_record_disagreeing_with_the_bytes_raises(
    g: Glance, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = g.emulator.finish_upload

    def lying(image_id: str, stored: Stored) -> Any:
        return real(image_id, attrs.evolve(stored, md5="0" * 32))

    monkeypatch.setattr(g.emulator, "finish_upload", lying)
    with client(g) as c, pytest.raises(ChecksumMismatch) as info:
        c.create(RAW, data=DATA, verification=Verification.ALL)
    assert (info.value.expected, info.value.actual) == (MD5, "0" * 32)


def test_a_wrong_strongest_digest_raises_by_default(
    g: Glance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default policy computes the strongest digest the API publishes (md5 on v1,
    sha512 on v2) and holds the record to it."""
    real = g.emulator.finish_upload
    algorithm, value = ("md5", "0" * 32) if g.api == "v1" else ("sha512", "0" * 128)

    def lying(image_id: str, stored: Stored) -> Any:
        lie = (attrs.evolve(stored, md5=value) if algorithm == "md5"
               else attrs.evolve(stored, sha512=value))
        return real(image_id, lie)

    monkeypatch.setattr(g.emulator, "finish_upload", lying)
    with client(g) as c, pytest.raises(ChecksumMismatch) as info:
        c.create(RAW, data=DATA)
    assert (info.value.algorithm, info.value.actual) == (algorithm, value)


@pytest.mark.parametrize("verification", [Verification.STRONGEST, Verification.ALL])
def test_uploads_verify_what_the_policy_computes(
    g: Glance, verification: Verification, caplog: pytest.LogCaptureFixture
) -> None:
    """End to end through the client, create with data verifies on v1 and v2 under either
    policy, hashing only what the policy chose, and says nothing about it."""
    source = upload_source(DATA)
    with client(g) as c:
        image = c.create(RAW, data=source, verification=verification)
        assert_stored(g, image)
        if g.api == "v1":
            assert dict(source.digests) == {"md5": MD5}
        elif verification is Verification.ALL:
            assert dict(source.digests) == {"md5": MD5, "sha512": SHA512}
        else:
            assert dict(source.digests) == {"sha512": SHA512}
        assert image.id is not None
        queued = c.create(RAW, activate_empty=False)
        assert queued.id is not None
        assert_stored(g, c.upload(queued.id, pieces(), verification=verification))
    assert "uploaded but" not in caplog.text


def test_snapshot_whose_source_breaks_leaves_no_record(g: Glance) -> None:
    def broken() -> Iterator[bytes]:
        yield DATA[:1_000_000]
        raise OSError("the instance disk went away")

    before = live_ids(g)
    with client(g) as c, pytest.raises((OSError, ImgcompatError)):
        c.snapshot("snap", "instance-1", data=broken())
    assert live_ids(g) == before


def test_snapshot_with_a_wrong_declared_size_leaves_no_record(g: Glance) -> None:
    before = live_ids(g)
    with client(g) as c, pytest.raises((SizeMismatch, ImgcompatError)):
        c.snapshot("snap", "instance-1", data=pieces(), size=SIZE + 10)
    assert live_ids(g) == before


def test_snapshot_whose_record_check_fails_leaves_no_record(
    g: Glance, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = g.emulator.finish_upload
    monkeypatch.setattr(g.emulator, "finish_upload",
                        lambda i, s: real(i, attrs.evolve(s, size=s.size - 1)))
    before = live_ids(g)
    known = {r.id for r in g.emulator.store.all()}
    with client(g) as c, pytest.raises(SizeMismatch):
        c.snapshot("snap", "instance-1", data=DATA)
    assert live_ids(g) == before
    made = [r for r in g.emulator.store.all() if r.id not in known]
    assert made  # the record was created ...
    assert all(r.gone for r in made)  # ... and deleted again
