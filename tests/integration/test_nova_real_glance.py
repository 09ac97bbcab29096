"""``imgcompat.nova.ImageService`` on a real Glance v2: the same life cycle as on the emulator,
the context's headers on the wire (recorded under the real transport), and the server's own
request id on a typed error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tenacity import wait_fixed

from imgcompat import Api, ImageNotFound
from imgcompat.nova import ImageService
from tests.unit.test_nova_seam import Context, nova_snapshot_meta, run_life_cycle
from tests.unit.test_request_views import Recording, rid

pytestmark = pytest.mark.integration


@pytest.fixture
def recorded(real_glance_url: str) -> Iterator[tuple[ImageService, Recording]]:
    recording = Recording(httpx.HTTPTransport())
    # a short backoff: a real server needs a moment after an aborted upload (see README)
    with ImageService(real_glance_url, transport=recording, backoff=wait_fixed(0.3),
                      service_token=lambda: "nova-service-token") as service:
        yield service, recording


def test_life_cycle_on_real_glance_with_the_context_headers(
        recorded: tuple[ImageService, Recording], tmp_path: Path) -> None:
    service, recording = recorded
    ctx = Context(auth_token="user-token", global_id=rid(), request_id=rid())
    run_life_cycle(service, ctx, tmp_path)
    choice = service.client.version_choice
    assert choice is not None
    assert choice.api is Api.V2
    assert {(token, svc, req) for _m, _p, token, svc, req in recording.seen} == {
        ("user-token", "nova-service-token", ctx.global_id)}


def test_a_typed_error_names_both_request_ids(
        recorded: tuple[ImageService, Recording]) -> None:
    service, _ = recorded
    ctx = Context(auth_token="user-token", global_id=rid())
    with pytest.raises(ImageNotFound) as info:
        service.show(ctx, str(uuid.uuid4()))
    assert info.value.request_id == ctx.global_id
    theirs = info.value.server_request_id
    assert theirs is not None
    assert theirs.startswith("req-")
    assert theirs != ctx.global_id


def test_size_zero_makes_an_empty_active_image_on_real_glance(
        recorded: tuple[ImageService, Recording]) -> None:
    service, _ = recorded
    ctx = Context(auth_token="user-token")
    meta = {**nova_snapshot_meta("volume-backed", uuid.uuid4().hex), "size": "0"}
    made = service.create(ctx, meta)
    try:
        assert made["status"] == "active"
        assert made["size"] == 0
        assert made["disk_format"] is not None
    finally:
        service.delete(ctx, made["id"])
