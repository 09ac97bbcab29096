"""Construction from configuration and from ``OS_*`` variables; reprs without secrets."""

from __future__ import annotations

import sys

import pytest

from imgcompat.core.enums import Api
from imgcompat.core.errors import ImgcompatError, InvalidRecord, VersionNotAvailable
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.shell.config import ClientConfig, from_env, parse_version
from imgcompat.testing import Emulator


def test_from_env_reads_the_usual_variables() -> None:
    config = from_env({
        "OS_IMAGE_URL": "glance1:9292, https://glance2/image/v2",
        "OS_IMAGE_API_VERSION": "2.15",
        "OS_AUTH_TOKEN": "tok",
        "OS_CACERT": "/etc/ssl/ca.pem",
        "OS_IMAGE_NUM_RETRIES": "5",
        "OS_IMAGE_TIMEOUT": "30",
    })
    assert config.api_servers == ("glance1:9292", "https://glance2/image/v2")
    assert config.version is Api.V2
    assert config.token == "tok"
    assert "tok" not in repr(config)
    assert config.verify == "/etc/ssl/ca.pem"
    assert config.num_retries == 5
    assert config.timeout == 30.0


def test_from_env_insecure_and_os_token() -> None:
    config = from_env({"OS_IMAGE_URL": "g", "OS_TOKEN": "t2", "OS_INSECURE": "true"})
    assert config.token == "t2"
    assert config.verify is False
    assert config.version is None


def test_from_env_needs_an_endpoint() -> None:
    with pytest.raises(InvalidRecord):
        from_env({})


def test_keystone_without_the_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keystoneauth1", None)  # the extra is not installed
    with pytest.raises(ImgcompatError, match=r"imgcompat\[keystone\]"):
        from_env({"OS_AUTH_URL": "http://keystone/v3", "OS_USERNAME": "u"})


@pytest.mark.parametrize(("text", "api"), [(None, None), ("", None), ("1", Api.V1),
                                           ("v2", Api.V2), ("2.7", Api.V2)])
def test_versions(text: str | None, api: Api | None) -> None:
    assert parse_version(text) is api


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(InvalidRecord):
        parse_version("3")
    with pytest.raises(InvalidRecord):
        ClientConfig(api_servers=())
    with pytest.raises(InvalidRecord):
        ClientConfig(api_servers=("ftp://x",))
    with pytest.raises(InvalidRecord):
        ClientConfig(api_servers=("http://x",), num_retries=-1)


def test_client_from_env_and_repr_hide_the_token() -> None:
    emulator = Emulator(api="v2")
    client = ImageClient.from_env({"OS_IMAGE_URL": "http://g.test", "OS_AUTH_TOKEN": "zzsecret"},
                                  transport=emulator.sync_transport())
    assert "zzsecret" not in repr(client)
    assert client.discover().api is Api.V2
    client.close()
    pinned = ImageClient("http://g.test", version="1",
                         transport=Emulator(api="both").sync_transport())
    assert pinned.discover().api is Api.V1
    with ImageClient("g.test", transport=emulator.sync_transport()) as plain:
        assert plain.version_choice is None
        plain.discover()
        assert plain.version_choice is not None


async def test_async_client_from_env() -> None:
    emulator = Emulator(api="v1")
    async with AsyncImageClient.from_env(
            {"OS_IMAGE_URL": "http://g.test", "OS_TOKEN": "zzsecret"},
            transport=emulator.async_transport()) as client:
        assert "zzsecret" not in repr(client)
        assert (await client.discover()).api is Api.V1
        with pytest.raises(VersionNotAvailable):
            await client.pinned("2").discover()
