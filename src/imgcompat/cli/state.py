"""What the sub-commands share with the group: the global options, the client made from them,
and how a command says it failed.

The group (``app.py``) fills a :class:`State`; each sub-command module reads it back from the
click context, so no sub-command module imports the group (nor the group them, but to
register them).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import click

from imgcompat.cli.render import log_to_stderr, print_losses
from imgcompat.core.enums import parse_api
from imgcompat.core.errors import InvalidRecord

if TYPE_CHECKING:
    from imgcompat.shell.client import ImageClient


class ApiVersion(click.ParamType):  # type: ignore[type-arg]
    """An API major as users spell it (``1``, ``v2``, ``2.0``...), read by the library's
    own :func:`~imgcompat.core.enums.parse_api` so the command and the library agree."""

    name = "version"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        """The major (``"1"`` or ``"2"``), or a usage error listing the spellings."""
        try:
            return parse_api(value).value
        except InvalidRecord as exc:
            self.fail(exc.message, param, ctx)


API_VERSION = ApiVersion()


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


class Failure(click.ClickException):
    """An operation failed (exit 1) and has already explained itself."""

    exit_code = 1


def state_of(ctx: click.Context) -> State:
    """The global options of this invocation (a default :class:`State` when run bare)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


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
def open_client(ctx: click.Context) -> Iterator[ImageClient]:
    """The client for a sub-command, its warnings on stderr, closed on the way out."""
    state = state_of(ctx)
    log_to_stderr(state.debug)
    client = make_client(state)
    try:
        yield client
    finally:
        client.close()
