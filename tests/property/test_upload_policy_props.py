"""Whatever the API, its minor and the policy, an upload computes only digests the record
the emulator then makes publishes, and every one it computed is compared (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from imgcompat.core.download import Verification
from imgcompat.core.model import Image
from imgcompat.shell.client import ImageClient
from imgcompat.shell.upload import check_uploaded, upload_source
from imgcompat.testing import Emulator

#: (server mode, advertised v2 minor): v1; v2 before the multihash (2.7) and from it on.
MODES = [("v1", 17), ("v2", 0), ("v2", 6), ("v2", 7), ("v2", 17), ("both", 17)]
RAW = Image(name="prop", disk_format="raw", container_format="bare")


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[tuple[str, int], ImageClient]]:
    made = {mode: ImageClient("http://glance.test", backoff=tenacity.wait_none(),
                              transport=Emulator(api=mode[0],  # type: ignore[arg-type]
                                                 v2_minor=mode[1]).sync_transport())
            for mode in MODES}
    yield made
    for client in made.values():
        client.close()


@given(data=st.binary(min_size=1, max_size=4096), mode=st.sampled_from(MODES),
       verification=st.sampled_from(Verification))
def test_an_upload_hashes_only_what_the_record_lets_it_compare(
        clients: dict[tuple[str, int], ImageClient], data: bytes, mode: tuple[str, int],
        verification: Verification) -> None:
    source = upload_source(data)
    made = clients[mode].create(RAW, source, verification=verification)
    result = check_uploaded(source, made)
    published = {"md5"} if made.checksum else set()
    if made.os_hash_algo and made.os_hash_value:
        published.add(made.os_hash_algo)
    computed = set(source.digests)
    assert computed <= published  # nothing hashed that the record does not publish
    assert set(result.checked) == computed  # ... and all of it compared
    assert set(result.skipped) == published - computed
    assert result.unverified == ()
    if verification is Verification.STRONGEST:
        assert len(computed) == 1  # one digest: the multihash where there is one
        assert computed == ({made.os_hash_algo} if made.os_hash_algo else {"md5"})
    else:
        assert computed == published
