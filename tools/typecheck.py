"""Runs `mypy --strict` over the leaseq packages through a symlink tree.

setuptools' `package-dir` maps each top-level folder to `leaseq.<folder>`; a lenient
editable install hides that mapping from mypy, so we build `.typecheck/leaseq/<folder>`
symlinks and check that tree instead. Usage: `python tools/typecheck.py [mypy args]`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".typecheck"


def mapped_folders() -> dict[str, str]:
    """`package-dir` of pyproject.toml: {"domain": "domain", ...} for each leaseq.<name>."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name.removeprefix("leaseq."): folder for name, folder in mapping.items()}


def build_tree() -> Path:
    package = TREE / "leaseq"
    package.mkdir(parents=True, exist_ok=True)
    for name, folder in mapped_folders().items():
        link = package / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path("..", "..", folder))
    return TREE


def main(argv: list[str]) -> int:
    tree = build_tree()
    config = str(ROOT / "pyproject.toml")
    command = [sys.executable, "-m", "mypy", "--strict", "--config-file", config, "-p", "leaseq"]
    command += argv
    return subprocess.call(command, cwd=tree)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
