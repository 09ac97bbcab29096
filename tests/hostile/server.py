"""A hostile image server of the project's own: real sockets on 127.0.0.1, answers scripted
per test, and an "other host" that fails the test if anything reaches it.

The emulator plays a well-behaved Glance; this plays whatever a test needs a broken or
malicious one to do, byte for byte: any status line, raw header bytes (invalid ones
included), a body given whole or produced by a generator that pauses between pieces
(a trickle), a lying ``Content-Length``, a connection dropped halfway. Requests are parsed
with h11 (what httpx itself speaks), so what a test sees is what the client really sent.

The API, in full::

    with HostileServer() as server, OtherHost() as other:
        server.script(lambda seen: Answer(...))   # or server.queue(answer, answer, ...)
        client = ImageClient(server.url, token=TOKEN)
        ...
        server.seen          # every Seen request, in order
    other.reached            # raw bytes of every connection the other host got (want: [])

- :class:`Seen`: one request as received (method, target, headers, body; ``header(name)``).
- :class:`Answer`: status, headers (``str`` or raw ``bytes`` values), ``body`` (bytes, or a
  callable returning an iterable of ``bytes`` and ``float`` pauses), ``framing``
  (``"length"``: a ``Content-Length`` is added unless given; ``"close"``: the body ends
  when the connection closes; ``"chunked"``), ``drop_after`` (close the socket after that
  many body bytes, the rest unsent), ``head_pause`` (trickle the status line and headers
  one byte per pause).
- Helpers: :func:`json_answer`, :func:`versions`, :func:`trickle`, :func:`image_record`,
  :func:`echo` (a script answering with the request's own headers),
  :func:`routes` (a script from a ``{(method, path): answer}`` table).

Each connection carries one request and is closed after its answer (``Connection: close``
unless the answer says otherwise), so a script never has to care about keep-alive. Pauses
end early when the server stops, so a test that gives up on a trickle is not held by it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs
import h11

HOST = "127.0.0.1"
#: How long a stopping server waits for its connection threads.
_JOIN_TIMEOUT = 5.0
#: The most request body a scripted server keeps (an upload beyond it is read and dropped).
_KEEP_BODY = 1 << 20

Header = tuple[str, "str | bytes"]
BodyPiece = bytes | float
Framing = Literal["length", "close", "chunked"]


@attrs.frozen
class Seen:
    """One request as the server received it (header names lower case)."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    #: The connection's peer (the client's address and port).
    peer: tuple[str, int] = ("", 0)

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The target's query string (without ``?``)."""
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


def _headers(items: Iterable[Header]) -> tuple[Header, ...]:
    return tuple(items)


@attrs.frozen
class Answer:
    """What the server sends back, exactly (see the module docstring)."""

    status: int = 200
    headers: tuple[Header, ...] = attrs.field(default=(), converter=_headers)
    body: bytes | Callable[[], Iterable[BodyPiece]] = b""
    framing: Framing = "length"
    drop_after: int | None = None
    reason: str = "Scripted"
    #: Send the status line and headers one byte at a time, pausing this long after each.
    head_pause: float | None = None


Script = Callable[[Seen], Answer]


def json_answer(doc: Any, status: int = 200, headers: Iterable[Header] = ()) -> Answer:
    """A JSON document as the answer's body."""
    return Answer(status, (("content-type", "application/json"), *headers),
                  json.dumps(doc).encode())


def versions(url: str, *ids: str, status: int = 300) -> Answer:
    """A versions document listing ``ids`` (default ``v2.9``), each linking to ``url``."""
    entries = [{"id": i, "status": "CURRENT",
                "links": [{"rel": "self", "href": f"{url}/v{i[1]}/"}]}
               for i in (ids or ("v2.9",))]
    return json_answer({"versions": entries}, status=status)


