"""The demo: its life cycle and comparison in process, and ``imgcompat demo`` as a user
runs it (the exit status is the verdict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from rich.console import Console

from imgcompat.cli.demo import ModeRun, Scenario, compare, run_emulated, run_lifecycle
from imgcompat.cli.demo_report import render, report_json
from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api
from imgcompat.core.model import Image, Loss
from imgcompat.testing import Emulator, serve
from tests.cli.clitools import assert_one_line_error, free_port, run_cli

SMALL = 64 * 1024


def small() -> Scenario:
    return attrs.evolve(Scenario.new(), payload=Scenario.new(SMALL).payload)


def test_every_mode_keeps_the_seams_promise() -> None:
    report = run_emulated(scenario=small())
    assert report.ok, report.failures
    assert [run.label for run in report.runs] == ["v1-only", "v2-only", "v1+v2"]
    v1, v2, both = report.runs
    assert v1.choice is not None
    assert v1.choice.api is Api.V1
    assert v2.choice is not None
    assert v2.choice.label == "v2.17"
    assert both.choice is not None
    assert both.choice.api is Api.V2
    assert any("deprecated" in w for w in v1.warnings)
    assert not v2.warnings
    assert not both.warnings
    names = [s.name for s in v1.steps]
    assert names == ["discover", "snapshot", "upload", "show", "update", "list",
                     "download", "delete", "show deleted"]
    assert all(run.ok for run in report.runs)
    # v1 reports that its non-ASCII text travels percent-encoded
    assert any(loss.field == "properties.description" for _, loss in v1.losses)
    # the records agree except where v1 cannot carry the multihash, and a Loss says so
    assert {d.key for d in report.differences} == {"os_hash_algo", "os_hash_value"}
    assert all(d.explained for d in report.differences)
    for run in report.runs:
        assert run.record is not None
        assert run.record.properties["description"] == "café ☃ — snapshot of a naïve VM"
        assert "hw_disk_bus" not in run.record.properties
        assert run.record.properties["demo_stage"] == "updated ✓"


def record(**changes: Any) -> Image:
    base = Image(id="x", name="n", status="active", size=3, checksum="a" * 32,
                 properties={"k": "v"}, created_at=datetime(2024, 1, 1, tzinfo=UTC))
    return attrs.evolve(base, **changes)


def mode(label: str, api: Api, image: Image, *losses: Loss) -> ModeRun:
    choice = VersionChoice(api=api, minor=17 if api is Api.V2 else 1,
                           root_url="http://h", reason="test")
    return ModeRun(label=label, url="http://h", choice=choice, steps=(), warnings=(),
                   losses=tuple(("update", loss) for loss in losses), record=image)


def test_an_unexplained_difference_fails_the_comparison() -> None:
    diffs = compare([mode("a", Api.V2, record()),
                     mode("b", Api.V2, record(properties={"k": "w"}))])
    assert [d.key for d in diffs] == ["properties.k"]
    assert diffs[0].unexplained == (("a", "b"),)


def test_a_loss_of_either_mode_explains_a_difference() -> None:
    loss = Loss("properties.k", "travels percent-encoded")
    diffs = compare([mode("a", Api.V2, record()),
                     mode("b", Api.V1, record(properties={"k": "w"}), loss)])
    assert diffs[0].explained
    assert diffs[0].explained_by[0][1] == loss


def test_what_an_api_cannot_carry_explains_a_difference() -> None:
    # v1 has no tags: translating the v2 record into v1 says so
    diffs = compare([mode("v2", Api.V2, record(tags=("gold",))),
                     mode("v1", Api.V1, record())])
    assert [d.key for d in diffs] == ["tags"]
    assert diffs[0].explained
    # ... but the same difference between two v2 modes is not explained
    diffs = compare([mode("x", Api.V2, record(tags=("gold",))), mode("y", Api.V2, record())])
    assert not diffs[0].explained


def test_per_run_values_are_not_compared() -> None:
    later = datetime(2025, 1, 1, tzinfo=UTC)
    assert compare([mode("a", Api.V2, record()),
                    mode("b", Api.V2, record(id="y", created_at=later))]) == ()


def test_a_failing_step_stops_the_run_and_cleans_up() -> None:
    emulator = Emulator(api="v2")
    with serve(emulator) as url:
        emulator.faults.corrupt_next_download()
        run = run_lifecycle(url, small(), label="v2", num_retries=0)
    failed = [s for s in run.steps if not s.ok]
    assert [s.name for s in failed] == ["download"]
    assert "ChecksumMismatch" in failed[0].detail
    assert [s.name for s in run.steps][-1] == "download"  # the rest did not run
    assert not run.ok
    records = emulator.store.all()
    assert len(records) == 1
    assert records[0].gone  # the half-done image was deleted, not left behind


def test_render_fits_100_columns() -> None:
    report = run_emulated(scenario=small())
    console = Console(record=True, width=100, color_system=None)
    render(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    for needle in ("v1-only", "v2-only", "v1+v2", "Glance v1 is deprecated",
                   "falling back to v1.1", "v2 preferred", "Loss reports",
                   "the seam record per mode", "block_device_mapping", "café ☃",
                   "os_hash_value", "✔ the seam record is the same in every mode"):
        assert needle in text, needle
    doc = report_json(report)
    assert doc["ok"] is True
    assert [m["chosen"] for m in doc["modes"]] == ["v1.1", "v2.17", "v2.17"]


def test_demo_command_prints_the_table_and_exits_0() -> None:
    result = run_cli("demo", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for needle in ("version chosen, and why", "life cycle", "Loss reports",
                   "the seam record per mode", "v1-only", "v2-only", "v1+v2",
                   "Glance v1 is deprecated", "✔ the seam record is the same"):
        assert needle in out, needle
    assert "Traceback" not in result.stderr


def test_demo_json_ignores_a_cloud_configured_only_in_the_environment() -> None:
    # OS_IMAGE_URL alone does not turn the demo into a cloud run: --endpoint does
    result = run_cli("demo", "--json", timeout=120,
                     env={"OS_IMAGE_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert len(doc["modes"]) == 3
    assert all(step["ok"] for m in doc["modes"] for step in m["steps"])


def test_demo_against_an_endpoint() -> None:
    with serve(Emulator(api="v2")) as url:
        result = run_cli("demo", "--endpoint", url, "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [m["label"] for m in doc["modes"]] == ["cloud"]
    assert doc["modes"][0]["url"] == url


def test_demo_against_an_unreachable_endpoint_fails() -> None:
    result = run_cli("--retries", "0", "demo", "--endpoint",
                     f"http://127.0.0.1:{free_port()}")
    assert "✘" in result.stdout
    assert_one_line_error(result, 1, "demo failed", "discover", "ConnectionFailed")


@pytest.mark.parametrize("args", [("demo", "--endpoint"), ("demo", "--bogus")])
def test_demo_usage_errors(args: tuple[str, ...]) -> None:
    assert_one_line_error(run_cli(*args), 2)
