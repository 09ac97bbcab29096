"""The ``imgcompat`` command: discover, list, show, download, upload, translate, serve, demo.

Every failure ends as one line on stderr and an exit status (2: the command line was
wrong; 1: the operation failed); a traceback only with ``--debug``. Tokens are read from
the options or the environment and never printed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

import attrs
import click
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from imgcompat.core.discovery import VersionChoice, choose_version, normalize_endpoint
from imgcompat.core.enums import ContainerFormat, DiskFormat, Visibility
from imgcompat.core.errors import ConnectionFailed, ImgcompatError, InvalidRecord, error_for
from imgcompat.core.fields import LATEST_V2_MINOR
from imgcompat.core.model import Image, Loss, Translated
from imgcompat.core.scalars import parse_time
from imgcompat.core.seam import (
    from_seam_dict,
    from_v1_headers,
    from_v1_json,
    from_v2,
    to_seam_json,
    to_v1_headers,
    to_v2,
)
from imgcompat.core.translate import image_to_v1, image_to_v2
from imgcompat.core.v1 import header_losses, v1image_to_v1_headers
from imgcompat.core.v2 import v2image_to_v2_json
from imgcompat.core.writes import v2_patch

if TYPE_CHECKING:
    from imgcompat.shell.client import ImageClient

PROG = "imgcompat"
TOKEN_ENV = ("OS_AUTH_TOKEN", "OS_TOKEN")
ENDPOINT_ENV = ("OS_IMAGE_URL",)
FROM_FORMATS = ("v1-headers", "v1-json", "v2-json", "seam")
TO_FORMATS = ("v1-headers", "v2-json", "v2-patch", "seam")
_LOGGER = logging.getLogger("imgcompat")


@attrs.define
class State:
    """Global options, shared by every sub-command through ``click.Context.obj``."""

    debug: bool = False
    endpoint: str | None = None
    endpoint_given: bool = False
    token: str | None = None
    api_version: str | None = None
    insecure: bool = False
    timeout: float = 60.0
    retries: int = 3


def _err(text: str) -> None:
    click.echo(f"{PROG}: {text}", err=True)


def _stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A console for tables: the terminal's width, or 100 columns when not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=100)
    return console


class _OneLineHandler(logging.Handler):
    """Library warnings (v1 deprecation, losses) as ``imgcompat: warning: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname.lower()
            click.echo(f"{PROG}: {level}: {record.getMessage()}", err=True)
        except Exception:  # logging must never break the command
            self.handleError(record)


def _log_to_stderr(debug: bool) -> None:
    """Send the library's warnings to stderr, once."""
    if not any(isinstance(h, _OneLineHandler) for h in _LOGGER.handlers):
        _LOGGER.addHandler(_OneLineHandler())
    _LOGGER.setLevel(logging.DEBUG if debug else logging.WARNING)


def _state(ctx: click.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


# --------------------------------------------------------------------------- the group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, envvar="IMGCOMPAT_DEBUG",
              help="Show tracebacks and debug logging.")
@click.option("--endpoint", "--os-image-url", "endpoint", envvar=list(ENDPOINT_ENV),
              metavar="URL", help="Image API root URL [env: OS_IMAGE_URL].")
@click.option("--token", envvar=list(TOKEN_ENV), metavar="TOKEN", show_default=False,
              help="Auth token [env: OS_AUTH_TOKEN, OS_TOKEN]; never printed.")
@click.option("--api-version", type=click.Choice(["1", "2"]), default=None,
              help="Pin the API major instead of discovering (v2 preferred).")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds per HTTP request.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retries over the API servers on 503s, timeouts, refused connections.")
@click.version_option(package_name="imgcompat", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, *, debug: bool, endpoint: str | None, token: str | None,
        api_version: str | None, insecure: bool, timeout: float, retries: int) -> None:
    """One image API for a compute service, over Glance v1, v2 or both."""
    state = _state(ctx)
    state.debug = debug
    state.endpoint = endpoint or None
    source = ctx.get_parameter_source("endpoint")
    state.endpoint_given = source is click.core.ParameterSource.COMMANDLINE
    state.token = token or None
    state.api_version = api_version
    state.insecure = insecure
    state.timeout = timeout
    state.retries = retries


# --------------------------------------------------------------------------- translate


