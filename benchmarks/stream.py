"""Streaming benchmark: imgcompat against plain httpx and the peer clients, over loopback.

The emulator (v2, image bytes on disk) runs in its own process on 127.0.0.1, as a real Glance
would; every case runs in a fresh subprocess so its peak RSS is its own. Per size it measures

* download: imgcompat ``ImageClient.download`` to a path (the strongest published digest,
  sha512, verified; temp file, fsync, rename); the same with every published digest checked
  (``all``: md5 + sha512, the default before issue 13); the engine with md5 and sha512
  computed one after the other (``serial``) or sha512 alone without the client (``sha512``);
  a plain-httpx baseline streaming the same bytes into the same two hashes and a file (fsynced
  too, so both pay for durability); python-glanceclient 2.16 ``images.data`` and openstacksdk
  ``download_image(stream=True, output=...)`` when the ``bench`` extra is installed;
* upload: imgcompat ``ImageClient.create(..., data=path)`` (md5 + sha512 on the fly, record
  checked) against plain httpx streaming the file with the same two hashes.

Run: ``python benchmarks/stream.py`` (256 MiB and 1 GiB, two rounds, about 4 minutes) or
``python benchmarks/stream.py --size-mib 64 --repeat 1`` for a quick look. Not a test: on a
2-core box shared with other work the MB/s move a lot; the CPU seconds per GiB (client and
emulator) say where the time goes and vary much less.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
BLOCK = 4 * MiB
DOWNLOADS = ["baseline", "imgcompat", "imgcompat-all", "imgcompat-serial", "imgcompat-sha512",
             "glanceclient", "openstacksdk"]
UPLOADS = ["upload-baseline", "upload-imgcompat"]


# ----------------------------------------------------------------------------- server


def serve_forever(data_dir: str) -> None:
    """The emulator process: print the URL, serve until stdin closes."""
    from imgcompat.testing import Emulator, serve

    with serve(Emulator(api="v2", data_dir=data_dir)) as url:
        print(url, flush=True)
        sys.stdin.read()


# ----------------------------------------------------------------------------- cases


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process (the emulator)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fsync_close(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def case_baseline(url: str, image_id: str, work: Path) -> Callable[[], int]:
    """Plain httpx: stream the body into md5, sha512 and a file, one after the other."""
    import httpx

    client = httpx.Client(timeout=60)
    record = client.get(f"{url}/v2/images/{image_id}").json()

    def run() -> int:
        md5, sha = hashlib.md5(), hashlib.sha512()
        n = 0
        fh = open(work / "baseline.raw", "wb")  # noqa: SIM115
        with client.stream("GET", f"{url}/v2/images/{image_id}/file") as resp:
            for chunk in resp.iter_raw():
                md5.update(chunk)
                sha.update(chunk)
                fh.write(chunk)
                n += len(chunk)
        _fsync_close(fh)
        assert md5.hexdigest() == record["checksum"]
        assert sha.hexdigest() == record["os_hash_value"]
        return n

    return run


def _client_case(url: str, image_id: str, work: Path, *, every: bool) -> Callable[[], int]:
    from imgcompat.core.download import Verification
    from imgcompat.core.integrity import Verified
    from imgcompat.shell.client import ImageClient

    client = ImageClient(url)
    client.discover()
    verification = Verification.ALL if every else Verification.STRONGEST
    want = {"md5", "sha512"} if every else {"sha512"}

    def run() -> int:
        result = client.download(image_id, dst_path=work / "imgcompat.raw",
                                 verification=verification)
        assert isinstance(result, Verified)
        assert set(result.checked) == want, result
        return result.size

    return run


def case_imgcompat(url: str, image_id: str, work: Path) -> Callable[[], int]:
    """The client's default: the strongest digest the record publishes (sha512)."""
    return _client_case(url, image_id, work, every=False)


def case_imgcompat_all(url: str, image_id: str, work: Path) -> Callable[[], int]:
    """``Verification.ALL``: md5 and sha512 side by side."""
    return _client_case(url, image_id, work, every=True)


