"""How a demo report reads: rich tables for a person, plain JSON for a script.

Only drawing happens here; every verdict (which steps failed, which differences a Loss
explains) is already in the :class:`~imgcompat.cli.demo.DemoReport` it is given. A demo may
run against a real cloud: what its server said reaches the table only through
:func:`~imgcompat.cli.render.clean` (``Text`` cells) or :func:`~imgcompat.cli.render.shown`
(markup cells).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from imgcompat.cli.demo import ABSENT, PER_RUN_KEYS, DemoReport, flatten, short
from imgcompat.cli.render import clean, shown
from imgcompat.core.immutable import thaw
from imgcompat.core.seam import to_seam_json

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX = re.compile(r"^[0-9a-f]{32,}$")


def _cell(value: Any, width: int) -> Text:
    """A value as a table cell: ids and digests shortened (equal ones still look equal)."""
    if value is ABSENT:
        return Text("(absent)", style="dim italic")
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, list | dict | tuple):
        return Text(clean(short(json.dumps(thaw(value), ensure_ascii=False,
                                            separators=(",", ":")), width * 3)))
    text = clean(value)
    if _UUID.match(text) or _HEX.match(text):
        return Text(text[:12] + "…")
    return Text(short(text, width * 2))


def render(report: DemoReport, console: Console) -> None:
    """The report: versions and warnings, steps, Loss reports, then the records side by side."""
    runs = report.runs
    console.rule("[bold]imgcompat demo[/]: one image life cycle through the seam")

    versions = Table(title="version chosen, and why", title_justify="left", expand=True)
    versions.add_column("mode", style="bold", no_wrap=True)
    versions.add_column("server", overflow="fold")
    versions.add_column("chosen", no_wrap=True)
    versions.add_column("why", ratio=1)
    for run in runs:
        chosen = Text(clean(run.choice.label), style="green") if run.choice else Text("—")
        versions.add_row(run.label, shown(run.url), chosen,
                         shown(run.choice.reason) if run.choice else "")
    console.print(versions)
    for run in runs:
        for warning in run.warnings:
            console.print(Text.assemble(("warning ", "bold yellow"), (f"[{run.label}] ", "bold"),
                                        clean(warning)))

    steps = Table(title="life cycle", title_justify="left", expand=True)
    steps.add_column("step", style="bold", no_wrap=True)
    for run in runs:
        steps.add_column(run.label, ratio=1, overflow="fold")
    names = list(dict.fromkeys(s.name for run in runs for s in run.steps))
    for name in names:
        cells = []
        for run in runs:
            step = next((s for s in run.steps if s.name == name), None)
            if step is None:
                cells.append(Text("skipped", style="dim"))
            else:
                mark, style = ("✔", "green") if step.ok else ("✘", "bold red")
                cells.append(Text.assemble((mark + " ", style), clean(step.detail)))
        steps.add_row(name, *cells)
    steps.add_row(Text("time", style="dim"), *[
        Text(f"{sum(s.seconds for s in run.steps) * 1000:.0f} ms", style="dim")
        for run in runs])
    console.print(steps)

    losses = Table(title="Loss reports (what each translation could not carry)",
                   title_justify="left", expand=True)
    losses.add_column("mode", style="bold", no_wrap=True)
    losses.add_column("step", no_wrap=True)
    losses.add_column("field", style="cyan", no_wrap=True)
    losses.add_column("reason", ratio=1)
    for run in runs:
        if not run.losses:
            losses.add_row(run.label, "", Text("none", style="dim"), "")
        for where, loss in run.losses:
            losses.add_row(run.label, shown(where), shown(loss.field), shown(loss.reason))
    console.print(losses)
    for run in runs:
        for note in run.notes:
            console.print(Text.assemble(("note ", "bold"), (f"[{run.label}] ", "bold"),
                                        clean(note)))

    _render_records(report, console)
    console.print(f"[dim]{len(runs)} mode(s) in {report.seconds:.1f} s[/]")
    if report.ok:
        explained = sum(1 for d in report.differences if d.explained)
        verdict = "every step kept the seam's promise"
        if len(runs) > 1:
            verdict = "the seam record is the same in every mode" + (
                f", except {explained} difference(s) each explained by a Loss"
                if explained else "")
        console.print(Text.assemble(("✔ ", "bold green"), (verdict, "green")))
    else:
        for failure in report.failures:
            console.print(Text.assemble(("✘ ", "bold red"), clean(failure)))


def _render_records(report: DemoReport, console: Console) -> None:
    runs = [run for run in report.runs if run.record is not None]
    if not runs:
        return
    diffs = {d.key: d for d in report.differences}
    flats = [flatten(run.record) for run in runs if run.record is not None]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    key_width = max(len(k) for k in keys) - len("properties.") + 2
    width = max(12, (console.width - key_width) // len(runs) - 3)
    title = "the seam record per mode"
    if diffs:
        title += " (yellow: differs, explained by a Loss; red: differs, unexplained)"
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("key", no_wrap=True)
    for run in runs:
        table.add_column(run.label, ratio=1, overflow="fold")
    in_properties = False
    for key in keys:
        if key.startswith("properties.") and not in_properties:
            in_properties = True
            table.add_row(Text("properties", style="bold"), *([""] * len(runs)))
        diff = diffs.get(key)
        style = "" if diff is None else ("yellow" if diff.explained else "bold red")
        cells = []
        for flat in flats:
            cell = _cell(flat.get(key, ABSENT), width)
            if style:
                cell.stylize(style)
            cells.append(cell)
        label = "  " + key.removeprefix("properties.") if in_properties else key
        table.add_row(Text(clean(label), style="dim" if key in PER_RUN_KEYS else "bold"),
                      *cells)
    console.print(table)
    reasons: dict[tuple[str, ...], list[str]] = {}
    for diff in report.differences:
        why = tuple(dict.fromkeys(f"{who.split(' (')[0]}: {loss}"
                                  for who, loss in diff.explained_by))
        if why:
            reasons.setdefault(why, []).append(diff.key)
    for why, keys in reasons.items():
        console.print(Text.assemble((clean(", ".join(keys)), "yellow"), " differ — ",
                                    clean("; ".join(why))))


def report_json(report: DemoReport) -> dict[str, Any]:
    """The report as plain JSON (``imgcompat demo --json``), for scripts and tests."""

    def value(v: Any) -> Any:
        return "<absent>" if v is ABSENT else v

    return {
        "ok": report.ok,
        "seconds": round(report.seconds, 3),
        "failures": list(report.failures),
        "modes": [{
            "label": run.label,
            "url": run.url,
            "chosen": run.choice.label if run.choice else None,
            "reason": run.choice.reason if run.choice else None,
            "warnings": list(run.warnings),
            "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail,
                       "seconds": round(s.seconds, 3)} for s in run.steps],
            "losses": [{"step": step, "field": loss.field, "reason": loss.reason}
                       for step, loss in run.losses],
            "notes": list(run.notes),
            "record": to_seam_json(run.record) if run.record is not None else None,
        } for run in report.runs],
        "differences": [{
            "key": d.key,
            "values": {label: value(v) for label, v in d.values},
            "explained": d.explained,
            "explained_by": [{"by": who, "field": loss.field, "reason": loss.reason}
                             for who, loss in d.explained_by],
            "unexplained": [list(pair) for pair in d.unexplained],
        } for d in report.differences],
    }
