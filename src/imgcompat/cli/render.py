"""What the command shows: one-line messages on stderr, tables and progress bars.

Kept apart from the commands so that every sub-command speaks with the same voice: a
message is one ``imgcompat: ...`` line, a table fits 100 columns when not on a terminal,
and a progress bar appears only on a terminal (stdout may be the image's bytes).

Every string a server chose (names, properties, statuses, messages, URLs) is made inert
before it is printed: :func:`clean` takes out what a terminal would act on instead of
showing (escape sequences, carriage returns, bidirectional overrides), :func:`shown` also
escapes rich markup (a name ``[/]`` must not end the command with a ``MarkupError``, nor
``[conceal]`` hide what follows), and the consoles do not turn ``:name:`` into emoji.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import click
from rich.console import Console
from rich.markup import escape
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

from imgcompat.core.discovery import VersionChoice
from imgcompat.core.model import Image, Loss
from imgcompat.core.seam import to_seam_json

PROG = "imgcompat"
_LOGGER = logging.getLogger("imgcompat")


# --------------------------------------------------------------------------- server text

#: Bidirectional formatting characters: they reorder what follows on the screen, so text
#: can read differently from what it is ("Trojan Source").
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Line and column breaks become one space (a message stays one line, a cell one row).
_BREAKS = "\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"
#: C0 and C1 controls and DEL (ESC starts every terminal escape sequence, CSI is 0x9b in
#: one byte) and the bidi characters become U+FFFD, visible where something was taken out.
_INERT: dict[int, str] = dict.fromkeys(
    (*range(0x20), 0x7F, *range(0x80, 0xA0), *map(ord, _BIDI)), "\ufffd")
_INERT.update(dict.fromkeys(map(ord, _BREAKS), " "))
#: What ``json.dumps(ensure_ascii=False)`` leaves raw but a terminal may act on.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029" + _BIDI + "]")


def clean(text: object) -> str:
    """Text from a server, safe to write to a terminal: controls and bidi overrides out."""
    return str(text).translate(_INERT)


def shown(text: object) -> str:
    """Text from a server for rich (markup, tables, titles): :func:`clean`, then escaped."""
    return escape(clean(text))


# --------------------------------------------------------------------------- lines


def err(text: str) -> None:
    """One ``imgcompat: <text>`` line on stderr (server text in it made inert)."""
    click.echo(f"{PROG}: {clean(text)}", err=True)


def one_line(text: str) -> str:
    """A message folded onto one line (server messages may hold newlines)."""
    return " ".join(str(text).split())


def dumps(doc: Any) -> str:
    """JSON as the command prints it: indented, UTF-8 text kept, a final newline.

    Controls a terminal acts on are written as ``\\uXXXX`` escapes (json escapes C0
    already; C1, DEL, line separators and bidi overrides too): the same JSON value.
    """
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text) + "\n"


def print_losses(losses: Sequence[Loss]) -> None:
    """The ``Loss`` report on stderr: one ``loss: field: reason`` line each."""
    for loss in losses:
        click.echo(clean(f"loss: {loss.field}: {loss.reason}"), err=True)


class _OneLineHandler(logging.Handler):
    """Library warnings (v1 deprecation, losses) as ``imgcompat: warning: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname.lower()
            click.echo(f"{PROG}: {level}: {clean(record.getMessage())}", err=True)
        except Exception:  # logging must never break the command
            self.handleError(record)


def log_to_stderr(debug: bool) -> None:
    """Send the library's warnings to stderr, once."""
    if not any(isinstance(h, _OneLineHandler) for h in _LOGGER.handlers):
        _LOGGER.addHandler(_OneLineHandler())
    _LOGGER.setLevel(logging.DEBUG if debug else logging.WARNING)


# --------------------------------------------------------------------------- tables


def stdout_console() -> Console:
    """A console for tables: the terminal's width, or 100 columns when not a terminal."""
    console = Console(highlight=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, emoji=False, width=100)
    return console


def size_text(size: int) -> str:
    """A byte count for people: ``512 B``, ``1.5 MiB``."""
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
        table.add_row(shown(image.id or ""), shown(image.name or "—"), shown(image.status),
                      shown(image.visibility), size_text(image.size))
    return table


def record_table(image: Image) -> Table:
    """One seam record as key/value rows, properties after the base keys."""
    doc = to_seam_json(image, include_locations=bool(image.locations or image.direct_url))
    table = Table(show_header=False, title=shown(image.name or image.id or ""),
                  title_justify="left")
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    props = doc.pop("properties")
    for key, value in doc.items():
        table.add_row(key, _plain(value))
    for key in sorted(props):
        table.add_row(shown(f"properties.{key}"), _plain(props[key]))
    return table


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return shown(value)
    return shown(json.dumps(value, ensure_ascii=False))


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
        table.add_row(shown(entry.get("id", "")), shown(entry.get("status", "")), shown(href),
                      "✔" if chosen else "", style=style)
    return table


# --------------------------------------------------------------------------- progress


class TransferProgress:
    """A rich progress bar (bytes, rate, ETA) on stderr, fed by ``(done, total)`` calls."""

    def __init__(self, label: str, total: int | None = None, *,
                 enabled: bool | None = None) -> None:
        console = Console(stderr=True, highlight=False, emoji=False)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
            disable=not console.is_terminal if enabled is None else not enabled)
        self.task: TaskID = self.progress.add_task(shown(label), total=total)
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
        """How much moved and how fast, for the closing line."""
        seconds = max(time.monotonic() - self.started, 1e-6)
        return (f"{size_text(self.done)} in {seconds:.1f} s "
                f"({size_text(int(self.done / seconds))}/s)")


class ReadProgress:
    """A binary file whose reads move a progress bar (seeks too: a retry rewinds)."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int, int | None], None],
                 total: int | None) -> None:
        self.raw, self.progress, self.total = raw, progress, total
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        """Read from the file and report the bytes read so far."""
        chunk = self.raw.read(size)
        self.done += len(chunk)
        self.progress(self.done, self.total)
        return chunk

    def seekable(self) -> bool:
        """Whether the file can rewind (an upload retry needs it)."""
        return self.raw.seekable()

    def tell(self) -> int:
        """The file's position."""
        return self.raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move in the file; the bar follows (a rewind counts the bytes again)."""
        position = self.raw.seek(offset, whence)
        self.done = position
        return position
