"""Side by side with python-glanceclient and openstacksdk on what a compute service does.

Issue 13's table: the same v2 emulator (bytes on disk, its own process, 127.0.0.1) serves
imgcompat and the two peers (latest releases, in a venv of their own under
``/tmp/imgcompat-bench-peers``, built once and brought up to date with ``pip index
versions``). Every case runs in a fresh process; the rounds interleave the cases (each round
in another order) and the table shows the median of the rounds, with imgcompat / best peer.

* verified download of one image into a file (fsynced): MB/s and the client's CPU-s per GiB;
  what each client verified is printed under the table, with what receiving and verifying
  alone cost (``http.client`` into a reused buffer and sha512, no file);
* upload of a file (create + data): MB/s (imgcompat also checks the server's record);
* full listing of every image (``--images`` plus the few the other cases leave): images/s
  (the median of 5 full listings in a row in one process) and HTTP requests per listing;
  imgcompat lists it a second time in the server's default page (25), and the notes give
  the emulator's CPU per page of every listing;
* one-property updates of an image the caller holds: updates/s and requests per update;
* v2 JSON entity (10 custom properties) -> typed record: ops/s, against glanceclient's warlock
  model; two records -> minimal v2 patch: ops/s, against ``jsonpatch.make_patch`` on the two
  v2 dicts (in-process loops, each in its fresh process too).

Requests are counted in each client's HTTP layer (httpx transport, requests adapter) during
the timed part only. Run: ``python benchmarks/peers.py`` (512 MiB, 2,000 images, 300
updates, 3 rounds: about 5 minutes) or ``--quick`` (tiny sizes, one round, no target
verdicts). Not a test: on a shared 2-core machine MB/s move with the load; CPU-s per GiB
and request counts move much less.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.stream import (
    MiB,
    _cpu_of,
    _cpu_self,
    _fsync_close,
    _make_image,
    _rss,
    emulator_process,
    markdown_table,
)

PEERS_DIR = Path(os.environ.get("IMGCOMPAT_BENCH_PEERS", "/tmp/imgcompat-bench-peers"))
PEER_PACKAGES = ("python-glanceclient", "openstacksdk")
CLIENTS = ("imgcompat", "glanceclient", "openstacksdk")
Spec = dict[str, Any]
Outcome = dict[str, Any]


# ----------------------------------------------------------------------------- cases


def _digests(checked: Any) -> str:
    return "+".join(sorted(str(getattr(c, "algorithm", c)) for c in checked))


def _imgcompat(spec: Spec) -> Any:
    from imgcompat.shell.client import ImageClient

    client = ImageClient(spec["url"])
    client.discover()
    return client


def _glanceclient(spec: Spec) -> Any:
    import glanceclient

    return glanceclient.Client("2", endpoint=spec["url"], token="bench")


def _openstacksdk(spec: Spec) -> Any:
    import openstack
    from keystoneauth1 import noauth, session

    sess = session.Session(auth=noauth.NoAuth(endpoint=spec["url"]))
    return openstack.connection.Connection(session=sess, image_endpoint_override=spec["url"])


def download_imgcompat(spec: Spec) -> Callable[[], Outcome]:
    """``ImageClient.download`` to a path: its default verification, temp file, fsync."""
    client = _imgcompat(spec)

    def run() -> Outcome:
        result = client.download(spec["image_id"], dst_path=Path(spec["work"]) / "i.raw")
        return {"units": result.size, "checked": _digests(result.checked)}

    return run


def download_glanceclient(spec: Spec) -> Callable[[], Outcome]:
    """``images.data`` into a file; glanceclient verifies ``os_hash_value``."""
    gc = _glanceclient(spec)

    def run() -> Outcome:
        n = 0
        fh = open(Path(spec["work"]) / "g.raw", "wb")  # noqa: SIM115
        for chunk in gc.images.data(spec["image_id"]):
            fh.write(chunk)
            n += len(chunk)
        _fsync_close(fh)
        return {"units": n, "checked": "sha512"}

    return run


def download_openstacksdk(spec: Spec) -> Callable[[], Outcome]:
    """``download_image(stream=True, output=file)``; the SDK verifies ``os_hash_value``."""
    conn = _openstacksdk(spec)
    image = conn.image.get_image(spec["image_id"])

    def run() -> Outcome:
        path = Path(spec["work"]) / "o.raw"
        fh = open(path, "wb")  # noqa: SIM115
        conn.image.download_image(image, stream=True, output=fh)
        _fsync_close(fh)
        return {"units": path.stat().st_size, "checked": "sha512"}

    return run


def download_floor(spec: Spec) -> Callable[[], Outcome]:
    """Receiving and verifying alone, the least any client pays before it writes a byte:
    ``http.client`` reading into one reused 1 MiB buffer and sha512 on the same thread, no
    file. Not in the table: the notes set the download's CPU against it."""
    import hashlib
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(spec["url"])

    def run() -> Outcome:
        conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port)
        conn.request("GET", f"/v2/images/{spec['image_id']}/file")
        response = conn.getresponse()
        view = memoryview(bytearray(MiB))
        digest, n = hashlib.sha512(), 0
        try:
            while got := response.readinto(view):
                digest.update(view[:got])
                n += got
        finally:
            conn.close()
        return {"units": n, "checked": "sha512"}

    return run


