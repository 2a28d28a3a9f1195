"""The mutation check's planted edits (tools/mutate.py) still apply to the code.

The full run plants each bug and runs the tests named for it (a documented command, see
docs/reliability.md); this fast check only makes sure no edit has lost its anchor when
the code moved, so the mutation check cannot rot silently."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def mutate_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("leaseq_mutate_tool", ROOT / "tools/mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_every_planted_edit_finds_its_text_exactly_once_and_still_parses() -> None:
    tool = mutate_tool()
    assert len(tool.MUTANTS) >= 12
    assert tool.check_anchors() == []


def test_an_edit_whose_text_moved_is_reported(tmp_path: Path) -> None:
    tool = mutate_tool()
    mutant = tool.MUTANTS[0]
    (tmp_path / mutant.path).parent.mkdir(parents=True)
    (tmp_path / mutant.path).write_text("# the code moved away\n")
    for other in tool.MUTANTS[1:]:
        (tmp_path / other.path).parent.mkdir(parents=True, exist_ok=True)
        if not (tmp_path / other.path).exists():
            (tmp_path / other.path).write_text((ROOT / other.path).read_text())
    assert [p.split(":")[0] for p in tool.check_anchors(tmp_path)] == [mutant.name]
