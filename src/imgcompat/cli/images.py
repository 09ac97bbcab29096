"""The commands a compute service's operator runs on images: list, show, download, upload.

Each opens one seam client from the global options (:func:`~imgcompat.cli.state.open_client`),
so they behave alike over v1, v2 or both; what they print is drawn by ``render.py``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from imgcompat.cli.render import (
    ReadProgress,
    TransferProgress,
    dumps,
    err,
    images_table,
    record_table,
    stdout_console,
)
from imgcompat.cli.state import Failure, open_client
from imgcompat.core.download import DEFAULT_MAX_SIZE, DownloadPolicy, Verification
from imgcompat.core.enums import ContainerFormat, DiskFormat, Visibility
from imgcompat.core.errors import ImageNotVerifiable, InvalidRecord
from imgcompat.core.model import Image
from imgcompat.core.scalars import parse_time
from imgcompat.core.seam import to_seam_json


def key_value(items: Sequence[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` option values as a mapping; a malformed one is a usage error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = value
    return out


@click.command("list")
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
    wanted: dict[str, Any] = dict(key_value(filters, "--filter"))
    if changes_since is not None:
        try:
            wanted["changes-since"] = parse_time(changes_since, "--changes-since")
        except InvalidRecord as exc:
            raise click.BadParameter(str(exc), param_hint="--changes-since") from exc
    with open_client(ctx) as client:
        images = list(client.detail(wanted, limit=limit, sort_key=sort_key,
                                    sort_dir=sort_dir))
    if as_json:
        click.echo(dumps([to_seam_json(image) for image in images]), nl=False)
    else:
        stdout_console().print(images_table(images))


@click.command()
@click.argument("image_id")
@click.option("--json", "as_json", is_flag=True, help="Print the seam record as JSON.")
@click.option("--locations", is_flag=True, help="Include direct_url and locations.")
@click.pass_context
def show(ctx: click.Context, image_id: str, as_json: bool, locations: bool) -> None:
    """Show one image's seam record."""
    with open_client(ctx) as client:
        image = client.show(image_id, include_locations=locations)
    if as_json:
        click.echo(dumps(to_seam_json(image, include_locations=locations)), nl=False)
    else:
        stdout_console().print(record_table(image))


@click.command()
@click.argument("image_id")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Where to write the bytes ('-': stdout).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--allow-unverified", is_flag=True,
              help="Accept an image whose record publishes no checksum this Python can "
                   "check (default: refuse it, before any byte is written).")
@click.option("--all-digests", is_flag=True,
              help="Check md5 as well as the multihash (default: the strongest published "
                   "digest only).")
@click.option("--max-size", type=click.IntRange(min=0), default=DEFAULT_MAX_SIZE,
              show_default=True, metavar="BYTES",
              help="Refuse an image larger than this (a record with no size bounds nothing).")
@click.pass_context
def download(ctx: click.Context, image_id: str, output: str, progress: bool | None, *,
             allow_unverified: bool, all_digests: bool, max_size: int) -> None:
    """Download an image's bytes, verified against its checksums.

    A file is written atomically: on a checksum mismatch nothing is left at FILE.
    """
    policy: DownloadPolicy = {
        "require_verified": not allow_unverified, "max_size": max_size,
        "verification": Verification.ALL if all_digests else Verification.STRONGEST}
    try:
        with open_client(ctx) as client, TransferProgress(f"download {image_id[:8]}",
                                                          enabled=progress) as bar:
            if output == "-":
                result = client.download(image_id, data=sys.stdout.buffer, progress=bar,
                                         **policy)
            else:
                result = client.download(image_id, dst_path=output, progress=bar, **policy)
    except ImageNotVerifiable as exc:
        why = "; ".join(exc.reasons) or "the server published no checksum"
        raise Failure(f"image {image_id}: the download cannot be verified ({why}); "
                      "--allow-unverified accepts it") from exc
    reason = getattr(result, "reason", "")
    err(f"downloaded {bar.summary()} to {'stdout' if output == '-' else output}: {reason}")


@click.command()
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
                   properties=key_value(properties, "--property")).with_visibility(visibility)
    stdin = str(file) == "-"
    total = None if stdin else file.stat().st_size
    with contextlib.ExitStack() as stack:
        raw: IO[bytes] = (sys.stdin.buffer if stdin
                          else stack.enter_context(file.open("rb")))
        client = stack.enter_context(open_client(ctx))
        bar = stack.enter_context(TransferProgress(f"upload {name[:20]}", total,
                                                   enabled=progress))
        image = client.create(record, ReadProgress(raw, bar, total), size=total)
    checked = [algo for algo, value in (("md5", image.checksum),
                                        (image.os_hash_algo, image.os_hash_value))
               if algo and value]
    err(f"uploaded {bar.summary()} as {image.id}: verified ({', '.join(checked)})"
        if checked else f"uploaded {bar.summary()} as {image.id}: NOT verified "
                        "(the server published no checksum)")
    if as_json:
        click.echo(dumps(to_seam_json(image)), nl=False)
    else:
        stdout_console().print(record_table(image))
