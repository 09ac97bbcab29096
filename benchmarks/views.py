"""What a per-request view costs: making one, and a ``show`` through one vs the client.

Run: ``.venv/bin/python benchmarks/views.py [--runs 7] [--shows 300]``.

Measured in process against the emulator (``Emulator(api="v2").sync_transport()``), so the
``show`` figures are dominated by the emulator and the in-process transport; the difference
between the two ``show`` lines is what the view adds to a request. Each figure is the median
of ``--runs`` rounds, the cases taking turns within each round.

* ``for_request`` with a token, a service token and a request id (its values are checked
  when the view is made: the request id against ``req-<uuid>``);
* ``imgcompat.nova.ImageService``'s mapping of a context to a view (three ``getattr``, the
  request-id form check, then the same ``for_request``);
* one ``show`` through the client, through a view made once, and through a view made per call;
* the same two ``show`` lines over ``httpx.MockTransport`` replaying the emulator's answers,
  which leaves out the emulator and shows the client's own cost per request.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
import uuid
from collections.abc import Callable

import attrs
import httpx

from imgcompat import Image, ImageClient
from imgcompat.nova import ImageService
from imgcompat.testing import Emulator

URL = "http://glance.bench"


@attrs.define
class Context:
    """The attributes the seam reads of a Nova RequestContext."""

    auth_token: str = "user-token"
    global_id: str = attrs.field(factory=lambda: f"req-{uuid.uuid4()}")
    request_id: str | None = None
    service_token: str | None = "service-token"


def medians_us(cases: list[tuple[str, Callable[[], object], int]], runs: int
               ) -> list[tuple[str, float]]:
    """Per case, the median over ``runs`` rounds of one call's time in microseconds. The
    cases take turns within each round, so a machine that slows down mid-run (a shared
    box) slows every case alike instead of whichever ran last."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(runs):
        for name, func, number in cases:
            times[name].append(timeit.timeit(func, number=number) / number * 1e6)
    return [(name, statistics.median(times[name])) for name, _, _ in cases]


def replaying(emulator: Emulator) -> httpx.MockTransport:
    """A transport answering each path as the emulator answered it once."""
    answers: dict[str, tuple[int, bytes, list[tuple[str, str]]]] = {}
    inner = httpx.Client(transport=emulator.sync_transport(), base_url=URL)

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path not in answers:
            got = inner.get(path)
            answers[path] = (got.status_code, got.content, list(got.headers.multi_items()))
        status, body, headers = answers[path]
        return httpx.Response(status, content=body, headers=[
            (k, v) for k, v in headers if k.lower() != "content-length"])

    return httpx.MockTransport(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--shows", type=int, default=300)
    args = parser.parse_args()

    emulator = Emulator(api="v2")
    service = ImageService(URL, transport=emulator.sync_transport(), token="service-own")
    client = service.client
    image_id = client.create(Image(name="bench", disk_format="raw", container_format="bare"),
                             data=b"x" * 1024).id
    assert image_id is not None
    context = Context()
    request_id = context.global_id

    def make_view() -> ImageClient:
        return client.for_request("user-token", service_token="service-token",
                                  request_id=request_id)

    view = make_view()
    bare = ImageClient(URL, transport=replaying(emulator), token="service-own")
    bare_view = bare.for_request("user-token", service_token="service-token",
                                 request_id=request_id)
    fast, slow = 20_000, args.shows
    rows = medians_us([
        ("make a view: for_request(token, service_token, request_id)", make_view, fast),
        ("map a Nova context to a view (ImageService)", lambda: service._view(context), fast),
        ("show through the client", lambda: client.show(image_id), slow),
        ("show through a view made once", lambda: view.show(image_id), slow),
        ("show through a view made per call", lambda: make_view().show(image_id), slow),
        ("ImageService.show(context, id) (view + seam dict)",
         lambda: service.show(context, image_id), slow),
        ("show through the client (replayed answers)", lambda: bare.show(image_id), slow),
        ("show through a view (replayed answers)", lambda: bare_view.show(image_id), slow),
    ], args.runs)
    width = max(len(name) for name, _ in rows)
    print(f"median of {args.runs} rounds, microseconds per call")
    for name, micros in rows:
        print(f"{name:<{width}}  {micros:10.2f}")
    service.close()


if __name__ == "__main__":
    main()
