"""ADR 0003: the store's clock decides every instant of a task. The service and the SDK
never hand a store an instant of their own (`now=`), so two replicas with different
clocks cannot disagree about a lease, a schedule or a retention."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Callers of the task store: the use cases, the inbound HTTP adapter, the SDK.
CALLERS = ("app", "adapters/http", "sdk")


def calls_passing_now(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(root)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and any(k.arg == "now" for k in node.keywords)
    ]


def test_no_caller_of_the_store_passes_an_instant_of_its_own() -> None:
    sources = [p for folder in CALLERS for p in sorted((ROOT / folder).rglob("*.py"))]
    assert sources
    assert [hit for path in sources for hit in calls_passing_now(path)] == []


def test_the_check_finds_a_call_that_passes_now(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("store.lease(request)\nstore.lease(request, now=clock.now())\n")
    assert calls_passing_now(planted, tmp_path) == ["planted.py:2"]
