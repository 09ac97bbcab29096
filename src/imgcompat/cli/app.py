"""The ``imgcompat`` group: its global options, its sub-commands, and how it ends.

Every failure ends as one line on stderr and an exit status (2: the command line was
wrong; 1: the operation failed); a traceback only with ``--debug``. Tokens are read from
the options or the environment and never printed. The sub-commands live by topic
(``translate.py``, ``images.py``, ``servers.py``) and share only ``state.py`` and
``render.py``; this module registers them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

import click

from imgcompat.cli.images import download, list_images, show, upload
from imgcompat.cli.render import PROG, err, one_line
from imgcompat.cli.servers import demo, discover, serve
from imgcompat.cli.state import API_VERSION, Failure, State, state_of
from imgcompat.cli.translate import translate
from imgcompat.core.errors import ImgcompatError

TOKEN_ENV = ("OS_AUTH_TOKEN", "OS_TOKEN")
ENDPOINT_ENV = ("OS_IMAGE_URL",)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, envvar="IMGCOMPAT_DEBUG",
              help="Show tracebacks and debug logging.")
@click.option("--endpoint", "--os-image-url", "endpoint", envvar=list(ENDPOINT_ENV),
              metavar="URL", help="Image API root URL [env: OS_IMAGE_URL].")
@click.option("--token", envvar=list(TOKEN_ENV), metavar="TOKEN", show_default=False,
              help="Auth token [env: OS_AUTH_TOKEN, OS_TOKEN]; never printed.")
@click.option("--api-version", type=API_VERSION, default=None,
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
    state = state_of(ctx)
    state.debug = debug
    state.endpoint = endpoint or None
    source = ctx.get_parameter_source("endpoint")
    state.endpoint_given = source is click.core.ParameterSource.COMMANDLINE
    state.token = token or None
    state.api_version = api_version
    state.insecure = insecure
    state.timeout = timeout
    state.retries = retries


for _command in (demo, discover, download, list_images, serve, show, translate, upload):
    cli.add_command(_command)


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
        err(f"usage error: {one_line(exc.format_message())}{hint}")
        return 2
    except Failure as exc:
        err(f"error: {one_line(exc.format_message())}")
        return 1
    except click.ClickException as exc:
        err(f"error: {one_line(exc.format_message())}")
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        err("interrupted")
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
    err(f"error: {one_line(text)}")
    return 1


def _os_error_text(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return exc.strerror or str(exc) or type(exc).__name__