def _engine_case(url: str, image_id: str, work: Path, *, parallel: bool,
                 strongest: bool) -> Callable[[], int]:
    """The transfer engine over a minimal httpx ``open_stream`` (no client around it)."""
    import httpx

    from imgcompat.core.download import DownloadOptions, Verification
    from imgcompat.core.integrity import Expected
    from imgcompat.core.model import Image
    from imgcompat.shell.download import download

    client = httpx.Client(timeout=60)
    doc = client.get(f"{url}/v2/images/{image_id}").json()
    expected = Expected.from_image(Image(id=image_id, size=doc["size"], checksum=doc["checksum"],
                                         os_hash_algo=doc["os_hash_algo"],
                                         os_hash_value=doc["os_hash_value"]))
    verification = Verification.STRONGEST if strongest else Verification.ALL

    class Stream:
        def __init__(self, resp: httpx.Response) -> None:
            self.status_code, self.headers, self._resp = resp.status_code, resp.headers, resp

        def iter_chunks(self) -> Iterator[bytes]:
            return self._resp.iter_raw()

    @contextlib.contextmanager
    def open_stream(offset: int) -> Iterator[Stream]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with client.stream("GET", f"{url}/v2/images/{image_id}/file", headers=headers) as r:
            yield Stream(r)

    def run() -> int:
        result = download(open_stream, expected, into=work / "engine.raw",
                          options=DownloadOptions(image_id=image_id, parallel=parallel,
                                                  verification=verification))
        assert len(result.checked) == (1 if strongest else 2)
        return result.size

    return run


def case_imgcompat_serial(url: str, image_id: str, work: Path) -> Callable[[], int]:
    """md5 and sha512 one after the other on one worker: what side-by-side hashing buys."""
    return _engine_case(url, image_id, work, parallel=False, strongest=False)


def case_imgcompat_sha512(url: str, image_id: str, work: Path) -> Callable[[], int]:
    """``Verification.STRONGEST``: sha512 only, the same work glanceclient does."""
    return _engine_case(url, image_id, work, parallel=True, strongest=True)


def case_glanceclient(url: str, image_id: str, work: Path) -> Callable[[], int]:
    import glanceclient

    gc = glanceclient.Client("2", endpoint=url, token="bench")

    def run() -> int:
        n = 0
        fh = open(work / "glanceclient.raw", "wb")  # noqa: SIM115
        for chunk in gc.images.data(image_id):  # verifies os_hash_value (sha512)
            fh.write(chunk)
            n += len(chunk)
        _fsync_close(fh)
        return n

    return run


def case_openstacksdk(url: str, image_id: str, work: Path) -> Callable[[], int]:
    import openstack
    from keystoneauth1 import noauth, session

    sess = session.Session(auth=noauth.NoAuth(endpoint=url))
    conn = openstack.connection.Connection(session=sess, image_endpoint_override=url)
    image: Any = conn.image.get_image(image_id)

    def run() -> int:
        path = work / "openstacksdk.raw"
        fh = open(path, "wb")  # noqa: SIM115
        conn.image.download_image(image, stream=True, output=fh)  # verifies md5
        _fsync_close(fh)
        return path.stat().st_size

    return run


def case_upload_baseline(url: str, source: str, work: Path) -> Callable[[], int]:
    """Plain httpx: create the record, PUT the file with md5 and sha512 computed inline."""
    import httpx

    client = httpx.Client(timeout=120)

    def run() -> int:
        md5, sha = hashlib.md5(), hashlib.sha512()
        doc = client.post(f"{url}/v2/images", json={
            "name": "bench-baseline", "disk_format": "raw", "container_format": "bare"}).json()

        def body() -> Iterator[bytes]:
            with open(source, "rb", buffering=0) as fh:
                while block := fh.read(BLOCK):
                    md5.update(block)
                    sha.update(block)
                    yield block

        size = os.path.getsize(source)
        resp = client.put(f"{url}/v2/images/{doc['id']}/file", content=body(),
                          headers={"Content-Type": "application/octet-stream",
                                   "Content-Length": str(size)})
        resp.raise_for_status()
        after = client.get(f"{url}/v2/images/{doc['id']}").json()
        assert (after["checksum"], after["os_hash_value"]) == (md5.hexdigest(), sha.hexdigest())
        client.delete(f"{url}/v2/images/{doc['id']}")
        return size

    return run


def case_upload_imgcompat(url: str, source: str, work: Path) -> Callable[[], int]:
    from imgcompat.core.model import Image
    from imgcompat.shell.client import ImageClient

    client = ImageClient(url)
    client.discover()

    def run() -> int:
        image = client.create(Image(name="bench-imgcompat", disk_format="raw",
                                    container_format="bare"), data=source)
        assert image.id is not None
        client.delete(image.id)
        return image.size

    return run


CASES: dict[str, Callable[[str, str, Path], Callable[[], int]]] = {
    "baseline": case_baseline,
    "imgcompat": case_imgcompat,
    "imgcompat-all": case_imgcompat_all,
    "imgcompat-serial": case_imgcompat_serial,
    "imgcompat-sha512": case_imgcompat_sha512,
    "glanceclient": case_glanceclient,
    "openstacksdk": case_openstacksdk,
    "upload-baseline": case_upload_baseline,
    "upload-imgcompat": case_upload_imgcompat,
}


