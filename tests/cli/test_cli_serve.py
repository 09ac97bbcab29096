"""``imgcompat serve`` in a child process: it answers on 127.0.0.1 and stops on Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import httpx
import pytest

from tests.cli.clitools import IMGCOMPAT, assert_one_line_error, clean_env, free_port, run_cli


def wait_for_versions(url: str, proc: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return httpx.get(url + "/", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer")


@pytest.mark.parametrize(("api", "ids"), [("v1", {"v1"}), ("v2", {"v2"}), ("both", {"v1", "v2"})])
def test_serve_answers_discovery_and_stops_on_interrupt(api: str, ids: set[str]) -> None:
    port = free_port()
    proc = subprocess.Popen([*IMGCOMPAT, "serve", "--api", api, "--port", str(port),
                             "--v2-minor", "9"],
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        response = wait_for_versions(f"http://127.0.0.1:{port}", proc)
        assert response.status_code == 300
        majors = {entry["id"][:2] for entry in response.json()["versions"]}
        assert majors == ids
        chosen = run_cli("discover", "--json", f"http://127.0.0.1:{port}")
        assert chosen.returncode == 0, chosen.stderr
        assert json.loads(chosen.stdout)["choice"]["label"] == ("v2.9" if "v2" in ids
                                                                  else "v1.1")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err
    assert f"127.0.0.1:{port}" in err


def test_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert_one_line_error(result, 1, "in use")


@pytest.mark.parametrize("args", [("--api", "v3"), ("--port", "70000"), ("--port", "x")])
def test_serve_usage_errors(args: tuple[str, ...]) -> None:
    assert_one_line_error(run_cli("serve", *args), 2)


def test_module_and_console_script_are_the_same_command() -> None:
    import sys

    via_module = run_cli("--version", command=(sys.executable, "-m", "imgcompat"))
    via_script = run_cli("--version")
    assert via_module.returncode == via_script.returncode == 0
    assert via_module.stdout == via_script.stdout
    assert "imgcompat" in via_module.stdout


def test_no_command_prints_usage_and_exits_2() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "Commands:" in result.stderr
