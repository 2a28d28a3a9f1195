"""The README's walk-through, run as written against a real `leaseq serve`: every answer
it shows has the shape of today's real answer.

A ```sh block of commands followed by a ```json block is one step: the commands' output
must match the JSON. A ```sh block whose lines start with `$ ` holds its own answers, each
after its command. "Shape" means: the same keys, the same JSON types, and the same strings
except where the sample shows a value that differs on every run (an id, a token, a time).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve import LEASEQ, free_port, wait_ready

pytestmark = [pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
# Values that differ on every run: ids, lease tokens, instants.
VARIABLE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)"
    r"|\b[A-Za-z0-9_-]{20,}\b"
)


def _normal(text: str) -> str:
    return VARIABLE.sub("…", text)


class Step:
    def __init__(self, commands: list[str], expected: list[Any]) -> None:
        self.commands = commands  # shell lines
        self.expected = expected  # one JSON value per command that answers, in order


def walkthrough_steps(markdown: str) -> list[Step]:
    blocks = [(m.group(1), m.group(2)) for m in BLOCK.finditer(markdown)]
    steps: list[Step] = []
    for index, (language, body) in enumerate(blocks):
        if language != "sh":
            continue
        if body.lstrip().startswith("$ "):
            steps.extend(_prompted(body))
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        expected = [json.loads(following[1])] if following and following[0] == "json" else []
        steps.append(Step(_joined(body), expected))
    return steps


def _prompted(body: str) -> list[Step]:
    """`$ command` lines, each followed by its answer (JSON) up to the next prompt."""
    steps: list[Step] = []
    for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
        command, _, answer = chunk.partition("\n")
        steps.append(Step([command], [json.loads(answer)] if answer.strip() else []))
    return steps


def _joined(body: str) -> list[str]:
    """Shell lines with their backslash continuations joined."""
    return [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def same_shape(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where `actual` differs from the sample `expected` in shape (empty: it matches)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        if set(expected) != set(actual):
            return [f"{where}: keys {sorted(expected)} != {sorted(actual)}"]
        return [p for k in expected for p in same_shape(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} items, got {actual!r}"]
        return [
            p
            for n, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in same_shape(e, a, f"{where}[{n}]")
        ]
    if isinstance(expected, bool) or expected is None:
        return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, int | float):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
        return [] if ok else [f"{where}: expected a number, got {actual!r}"]
    if isinstance(expected, str):
        ok = isinstance(actual, str) and _normal(expected) == _normal(actual)
        return [] if ok else [f"{where}: {expected!r} != {actual!r}"]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """`leaseq serve` as the README runs it (authentication off on loopback)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEASEQ_")}
    with log.open("w") as out:
        process = subprocess.Popen(
            [*LEASEQ, "serve", "--memory", "--port", str(port)],
            cwd=tmp_path,
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


def test_the_readme_walkthrough_answers_as_the_readme_shows(service: str, tmp_path: Path) -> None:
    steps = walkthrough_steps((ROOT / "README.md").read_text())
    assert sum(len(s.expected) for s in steps) >= 6, "the walk-through lost its samples"
    port = service.rsplit(":", 1)[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEASEQ_")},
        "LEASEQ_URL": service,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    shell = subprocess.Popen(
        ["bash", "--noprofile", "--norc"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdin is not None and shell.stdout is not None
    marker = "@@leaseq-step-done@@"
    try:
        for step in steps:
            answers = []
            for command in step.commands:
                command = command.replace("localhost:8000", f"127.0.0.1:{port}")
                shell.stdin.write(f"{command}\necho; echo {marker}\n")
                shell.stdin.flush()
                out = []
                while (line := shell.stdout.readline()) and line.strip() != marker:
                    out.append(line)
                text = "".join(out).strip()
                if text:
                    answers.append(json.loads(text))
            if not step.expected:  # the README shows no answer here ("the same as above")
                continue
            assert len(answers) == len(step.expected), (step.commands, answers)
            for expected, actual in zip(step.expected, answers, strict=True):
                assert same_shape(expected, actual) == [], (step.commands, actual)
    finally:
        shell.stdin.close()
        shell.wait(10)