def upload_imgcompat(spec: Spec) -> Callable[[], Outcome]:
    """``create(record, data=path)``: create, stream (digests on the fly), check the record."""
    from imgcompat.core.model import Image

    client = _imgcompat(spec)

    def run() -> Outcome:
        image = client.create(Image(name="bench-up-imgcompat", disk_format="raw",
                                    container_format="bare"), data=spec["source"])
        spec["cleanup"] = lambda: client.delete(image.id)
        return {"units": image.size}

    return run


def upload_glanceclient(spec: Spec) -> Callable[[], Outcome]:
    """``images.create`` then ``images.upload`` of the open file."""
    gc = _glanceclient(spec)

    def run() -> Outcome:
        size = os.path.getsize(spec["source"])
        image = gc.images.create(name="bench-up-glanceclient", disk_format="raw",
                                 container_format="bare")
        with open(spec["source"], "rb") as fh:
            gc.images.upload(image.id, fh, image_size=size)
        spec["cleanup"] = lambda: gc.images.delete(image.id)
        return {"units": size}

    return run


def upload_openstacksdk(spec: Spec) -> Callable[[], Outcome]:
    """``create_image(filename=...)`` (no duplicate search, no checksum validation)."""
    conn = _openstacksdk(spec)

    def run() -> Outcome:
        image = conn.image.create_image("bench-up-openstacksdk", filename=spec["source"],
                                        disk_format="raw", container_format="bare",
                                        allow_duplicates=True)
        spec["cleanup"] = lambda: conn.image.delete_image(image)
        return {"units": os.path.getsize(spec["source"])}

    return run


#: Full listings timed one after the other in each listing case; the figure is their median.
LISTINGS = 5


def _listings(spec: Spec, listing: Callable[[], Iterator[Any]]) -> Callable[[], Outcome]:
    """A service lists again and again: time :data:`LISTINGS` full listings in a row (the
    first one, with its one-time costs, included) and keep the median, so a one-off cost
    (glanceclient's schema fetch, imgcompat's compiled reader) or a garbage collection that
    happens to fall in one run does not decide the figure."""

    def run() -> Outcome:
        timed = []
        for _ in range(spec.get("listings", LISTINGS)):
            t0 = time.perf_counter()
            count = sum(1 for _ in listing())
            timed.append(time.perf_counter() - t0)
            if count != spec["listed"]:
                raise AssertionError(f"listed {count} images, the store holds {spec['listed']}")
        return {"units": count, "timed": timed}

    return run


def list_imgcompat(spec: Spec) -> Callable[[], Outcome]:
    client = _imgcompat(spec)
    return _listings(spec, client.detail)


