"""``benchmarks/peers.py --quick`` still runs end to end (a smoke run, no timing asserted).

Only imgcompat's cases run here (``--no-peers``): the peers' venv is built from the package
index and takes minutes, so the benchmark itself builds it when it is run for figures.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

ROWS = ("verified download", "client CPU-s per GiB", "upload of a", "full listing of",
        "one-property updates", "v2 JSON", "two records")


def test_the_quick_run_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "peers.py"), "--quick", "--no-peers"],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for row in ROWS:
        line = next((ln for ln in table if row in ln), None)
        assert line is not None, f"no row {row!r} in:\n{done.stdout}"
        ours = line.split("|")[2].strip()
        assert ours[:1].isdigit(), line  # imgcompat's own figure is there
    assert "failed" not in done.stdout, done.stdout
    listing = next(ln for ln in table if "full listing of" in ln)
    assert "(1)" in listing.split("|")[2]  # 51 images: one large page
    updates = next(ln for ln in table if "one-property updates" in ln)
    assert "(1.00)" in updates.split("|")[2]  # one request per update of a held record
