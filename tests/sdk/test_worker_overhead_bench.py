"""bench/worker_overhead.py runs to its end: its stub transport keeps up with what the
worker calls (one method it lacked, lease_and_report, made every run hang unnoticed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "worker_overhead.py"


def test_the_worker_overhead_benchmark_runs_to_its_end() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--n", "300", "--concurrency", "1", "10"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["concurrency"], r["n"], r["jobs_per_s"] > 0) for r in records] == [
        (1, 300, True),
        (10, 300, True),
    ]