def list_imgcompat_small(spec: Spec) -> Callable[[], Outcome]:
    """The same listing in the server's default page (25): what the emulator spends per page
    when a page is small next to the store (not in the table; see the notes)."""
    client = _imgcompat(spec)
    return _listings(spec, lambda: client.detail(page_size=25))


def list_glanceclient(spec: Spec) -> Callable[[], Outcome]:
    gc = _glanceclient(spec)
    return _listings(spec, gc.images.list)


def list_openstacksdk(spec: Spec) -> Callable[[], Outcome]:
    conn = _openstacksdk(spec)
    return _listings(spec, conn.image.images)


def update_imgcompat(spec: Spec) -> Callable[[], Outcome]:
    """``update(id, wanted, current=held)``, the held record being the last answer."""
    from imgcompat.core.model import Image

    client = _imgcompat(spec)
    held = client.create(Image(name="bench-upd-imgcompat", disk_format="raw",
                               container_format="bare", properties=spec["properties"]))

    def run() -> Outcome:
        nonlocal held
        for i in range(spec["updates"]):
            held = client.update(held.id, held.with_properties(counter=str(i)), current=held)
        assert held.properties["counter"] == str(spec["updates"] - 1)
        spec["cleanup"] = lambda: client.delete(held.id)
        return {"units": spec["updates"]}

    return run


def update_glanceclient(spec: Spec) -> Callable[[], Outcome]:
    """``images.update(id, counter=...)`` (it reads the image first and after)."""
    gc = _glanceclient(spec)
    image = gc.images.create(name="bench-upd-glanceclient", disk_format="raw",
                             container_format="bare", **spec["properties"])

    def run() -> Outcome:
        for i in range(spec["updates"]):
            gc.images.update(image.id, counter=str(i))
        spec["cleanup"] = lambda: gc.images.delete(image.id)
        return {"units": spec["updates"]}

    return run


def update_openstacksdk(spec: Spec) -> Callable[[], Outcome]:
    """``update_image(image, counter=...)`` on the resource it returned last."""
    conn = _openstacksdk(spec)
    image = conn.image.create_image("bench-upd-openstacksdk", disk_format="raw",
                                    container_format="bare", allow_duplicates=True,
                                    **spec["properties"])

    def run() -> Outcome:
        nonlocal image
        for i in range(spec["updates"]):
            image = conn.image.update_image(image, counter=str(i))
        spec["cleanup"] = lambda: conn.image.delete_image(image)
        return {"units": spec["updates"]}

    return run


def _rate(call: Callable[[], object], seconds: float) -> Outcome:
    """Operations per second of ``call`` over about ``seconds`` (the best of 3 runs)."""
    timer = timeit.Timer(call)
    number, took = timer.autorange()
    number = max(1, int(number * seconds / max(took, 1e-9) / 3))
    return {"rate": max(number / timer.timeit(number) for _ in range(3))}


def _records(spec: Spec) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads(Path(spec["records"]).read_text())
    return doc["current"], doc["wanted"]


def parse_imgcompat(spec: Spec) -> Callable[[], Outcome]:
    """``from_v2``: the entity validated and turned into the typed seam record."""
    from imgcompat.core.seam import from_v2

    doc, _ = _records(spec)
    return lambda: _rate(lambda: from_v2(doc), spec["micro_seconds"])


def parse_glanceclient(spec: Spec) -> Callable[[], Outcome]:
    """glanceclient's image model (warlock, validated against the server's schema)."""
    gc = _glanceclient(spec)
    model = gc.images.model
    doc, _ = _records(spec)
    body = {k: v for k, v in doc.items() if k != "self"}  # as ImageManager._get pops it
    return lambda: _rate(lambda: model(**body), spec["micro_seconds"])


