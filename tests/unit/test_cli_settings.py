"""CLI mistakes answer in one line: a bad `LEASEQ_*` value, a bad option, a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

LEASEQ = [sys.executable, "-c", "from leaseq.app.cli import main; main()"]


def test_a_bad_setting_is_named_in_one_line_without_a_traceback() -> None:
    env = os.environ | {
        "LEASEQ_LOG_TRANSITIONS": "some",
        "LEASEQ_MAX_BATCH": "many",
        "LEASEQ_PLANNER_INTERVAL_SECONDS": "-1",
    }
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
    assert "LEASEQ_PLANNER_INTERVAL_SECONDS: Input should be greater than or equal to 0" in line


def leaseq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEASEQ, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--port", "99999"], "Invalid value for '--port'"),
        (["serve", "--port", "0"], "Invalid value for '--port'"),
        (["serv"], "No such command 'serv'"),
        (["serve", "--bogus"], "No such option: --bogus"),
    ],
)
def test_a_usage_mistake_is_one_line_with_exit_code_2(args: list[str], says: str) -> None:
    result = leaseq(*args)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("leaseq: ") and says in line and "--help" in line


def test_version_prints_the_installed_version() -> None:
    result = leaseq("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"leaseq {version('leaseq')}"


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback() -> None:
    # json.loads is a callable, so it is called as a factory with a Client: it raises
    bad = ["worker", "json:loads", "--url", "http://127.0.0.1:1"]
    quiet, loud = leaseq(*bad), leaseq("--debug", *bad)
    assert quiet.returncode == loud.returncode == 1
    [line] = quiet.stderr.strip().splitlines()
    assert "TypeError" in line and "--debug" in line
    assert "Traceback" in loud.stderr


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