def image_record(image_id: str, **fields: Any) -> dict[str, Any]:
    """A valid v2 image entity (active, 3 bytes) with ``fields`` changed."""
    record: dict[str, Any] = {
        "id": image_id, "name": "hostile", "status": "active", "visibility": "private",
        "protected": False, "os_hidden": False, "tags": [], "min_disk": 0, "min_ram": 0,
        "size": 3, "checksum": "900150983cd24fb0d6963f7d28e17f72",
        "disk_format": "raw", "container_format": "bare",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    record.update(fields)
    return record


def echo(status: int = 400) -> Script:
    """A script answering every request with its own headers, as an error message (what a
    debugging proxy or a careless server does with a token)."""
    def script(seen: Seen) -> Answer:
        text = "; ".join(f"{k}: {v}" for k, v in seen.headers)
        return json_answer({"message": f"cannot serve {seen.target} ({text})"}, status=status)
    return script


def trickle(data: bytes, every: float, piece: int = 1) -> Callable[[], Iterator[BodyPiece]]:
    """A body sending ``piece`` bytes of ``data`` and then pausing ``every`` seconds."""
    def pieces() -> Iterator[BodyPiece]:
        for start in range(0, len(data), piece):
            yield data[start:start + piece]
            yield every
    return pieces


def routes(table: Mapping[tuple[str, str], Answer | Script],
           default: Answer | None = None) -> Script:
    """A script answering by ``(method, path)``; anything else gets ``default`` (a 404)."""
    fallback = default or json_answer({"message": "not scripted"}, status=404)

    def script(seen: Seen) -> Answer:
        entry = table.get((seen.method, seen.path), fallback)
        return entry(seen) if callable(entry) else entry
    return script


class _Listener:
    """A thread accepting connections on 127.0.0.1 and handing each to ``serve_one``."""

    def __init__(self, name: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepter = threading.Thread(target=self._accept, name=name, daemon=True)

    def start(self) -> None:
        """Begin accepting."""
        self._accepter.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            thread = threading.Thread(target=self._run, args=(conn, peer), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        try:
            self.serve_one(conn, peer)
        except OSError:
            pass  # the client went away: nothing to answer
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def serve_one(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        """Handle one accepted connection."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop accepting, cut every open connection and wait for the threads."""
        self.stopping.set()
        self._sock.close()
        with self._lock:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._accepter.join(_JOIN_TIMEOUT)
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT)


class HostileServer(_Listener):
    """The scripted server: ``url``, ``script(fn)`` / ``queue(*answers)``, ``seen``."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__("hostile-server")
        self._script: Script = script or (lambda seen: json_answer({}, status=404))
        self._queue: list[Answer] = []
        self.seen: list[Seen] = []
        #: Bytes of body the server actually sent (per answer, in order).
        self.sent: list[int] = []

    def script(self, script: Script) -> None:
        """Answer every following request with ``script(seen)``."""
        self._script = script

    def queue(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order (then the script again)."""
        with self._lock:
            self._queue.extend(answers)

    def _next_answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            if self._queue:
                return self._queue.pop(0)
        return self._script(seen)

    def serve_one(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.settimeout(30)
        seen = _read_request(conn, peer)
        if seen is None:
            return
        self._send(conn, self._next_answer(seen))

    def _pause(self, seconds: float) -> bool:
        """Wait; False when the server is stopping (the answer is abandoned)."""
        return not self.stopping.wait(seconds)

    def _send(self, conn: socket.socket, answer: Answer) -> None:
        names = {name.lower() for name, _ in answer.headers}
        head = [f"HTTP/1.1 {answer.status} {answer.reason}".encode()]
        for name, value in answer.headers:
            raw = value if isinstance(value, bytes) else value.encode("latin-1")
            head.append(name.encode("latin-1") + b": " + raw)
        body = answer.body
        if answer.framing == "length" and isinstance(body, bytes) \
                and "content-length" not in names:
            head.append(b"content-length: " + str(len(body)).encode())
        if answer.framing == "chunked" and "transfer-encoding" not in names:
            head.append(b"transfer-encoding: chunked")
        if "connection" not in names:
            head.append(b"connection: close")
        raw_head = b"\r\n".join(head) + b"\r\n\r\n"
        if answer.head_pause is None:
            conn.sendall(raw_head)
        else:
            for index in range(len(raw_head)):
                conn.sendall(raw_head[index:index + 1])
                if not self._pause(answer.head_pause):
                    return
        pieces: Iterable[BodyPiece] = [body] if isinstance(body, bytes) else body()
        sent = 0
        for piece in pieces:
            if not isinstance(piece, bytes):
                if not self._pause(float(piece)):
                    return
                continue
            cut = answer.drop_after is not None and sent + len(piece) > answer.drop_after
            data = piece[:answer.drop_after - sent] if answer.drop_after is not None else piece
            self._write(conn, data, answer.framing)
            sent += len(data)
            if cut:
                break
        else:
            if answer.framing == "chunked":
                conn.sendall(b"0\r\n\r\n")
        self.sent.append(sent)

    @staticmethod
    def _write(conn: socket.socket, piece: bytes, framing: Framing) -> None:
        if not piece:
            return
        if framing == "chunked":
            conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        else:
            conn.sendall(piece)

    def __enter__(self) -> HostileServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class OtherHost(_Listener):
    """A host nothing should ever reach: ``reached`` holds what each connection sent.

    Point a redirect, a ``next`` link or a versions ``href`` at ``url``; the fixture in
    ``conftest.py`` fails the test if ``reached`` is not empty at its end.
    """

    def __init__(self) -> None:
        super().__init__("other-host")
        self.reached: list[bytes] = []

    def serve_one(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.settimeout(2)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                piece = conn.recv(4096)
                if not piece:
                    break
                data += piece
        except OSError:
            pass
        with self._lock:
            self.reached.append(data)
        conn.sendall(b"HTTP/1.1 500 Reached\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

    def __enter__(self) -> OtherHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_request(conn: socket.socket, peer: tuple[str, int]) -> Seen | None:
    """One request off the connection (None when the client closed without one)."""
    parser = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            data = conn.recv(65536)
            parser.receive_data(data)
            if not data and request is None:
                return None
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            if len(body) < _KEEP_BODY:
                body += bytes(event.data)[: _KEEP_BODY - len(body)]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if request is None:
        return None
    headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1"))
                    for k, v in request.headers)
    return Seen(request.method.decode(), request.target.decode("latin-1"), headers,
                bytes(body), (str(peer[0]), int(peer[1])))