def patch_imgcompat(spec: Spec) -> Callable[[], Outcome]:
    """``v2_patch`` between the two typed records."""
    from imgcompat import v2_patch
    from imgcompat.core.seam import from_v2

    current, wanted = (from_v2(d) for d in _records(spec))
    return lambda: _rate(lambda: v2_patch(current, wanted), spec["micro_seconds"])


def patch_jsonpatch(spec: Spec) -> Callable[[], Outcome]:
    """``jsonpatch.make_patch`` between the two v2 dicts (in the peers' venv)."""
    import jsonpatch

    current, wanted = _records(spec)
    return lambda: _rate(lambda: jsonpatch.make_patch(current, wanted), spec["micro_seconds"])


def digest_cost(spec: Spec) -> Callable[[], Outcome]:
    """CPU-s per GiB of md5 and sha512 alone, on 4 MiB blocks (the download's own floor)."""
    import hashlib

    block = os.urandom(4 * MiB)
    blocks = max(1, min(64, spec["size_mib"] // 4))

    def run() -> Outcome:
        costs = {}
        for name in ("md5", "sha512"):
            start = _cpu_self()
            digest = hashlib.new(name)
            for _ in range(blocks):
                digest.update(block)
            costs[name] = (_cpu_self() - start) / (blocks * 4 * MiB / (1024 * MiB))
        return {"units": 0, "costs": costs}

    return run


#: (row, client) -> case. Rows are the table's, in order.
CASES: dict[tuple[str, str], Callable[[Spec], Callable[[], Outcome]]] = {
    ("download", "imgcompat"): download_imgcompat,
    ("download", "glanceclient"): download_glanceclient,
    ("download", "openstacksdk"): download_openstacksdk,
    ("download-floor", "imgcompat"): download_floor,
    ("upload", "imgcompat"): upload_imgcompat,
    ("upload", "glanceclient"): upload_glanceclient,
    ("upload", "openstacksdk"): upload_openstacksdk,
    ("listing", "imgcompat"): list_imgcompat,
    ("listing", "glanceclient"): list_glanceclient,
    ("listing", "openstacksdk"): list_openstacksdk,
    ("listing-25", "imgcompat"): list_imgcompat_small,
    ("updates", "imgcompat"): update_imgcompat,
    ("updates", "glanceclient"): update_glanceclient,
    ("updates", "openstacksdk"): update_openstacksdk,
    ("parse", "imgcompat"): parse_imgcompat,
    ("parse", "glanceclient"): parse_glanceclient,
    ("patch", "imgcompat"): patch_imgcompat,
    ("patch", "glanceclient"): patch_jsonpatch,
    ("digests", "imgcompat"): digest_cost,
}


@contextlib.contextmanager
def _counting() -> Iterator[list[int]]:
    """Count the HTTP requests each client's HTTP layer sends (httpx, requests)."""
    box = [0]
    undo: list[Callable[[], None]] = []
    with contextlib.suppress(ImportError):
        import httpx

        sync_send = httpx.HTTPTransport.handle_request

        def handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            box[0] += 1
            return sync_send(self, request)

        httpx.HTTPTransport.handle_request = handle  # type: ignore[method-assign]
        undo.append(lambda: setattr(httpx.HTTPTransport, "handle_request", sync_send))
    with contextlib.suppress(ImportError):
        from requests.adapters import HTTPAdapter

        adapter_send = HTTPAdapter.send

        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            box[0] += 1
            return adapter_send(self, *args, **kwargs)

        HTTPAdapter.send = send
        undo.append(lambda: setattr(HTTPAdapter, "send", adapter_send))
    try:
        yield box
    finally:
        for step in undo:
            step()


def run_case(row: str, client: str, spec_json: str) -> None:
    """In a fresh process: set the case up, time it once, print one JSON line."""
    spec: Spec = json.loads(spec_json)
    with _counting() as requests:
        run = CASES[(row, client)](spec)
        rss0, cpu0, sent0 = _rss(), _cpu_self(), requests[0]
        t0 = time.perf_counter()
        outcome = run()
        seconds = time.perf_counter() - t0
        cpu, sent = _cpu_self() - cpu0, requests[0] - sent0
    if "timed" in outcome:  # several runs in a row: the median one, requests per run
        timed = outcome.pop("timed")
        seconds, sent = statistics.median(timed), sent // len(timed)
        outcome["runs"], outcome["first"] = len(timed), timed[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with contextlib.suppress(Exception):  # a leftover record only skews the listing count
        spec.get("cleanup", lambda: None)()
    for leftover in Path(spec["work"]).glob("*.raw"):
        leftover.unlink()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "requests": sent,
                      "rss_growth": max(0, peak - rss0), **outcome}))


