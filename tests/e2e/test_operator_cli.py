"""The operator commands against a real `leaseq serve`: answers as JSON, mistakes in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_serve import LEASEQ, free_port, wait_ready

pytestmark = [pytest.mark.timeout(120)]

TOKEN = "operator-secret"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`leaseq serve --memory` with an admin token: the CLI's whole path, no database."""
    work = tmp_path_factory.mktemp("operator")
    port = free_port()
    log = work / "serve.log"
    env = {**os.environ, "LEASEQ_TOKENS": f"{TOKEN}:admin,produce"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [*LEASEQ, "serve", "--memory", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def leaseq(url: str, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEASEQ_URL": url, "LEASEQ_TOKEN": token}
    return subprocess.run(
        [*LEASEQ, *args], env=env, capture_output=True, text=True, timeout=60, cwd=Path.cwd()
    )


def test_enqueue_then_show_answers_the_task_as_json(service: str) -> None:
    made = leaseq(service, "enqueue", "emails", "send_email", '{"to": "a@example.com"}')
    assert made.returncode == 0, made.stderr
    task_id = json.loads(made.stdout)["id"]
    shown = json.loads(leaseq(service, "task", "show", task_id).stdout)
    assert (shown["state"], shown["payload"]) == ("pending", {"to": "a@example.com"})


def test_a_refused_enqueue_names_the_field_in_one_line(service: str) -> None:
    result = leaseq(service, "enqueue", "emails", "send_email", "{}", "--max-attempts", "0")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("leaseq: validation_error (422)") and "max_attempts" in line


def test_an_unknown_task_and_a_wrong_token_are_one_line_each(service: str) -> None:
    missing = leaseq(service, "task", "show", "01a00000-0000-7000-8000-000000000000")
    wrong = leaseq(service, "queues", token="guess")
    assert missing.returncode == wrong.returncode == 1
    assert missing.stderr.startswith("leaseq: task_not_found (404)")
    assert wrong.stderr.startswith("leaseq: unauthorized (401)")
    assert len(missing.stderr.strip().splitlines()) == len(wrong.stderr.strip().splitlines()) == 1


def test_a_service_that_is_not_there_is_one_line(service: str) -> None:
    result = leaseq("http://127.0.0.1:1", "queues")
    assert result.returncode == 1
    assert result.stderr.startswith("leaseq: cannot reach the service at http://127.0.0.1:1")


def test_a_url_that_is_no_url_is_a_usage_error() -> None:
    bad_url = leaseq("localhost:8000", "queues")
    assert bad_url.returncode == 2 and bad_url.stderr.startswith("leaseq: bad --url"), bad_url


def test_a_schema_refusal_lists_each_field_and_a_bad_payload_is_named(service: str) -> None:
    listed = leaseq(service, "tasks", "list", "--state", "bogus")
    [line] = listed.stderr.strip().splitlines()
    assert listed.returncode == 1 and "state" in line.split("[", 1)[1], line
    huge = leaseq(service, "enqueue", "emails", "send_email", "[1e999]")
    assert huge.returncode == 2  # the command line is at fault: a usage error
    assert huge.stderr.startswith("leaseq: PAYLOAD_JSON is not JSON")


def test_queue_limits_are_set_shown_and_cleared(service: str) -> None:
    made = leaseq(service, "enqueue", "limited", "send", "{}", "--concurrency-key", "tenant-1")
    assert made.returncode == 0, made.stderr
    task = json.loads(leaseq(service, "task", "show", json.loads(made.stdout)["id"]).stdout)
    assert task["concurrency_key"] == "tenant-1"
    set_ = leaseq(service, "queue", "limits", "limited", "--concurrency", "4", "--rate", "2.5")
    assert set_.returncode == 0, set_.stderr
    assert json.loads(set_.stdout)["limits"] == {
        "concurrency": 4,
        "concurrency_per_key": None,
        "rate_per_second": 2.5,
    }
    refused = leaseq(service, "queue", "limits", "limited", "--per-key", "0")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "concurrency_per_key" in refused.stderr
    unclear = leaseq(service, "queue", "limits", "limited")
    assert unclear.returncode == 1 and "--clear" in unclear.stderr
    cleared = leaseq(service, "queue", "limits", "limited", "--clear")
    assert json.loads(cleared.stdout)["limits"]["concurrency"] is None
