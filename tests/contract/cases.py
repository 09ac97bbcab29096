"""The seam contract, written once (``seam-contract.md``).

:class:`ContractCases` is run against the emulator in every mode with both clients
(``test_contract.py``) and, for v2, against the real Glance (``tests/integration``). A case
only uses the seam; what only the emulator can show (request counts, faults) lives in the
emulator-only tests.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from imgcompat.core.download import Verification
from imgcompat.core.enums import Api, DiskFormat, Status, Visibility
from imgcompat.core.errors import (
    Conflict,
    ImageNotAuthorized,
    ImageNotFound,
    ImageUnacceptable,
    Invalid,
    InvalidRecord,
)
from imgcompat.core.plan import EMPTY_IMAGE_DISK_FORMATS
from imgcompat.core.seam import to_seam_dict
from imgcompat.shell.upload import upload_source
from tests.contract.harness import Glance, payload


class ContractCases:
    """Every seam operation, through whichever API the harness speaks."""

    # ------------------------------------------------------------------ create / show

    def test_create_with_data_is_active_and_matches_show(self, glance: Glance) -> None:
        data = payload(3000)
        made = glance.create(glance.record("data", os_distro="cirros"), data)
        assert made.status == Status.ACTIVE
        assert made.size == 3000
        assert made.checksum == hashlib.md5(data).hexdigest()
        assert made.properties["os_distro"] == "cirros"
        assert made.visibility == Visibility.PRIVATE
        assert made.is_public is False
        assert made.deleted is False
        if glance.api is Api.V2:
            assert made.os_hash_algo == "sha512"
            assert made.os_hash_value == hashlib.sha512(data).hexdigest()
        else:
            assert made.os_hash_value is None  # v1 has no multihash
        assert made.id is not None
        assert to_seam_dict(glance.client.show(made.id)) == to_seam_dict(made)

    @pytest.mark.parametrize("verification", [Verification.STRONGEST, Verification.ALL])
    def test_create_with_data_hashes_what_the_policy_compares(
            self, glance: Glance, verification: Verification,
            caplog: pytest.LogCaptureFixture) -> None:
        data = payload(5000, "policy")
        source = upload_source(data)
        made = glance.create(glance.record("policy"), source, verification=verification)
        assert made.status == Status.ACTIVE
        md5, sha512 = hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()
        if glance.api is Api.V1:  # a v1 record publishes md5 alone
            assert dict(source.digests) == {"md5": md5}
        elif verification is Verification.ALL:
            assert dict(source.digests) == {"md5": md5, "sha512": sha512}
        else:  # the strongest only: the multihash
            assert dict(source.digests) == {"sha512": sha512}
        assert "uploaded but" not in caplog.text  # every upload was verified

    def test_size_zero_without_data_ends_active(self, glance: Glance) -> None:
        record = attrs.evolve(glance.record("empty", block_device_mapping=[
            {"source_type": "volume", "boot_index": 0}]), disk_format=None,
            container_format=None, size=0)
        made = glance.create(record)
        assert made.status == Status.ACTIVE
        assert made.container_format == "bare"
        assert made.disk_format in EMPTY_IMAGE_DISK_FORMATS
        assert made.properties["block_device_mapping"] == (
            {"source_type": "volume", "boot_index": 0},)

    def test_reserve_then_upload(self, glance: Glance) -> None:
        queued = glance.create(glance.record("reserve"), activate_empty=False)
        assert queued.status == Status.QUEUED
        assert queued.checksum is None
        assert queued.id is not None
        data = payload(2048, "up")
        active = glance.client.upload(queued.id, data)
        assert active.status == Status.ACTIVE
        assert active.checksum == hashlib.md5(data).hexdigest()

    def test_upload_to_an_active_image_is_a_conflict(self, glance: Glance) -> None:
        made = glance.create(glance.record("twice"), payload(100))
        assert made.id is not None
        with pytest.raises(Conflict) as info:
            glance.client.upload(made.id, payload(100))
        assert info.value.image_id == made.id
        assert info.value.status == 409

    def test_create_with_a_bad_format_is_invalid(self, glance: Glance) -> None:
        with pytest.raises(Invalid) as info:
            glance.create(attrs.evolve(glance.record("bad"), disk_format=DiskFormat("nonsense")))
        assert info.value.status == 400
        assert info.value.message

    @pytest.mark.parametrize("bad_id", ["../images", "a/b", "x?marker=1", "a#b", "", "..", "a..b"])
    def test_unsafe_ids_never_reach_a_url(self, glance: Glance, bad_id: str) -> None:
        before = list(glance.emulator.requests) if glance.emulator else None
        with pytest.raises(InvalidRecord):
            glance.client.show(bad_id)
        with pytest.raises(InvalidRecord):
            glance.client.delete(bad_id)
        if glance.emulator is not None:
            assert [r for r in glance.emulator.requests if r[1] != "/"] == [
                r for r in (before or []) if r[1] != "/"]

    # ------------------------------------------------------------------ update

    def test_update_purges_properties_by_default(self, glance: Glance) -> None:
        made = glance.create(glance.record("purge", keep="1", drop="2"), payload(10))
        assert made.id is not None
        wanted = made.with_properties(drop=None, keep="one", added="3")
        updated = glance.client.update(made.id, wanted)
        assert dict(updated.properties) == {"contract_run": glance.run, "keep": "one",
                                            "added": "3"}
        assert to_seam_dict(glance.client.show(made.id)) == to_seam_dict(updated)

    def test_update_without_purge_keeps_other_properties(self, glance: Glance) -> None:
        made = glance.create(glance.record("merge", keep="1", other="2"), payload(10))
        assert made.id is not None
        wanted = attrs.evolve(made, name=f"renamed-{glance.run}",
                              properties={"keep": "changed", "added": "x"})
        updated = glance.client.update(made.id, wanted, purge_props=False)
        assert updated.name == f"renamed-{glance.run}"
        assert dict(updated.properties) == {"contract_run": glance.run, "keep": "changed",
                                            "other": "2", "added": "x"}

    def test_update_with_nothing_to_change_returns_the_record(self, glance: Glance) -> None:
        made = glance.create(glance.record("same", a="1"), payload(10))
        assert made.id is not None
        assert to_seam_dict(glance.client.update(made.id, made)) == to_seam_dict(made)

    def test_update_with_data_uploads_into_a_queued_image(self, glance: Glance) -> None:
        queued = glance.create(glance.record("upd-data"), activate_empty=False)
        assert queued.id is not None
        data = payload(512, "upd")
        updated = glance.client.update(queued.id, queued.with_properties(extra="y"), data)
        assert updated.status == Status.ACTIVE
        assert updated.properties["extra"] == "y"
        assert updated.checksum == hashlib.md5(data).hexdigest()

    # ------------------------------------------------------------------ update of a held record

    def _methods_since(self, glance: Glance, before: int) -> list[str] | None:
        """The methods the server saw since ``before`` (None on a real Glance)."""
        if glance.emulator is None:
            return None
        return [method for method, _ in glance.emulator.requests[before:]]

    def _sent(self, glance: Glance) -> int:
        return len(glance.emulator.requests) if glance.emulator else 0

    def test_update_of_a_held_record_reads_nothing_first(self, glance: Glance) -> None:
        held = glance.create(glance.record("held", keep="1"), payload(10))
        assert held.id is not None
        for i in range(3):
            before = self._sent(glance)
            held = glance.client.update(held.id, held.with_properties(counter=str(i)),
                                        current=held)
            # v2: the patch answer is the record; v1: its PUT, then the HEAD every v1 read is
            assert self._methods_since(glance, before) in (
                None, ["PATCH"] if glance.api is Api.V2 else ["PUT", "HEAD"])
        assert dict(held.properties) == {"contract_run": glance.run, "keep": "1",
                                         "counter": "2"}
        assert to_seam_dict(glance.client.show(held.id)) == to_seam_dict(held)
        before = self._sent(glance)
        assert glance.client.update(held.id, held, current=held) == held  # nothing to change
        assert self._methods_since(glance, before) in (None, [])

    def test_update_of_a_held_seam_dict(self, glance: Glance) -> None:
        made = glance.create(glance.record("held-dict"), payload(10))
        assert made.id is not None
        held = to_seam_dict(made)
        wanted = {**held, "name": f"dict-{glance.run}"}
        updated = glance.client.update(made.id, wanted, current=held)
        assert updated.name == f"dict-{glance.run}"
        assert to_seam_dict(glance.client.show(made.id)) == to_seam_dict(updated)

    def test_a_stale_held_record_is_read_again_once(self, glance: Glance) -> None:
        held = glance.create(glance.record("stale", gone="1", keep="1"), payload(10))
        assert held.id is not None
        glance.client.update(held.id, held.with_properties(gone=None))  # someone else's change
        before = self._sent(glance)
        updated = glance.client.update(held.id, held.with_properties(gone="2", keep="2"),
                                       current=held)
        assert dict(updated.properties) == {"contract_run": glance.run, "gone": "2",
                                            "keep": "2"}
        # v2 refuses to replace a property that is gone (409): read, patch again; v1 has no
        # conditional update, its PUT sets the whole property set
        assert self._methods_since(glance, before) in (
            None, ["PATCH", "GET", "PATCH"] if glance.api is Api.V2 else ["PUT", "HEAD"])
        assert to_seam_dict(glance.client.show(held.id)) == to_seam_dict(updated)

    def test_a_held_record_changes_only_what_the_caller_changed(self, glance: Glance) -> None:
        held = glance.create(glance.record("theirs"), payload(10))
        assert held.id is not None
        theirs = f"theirs-{glance.run}"
        glance.client.update(held.id, attrs.evolve(held, name=theirs))  # someone else's
        updated = glance.client.update(held.id, held.with_properties(mine="1"), current=held)
        assert updated.name == theirs  # the caller did not change the name: theirs stays
        assert updated.properties["mine"] == "1"

    def test_a_held_record_of_another_image_is_refused(self, glance: Glance) -> None:
        one = glance.create(glance.record("one"), payload(10))
        other = glance.create(glance.record("other"), payload(10))
        assert one.id is not None
        before = self._sent(glance)
        with pytest.raises(InvalidRecord):
            glance.client.update(one.id, one.with_properties(x="1"), current=other)
        assert self._methods_since(glance, before) in (None, [])

    # ------------------------------------------------------------------ delete / errors

    def test_delete_then_show_is_not_found(self, glance: Glance) -> None:
        made = glance.create(glance.record("gone"), payload(10))
        assert made.id is not None
        glance.client.delete(made.id)
        with pytest.raises(ImageNotFound) as info:
            glance.client.show(made.id, show_deleted=False)
        assert info.value.image_id == made.id
        assert info.value.status == 404
        assert info.value.message
        with pytest.raises(ImageNotFound):
            glance.client.delete(made.id)

    def test_show_of_a_missing_image(self, glance: Glance) -> None:
        missing = "0f0e0d0c-0000-4000-8000-000000000000"
        with pytest.raises(ImageNotFound) as info:
            glance.client.show(missing)
        assert info.value.image_id == missing
        assert missing in str(info.value)

    def test_protected_image_cannot_be_deleted(self, glance: Glance) -> None:
        made = glance.create(attrs.evolve(glance.record("prot"), protected=True), payload(10))
        assert made.id is not None
        assert made.protected
        with pytest.raises(ImageNotAuthorized) as info:
            glance.client.delete(made.id)
        assert info.value.status == 403
        unprotected = glance.client.update(made.id, attrs.evolve(made, protected=False))
        assert unprotected.protected is False
        glance.client.delete(made.id)

    # ------------------------------------------------------------------ listing

    def test_detail_follows_every_page_lazily(self, glance: Glance) -> None:
        made = {glance.create(glance.record(f"page{i}", n=str(i)), payload(10 + i)).id
                for i in range(7)}
        listing = glance.client.detail({"property-contract_run": glance.run}, page_size=2)
        first = next(listing)
        rest = list(listing)
        seen = [first, *rest]
        assert {i.id for i in seen} == made
        assert len(seen) == 7
        for image in seen:
            assert image.id is not None
            assert to_seam_dict(image) == to_seam_dict(glance.client.show(image.id))

    def test_detail_limit_marker_and_sort(self, glance: Glance) -> None:
        for i in range(5):
            glance.create(glance.record(f"lim{i}"), payload(20 + i))
        everything = glance.mine(sort_key="size", sort_dir="asc")
        assert [i.size for i in everything] == sorted(i.size for i in everything)
        three = list(glance.client.detail({"property-contract_run": glance.run}, limit=3,
                                          page_size=2, sort_key="size", sort_dir="asc"))
        assert [i.id for i in three] == [i.id for i in everything[:3]]
        after = list(glance.client.detail({"property-contract_run": glance.run},
                                          marker=everything[1].id, sort_key="size",
                                          sort_dir="asc"))
        assert [i.id for i in after] == [i.id for i in everything[2:]]

    def test_detail_filters(self, glance: Glance) -> None:
        a = glance.create(glance.record("fa", flavor="x"), payload(10))
        glance.create(glance.record("fb", flavor="y"), payload(4000))
        assert [i.id for i in glance.mine(**{"property-flavor": "x"})] == [a.id]
        assert [i.id for i in glance.mine(name=a.name)] == [a.id]
        assert [i.id for i in glance.mine(size_max=100)] == [a.id]
        assert glance.mine(**{"property-flavor": "nothing"}) == []

    def test_changes_since(self, glance: Glance) -> None:
        name = f"since-{glance.run}"
        doomed = glance.create(attrs.evolve(glance.record("x"), name=name), payload(10))
        before = glance.create(attrs.evolve(glance.record("x"), name=name), payload(11))
        assert doomed.updated_at is not None
        assert before.updated_at is not None
        since = max(doomed.updated_at, before.updated_at)
        time.sleep(1.1)  # v2 times have whole seconds
        after = glance.create(attrs.evolve(glance.record("x"), name=name), payload(12))
        assert doomed.id is not None
        glance.client.delete(doomed.id)
        listing = glance.client.detail({"changes-since": since, "name": name})
        found = {i.id: i for i in listing}
        assert before.id not in found  # updated exactly at T: not strictly after
        assert after.id in found
        if glance.api is Api.V2:
            assert doomed.id not in found
            assert any(loss.field == "changes-since" for loss in listing.losses)
            assert any(loss.field == "changes-since" for loss in glance.losses)
        else:
            assert found[doomed.id].deleted is True
            assert found[doomed.id].deleted_at is not None
            assert listing.losses == ()

    def test_changes_since_in_the_future_lists_nothing(self, glance: Glance) -> None:
        made = glance.create(glance.record("future"), payload(10))
        assert made.updated_at is not None
        later = made.updated_at + timedelta(hours=1)
        assert glance.mine(**{"changes-since": later}) == []

    # ------------------------------------------------------------------ download

    def test_download_three_ways(self, glance: Glance, tmp_path: Path) -> None:
        data = payload(70_000, "dl")
        made = glance.create(glance.record("dl"), data)
        assert made.id is not None
        assert b"".join(glance.client.download(made.id)) == data
        target = tmp_path / "image.raw"
        glance.client.download(made.id, dst_path=target)
        assert target.read_bytes() == data
        sink = io.BytesIO()
        glance.client.download(made.id, data=sink)
        assert sink.getvalue() == data

    def test_download_of_a_queued_image_is_unacceptable(self, glance: Glance) -> None:
        queued = glance.create(glance.record("nodata"), activate_empty=False)
        assert queued.id is not None
        with pytest.raises(ImageUnacceptable) as info:
            glance.client.download(queued.id)
        assert info.value.image_id == queued.id

    # ------------------------------------------------------------------ snapshot

    def test_snapshot_makes_a_private_active_record(self, glance: Glance) -> None:
        data = payload(4096, "snap")
        instance = f"inst-{glance.run}"
        snap = glance.client.snapshot(
            f"snap-{glance.run}", instance, base_image_ref="base-ref", user_id="u1",
            inherited={"os_distro": "cirros", "contract_run": glance.run}, data=data)
        assert snap.id is not None
        glance.made.append(snap.id)
        assert snap.status == Status.ACTIVE
        assert snap.visibility == Visibility.PRIVATE
        assert snap.checksum == hashlib.md5(data).hexdigest()
        assert dict(snap.properties) == {
            "os_distro": "cirros", "contract_run": glance.run, "image_type": "snapshot",
            "instance_uuid": instance, "base_image_ref": "base-ref", "user_id": "u1"}

    def test_snapshot_upload_failure_leaves_nothing(self, glance: Glance) -> None:
        instance = f"inst-{glance.run}"

        def broken() -> Iterator[bytes]:
            yield payload(1000, "half")
            raise OSError("the disk went away")

        with pytest.raises(OSError, match="the disk went away"):
            glance.client.snapshot(f"broken-{glance.run}", instance, data=broken(),
                                   inherited={"contract_run": glance.run})
        assert glance.mine() == []
        assert list(glance.client.detail({"property-instance_uuid": instance})) == []