# ----------------------------------------------------------------------------- driver


def _pip_latest(package: str) -> str | None:
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", package],
                         capture_output=True, text=True, check=False, timeout=120)
    found = re.search(rf"^{re.escape(package)} \(([^)]+)\)", out.stdout, re.MULTILINE)
    return found.group(1) if found else None


def peer_python(refresh: bool) -> tuple[Path, dict[str, str]]:
    """The peers' venv interpreter and the versions in it: built once, upgraded when a newer
    release is out (``refresh``)."""
    python = PEERS_DIR / "venv" / "bin" / "python"
    probe = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) "
             f"for p in {PEER_PACKAGES!r}}}))")

    def versions() -> dict[str, str]:
        out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                             check=False)
        return dict(json.loads(out.stdout)) if out.returncode == 0 else {}

    have = versions() if python.exists() else {}
    wanted = {p: _pip_latest(p) for p in PEER_PACKAGES} if refresh or not have else {}
    if not have or any(v and have.get(p) != v for p, v in wanted.items()):
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_DIR / "venv")], check=True)
        pins = [f"{p}=={v}" if v else p for p, v in (wanted or dict.fromkeys(PEER_PACKAGES))
                .items()]
        print(f"building the peers' venv: {' '.join(pins)}", file=sys.stderr, flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", *pins], check=True,
                       timeout=900)
        have = versions()
    return python, have


def _child(python: str, row: str, client: str, spec: Spec) -> Outcome:
    out = subprocess.run([python, __file__, "case", row, client, json.dumps(spec)],
                         capture_output=True, text=True, check=False, timeout=1200)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": tail[:100]}
    result: Outcome = json.loads(lines[-1])
    return result


def _prepare(url: str, root: Path, args: argparse.Namespace) -> Spec:
    """The store's content: the image to download, the listed images, the records file."""
    import httpx
    from benchmarks.translate import typical_image

    from imgcompat.core.model import Image
    from imgcompat.core.translate import image_to_v2
    from imgcompat.core.v2 import v2image_to_v2_json
    from imgcompat.shell.client import ImageClient

    source = root / "image.raw"
    _make_image(source, args.size_mib * MiB)
    with ImageClient(url) as client:
        image = client.create(Image(name="bench-download", disk_format="raw",
                                    container_format="bare"), data=source)
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(args.images):
            http.post("/v2/images", json={"name": f"bench-list-{i}", "disk_format": "raw",
                                          "container_format": "bare"}).raise_for_status()
    typical = typical_image()
    current = {**v2image_to_v2_json(image_to_v2(typical).value),
               "self": f"/v2/images/{typical.id}", "file": f"/v2/images/{typical.id}/file",
               "schema": "/v2/schemas/image"}
    wanted = {**current, "name": "renamed", "min_ram": 1024, "os_version": "24.04",
              "hw_rng_model": "virtio"}
    del wanted["hw_vif_model"]
    records = root / "records.json"
    records.write_text(json.dumps({"current": current, "wanted": wanted}))
    return {"url": url, "image_id": image.id, "source": str(source), "work": str(root / "out"),
            "listed": args.images + 1, "updates": args.updates, "records": str(records),
            "properties": dict(list(typical.properties.items())[:10]),
            "micro_seconds": args.micro_seconds, "size_mib": args.size_mib}


