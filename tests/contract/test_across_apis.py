"""Emulator-only contract checks: the same records whichever API served them, the per-call-site
v1 pin sharing one client, discovery caching, warnings, and what went over the wire."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator

import attrs
import pytest
from tenacity import wait_none

from imgcompat.core.enums import Api
from imgcompat.core.errors import ImgcompatError
from imgcompat.core.model import Image
from imgcompat.core.seam import to_seam_dict
from imgcompat.core.translate import image_to_v1, image_to_v2
from imgcompat.shell.client import ImageClient
from imgcompat.testing import Emulator
from tests.contract.harness import build_client, payload

SERVER = "http://glance.test"
#: Different on two servers by nature, not by translation.
_PER_SERVER = {"id", "created_at", "updated_at"}


def _record() -> Image:
    return Image(name="same", disk_format="raw", container_format="bare", min_ram=64,
                 properties={"os_distro": "cirros", "hw_disk_bus": "virtio",
                             "block_device_mapping": [{"boot_index": 0}]})


def _explained(v2_record: Image, v1_record: Image) -> set[str]:
    """Fields a Loss report names when either record crosses to the other API."""
    losses = image_to_v1(v2_record).losses + image_to_v2(v1_record).losses
    fields = {loss.field.split(".")[0] for loss in losses}
    if "os_hash_value" in fields:  # the multihash loss covers the pair
        fields.add("os_hash_algo")
    return fields


def _differences(a: Image, b: Image, ignore: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    da, db = to_seam_dict(a), to_seam_dict(b)
    return {k for k in da if k not in ignore and da[k] != db[k]}


def test_one_image_read_through_v2_and_through_the_v1_pin() -> None:
    emulator = Emulator(api="both")
    client = ImageClient(SERVER, transport=emulator.sync_transport(), backoff=wait_none())
    made = client.create(_record(), payload(900))
    assert made.id is not None
    via_v1 = client.pinned("1").show(made.id)
    via_v2 = client.show(made.id)
    assert to_seam_dict(via_v2) == to_seam_dict(made)
    diff = _differences(via_v2, via_v1)
    assert diff <= _explained(via_v2, via_v1), diff
    assert diff <= {"os_hash_algo", "os_hash_value", "updated_at", "created_at"}
    assert via_v1.checksum == via_v2.checksum == hashlib.md5(payload(900)).hexdigest()


def test_the_same_record_in_every_mode() -> None:
    results: dict[str, Image] = {}
    for mode, pin in (("v1", None), ("v2", None), ("both", None), ("both", "1")):
        emulator = Emulator(api=mode)  # type: ignore[arg-type]
        client = ImageClient(SERVER, transport=emulator.sync_transport(), backoff=wait_none())
        view = client.pinned(pin)
        made = view.create(_record(), payload(900))
        assert made.id is not None
        results[f"{mode}/{pin}"] = view.show(made.id)
    v2 = results["v2/None"]
    assert _differences(v2, results["both/None"], _PER_SERVER) == set()
    assert _differences(results["v1/None"], results["both/1"], _PER_SERVER) == set()
    diff = _differences(v2, results["v1/None"], _PER_SERVER)
    assert diff <= _explained(v2, results["v1/None"]), diff
    assert diff == {"os_hash_algo", "os_hash_value"}


def test_a_v1_pin_at_one_call_site_shares_the_client(caplog: pytest.LogCaptureFixture) -> None:
    emulator = Emulator(api="both")
    client = ImageClient(SERVER, transport=emulator.sync_transport(), backoff=wait_none())
    legacy = client.pinned("1")  # e.g. a hypervisor driver that cannot use v2 yet
    with caplog.at_level(logging.WARNING, logger="imgcompat"):
        made = client.create(_record(), payload(10))
        assert made.id is not None
        legacy.show(made.id)
        legacy.show(made.id)
        client.pinned("1").detail().__next__()
    assert client.version_choice is not None
    assert client.version_choice.api is Api.V2
    assert legacy.version_choice is not None
    assert legacy.version_choice.api is Api.V1
    assert legacy._transport is client._transport  # one connection pool
    assert [r for r in emulator.requests if r[1] == "/"] == [("GET", "/")]  # one discovery
    paths = [path for _, path in emulator.requests]
    assert any(p.startswith("/v1/") for p in paths)
    assert any(p.startswith("/v2/") for p in paths)
    v1_warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(v1_warnings) == 1
    assert SERVER in v1_warnings[0].getMessage()


def test_v2_is_preferred_and_v1_only_when_v2_is_absent() -> None:
    both = ImageClient(SERVER, transport=Emulator(api="both").sync_transport())
    only_v1 = ImageClient(SERVER, transport=Emulator(api="v1").sync_transport())
    assert both.discover().api is Api.V2
    assert only_v1.discover().api is Api.V1


def test_a_versioned_url_works_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    emulator = Emulator(api="v2")
    with caplog.at_level(logging.WARNING, logger="imgcompat"):
        client = ImageClient(SERVER + "/v2", transport=emulator.sync_transport())
        client.show(client.create(_record(), payload(5)).id or "")
    assert any("unversioned root" in r.getMessage() for r in caplog.records)
    assert emulator.requests[0] == ("GET", "/")


def test_feature_checks_use_the_discovered_minor() -> None:
    emulator = Emulator(api="v2", v2_minor=5)
    losses: list[object] = []
    client = ImageClient(SERVER, transport=emulator.sync_transport(), on_loss=losses.extend)
    made = client.create(attrs.evolve(_record(), os_hidden=True), payload(50))
    assert client.discover().minor == 5
    assert made.os_hash_value is None  # no multihash before 2.7
    listing = client.detail({"os_hidden": True})
    assert [loss.field for loss in listing.losses] == ["os_hidden"]
    assert "os_hidden" in {getattr(loss, "field", None) for loss in losses}
    assert all("os_hidden" not in query for _, query in emulator.requests)


def test_an_update_without_changes_sends_no_patch() -> None:
    emulator = Emulator(api="v2")
    client = ImageClient(SERVER, transport=emulator.sync_transport())
    made = client.create(_record(), payload(5))
    assert made.id is not None
    before = len(emulator.requests)
    client.update(made.id, made)
    assert [m for m, _ in emulator.requests[before:]] == ["GET"]
    client.update(made.id, made.with_properties(os_distro="ubuntu"))
    assert [m for m, _ in emulator.requests[before + 1:]] == ["GET", "PATCH"]


def test_paging_sends_one_request_per_page() -> None:
    emulator = Emulator(api="v1")
    client = ImageClient(SERVER, transport=emulator.sync_transport())
    for i in range(5):
        client.create(attrs.evolve(_record(), name=f"p{i}"), payload(5))
    before = len(emulator.requests)
    listing = client.detail(page_size=2)
    assert len(emulator.requests) == before  # lazy: nothing fetched yet
    assert len(list(listing)) == 5
    pages = [p for _, p in emulator.requests[before:] if p == "/v1/images/detail"]
    assert len(pages) == 3  # 2 + 2 + 1 (a short page ends a v1 listing)


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_the_v1_warning_names_each_pinning_caller(
    flavor: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = Emulator(api="both")
    loop = asyncio.new_event_loop() if flavor == "async" else None
    transport = emulator.sync_transport() if flavor == "sync" else emulator.async_transport()
    try:
        client = build_client(flavor, SERVER, transport=transport, loop=loop)
        with caplog.at_level(logging.WARNING, logger="imgcompat"):
            made = client.create(_record(), payload(10))
            for _ in range(2):
                client.pinned("1", caller="xenapi driver").show(made.id)
            client.pinned("1", caller="hyperv driver").show(made.id)
            client.show(made.id)  # v2: no caller warning
    finally:
        if loop is not None:
            loop.close()
    named = [r.getMessage() for r in caplog.records if "pins the deprecated" in r.getMessage()]
    assert len(named) == 2, named
    assert named[0].startswith("xenapi driver pins the deprecated Glance v1 API at " + SERVER)
    assert named[1].startswith("hyperv driver pins")


@pytest.mark.parametrize("purge", [True, False])
def test_a_v1_update_that_changes_nothing_sends_no_put(purge: bool) -> None:
    emulator = Emulator(api="v1")
    client = ImageClient(SERVER, transport=emulator.sync_transport(), backoff=wait_none())
    made = client.create(_record(), payload(10))
    assert made.id is not None
    before = len(emulator.requests)
    assert client.update(made.id, made, purge_props=purge) == made
    assert [m for m, _ in emulator.requests[before:]] == ["HEAD"]  # the current record only
    changed = client.update(made.id, made.with_properties(extra="1"), purge_props=purge)
    assert changed.properties["extra"] == "1"
    assert "PUT" in [m for m, _ in emulator.requests[before:]]


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_a_500_on_download_is_tried_again(mode: str) -> None:
    """The reference: a 5xx on download (known Glance bugs) is retryable, then a typed error."""
    emulator = Emulator(api=mode)  # type: ignore[arg-type]
    client = ImageClient(SERVER, transport=emulator.sync_transport(), backoff=wait_none(),
                         num_retries=1)
    made = client.create(_record(), payload(300))
    assert made.id is not None
    chunks = client.download(made.id)  # the record is read now; the bytes on iteration
    assert isinstance(chunks, Iterator)
    emulator.faults.fail_next(1, status=500)
    assert b"".join(chunks) == payload(300)
    assert emulator.faults.take_failure() is None  # the 500 was served, then tried again
    chunks = client.download(made.id)
    assert isinstance(chunks, Iterator)
    emulator.faults.fail_next(2, status=500)  # num_retries=1: two answers, both 500
    with pytest.raises(ImgcompatError) as info:
        b"".join(chunks)
    assert "500" in str(info.value)
