"""The v2 API of the emulator: Glance 33's routes, and what every handler shares.

Status codes, messages and rules follow a real Glance 33.0.0 (API 2.17), probed with
identities (``GLANCE_AUTH=trusted``) and two stores; the entity is rendered by the core
v2 codec. The route table is Glance's router: a path it does not know answers 404, a
known path with another method 405 with ``Allow``, and the routes Glance marks
``body_reject`` refuse a request body with 400. The handlers live by resource:
``v2_images`` (images, listing, actions), ``v2_data`` (file and stage), ``v2_tags``,
``v2_members``, ``v2_import`` (import, tasks, info) and ``v2_schemas``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .http import BodyTooLarge, Request, Responder, json_bytes
from .http_errors import HttpError
from .identity import Identity, visible
from .render import v2_json
from .store import NotFound, Record
from .v2_schemas import ImageValidator

if TYPE_CHECKING:
    from .emulator import Emulator

_VALID_TRANSFER_ENCODINGS = frozenset({"chunked", "compress", "deflate", "gzip",
                                       "identity"})
_DECODING = ("Error decoding your request. Either the URL or the request body contained "
             "characters that could not be decoded by Glance")


@attrs.frozen
class Call:
    """One request as a handler sees it: the API, the exchange and the caller."""

    api: V2Api
    req: Request
    resp: Responder
    who: Identity

    @property
    def emu(self) -> Emulator:
        """The emulator answering."""
        return self.api.emu


Handler = Callable[..., Awaitable[None]]


@attrs.frozen
class Route:
    """One path pattern (``{name}`` segments are parameters) and its methods."""

    pattern: tuple[str, ...]
    methods: dict[str, Handler]
    #: Methods Glance marks ``body_reject``: a request body is a 400.
    body_reject: frozenset[str] = frozenset()
    allow: str = ""

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """The parameters when ``segments`` fit this pattern."""
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


def has_body(req: Request) -> bool:
    """Glance's ``JSONRequestDeserializer.has_body``."""
    encoding = (req.header("transfer-encoding") or "").lower()
    if encoding in _VALID_TRANSFER_ENCODINGS and req.method in ("POST", "PUT", "PATCH"):
        return True
    length = req.header("content-length")
    try:
        return length is not None and int(length) > 0
    except ValueError:
        return False


class V2Api:
    """The v2 routes of one emulator, and the helpers its handlers share."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._validators: dict[int, ImageValidator] = {}
        from . import v2_routes  # the handler modules import this one

        self.routes = v2_routes.routes()

    @property
    def minor(self) -> int:
        """The advertised ``2.<minor>``."""
        return self.emu.v2_minor

    @property
    def validator(self) -> ImageValidator:
        """Glance's image schema of this minor, as a validator."""
        minor = self.minor
        if minor not in self._validators:
            self._validators[minor] = ImageValidator(minor)
        return self._validators[minor]

    async def __call__(self, req: Request, resp: Responder, who: Identity, path: str) -> None:
        try:
            await self._dispatch(Call(self, req, resp, who), path)
        except HttpError as exc:
            await req.drain()
            await resp.error(exc)

    async def _dispatch(self, call: Call, path: str) -> None:
        segments = path.split("/")
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            handler = route.methods.get(call.req.method)
            if handler is None:
                raise HttpError(405, headers=[("Allow", route.allow)])
            if call.req.method in route.body_reject and has_body(call.req):
                raise HttpError(400, "A body is not expected with this request.")
            await handler(call, **params)
            return
        raise HttpError(404)

    # ------------------------------------------------------------------ helpers

    def render(self, record: Record) -> dict[str, Any]:
        """The image entity this server answers for ``record``."""
        return v2_json(record, minor=self.minor, show_direct_url=self.emu.show_direct_url)

    def entities(self, records: Iterable[Record]) -> list[bytes]:
        """:meth:`render` of each record encoded (:func:`~.http.json_bytes`), kept by the
        store for this version of the record: what a listing page joins."""
        minor, direct = self.minor, self.emu.show_direct_url
        store, variant = self.emu.store, ("v2", minor, direct)

        def render(record: Record) -> bytes:
            return json_bytes(v2_json(record, minor=minor, show_direct_url=direct))

        return [store.rendered(record, variant, render) for record in records]

    def entity(self, record: Record) -> bytes:
        """:meth:`entities` of one record: what a show answers."""
        return self.entities((record,))[0]

    def lookup(self, image_id: str, who: Identity) -> Record | None:
        """The image ``who`` may see under ``image_id`` (None: Glance's 404)."""
        try:
            record = self.emu.store.get(image_id)
        except NotFound:
            return None
        return record if visible(who, record, self.emu.store) else None

    def image(self, image_id: str, who: Identity, message: str | None = None) -> Record:
        """:meth:`lookup`, or the 404 (``message`` defaults to the images controller's)."""
        record = self.lookup(image_id, who)
        if record is None:
            raise HttpError(404, message or f"No image found with ID {image_id}")
        return record

    async def json_body(self, req: Request) -> Any:
        """The request body as Glance's JSON deserializer reads it (400 when absent)."""
        if not has_body(req):
            raise HttpError(400, "Body expected in request.")
        try:
            raw = await req.read(self.emu.json_body_limit)
        except BodyTooLarge:
            raise HttpError(413) from None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            raise HttpError(400, "Malformed JSON in request body.") from None
        if not isinstance(doc, dict | list):
            raise HttpError(400, "Unexpected body type. Expected list/dict.")
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (\ud800): Glance 33 answers 500
            raise HttpError(400, _DECODING) from None
        except RecursionError:
            raise HttpError(400, "Malformed JSON in request body.") from None
        return doc