#: row -> (label, unit, target ratio against the best peer)
ROWS = {
    "download": ("verified download, {size} MiB into a file, MB/s", 1.2),
    "download-cpu": ("…client CPU-s per GiB (lower is better)", None),
    "upload": ("upload of a {size} MiB file (create + data), MB/s", 1.0),
    "listing": ("full listing of {listed:,} images, images/s (requests)", 2.0),
    "updates": ("{updates} one-property updates of a held image, updates/s (requests each)",
                2.0),
    "parse": ("v2 JSON → typed record, ops/s (vs glanceclient's warlock model)", 10.0),
    "patch": ("two records → v2 patch, ops/s (vs jsonpatch.make_patch)", 5.0),
}


def _median(results: list[Outcome], key: str) -> float | None:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def _figure(row: str, results: list[Outcome]) -> tuple[float | None, str]:
    """The row's figure (higher is better, except CPU) and its text."""
    ok = [r for r in results if "failed" not in r]
    if not ok:
        return None, f"failed: {results[0]['failed']}" if results else "-"
    if row == "download-cpu":
        value = statistics.median(r["cpu"] / (r["units"] / (1024 * MiB)) for r in ok)
        return value, f"{value:.2f}"
    if "rate" in ok[0]:
        value = statistics.median(r["rate"] for r in ok)
        return value, f"{value:,.0f}"
    per = 1e6 if row in ("download", "upload") else 1.0
    value = statistics.median(r["units"] / r["seconds"] / per for r in ok)
    text = f"{value:,.0f}"
    requests = _median(ok, "requests")
    if row == "listing" and requests is not None:
        text += f" ({requests:.0f})"
    elif row == "updates" and requests is not None:
        text += f" ({requests / ok[0]['units']:.2f})"
    return value, text


def _table(results: dict[tuple[str, str], list[Outcome]], spec: Spec, quick: bool) -> str:
    head = ["operation", *CLIENTS, "imgcompat / best peer", "target"]
    lines = []
    for row, (label, target) in ROWS.items():
        source = "download" if row == "download-cpu" else row
        figures = {c: _figure(row, results.get((source, c), [])) for c in CLIENTS}
        if row in ("parse", "patch"):
            figures["openstacksdk"] = (None, "")
        ours = figures["imgcompat"][0]
        peers = [v for c, (v, _) in figures.items() if c != "imgcompat" and v]
        ratio, verdict = "", ""
        if ours and peers:
            best = min(peers) if row == "download-cpu" else max(peers)
            ratio = f"{(best / ours if row == 'download-cpu' else ours / best):.2f}x"
            if target is not None and not quick:
                verdict = f"≥ {target}x: {'met' if ours / best >= target else 'NOT met'}"
        text = label.format(size=spec["size_mib"], listed=spec["listed"],
                            updates=spec["updates"])
        lines.append([text, *(figures[c][1] for c in CLIENTS), ratio, verdict])
    return markdown_table(head, lines)


