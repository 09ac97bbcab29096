"""Client construction options, and reading them from the usual ``OS_*`` variables.

``from_env`` reads:

- ``OS_IMAGE_URL``: API servers, comma or space separated (versioned or not, scheme optional);
- ``OS_IMAGE_API_VERSION``: ``1`` or ``2`` (``2.x`` reads as ``2``) pins the major;
  unset = discover;
- ``OS_AUTH_TOKEN``, then ``OS_TOKEN``: a static token;
- ``OS_AUTH_URL`` with ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_*``, ``OS_*_DOMAIN_*``
  or ``OS_APPLICATION_CREDENTIAL_*``: a keystone session when no token is given (the
  ``keystone`` extra); without ``OS_IMAGE_URL`` the image endpoint comes from the catalog
  (``OS_INTERFACE``, ``OS_REGION_NAME``);
- ``OS_CACERT``: CA bundle path; ``OS_INSECURE=true`` turns TLS verification off;
- ``OS_IMAGE_NUM_RETRIES``, ``OS_IMAGE_TIMEOUT``, ``OS_IMAGE_CONNECT_TIMEOUT``: imgcompat's
  own retries and read / connect timeouts (seconds).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imgcompat.core.discovery import normalize_endpoint
from imgcompat.core.enums import Api, parse_api
from imgcompat.core.errors import InvalidRecord

_TRUE = ("1", "true", "yes", "on")


def _servers(value: str | Sequence[str]) -> tuple[str, ...]:
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    servers = tuple(s.strip() for s in items if s and s.strip())
    if not servers:
        raise InvalidRecord("at least one API server is needed", field="api_servers")
    for server in servers:
        normalize_endpoint(server)  # refuses what is not an http(s) URL
    return servers


def parse_version(value: Api | str | int | None) -> Api | None:
    """``None``/``""`` = discover; otherwise any spelling :func:`parse_api` knows."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_api(value)


@attrs.frozen
class ClientConfig:
    """Everything a client is built from; the token never shows in the repr."""

    api_servers: tuple[str, ...] = attrs.field(converter=_servers)
    num_retries: int = attrs.field(default=3)
    version: Api | None = attrs.field(default=None, converter=parse_version)
    token: str | None = attrs.field(default=None, repr=False)
    session: Any = attrs.field(default=None, repr=False)
    verify: bool | str = True
    timeout: float = 60.0
    connect_timeout: float = 10.0

    @num_retries.validator
    def _check_retries(self, _attr: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRecord(f"must be a non-negative integer, got {value!r}",
                                field="num_retries")


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    text = env.get(key, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError as exc:
        raise InvalidRecord(f"not a number: {text!r}", field=key) from exc


def from_env(environ: Mapping[str, str] | None = None) -> ClientConfig:
    """A configuration from ``OS_*`` variables (see the module docstring)."""
    env = dict(os.environ if environ is None else environ)
    token = env.get("OS_AUTH_TOKEN") or env.get("OS_TOKEN") or None
    session = None
    if token is None and env.get("OS_AUTH_URL"):
        from imgcompat.shell.auth import keystone_session

        session = keystone_session(env)
    servers = env.get("OS_IMAGE_URL", "")
    if not servers.strip():
        if session is None:
            raise InvalidRecord("set OS_IMAGE_URL (or OS_AUTH_URL for the catalog)",
                                field="OS_IMAGE_URL")
        servers = session.get_endpoint(service_type="image",
                                       interface=env.get("OS_INTERFACE", "public"),
                                       region_name=env.get("OS_REGION_NAME") or None)
    verify: bool | str = env.get("OS_CACERT") or True
    if env.get("OS_INSECURE", "").strip().lower() in _TRUE:
        verify = False
    retries = int(_number(env, "OS_IMAGE_NUM_RETRIES", 3))
    return ClientConfig(
        api_servers=servers,  # the converter splits the text
        num_retries=retries,
        version=env.get("OS_IMAGE_API_VERSION") or None,
        token=token,
        session=session,
        verify=verify,
        timeout=_number(env, "OS_IMAGE_TIMEOUT", 60.0),
        connect_timeout=_number(env, "OS_IMAGE_CONNECT_TIMEOUT", 10.0),
    )
