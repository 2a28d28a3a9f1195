"""What users read matches the product: no machine's absolute paths in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A home, a scratch folder or a checkout of one machine: none of them exists on another.
MACHINE_PATH = re.compile(r"(/wor[k]/|/tm[p]/[a-z]+/|/hom[e]/[a-z]+/|/roo[t]/|/User[s]/[a-z]+/)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / n for n in names if not n.endswith((".png", ".ico", ".woff2"))]


def test_no_tracked_file_names_an_absolute_path_of_a_machine() -> None:
    found = []
    for path in tracked_text_files():
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in MACHINE_PATH.finditer(text)]
    assert found == []


def test_every_service_setting_is_documented_in_operations_md() -> None:
    from leaseq.app.settings import Settings

    documented = set(
        re.findall(r"^\| `LEASEQ_([A-Z_]+)` \|", (ROOT / "docs/operations.md").read_text(), re.M)
    )
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from docs/operations.md"
    assert documented - settings == set(), "docs/operations.md lists settings that do not exist"
