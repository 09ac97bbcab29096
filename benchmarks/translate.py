"""Translation throughput: operations per second, median of several runs (not a timed test).

Run: ``.venv/bin/python benchmarks/translate.py [--runs 7]``.

Measures, on a typical image with 10 custom properties:

* v1 headers -> Image (parsed, schema-validated, typed)
* Image -> v2 create body
* two Images -> v2 JSON patch
* v2 JSON -> Image (schema-validated)

When python-glanceclient 2.16.0 (the ``bench`` extra; the last release with the v1 API) is
installed, its v1 header parse (``ImageManager._image_meta_from_headers``: an untyped dict)
and header build (``_image_meta_to_headers``, with and without its wire encoding step
``encode_headers``) are measured on the same record in the same run, and the ratio printed.
Target: our validated, typed parse at no less than 1.5x glanceclient's untyped parse.

Two parse comparisons are printed. The headline: both parse the same plain ``dict``.
The realistic one: each parses what its HTTP library hands it -- glanceclient a
``requests.structures.CaseInsensitiveDict`` (what ``requests`` gives it), imgcompat an
``httpx.Headers`` (what our transport gives it); each container's own iteration cost is
part of that figure.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from imgcompat import Image, from_v1_headers, from_v2, to_v1_headers, to_v2, v2_patch
from imgcompat.core.translate import image_to_v2
from imgcompat.core.v2 import v2image_to_v2_json

ID = "985df77b-9844-478d-943c-c2e15fe354f3"
WHEN = datetime(2026, 11, 24, 17, 7, 57, tzinfo=UTC)


def typical_image() -> Image:
    """An active image with 10 custom properties, as a compute service sees one."""
    return Image(
        id=ID,
        name="ubuntu-22.04-server-cloudimg-amd64",
        status="active",
        protected=False,
        created_at=WHEN,
        updated_at=WHEN,
        size=692_256_768,
        checksum="63df5ede94b25c8df8125551ac0f62d5",
        disk_format="qcow2",
        container_format="bare",
        min_disk=10,
        min_ram=512,
        owner="c60b1d57c5034e0d86902aedf8c49be0",
        properties={
            "os_distro": "ubuntu",
            "os_version": "22.04",
            "os_type": "linux",
            "architecture": "x86_64",
            "hw_disk_bus": "virtio",
            "hw_vif_model": "virtio",
            "hw_qemu_guest_agent": "yes",
            "image_type": "image",
            "description": "Ubuntu Server 22.04 LTS",
            "instance_uuid": "4b2f4c5d-7e1a-4c0f-9a0e-1f2d3c4b5a69",
        },
    ).with_visibility("public")


def v1_response_headers(image: Image) -> dict[str, str]:
    """The HEAD answer a v1 server gives for the image (eventlet-capitalised names)."""
    from imgcompat.core.translate import image_to_v1
    from imgcompat.core.v1 import v1image_to_v1_headers

    headers = v1image_to_v1_headers(image_to_v1(image).value)
    return {"-".join(w.capitalize() for w in k.split("-")): v for k, v in headers}


def ops_per_second(call: Callable[[], object], runs: int) -> float:
    """Median over ``runs`` of the rate of ``call``, each run about 0.2 s long."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    rates = [number / timer.timeit(number) for _ in range(runs)]
    return statistics.median(rates)


def _glanceclient() -> Any | None:
    try:
        from glanceclient.common import http
        from glanceclient.v1 import images
    except ImportError:
        return None
    return images.ImageManager(None), http.encode_headers


def _realistic_headers(headers: dict[str, str]) -> tuple[Any, Any] | None:
    """The same headers as each client's HTTP library holds them: (httpx, requests)."""
    try:
        import httpx
        from requests.structures import CaseInsensitiveDict
    except ImportError:
        return None
    return httpx.Headers(headers), CaseInsensitiveDict(headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (median)")
    runs = parser.parse_args().runs

    image = typical_image()
    headers = v1_response_headers(image)
    v2_doc = {**v2image_to_v2_json(image_to_v2(image).value),
              "self": f"/v2/images/{ID}", "file": f"/v2/images/{ID}/file",
              "schema": "/v2/schemas/image"}
    wanted = attrs.evolve(image, name="renamed", min_ram=1024).with_properties(
        os_version="24.04", hw_vif_model=None, hw_rng_model="virtio")
    assert from_v1_headers(headers) == image
    assert from_v2(v2_doc) == image

    results: dict[str, float] = {
        "v1 headers -> Image": ops_per_second(lambda: from_v1_headers(headers), runs),
        "Image -> v1 create headers": ops_per_second(lambda: to_v1_headers(image), runs),
        "Image -> v2 create body": ops_per_second(lambda: to_v2(image), runs),
        "two Images -> v2 patch": ops_per_second(lambda: v2_patch(image, wanted), runs),
        "v2 JSON -> Image": ops_per_second(lambda: from_v2(v2_doc), runs),
    }

    gc = _glanceclient()
    if gc is not None:
        manager, encode_headers = gc
        meta = {
            "id": ID, "name": image.name, "status": "active", "is_public": True,
            "protected": False, "disk_format": "qcow2", "container_format": "bare",
            "size": image.size, "checksum": image.checksum, "min_ram": 512, "min_disk": 10,
            "owner": image.owner, "properties": dict(image.properties),
        }
        parsed = manager._image_meta_from_headers(dict(headers))
        assert parsed["properties"]["os_distro"] == "ubuntu"
        results["glanceclient v1 headers -> dict"] = ops_per_second(
            lambda: manager._image_meta_from_headers(headers), runs)
        realistic = _realistic_headers(headers)
        if realistic is not None:
            ours, theirs = realistic
            assert from_v1_headers(ours) == image
            results["v1 httpx.Headers -> Image"] = ops_per_second(
                lambda: from_v1_headers(ours), runs)
            results["glanceclient v1 CaseInsensitiveDict -> dict"] = ops_per_second(
                lambda: manager._image_meta_from_headers(theirs), runs)
        results["glanceclient v1 meta -> headers"] = ops_per_second(
            lambda: manager._image_meta_to_headers(meta), runs)
        results["glanceclient v1 meta -> headers + encode"] = ops_per_second(
            lambda: encode_headers(manager._image_meta_to_headers(meta)), runs)

    width = max(map(len, results))
    print(f"{'operation':<{width}}  ops/s (median of {runs})")
    for name, rate in results.items():
        print(f"{name:<{width}}  {rate:>10,.0f}")
    if gc is None:
        print("python-glanceclient 2.16.0 not installed (the bench extra): no comparison")
        return
    parse_ratio = results["v1 headers -> Image"] / results["glanceclient v1 headers -> dict"]
    build_ratio = (results["Image -> v1 create headers"]
                   / results["glanceclient v1 meta -> headers + encode"])
    print(f"v1 parse ratio, plain dict vs plain dict (headline; imgcompat typed+validated / "
          f"glanceclient untyped): {parse_ratio:.2f}x "
          f"(target >= 1.5x: {'met' if parse_ratio >= 1.5 else 'NOT met'})")
    if "v1 httpx.Headers -> Image" in results:
        real_ratio = (results["v1 httpx.Headers -> Image"]
                      / results["glanceclient v1 CaseInsensitiveDict -> dict"])
        print(f"v1 parse ratio, realistic (imgcompat from httpx.Headers / glanceclient from "
              f"requests CaseInsensitiveDict): {real_ratio:.2f}x")
    print(f"v1 build ratio (imgcompat encoded / glanceclient encoded): {build_ratio:.2f}x")


if __name__ == "__main__":
    main()
