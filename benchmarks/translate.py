"""Translation throughput: operations per second, median of several runs (not a timed test).

Run: ``.venv/bin/python benchmarks/translate.py [--runs 7]``.

Measures, on a typical image with 10 custom properties:

* v1 headers -> Image (parsed, schema-validated, typed)
* Image -> v2 create body
* two Images -> v2 JSON patch
* v2 JSON -> Image (schema-validated)
* a v2 list page of 1,000 such images -> Images (schema-validated)

Every case runs once per round, the rounds interleaved (so a change in the machine's load
hits every case alike); a figure is the median over the rounds, and a ratio the median of
the per-round ratios. Time is this process's CPU time by default (``--clock cpu``): on a
shared machine the wall clock also counts the time other processes held the CPU, while
for this single-threaded work the CPU time is what an idle machine's wall clock shows
(``--clock wall`` measures the wall clock).

Issue 13's two pure-core targets are checked against the peers when they are installed
(the ``bench`` extra; ``pip install python-glanceclient`` brings warlock and jsonpatch):

* v2 JSON -> validated typed record at >= 10x python-glanceclient's warlock model (the
  validating ``Controller.model``: warlock checks the entity against the image schema the
  server publishes, here the embedded emulator's). glanceclient 4.x builds its show and
  list results with ``unvalidated_model`` (no schema check); that figure is printed too.
* two records -> minimal v2 patch at >= 50,000 ops/s and >= 5x ``jsonpatch.make_patch``
  on the two v2 entities (what glanceclient's model patches), and on the two create
  bodies (the smaller dicts; printed too).

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
import time
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from imgcompat import Image, from_v1_headers, from_v2, to_v1_headers, to_v2, v2_patch
from imgcompat.core.seam import from_v2_list
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


PAGE = 1000


def v2_entity(image: Image) -> dict[str, Any]:
    """The image as a v2 server shows it (links included)."""
    return {**v2image_to_v2_json(image_to_v2(image).value),
            "self": f"/v2/images/{image.id}", "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image"}


def v2_page(image: Image, size: int = PAGE) -> dict[str, Any]:
    """A v2 list answer of ``size`` images like ``image`` (each its own id and name)."""
    images = [v2_entity(attrs.evolve(image, id=str(uuid.UUID(int=i + 1)), name=f"image-{i}"))
              for i in range(size)]
    return {"images": images, "first": "/v2/images?limit=1000",
            "next": f"/v2/images?limit=1000&marker={images[-1]['id']}",
            "schema": "/v2/schemas/images"}


def measure(
    cases: dict[str, Callable[[], object]], runs: int, clock: Callable[[], float]
) -> dict[str, list[float]]:
    """Per case, its rate (calls per second of ``clock``) in each of ``runs`` interleaved
    rounds; each timing lasts about 0.2 s."""
    timers = {name: timeit.Timer(call, timer=clock) for name, call in cases.items()}
    numbers = {name: timer.autorange()[0] for name, timer in timers.items()}
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, timer in timers.items():
            rates[name].append(numbers[name] / timer.timeit(numbers[name]))
    return rates


def ratio(rates: dict[str, list[float]], ours: str, theirs: str) -> float:
    """The median over rounds of ours / theirs (each round timed the two close together)."""
    return statistics.median(a / b for a, b in zip(rates[ours], rates[theirs], strict=True))


def _warlock_models() -> tuple[Any, Any] | None:
    """glanceclient's v2 image models (validating, unvalidated), built as its
    ``images.Controller`` builds them, from the schema the emulator publishes."""
    try:
        import warlock
        from glanceclient.v2 import schemas

        from imgcompat.testing.emulator import Emulator
        from imgcompat.testing.v2_schemas import published as served
    except ImportError:
        return None
    published = served("image", Emulator(api="v2").v2_minor)
    model = warlock.model_factory(published, base_class=schemas.SchemaBasedModel)
    unvalidated = warlock.model_factory(published, base_class=schemas.SchemaBasedModel)
    unvalidated.validate = lambda *args, **kwargs: None
    return model, unvalidated


def _make_patch() -> Callable[[Any, Any], Any] | None:
    try:
        import jsonpatch
    except ImportError:
        return None
    make: Callable[[Any, Any], Any] = jsonpatch.make_patch
    return make


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
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time measured: this process's CPU time, or the wall clock")
    args = parser.parse_args()
    runs = args.runs
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    image = typical_image()
    headers = v1_response_headers(image)
    v2_doc = v2_entity(image)
    page = v2_page(image)
    wanted = attrs.evolve(image, name="renamed", min_ram=1024).with_properties(
        os_version="24.04", hw_vif_model=None, hw_rng_model="virtio")
    assert from_v1_headers(headers) == image
    assert from_v2(v2_doc) == image
    assert len(from_v2_list(page)) == PAGE

    cases: dict[str, Callable[[], object]] = {
        "v1 headers -> Image": lambda: from_v1_headers(headers),
        "Image -> v1 create headers": lambda: to_v1_headers(image),
        "Image -> v2 create body": lambda: to_v2(image),
        "two Images -> v2 patch": lambda: v2_patch(image, wanted),
        "v2 JSON -> Image": lambda: from_v2(v2_doc),
        f"v2 page of {PAGE:,} -> Images (pages)": lambda: from_v2_list(page),
    }
    models = _warlock_models()
    if models is not None:
        model, unvalidated = models
        body = {k: v for k, v in v2_doc.items() if k != "self"}  # as glanceclient pops it
        assert model(**body)["os_distro"] == "ubuntu"
        cases["glanceclient v2 warlock model (validating)"] = lambda: model(**body)
        cases["glanceclient v2 unvalidated model"] = lambda: unvalidated(**body)
    make_patch = _make_patch()
    if make_patch is not None:
        entities = v2_entity(image), v2_entity(wanted)
        bodies = to_v2(image).value, to_v2(wanted).value
        cases["jsonpatch.make_patch, two v2 entities"] = lambda: make_patch(*entities)
        cases["jsonpatch.make_patch, two create bodies"] = lambda: make_patch(*bodies)

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
        cases["glanceclient v1 headers -> dict"] = (
            lambda: manager._image_meta_from_headers(headers))
        realistic = _realistic_headers(headers)
        if realistic is not None:
            ours, theirs = realistic
            assert from_v1_headers(ours) == image
            cases["v1 httpx.Headers -> Image"] = lambda: from_v1_headers(ours)
            cases["glanceclient v1 CaseInsensitiveDict -> dict"] = (
                lambda: manager._image_meta_from_headers(theirs))
        cases["glanceclient v1 meta -> headers"] = lambda: manager._image_meta_to_headers(meta)
        cases["glanceclient v1 meta -> headers + encode"] = (
            lambda: encode_headers(manager._image_meta_to_headers(meta)))

    rates = measure(cases, runs, clock)
    width = max(map(len, rates))
    print(f"{'operation':<{width}}  ops/s (median of {runs} interleaved rounds, "
          f"{args.clock} time)")
    for name, rounds in rates.items():
        print(f"{name:<{width}}  {statistics.median(rounds):>10,.0f}")
    _report_v2_targets(rates)
    if gc is None:
        print("python-glanceclient not installed (the bench extra): no v1 comparison")
        return
    parse_ratio = ratio(rates, "v1 headers -> Image", "glanceclient v1 headers -> dict")
    build_ratio = ratio(rates, "Image -> v1 create headers",
                        "glanceclient v1 meta -> headers + encode")
    print(f"v1 parse ratio, plain dict vs plain dict (headline; imgcompat typed+validated / "
          f"glanceclient untyped): {parse_ratio:.2f}x "
          f"(target >= 1.5x: {'met' if parse_ratio >= 1.5 else 'NOT met'})")
    if "v1 httpx.Headers -> Image" in rates:
        real_ratio = ratio(rates, "v1 httpx.Headers -> Image",
                           "glanceclient v1 CaseInsensitiveDict -> dict")
        print(f"v1 parse ratio, realistic (imgcompat from httpx.Headers / glanceclient from "
              f"requests CaseInsensitiveDict): {real_ratio:.2f}x")
    print(f"v1 build ratio (imgcompat encoded / glanceclient encoded): {build_ratio:.2f}x")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _report_v2_targets(rates: dict[str, list[float]]) -> None:
    """Issue 13's two pure-core targets, with their ratios to the peers."""
    page = statistics.median(rates[f"v2 page of {PAGE:,} -> Images (pages)"])
    print(f"v2 list parse: {page * PAGE:,.0f} images/s ({1000 / page:.1f} ms a page of "
          f"{PAGE:,})")
    parse = "v2 JSON -> Image"
    if "glanceclient v2 warlock model (validating)" in rates:
        r = ratio(rates, parse, "glanceclient v2 warlock model (validating)")
        raw = ratio(rates, parse, "glanceclient v2 unvalidated model")
        print(f"v2 parse ratio (imgcompat validated+typed / glanceclient warlock model, "
              f"validating): {r:.2f}x (target >= 10x: {_met(r >= 10)}); "
              f"vs its unvalidated model: {raw:.2f}x")
    else:
        print("warlock / python-glanceclient not installed: no v2 parse comparison")
    patch = "two Images -> v2 patch"
    per_second = statistics.median(rates[patch])
    if "jsonpatch.make_patch, two v2 entities" in rates:
        entities = ratio(rates, patch, "jsonpatch.make_patch, two v2 entities")
        bodies = ratio(rates, patch, "jsonpatch.make_patch, two create bodies")
        print(f"v2 patch: {per_second:,.0f} ops/s (target >= 50,000: "
              f"{_met(per_second >= 50_000)}); ratio to jsonpatch.make_patch on the two v2 "
              f"entities {entities:.2f}x, on the two create bodies {bodies:.2f}x "
              f"(target >= 5x: {_met(min(entities, bodies) >= 5)})")
    else:
        print(f"v2 patch: {per_second:,.0f} ops/s (target >= 50,000: "
              f"{_met(per_second >= 50_000)}); jsonpatch not installed: no ratio")


if __name__ == "__main__":
    main()
