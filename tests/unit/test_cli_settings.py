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