def _notes(results: dict[tuple[str, str], list[Outcome]]) -> list[str]:
    notes = []
    checked: dict[str, set[str]] = {
        c: {str(r["checked"]) for r in results.get(("download", c), []) if "checked" in r}
        for c in CLIENTS}
    notes.append("verified: " + "; ".join(f"{c} {'/'.join(sorted(v)) or '-'}"
                                          for c, v in checked.items()))
    digests = [r["costs"] for r in results.get(("digests", "imgcompat"), []) if "costs" in r]
    ours = [r for r in results.get(("download", "imgcompat"), []) if "cpu" in r]
    if digests and ours:
        algos = "".join(checked["imgcompat"]).split("+") if checked["imgcompat"] else []
        floor = statistics.median(sum(d.get(a, 0.0) for a in algos) for d in digests)
        cpu = statistics.median(r["cpu"] / (r["units"] / (1024 * MiB)) for r in ours)
        notes.append(f"imgcompat download CPU-s/GiB {cpu:.2f} vs its digests' own cost "
                     f"{floor:.2f} ({'+'.join(algos)}): {cpu / floor:.2f}x "
                     "(target ≤ 1.3x)" if floor else "digest cost not measured")
        bare = [r["cpu"] / (r["units"] / (1024 * MiB))
                for r in results.get(("download-floor", "imgcompat"), []) if "cpu" in r]
        if bare and floor:
            least = statistics.median(bare)
            notes.append(f"receiving and verifying alone (http.client readinto 1 MiB + sha512, "
                         f"one thread, no file): {least:.2f} CPU-s/GiB = {least / floor:.2f}x "
                         f"sha512; imgcompat's download spends {cpu - least:.2f} CPU-s/GiB more "
                         "(the file: write, drop-behind, fsync, rename; the threads)")
        rss = statistics.median(r["rss_growth"] for r in ours) / MiB
        notes.append(f"imgcompat download peak RSS growth: {rss:.1f} MiB")
    emulator = [r["server_cpu"] / r.get("runs", 1)
                for r in results.get(("listing", "imgcompat"), []) if "server_cpu" in r]
    if emulator:
        notes.append(f"emulator CPU-s per imgcompat listing: {statistics.median(emulator):.2f}")
    per_page = []
    for (row, client), got in results.items():
        paged = [r for r in got if row.startswith("listing") and r.get("requests")
                 and "server_cpu" in r]
        if paged:
            ms = statistics.median(r["server_cpu"] / r["requests"] / r.get("runs", 1)
                                   for r in paged) * 1000
            per_page.append(f"{client}{' in pages of 25' if row == 'listing-25' else ''} "
                            f"{ms:.1f} ms ({paged[0]['requests']} pages)")
    if per_page:
        notes.append("emulator CPU per listing page: " + "; ".join(per_page))
    cold = [f"{c} {statistics.median(r['units'] / r['first'] for r in got):,.0f}"
            for c in CLIENTS if (got := [r for r in results.get(("listing", c), [])
                                         if "first" in r])]
    if cold:
        notes.append("the first listing of each process alone, images/s: " + "; ".join(cold))
    for (row, client), got in results.items():
        for r in got:
            if "failed" in r:
                notes.append(f"{row}/{client} failed: {r['failed']}")
                break
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--micro-seconds", type=float, default=1.0,
                        help="length of each in-process loop")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 MiB, 50 images, 10 updates, one round")
    parser.add_argument("--no-peers", action="store_true", help="imgcompat only")
    parser.add_argument("--no-refresh", action="store_true",
                        help="use the peers' venv as it is (no pip index look-up)")
    parser.add_argument("--workdir", default=None, help="where images and downloads go")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.images, args.updates = 4, 50, 10
        args.rounds, args.micro_seconds = 1, 0.05

    peer, versions = (None, {}) if args.no_peers else peer_python(not args.no_refresh)
    with emulator_process(args.workdir, "imgcompat-peers-") as (url, root, server):
        spec = _prepare(url, root, args)
        cases = [k for k in CASES if k[1] == "imgcompat" or k[0] == "digests" or peer]
        results: dict[tuple[str, str], list[Outcome]] = {k: [] for k in cases}
        for index in range(max(1, args.rounds)):
            shift = index * 5 % len(cases)
            for row, client in cases[shift:] + cases[:shift]:
                python = sys.executable if client == "imgcompat" else str(peer)
                server_cpu = _cpu_of(server.pid)
                got = _child(python, row, client, spec)
                got["server_cpu"] = _cpu_of(server.pid) - server_cpu
                results[(row, client)].append(got)
                print(f"round {index + 1} {row}/{client}: {got}", file=sys.stderr, flush=True)

    from importlib.metadata import version

    label = ", ".join(f"{p} {v}" for p, v in versions.items()) or "no peers"
    print(f"imgcompat {version('imgcompat')} vs {label}; median of "
          f"{args.rounds} round(s); load average after: {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs)")
    print(_table(results, spec, args.quick))
    for note in _notes(results):
        print(f"- {note}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "case":
        run_case(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
