"""A bad `LEASEQ_*` value stops `leaseq serve` with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

LEASEQ = [sys.executable, "-c", "from leaseq.app.cli import main; main()"]


def test_a_bad_setting_is_named_in_one_line_without_a_traceback() -> None:
    env = os.environ | {"LEASEQ_LOG_TRANSITIONS": "some", "LEASEQ_MAX_BATCH": "many"}
    result = subprocess.run(
        [*LEASEQ, "serve", "--memory", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("leaseq: bad setting:")
    assert "LEASEQ_LOG_TRANSITIONS: Input should be 'all', 'notable' or 'none'" in line
    assert "LEASEQ_MAX_BATCH:" in line


def test_a_header_timeout_past_30_seconds_or_a_limit_past_the_schema_is_refused() -> None:
    env = os.environ | {
        "LEASEQ_HEADER_TIMEOUT_SECONDS": "31",
        "LEASEQ_MAX_BATCH": "5000",
        "LEASEQ_MAX_WAIT_SECONDS": "61",
    }
    result = subprocess.run(
        [*LEASEQ, "serve", "--memory", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    for name in ("HEADER_TIMEOUT_SECONDS", "MAX_BATCH", "MAX_WAIT_SECONDS"):
        assert f"LEASEQ_{name}: Input should be less than or equal to" in line