def parse_header_lines(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines as ``curl -D`` writes them.

    Status lines start a new response (only the last one counts, as after a redirect);
    folded continuation lines join the previous value.
    """
    pairs: list[tuple[str, str]] = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("HTTP/"):
            pairs = []
            continue
        if line[0] in " \t":
            if not pairs:
                raise InvalidRecord(f"line {number}: continuation line without a header")
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.rstrip():
            raise InvalidRecord(f"line {number}: expected 'Name: value', got {line[:60]!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _json_doc(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" (line {exc.lineno}, column {exc.colno})"
        raise InvalidRecord(f"{what} is not valid JSON: {msg}{where}") from exc


def _object(doc: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise InvalidRecord(f"{what} must be a JSON object, got {type(doc).__name__}")
    return doc


def record_from_doc(fmt: str, doc: Any, what: str = "input") -> Image:
    """A seam record from an already-parsed JSON document in the ``fmt`` format."""
    obj = _object(doc, what)
    if fmt == "v1-json":
        if "images" in obj:
            raise InvalidRecord(f"{what} is a v1 list; give one image ({{'image': {{...}}}})")
        return from_v1_json(obj)
    if fmt == "v2-json":
        if "images" in obj:
            raise InvalidRecord(f"{what} is a v2 list; give one image entity")
        return from_v2(obj)
    if fmt == "seam":
        return from_seam_dict(obj)
    raise click.BadParameter(f"{fmt} is not a JSON format", param_hint="--from")


def parse_record(fmt: str, text: str, what: str = "input") -> Image:
    """A seam record from text in one of :data:`FROM_FORMATS`."""
    if fmt == "v1-headers":
        pairs = parse_header_lines(text)
        if not any(name.lower().startswith("x-image-meta-") for name, _ in pairs):
            raise InvalidRecord(f"{what} has no x-image-meta-* headers")
        return from_v1_headers(pairs)
    return record_from_doc(fmt, _json_doc(text, what), what)


def render_record(image: Image, fmt: str, *, minor: int, request: bool,
                  locations: bool) -> Translated[str]:
    """One record in an output format, with what the translation lost."""
    if fmt == "seam":
        return Translated(_dumps(to_seam_json(image, include_locations=locations)))
    if fmt == "v1-headers":
        if request:
            headers = to_v1_headers(image)
            return Translated(_header_text(headers.value), headers.losses)
        v1 = image_to_v1(image)
        text = _header_text(v1image_to_v1_headers(v1.value))
        return Translated(text, v1.losses + header_losses(v1.value))
    if fmt == "v2-json":
        if request:
            body = to_v2(image, minor=minor)
            return Translated(_dumps(body.value), body.losses)
        v2 = image_to_v2(image, minor=minor)
        return Translated(_dumps(v2image_to_v2_json(v2.value)), v2.losses)
    raise click.BadParameter(f"cannot render one record as {fmt}", param_hint="--to")


def _header_text(headers: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{name}: {value}\n" for name, value in headers)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def print_losses(losses: Sequence[Loss]) -> None:
    """The ``Loss`` report on stderr: one ``loss: field: reason`` line each."""
    for loss in losses:
        click.echo(f"loss: {loss.field}: {loss.reason}", err=True)


@cli.command()
@click.option("--from", "from_", type=click.Choice(FROM_FORMATS), required=True,
              help="Format of stdin.")
@click.option("--to", "to", type=click.Choice(TO_FORMATS), required=True,
              help="Format of stdout.")
@click.option("--current", "current_file", type=click.Path(dir_okay=False, path_type=Path),
              help="v2-patch: the current record (in the --from format); stdin is the wanted "
                   "one. Without it, stdin is {\"current\": ..., \"wanted\": ...}.")
@click.option("--no-purge", is_flag=True,
              help="v2-patch: keep properties the wanted record lacks.")
@click.option("--minor", type=click.IntRange(0, 99), default=LATEST_V2_MINOR,
              show_default=True, help="The v2 minor version to write for.")
@click.option("--request", is_flag=True,
              help="Write what a client sends on create (writable fields only) instead of "
                   "the record as a server states it.")
@click.option("--locations", is_flag=True, help="seam: include direct_url and locations.")
@click.option("--strict", is_flag=True, help="Exit 1 when the translation lost anything.")
def translate(*, from_: str, to: str, current_file: Path | None, no_purge: bool, minor: int,
              request: bool, locations: bool, strict: bool) -> None:
    """Translate one image record from stdin to stdout; the Loss report goes to stderr.

    v1-headers input is one 'Name: value' per line, as 'curl -D' writes them.
    """
    text = sys.stdin.read()
    if not text.strip():
        raise click.UsageError("nothing on stdin: pipe one record in")
    if to == "v2-patch":
        if current_file is not None:
            current = parse_record(from_, current_file.read_text(encoding="utf-8"),
                                   str(current_file))
            wanted = parse_record(from_, text, "stdin")
        elif from_ == "v1-headers":
            raise click.UsageError("--to v2-patch from v1-headers needs --current FILE")
        else:
            pair = _object(_json_doc(text, "stdin"), "stdin")
            missing = [k for k in ("current", "wanted") if k not in pair]
            if missing or len(pair) != 2:
                raise InvalidRecord("stdin must be {\"current\": <record>, \"wanted\": "
                                    "<record>} (or use --current FILE)")
            current = record_from_doc(from_, pair["current"], "current")
            wanted = record_from_doc(from_, pair["wanted"], "wanted")
        patch = v2_patch(current, wanted, purge_props=not no_purge, minor=minor)
        out = Translated(_dumps(list(patch.value)), patch.losses)
    else:
        if current_file is not None:
            raise click.UsageError("--current is only for --to v2-patch")
        out = render_record(parse_record(from_, text, "stdin"), to, minor=minor,
                            request=request, locations=locations)
    sys.stdout.write(out.value)
    print_losses(out.losses)
    if strict and out.losses:
        raise _Failure(f"the translation lost {len(out.losses)} thing(s)")


class _Failure(click.ClickException):
    """An operation failed (exit 1) and has already explained itself."""

    exit_code = 1


# --------------------------------------------------------------------------- discover


def fetch_versions(root: str, *, timeout: float, verify: bool,
                   token: str | None = None) -> dict[str, Any]:
    """The versions document at an unversioned root (``GET /`` answers 300 or 200)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    url = root.rstrip("/") + "/"
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, verify=verify,
                             follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ConnectionFailed(f"cannot reach {url}: {exc or type(exc).__name__}",
                               servers=(root,)) from exc
    if response.status_code not in (200, 300):
        raise error_for(response.status_code, response.content, None)
    doc = _object(_json_doc(response.text, f"the answer of {url}"), f"the answer of {url}")
    return dict(doc)


def versions_table(doc: Mapping[str, Any], choice: VersionChoice | None) -> Table:
    """The versions document as a table, highest first, the chosen one marked."""
    table = Table(title="versions", title_justify="left")
    table.add_column("id")
    table.add_column("status")
    table.add_column("href", overflow="fold")
    table.add_column("chosen", justify="center")

    def rank(entry: Mapping[str, Any]) -> tuple[int, ...]:
        text = str(entry.get("id", "")).lstrip("v")
        return tuple(int(p) for p in text.split(".") if p.isdigit())

    entries = [e for e in doc.get("versions", []) if isinstance(e, Mapping)]
    for entry in sorted(entries, key=rank, reverse=True):
        href = next((str(link.get("href", "")) for link in entry.get("links", ())
                     if isinstance(link, Mapping) and link.get("rel") == "self"), "")
        chosen = choice is not None and str(entry.get("id")) == choice.label
        style = "bold green" if chosen else None
        table.add_row(str(entry.get("id", "")), str(entry.get("status", "")), href,
                      "✔" if chosen else "", style=style)
    return table


@cli.command()
@click.argument("url", required=False)
@click.option("--pin", type=click.Choice(["1", "2"]), default=None,
              help="Ask for this API major (default: --api-version, else v2 preferred).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def discover(ctx: click.Context, url: str | None, pin: str | None, as_json: bool) -> None:
    """Show an endpoint's versions document, the version chosen and why."""
    state = _state(ctx)
    url = url or state.endpoint
    if not url:
        raise click.UsageError("give URL (or --endpoint / OS_IMAGE_URL)")
    endpoint = normalize_endpoint(url)
    if endpoint.warning:
        _err(f"warning: {endpoint.warning}")
    wanted = pin or state.api_version or (endpoint.pinned_major.value
                                          if endpoint.pinned_major else None)
    doc = fetch_versions(endpoint.root, timeout=state.timeout, verify=not state.insecure,
                         token=state.token)
    choice = choose_version(doc, wanted, endpoint=endpoint.root)
    for warning in choice.warnings:
        _err(f"warning: {warning}")
    if as_json:
        click.echo(_dumps({
            "endpoint": endpoint.root,
            "versions": doc.get("versions", []),
            "choice": {"api": choice.api.value, "minor": choice.minor, "label": choice.label,
                       "root_url": choice.root_url, "reason": choice.reason,
                       "warnings": list(choice.warnings)},
            "endpoint_warning": endpoint.warning,
        }), nl=False)
        return
    console = stdout_console()
    console.print(versions_table(doc, choice))
    console.print(f"[bold]endpoint[/]  {endpoint.root}")
    console.print(f"[bold]chosen[/]    [green]{choice.label}[/] at {choice.root_url}")
    console.print(f"[bold]reason[/]    {choice.reason}")


# --------------------------------------------------------------------------- serve


@cli.command()
@click.option("--api", type=click.Choice(["v1", "v2", "both"]), default="both",
              show_default=True, help="Which APIs the emulator offers.")
@click.option("--port", type=click.IntRange(0, 65535), default=9292, show_default=True,
              help="TCP port on 127.0.0.1 (0: any free port).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep image bytes here (default: in memory).")
@click.option("--v2-minor", type=click.IntRange(0, 18), default=17, show_default=True,
              help="The highest v2 minor the emulator advertises.")
def serve(api: str, port: int, data_dir: Path | None, v2_minor: int) -> None:
    """Run the embedded Glance emulator on 127.0.0.1 until interrupted (no auth)."""
    from imgcompat.testing import run_server

    where = f"127.0.0.1:{port}" if port else "a free port of 127.0.0.1"
    _err(f"serving the Glance emulator ({api}, v2.{v2_minor}) on {where}; Ctrl-C stops it")
    run_server(cast(Literal["v1", "v2", "both"], api), port, data_dir, v2_minor=v2_minor)


# --------------------------------------------------------------------------- client commands


def make_client(state: State) -> ImageClient:
    """A seam client from the global options, else from the ``OS_*`` environment."""
    from imgcompat.shell.client import ImageClient

    options: dict[str, Any] = {"on_loss": print_losses, "timeout": state.timeout,
                               "num_retries": state.retries}
    if state.insecure:
        options["verify"] = False
    if state.api_version:
        options["version"] = state.api_version
    if state.token:
        options["token"] = state.token
    if state.endpoint:
        return ImageClient(state.endpoint, **options)
    if not os.environ.get("OS_AUTH_URL"):
        raise click.UsageError("no image API endpoint: give --endpoint URL or set "
                               "OS_IMAGE_URL")
    return ImageClient.from_env(**options)


@contextlib.contextmanager
def _client(ctx: click.Context) -> Iterator[ImageClient]:
    state = _state(ctx)
    _log_to_stderr(state.debug)
    client = make_client(state)
    try:
        yield client
    finally:
        client.close()


def _key_value(items: Sequence[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = value
    return out


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def images_table(images: Sequence[Image]) -> Table:
    """The essentials, so a 100-column terminal keeps the full ids (``show`` has the rest)."""
    table = Table(title=f"{len(images)} image(s)", title_justify="left", expand=True)
    table.add_column("id", no_wrap=True, min_width=36)
    table.add_column("name", overflow="fold", ratio=1, min_width=12)
    table.add_column("status", no_wrap=True)
    table.add_column("visibility", no_wrap=True)
    table.add_column("size", no_wrap=True, justify="right")
    for image in images:
        table.add_row(image.id or "", image.name or "—", str(image.status),
                      str(image.visibility), _size(image.size))
    return table


def record_table(image: Image) -> Table:
    """One seam record as key/value rows, properties after the base keys."""
    doc = to_seam_json(image, include_locations=bool(image.locations or image.direct_url))
    table = Table(show_header=False, title=image.name or image.id, title_justify="left")
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    props = doc.pop("properties")
    for key, value in doc.items():
        table.add_row(key, _plain(value))
    for key in sorted(props):
        table.add_row(f"properties.{key}", _plain(props[key]))
    return table


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@cli.command("list")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="A v1-style filter: name=, status=, disk_format=, is_public=, "
                   "property-<key>=, size_min=, ... (repeatable).")
@click.option("--changes-since", metavar="TIME", help="Images changed after this ISO 8601 time.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option("--sort-key", default=None, help="Sort by this key.")
@click.option("--sort-dir", type=click.Choice(["asc", "desc"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print seam records as JSON.")
@click.pass_context
def list_images(ctx: click.Context, *, filters: tuple[str, ...], changes_since: str | None,
                limit: int | None, sort_key: str | None, sort_dir: str | None,
                as_json: bool) -> None:
    """List images (all pages), filtered as the seam's callers write filters."""
    wanted: dict[str, Any] = dict(_key_value(filters, "--filter"))
    if changes_since is not None:
        try:
            wanted["changes-since"] = parse_time(changes_since, "--changes-since")
        except InvalidRecord as exc:
            raise click.BadParameter(str(exc), param_hint="--changes-since") from exc
    with _client(ctx) as client:
        images = list(client.detail(wanted, limit=limit, sort_key=sort_key,
                                    sort_dir=sort_dir))
    if as_json:
        click.echo(_dumps([to_seam_json(image) for image in images]), nl=False)
    else:
        stdout_console().print(images_table(images))


@cli.command()
@click.argument("image_id")
@click.option("--json", "as_json", is_flag=True, help="Print the seam record as JSON.")
@click.option("--locations", is_flag=True, help="Include direct_url and locations.")
@click.pass_context
def show(ctx: click.Context, image_id: str, as_json: bool, locations: bool) -> None:
    """Show one image's seam record."""
    with _client(ctx) as client:
        image = client.show(image_id, include_locations=locations)
    if as_json:
        click.echo(_dumps(to_seam_json(image, include_locations=locations)), nl=False)
    else:
        stdout_console().print(record_table(image))


class TransferProgress:
    """A rich progress bar (bytes, rate, ETA) on stderr, fed by ``(done, total)`` calls."""

    def __init__(self, label: str, total: int | None = None, *,
                 enabled: bool | None = None) -> None:
        console = _stderr_console()
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
            disable=not console.is_terminal if enabled is None else not enabled)
        self.task: TaskID = self.progress.add_task(label, total=total)
        self.done = 0
        self.total = total
        self.started = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total if total is not None else self.total
        self.progress.update(self.task, completed=done, total=self.total)

    def __enter__(self) -> TransferProgress:
        self.started = time.monotonic()
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def summary(self) -> str:
        seconds = max(time.monotonic() - self.started, 1e-6)
        return f"{_size(self.done)} in {seconds:.1f} s ({_size(int(self.done / seconds))}/s)"


class _ReadProgress:
    """A binary file whose reads move a progress bar (seeks too: a retry rewinds)."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int, int | None], None],
                 total: int | None) -> None:
        self.raw, self.progress, self.total = raw, progress, total
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.done += len(chunk)
        self.progress(self.done, self.total)
        return chunk

    def seekable(self) -> bool:
        return self.raw.seekable()

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self.raw.seek(offset, whence)
        self.done = position
        return position


@cli.command()
@click.argument("image_id")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Where to write the bytes ('-': stdout).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.pass_context
def download(ctx: click.Context, image_id: str, output: str, progress: bool | None) -> None:
    """Download an image's bytes, verified against its checksums.

    A file is written atomically: on a checksum mismatch nothing is left at FILE.
    """
    with _client(ctx) as client, TransferProgress(f"download {image_id[:8]}",
                                                   enabled=progress) as bar:
        if output == "-":
            result = client.download(image_id, data=sys.stdout.buffer, progress=bar)
        else:
            result = client.download(image_id, dst_path=output, progress=bar)
    reason = getattr(result, "reason", "")
    _err(f"downloaded {bar.summary()} to {'stdout' if output == '-' else output}: {reason}")
    if getattr(result, "verified", True) is False:
        _err(f"warning: {image_id}: the bytes could not be verified")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                        path_type=Path))
@click.option("--name", required=True, help="The image name.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="A custom property (repeatable).")
@click.option("--disk-format", default="raw", show_default=True)
@click.option("--container-format", default="bare", show_default=True)
@click.option("--visibility", type=click.Choice([str(v) for v in Visibility]),
              default=str(Visibility.PRIVATE), show_default=True)
@click.option("--min-disk", type=click.IntRange(min=0), default=0)
@click.option("--min-ram", type=click.IntRange(min=0), default=0)
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the new seam record as JSON.")
@click.pass_context
def upload(ctx: click.Context, *, file: Path, name: str, properties: tuple[str, ...],
           disk_format: str, container_format: str, visibility: str, min_disk: int,
           min_ram: int, progress: bool | None, as_json: bool) -> None:
    """Create an image from FILE ('-': stdin) and upload it, verified on the way."""
    record = Image(name=name, disk_format=DiskFormat(disk_format),
                   container_format=ContainerFormat(container_format),
                   min_disk=min_disk, min_ram=min_ram,
                   properties=_key_value(properties, "--property")).with_visibility(visibility)
    stdin = str(file) == "-"
    total = None if stdin else file.stat().st_size
    with contextlib.ExitStack() as stack:
        raw: IO[bytes] = (sys.stdin.buffer if stdin
                          else stack.enter_context(file.open("rb")))
        client = stack.enter_context(_client(ctx))
        bar = stack.enter_context(TransferProgress(f"upload {name[:20]}", total,
                                                   enabled=progress))
        image = client.create(record, _ReadProgress(raw, bar, total), size=total)
    checked = [algo for algo, value in (("md5", image.checksum),
                                        (image.os_hash_algo, image.os_hash_value))
               if algo and value]
    _err(f"uploaded {bar.summary()} as {image.id}: verified ({', '.join(checked)})"
         if checked else f"uploaded {bar.summary()} as {image.id}: NOT verified "
                         "(the server published no checksum)")
    if as_json:
        click.echo(_dumps(to_seam_json(image)), nl=False)
    else:
        stdout_console().print(record_table(image))


# --------------------------------------------------------------------------- demo


@cli.command()
@click.option("--endpoint", "demo_endpoint", metavar="URL", default=None,
              help="Run against this real cloud instead of the embedded emulator.")
@click.option("--token", "demo_token", metavar="TOKEN", default=None,
              help="Auth token for --endpoint (default: the global --token / OS_* env).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def demo(ctx: click.Context, demo_endpoint: str | None, demo_token: str | None,
         as_json: bool) -> None:
    """The main job: one image life cycle through the seam over v1, v2 and both.

    Starts the embedded emulator in each mode on a loopback socket; prints the version
    chosen and why, the warnings, each Loss report, and the seam records side by side.
    Exits 1 when a step fails or the records differ beyond what a Loss explains.
    """
    from imgcompat.cli.demo import render, report_json, run_emulated, run_endpoint

    state = _state(ctx)
    # only an endpoint given on the command line: OS_IMAGE_URL alone keeps the emulator
    endpoint = demo_endpoint or (state.endpoint if state.endpoint_given else None)
    if endpoint:
        report = run_endpoint(endpoint, token=demo_token or state.token,
                              verify=not state.insecure, version=state.api_version,
                              timeout=state.timeout, num_retries=state.retries)
    else:
        report = run_emulated()
    if as_json:
        click.echo(_dumps(report_json(report)), nl=False)
    else:
        render(report, stdout_console())
    if not report.ok:
        raise _Failure("demo failed: " + "; ".join(report.failures))


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status instead of raising (0, 1, 2 or 130)."""
    state = State(debug=bool(os.environ.get("IMGCOMPAT_DEBUG")))
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name=PROG, standalone_mode=False, obj=state)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message(), err=True)
        return 2
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _err(f"usage error: {_one_line(exc.format_message())}{hint}")
        return 2
    except _Failure as exc:
        _err(f"error: {_one_line(exc.format_message())}")
        return 1
    except click.ClickException as exc:
        _err(f"error: {_one_line(exc.format_message())}")
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (`imgcompat list | head`): not worth a message
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ImgcompatError as exc:
        return _fail(state, f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        return _fail(state, _os_error_text(exc))
    except Exception as exc:
        return _fail(state, f"internal error: {type(exc).__name__}: {exc}"
                            + ("" if state.debug else " (run with --debug for the traceback)"))
    return result if isinstance(result, int) else 0


def _fail(state: State, text: str) -> int:
    if state.debug:
        traceback.print_exc(file=sys.stderr)
    _err(f"error: {_one_line(text)}")
    return 1


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _os_error_text(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return exc.strerror or str(exc) or type(exc).__name__
