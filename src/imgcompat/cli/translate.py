"""``imgcompat translate``: one image record from one wire format to another, offline.

The readers here accept what people paste (``curl -D`` header dumps with redirects and
folded lines, a v1 or v2 JSON answer, a seam record) and refuse the near misses (a list
instead of one image) with a line that says what was expected.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from imgcompat.cli.render import dumps, print_losses
from imgcompat.cli.state import Failure
from imgcompat.core.errors import InvalidRecord
from imgcompat.core.fields import LATEST_V2_MINOR
from imgcompat.core.model import Image, Translated
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

FROM_FORMATS = ("v1-headers", "v1-json", "v2-json", "seam")
TO_FORMATS = ("v1-headers", "v2-json", "v2-patch", "seam")


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


def json_doc(text: str, what: str) -> Any:
    """Parsed JSON, or an :class:`InvalidRecord` naming ``what`` and where it broke."""
    try:
        return json.loads(text)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" (line {exc.lineno}, column {exc.colno})"
        raise InvalidRecord(f"{what} is not valid JSON: {msg}{where}") from exc


def json_object(doc: Any, what: str) -> Mapping[str, Any]:
    """``doc`` when it is a JSON object, else an :class:`InvalidRecord` naming ``what``."""
    if not isinstance(doc, Mapping):
        raise InvalidRecord(f"{what} must be a JSON object, got {type(doc).__name__}")
    return doc


def record_from_doc(fmt: str, doc: Any, what: str = "input") -> Image:
    """A seam record from an already-parsed JSON document in the ``fmt`` format."""
    obj = json_object(doc, what)
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
    return record_from_doc(fmt, json_doc(text, what), what)


def render_record(image: Image, fmt: str, *, minor: int, request: bool,
                  locations: bool) -> Translated[str]:
    """One record in an output format, with what the translation lost."""
    if fmt == "seam":
        return Translated(dumps(to_seam_json(image, include_locations=locations)))
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
            return Translated(dumps(body.value), body.losses)
        v2 = image_to_v2(image, minor=minor)
        return Translated(dumps(v2image_to_v2_json(v2.value)), v2.losses)
    raise click.BadParameter(f"cannot render one record as {fmt}", param_hint="--to")


def _header_text(headers: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{name}: {value}\n" for name, value in headers)


@click.command()
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
            pair = json_object(json_doc(text, "stdin"), "stdin")
            missing = [k for k in ("current", "wanted") if k not in pair]
            if missing or len(pair) != 2:
                raise InvalidRecord("stdin must be {\"current\": <record>, \"wanted\": "
                                    "<record>} (or use --current FILE)")
            current = record_from_doc(from_, pair["current"], "current")
            wanted = record_from_doc(from_, pair["wanted"], "wanted")
        patch = v2_patch(current, wanted, purge_props=not no_purge, minor=minor)
        out = Translated(dumps(list(patch.value)), patch.losses)
    else:
        if current_file is not None:
            raise click.UsageError("--current is only for --to v2-patch")
        out = render_record(parse_record(from_, text, "stdin"), to, minor=minor,
                            request=request, locations=locations)
    sys.stdout.write(out.value)
    print_losses(out.losses)
    if strict and out.losses:
        raise Failure(f"the translation lost {len(out.losses)} thing(s)")
