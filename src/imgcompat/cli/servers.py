"""The commands about servers rather than images: discover, serve, demo.

``discover`` reads an endpoint's versions document before any client exists; ``serve`` and
``demo`` start the embedded emulator (the ``emulator`` extra), which is imported only when
they run, so the other commands start without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

import click
import httpx

from imgcompat.cli.render import dumps, err, shown, stdout_console, versions_table
from imgcompat.cli.state import API_VERSION, Failure, state_of
from imgcompat.cli.translate import json_doc, json_object
from imgcompat.core.discovery import choose_version, normalize_endpoint
from imgcompat.core.errors import ConnectionFailed, error_for


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
    what = f"the answer of {url}"
    return dict(json_object(json_doc(response.text, what), what))


@click.command()
@click.argument("url", required=False)
@click.option("--pin", type=API_VERSION, default=None,
              help="Ask for this API major (default: --api-version, else v2 preferred).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def discover(ctx: click.Context, url: str | None, pin: str | None, as_json: bool) -> None:
    """Show an endpoint's versions document, the version chosen and why."""
    state = state_of(ctx)
    url = url or state.endpoint
    if not url:
        raise click.UsageError("give URL (or --endpoint / OS_IMAGE_URL)")
    endpoint = normalize_endpoint(url)
    if endpoint.warning:
        err(f"warning: {endpoint.warning}")
    wanted = pin or state.api_version or (endpoint.pinned_major.value
                                          if endpoint.pinned_major else None)
    doc = fetch_versions(endpoint.root, timeout=state.timeout, verify=not state.insecure,
                         token=state.token)
    choice = choose_version(doc, wanted, endpoint=endpoint.root)
    for warning in choice.warnings:
        err(f"warning: {warning}")
    if as_json:
        click.echo(dumps({
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
    console.print(f"[bold]endpoint[/]  {shown(endpoint.root)}")
    console.print(f"[bold]chosen[/]    [green]{shown(choice.label)}[/] at "
                  f"{shown(choice.root_url)}")
    console.print(f"[bold]reason[/]    {shown(choice.reason)}")


@click.command()
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
    err(f"serving the Glance emulator ({api}, v2.{v2_minor}) on {where}; Ctrl-C stops it")
    run_server(cast(Literal["v1", "v2", "both"], api), port, data_dir, v2_minor=v2_minor)


@click.command()
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
    from imgcompat.cli.demo import run_emulated, run_endpoint
    from imgcompat.cli.demo_report import render, report_json

    state = state_of(ctx)
    # only an endpoint given on the command line: OS_IMAGE_URL alone keeps the emulator
    endpoint = demo_endpoint or (state.endpoint if state.endpoint_given else None)
    if endpoint:
        report = run_endpoint(endpoint, token=demo_token or state.token,
                              verify=not state.insecure, version=state.api_version,
                              timeout=state.timeout, num_retries=state.retries)
    else:
        report = run_emulated()
    if as_json:
        click.echo(dumps(report_json(report)), nl=False)
    else:
        render(report, stdout_console())
    if not report.ok:
        raise Failure("demo failed: " + "; ".join(report.failures))