def run_case(name: str, url: str, target: str, work: str) -> None:
    """In a fresh process: set up, then time one transfer and report its peak RSS growth."""
    try:
        run = CASES[name](url, target, Path(work))
    except ImportError as exc:
        print(json.dumps({"skipped": f"{type(exc).__name__}: {exc}"}))
        return
    rss0 = _rss()
    cpu0 = _cpu_self()
    t0 = time.perf_counter()
    n = run()
    seconds = time.perf_counter() - t0
    cpu = _cpu_self() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for leftover in Path(work).glob("*.raw"):
        leftover.unlink()
    print(json.dumps({"bytes": n, "seconds": seconds, "cpu": cpu,
                      "rss_growth": max(0, peak - rss0)}))


# ----------------------------------------------------------------------------- driver


def _child(args: list[str], script: str = __file__, timeout: float = 600
           ) -> dict[str, Any]:
    """``python script ARGS`` in a fresh process: its last JSON line, or why it failed."""
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                         check=False, timeout=timeout)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"skipped": f"failed: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextlib.contextmanager
def emulator_process(workdir: str | None, prefix: str
                     ) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """A v2 emulator keeping bytes on disk, in a process of its own (so its CPU is its own):
    its URL, the scratch directory (``store/`` its bytes, ``out/`` for downloads), the
    process. Stopped, and the directory removed, on exit."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix=prefix) as tmp:
        root = Path(tmp)
        (root / "store").mkdir()
        (root / "out").mkdir()
        server = subprocess.Popen([sys.executable, __file__, "serve", str(root / "store")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            yield server.stdout.readline().strip(), root, server
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table whose columns line up in a terminal too."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in rows]
    return "\n".join(lines)


def _make_image(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


def _upload(url: str, path: Path) -> str:
    from imgcompat.core.model import Image
    from imgcompat.shell.client import ImageClient

    with ImageClient(url) as client:
        image = client.create(Image(name=path.name, disk_format="raw", container_format="bare"),
                              data=path)
    assert image.id is not None
    return image.id


def _fmt(result: dict[str, Any], base: dict[str, Any] | None) -> tuple[str, ...]:
    if "skipped" in result:
        return ("-", "-", "-", "-", "-", result["skipped"][:60])
    rate = result["bytes"] / result["seconds"] / 1e6
    ratio = "-"
    if base and "seconds" in base:
        ratio = f"{base['seconds'] / result['seconds']:.2f}x"
    gib = result["bytes"] / (1024 * MiB)
    return (f"{result['seconds']:.2f}", f"{rate:,.0f}", ratio,
            f"{result['cpu'] / gib:.2f}", f"{result['server_cpu'] / gib:.2f}",
            f"{result['rss_growth'] / MiB:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--cases", nargs="+", default=DOWNLOADS + UPLOADS,
                        choices=DOWNLOADS + UPLOADS)
    parser.add_argument("--repeat", type=int, default=2, help="rounds; each case's best counts")
    parser.add_argument("--workdir", default=None, help="where images and downloads go")
    args = parser.parse_args()

    with emulator_process(args.workdir, "imgcompat-bench-") as (url, root, server):
        rows: list[tuple[str, ...]] = []
        for mib in args.size_mib:
            source = root / f"image-{mib}.raw"
            _make_image(source, mib * MiB)
            image_id = _upload(url, source)
            best: dict[str, dict[str, Any]] = {}
            # rounds interleave the cases, so a busy moment does not hit one case only
            for _ in range(max(1, args.repeat)):
                for name in args.cases:
                    target = str(source) if name.startswith("upload") else image_id
                    server_cpu = _cpu_of(server.pid)
                    got = _child(["case", name, url, target, str(root / "out")])
                    got["server_cpu"] = _cpu_of(server.pid) - server_cpu
                    old = best.get(name)
                    if old is None or got.get("seconds", 1e9) < old.get("seconds", 1e9):
                        best[name] = got
                    print(f"{mib} MiB {name}: {got}", file=sys.stderr, flush=True)
            for name in args.cases:
                base = best.get("upload-baseline" if name.startswith("upload") else "baseline")
                rows.append((f"{mib} MiB", name, *_fmt(best[name], base)))
            source.unlink()

    print(f"load average after the run: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    head = ("image", "case", "seconds", "MB/s", "vs baseline", "client CPU s/GiB",
            "server CPU s/GiB", "peak RSS growth MiB")
    print(markdown_table(head, rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve_forever(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "case":
        run_case(*sys.argv[2:6])
    else:
        main()
