"""An upload hashes only the digests its verification policy will compare (issue 13): the
rule, the plan step carrying it, the upload source computing it, the check of the record,
and the one warning an upload nothing could verify gets (both clients, a scripted server)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx
import pytest
import tenacity

from imgcompat.core import plan
from imgcompat.core.dialect import dialect_for
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.download import Verification
from imgcompat.core.enums import Api
from imgcompat.core.errors import ChecksumMismatch, DigestNotComputed, SizeMismatch
from imgcompat.core.integrity import UPLOAD_DIGESTS, verify_upload
from imgcompat.core.model import Image
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.shell.upload import UploadSource, check_uploaded, upload_source
from imgcompat.testing import ApiMode, Emulator

DATA = os.urandom(200_000)
MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
V1 = VersionChoice(Api.V1, 1, "http://g", "test")
V2 = VersionChoice(Api.V2, 17, "http://g", "test")
V2_PRE_ROCKY = VersionChoice(Api.V2, 6, "http://g", "test")
ID = "0f0e0d0c-0000-4000-8000-000000000001"
TOKEN = "gAAAAABupload-token-0123456789"


def read(source: UploadSource) -> UploadSource:
    for _ in source.iter_chunks():
        pass
    return source


def record(**kw: Any) -> Image:
    base: dict[str, Any] = {"id": ID, "size": len(DATA), "checksum": MD5,
                            "os_hash_algo": "sha512", "os_hash_value": SHA512}
    base.update(kw)
    return Image(**base)


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize(("choice", "verification", "digests"), [
    (V1, Verification.STRONGEST, ("md5",)),
    (V1, Verification.ALL, ("md5",)),
    (V2, Verification.STRONGEST, ("sha512",)),
    (V2, Verification.ALL, ("md5", "sha512")),
    (V2_PRE_ROCKY, Verification.STRONGEST, ("md5",)),
    (V2_PRE_ROCKY, Verification.ALL, ("md5",)),
])
def test_the_digests_an_upload_computes(choice: VersionChoice, verification: Verification,
                                        digests: tuple[str, ...]) -> None:
    assert plan.upload_digests(choice, verification) == digests
    op = plan.upload_op(choice, ID, DATA, verification=verification)
    step = next(op)
    assert isinstance(step, plan.Upload)
    assert step.digests == digests


def test_the_default_is_the_strongest() -> None:
    assert plan.upload_digests(V2) == ("sha512",)
    step = next(plan.upload_op(V2, ID, DATA))
    assert isinstance(step, plan.Upload)
    assert step.digests == ("sha512",)


def test_what_each_api_publishes() -> None:
    assert dialect_for(V1).published_digests == ("md5",)
    assert dialect_for(V2).published_digests == UPLOAD_DIGESTS == ("md5", "sha512")
    assert dialect_for(V2_PRE_ROCKY).published_digests == ("md5",)


@pytest.mark.parametrize("published", [(), ("md5",), ("md5", "sha512"), ("md5", "sha256")])
def test_the_rule_picks_from_what_is_published(published: tuple[str, ...]) -> None:
    strongest = Verification.STRONGEST.upload_digests(published)
    every = Verification.ALL.upload_digests(published)
    assert every == published
    assert set(strongest) <= set(every)
    assert len(strongest) == min(1, len(published))
    if len(published) > 1:
        assert strongest == published[-1:]


def test_create_update_and_snapshot_carry_the_choice() -> None:
    queued = json.dumps({"id": ID, "name": "n", "status": "queued", "visibility": "private",
                         "protected": False, "checksum": None, "size": None,
                         "min_ram": 0, "min_disk": 0, "disk_format": "raw",
                         "container_format": "bare", "owner": None, "tags": [],
                         "created_at": "2026-01-01T00:00:00Z",
                         "updated_at": "2026-01-01T00:00:00Z", "virtual_size": None}).encode()
    answer = plan.Response(201, (("content-type", "application/json"),), queued)
    for op in (plan.create_op(V2, Image(name="n"), DATA, verification=Verification.ALL),
               plan.snapshot_op(V2, plan.snapshot_image("s", "i"), DATA,
                                verification=Verification.ALL)):
        step = next(op)
        while not isinstance(step, plan.Upload):
            assert isinstance(step, plan.Request)
            step = op.send(answer if step.method == "POST" else
                           plan.Response(200, answer.headers, answer.body))
        assert step.digests == ("md5", "sha512")
    update = plan.update_op(V2, ID, {"name": "m"}, DATA, current=record(name="n"),
                            verification=Verification.STRONGEST)
    step = next(update)
    assert isinstance(step, plan.Request)
    step = update.send(plan.Response(200, answer.headers, answer.body))
    assert isinstance(step, plan.Upload)
    assert step.digests == ("sha512",)


# ------------------------------------------------------------------ the upload source


def test_a_source_computes_exactly_the_digests_asked() -> None:
    only = read(upload_source(DATA, digests=("sha512",)))
    assert dict(only.digests) == {"sha512": SHA512}
    assert only.sha512 == SHA512
    with pytest.raises(DigestNotComputed) as info:
        _ = only.md5
    assert isinstance(info.value, LookupError)
    assert "Verification.ALL" in str(info.value)
    assert info.value.computed == ("sha512",)
    v1 = read(upload_source(DATA, digests=("md5",)))
    assert dict(v1.digests) == {"md5": MD5}
    with pytest.raises(DigestNotComputed):
        _ = v1.sha512
    both = read(upload_source(DATA))
    assert dict(both.digests) == {"md5": MD5, "sha512": SHA512}


async def test_the_async_twin_computes_the_same() -> None:
    async def agen() -> AsyncIterator[bytes]:
        for i in range(0, len(DATA), 7777):
            yield DATA[i:i + 7777]

    for data in (DATA, agen()):
        source = upload_source(data, digests=("sha512",))
        assert b"".join([c async for c in source.aiter_chunks()]) == DATA
        assert dict(source.digests) == {"sha512": SHA512}


def test_a_source_refuses_digests_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match="at least one digest"):
        upload_source(DATA, digests=())
    with pytest.raises(ValueError, match="no-such-hash"):
        upload_source(DATA, digests=("no-such-hash",))
    with pytest.raises(TypeError):
        upload_source(DATA, digests="sha512")


def test_a_source_passed_in_takes_the_plan_s_choice_for_its_next_read() -> None:
    source = read(upload_source(DATA))
    assert upload_source(source, digests=("sha512",)) is source
    assert set(source.digests) == {"md5", "sha512"}  # the read done stays as it was
    read(source)
    assert dict(source.digests) == {"sha512": SHA512}
    assert upload_source(source) is source  # no choice given: unchanged
    assert source.computes == ("sha512",)


def test_digests_before_the_end_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = upload_source(DATA).digests


# ------------------------------------------------------------------ the check


def test_the_strongest_upload_checks_sha512_and_skips_md5() -> None:
    source = read(upload_source(DATA, digests=("sha512",)))
    result = check_uploaded(source, record())
    assert dict(result.checked) == {"sha512": SHA512}
    assert result.skipped == ("md5",)
    assert result.unverified == ()
    assert result.reason == "verified (sha512); not computed: md5"


def test_a_wrong_sha512_in_the_record_raises() -> None:
    source = read(upload_source(DATA, digests=("sha512",)))
    with pytest.raises(ChecksumMismatch) as info:
        check_uploaded(source, record(os_hash_value="0" * 128))
    assert (info.value.expected, info.value.actual) == (SHA512, "0" * 128)
    with pytest.raises(SizeMismatch):
        check_uploaded(source, record(size=len(DATA) + 1))
    # a wrong md5 was not computed, so it cannot be caught: it is only skipped
    assert check_uploaded(source, record(checksum="0" * 32)).skipped == ("md5",)


def test_a_v1_upload_checks_md5() -> None:
    source = read(upload_source(DATA, digests=("md5",)))
    v1_record = record(os_hash_algo=None, os_hash_value=None)
    assert dict(check_uploaded(source, v1_record).checked) == {"md5": MD5}
    with pytest.raises(ChecksumMismatch):
        check_uploaded(source, attrs.evolve(v1_record, checksum="0" * 32))


def test_a_pre_rocky_record_after_a_sha512_upload_is_unverified_with_the_remedy() -> None:
    source = read(upload_source(DATA, digests=("sha512",)))
    result = check_uploaded(source, record(os_hash_algo=None, os_hash_value=None))
    assert not result.verified
    assert result.skipped == ("md5",)
    assert any("publishes md5" in why and "Verification.ALL" in why
               for why in result.unverified)
    assert result.reason.startswith("NOT verified")
    every = read(upload_source(DATA, digests=("md5", "sha512")))
    assert dict(check_uploaded(every, record(os_hash_algo=None,
                                             os_hash_value=None)).checked) == {"md5": MD5}


def test_a_server_hashing_with_sha256_after_a_sha512_upload() -> None:
    source = read(upload_source(DATA, digests=("sha512",)))
    result = check_uploaded(source, record(
        os_hash_algo="sha256", os_hash_value=hashlib.sha256(DATA).hexdigest()))
    assert not result.verified
    assert any("sha256" in why for why in result.unverified)
    assert any("Verification.ALL to compute md5" in why for why in result.unverified)


def test_a_record_with_no_checksum_says_no_policy_would_help() -> None:
    source = read(upload_source(DATA, digests=("sha512",)))
    result = check_uploaded(source, record(checksum=None, os_hash_algo=None,
                                           os_hash_value=None))
    assert not result.verified
    assert result.skipped == ()
    assert any("no checksum" in why and "Verification.ALL would not help" in why
               for why in result.unverified)


def test_verify_upload_is_the_pure_rule() -> None:
    result = verify_upload(len(DATA), {"md5": MD5, "sha512": SHA512}, record())
    assert dict(result.checked) == {"md5": MD5, "sha512": SHA512}
    assert result.skipped == ()


# ------------------------------------------------------------------ both clients


def _scripted(record_doc: dict[str, Any]) -> httpx.MockTransport:
    """A v2.17 server creating ``ID`` and answering its read with ``record_doc``."""
    entity = {"id": ID, "name": "n", "status": "queued", "visibility": "private",
              "protected": False, "os_hidden": False, "tags": [], "min_disk": 0,
              "min_ram": 0, "size": None, "checksum": None, "os_hash_algo": None,
              "os_hash_value": None, "disk_format": "raw", "container_format": "bare",
              "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
              "self": f"/v2/images/{ID}", "file": f"/v2/images/{ID}/file",
              "schema": "/v2/schemas/image"}

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/":
            return httpx.Response(300, json={"versions": [{
                "id": "v2.17", "status": "CURRENT",
                "links": [{"rel": "self", "href": "http://glance.test/v2/"}]}]})
        if request.method == "POST" and path == "/v2/images":
            return httpx.Response(201, json=entity)
        if request.method == "PUT" and path == f"/v2/images/{ID}/file":
            assert request.content == DATA
            return httpx.Response(204)
        if request.method == "GET" and path == f"/v2/images/{ID}":
            return httpx.Response(200, json={**entity, **record_doc})
        return httpx.Response(404, json={"message": "not scripted"})

    return httpx.MockTransport(handle)


#: Publishes md5 only (a pre-Rocky record), with the caller's token in its text.
MD5_ONLY_WITH_TOKEN = {"status": "active", "size": len(DATA), "checksum": MD5,
                       "os_hash_algo": f"x-{TOKEN}", "os_hash_value": None}


def _upload_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "uploaded but" in r.getMessage()]


def test_an_unverified_upload_is_one_warning_without_the_token(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="imgcompat")
    with ImageClient("http://glance.test", transport=_scripted(MD5_ONLY_WITH_TOKEN),
                     token=TOKEN, backoff=tenacity.wait_none()) as client:
        made = client.create(Image(name="n", disk_format="raw", container_format="bare"),
                             DATA)
    assert made.checksum == MD5
    warnings = _upload_warnings(caplog)
    assert len(warnings) == 1
    assert f"image {ID}: uploaded but NOT verified" in warnings[0]
    assert "Verification.ALL" in warnings[0]
    assert TOKEN not in caplog.text
    assert "x-" in warnings[0]  # the record's text is there, its secret is not


def test_the_async_client_warns_the_same(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="imgcompat")

    async def run() -> Image:
        async with AsyncImageClient("http://glance.test", token=TOKEN,
                                    transport=_scripted(MD5_ONLY_WITH_TOKEN),
                                    backoff=tenacity.wait_none()) as client:
            return await client.create(
                Image(name="n", disk_format="raw", container_format="bare"), DATA)

    assert asyncio.run(run()).checksum == MD5
    warnings = _upload_warnings(caplog)
    assert len(warnings) == 1
    assert "Verification.ALL" in warnings[0]
    assert TOKEN not in caplog.text


def test_all_verifies_the_same_record_without_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="imgcompat")
    with ImageClient("http://glance.test", transport=_scripted(MD5_ONLY_WITH_TOKEN),
                     token=TOKEN, backoff=tenacity.wait_none()) as client:
        client.create(Image(name="n", disk_format="raw", container_format="bare"), DATA,
                      verification=Verification.ALL)
    assert _upload_warnings(caplog) == []


def test_a_wrong_sha512_fails_the_client_call() -> None:
    lying = {"status": "active", "size": len(DATA), "checksum": MD5,
             "os_hash_algo": "sha512", "os_hash_value": "0" * 128}
    with ImageClient("http://glance.test", transport=_scripted(lying),
                     backoff=tenacity.wait_none()) as client, \
            pytest.raises(ChecksumMismatch) as info:
        client.create(Image(name="n", disk_format="raw", container_format="bare"), DATA)
    assert info.value.algorithm == "sha512"


@pytest.mark.parametrize("api", ["v1", "v2", "both"])
def test_an_empty_upload_the_server_never_read_is_still_checked(api: ApiMode) -> None:
    """Nothing to send: a server may answer without reading the (empty) body; the source's
    digests are those of nothing, not a bare RuntimeError."""
    client = ImageClient("http://glance.test", transport=Emulator(api=api).sync_transport())
    image = client.create(Image(name="empty", disk_format="raw", container_format="bare"),
                          data=b"")
    assert image.size in (0, None)


def test_data_the_server_did_not_read_is_a_typed_error() -> None:
    from imgcompat.core.errors import UnexpectedResponse

    source = UploadSource(b"abc", digests=("sha512",))
    with pytest.raises(UnexpectedResponse, match="without reading all of its data"):
        check_uploaded(source, Image(id="i-1", size=3))
