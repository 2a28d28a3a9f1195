"""Dependency direction, checked by walking the imports of every source module."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "ports", "adapters", "app", "sdk")
# the composition root and the command line may wire concrete adapters (they may not exist yet)
COMPOSITION_ROOTS = {Path("app/container.py"), Path("app/cli.py"), Path("app/operator_cli.py")}
# third-party libraries that only adapters (or the composition root) may use
INFRASTRUCTURE = {"sqlalchemy", "asyncpg", "alembic", "fastapi", "uvicorn", "pgserver"}
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


def imports_of(path: Path, root: Path = ROOT) -> Iterator[str]:
    """Absolute names of every module `path` imports (relative imports are resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["leaseq", *path.relative_to(root).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                yield ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.module or ""


def sources(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def offences(layer: str, allowed: Callable[[str], bool]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(layer)
        if path.relative_to(ROOT) not in COMPOSITION_ROOTS
        for name in imports_of(path)
        if not allowed(name)
    ]


def top(name: str) -> str:
    return name.split(".")[0]


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_every_layer_has_sources_to_check() -> None:
    assert all(sources(layer) for layer in LAYERS)


def test_domain_imports_only_the_standard_library_and_attrs() -> None:
    assert (
        offences(
            "domain", lambda n: top(n) in STDLIB or top(n) == "attrs" or within(n, "leaseq.domain")
        )
        == []
    )


def test_ports_import_only_the_standard_library_attrs_and_the_domain() -> None:
    assert (
        offences(
            "ports",
            lambda n: (
                top(n) in STDLIB or top(n) == "attrs" or within(n, "leaseq.domain", "leaseq.ports")
            ),
        )
        == []
    )


def test_app_imports_no_adapter_or_sdk_outside_the_composition_root() -> None:
    def allowed(name: str) -> bool:
        if top(name) == "leaseq":
            return within(name, "leaseq.domain", "leaseq.ports", "leaseq.app")
        return top(name) not in {
            "sqlalchemy",
            "asyncpg",
            "alembic",
            "fastapi",
            "uvicorn",
            "httpx",
            "pgserver",
            "dependency_injector",
        }

    assert offences("app", allowed) == []


def test_adapters_never_import_the_sdk() -> None:
    assert offences("adapters", lambda n: not within(n, "leaseq.sdk")) == []


@pytest.mark.parametrize("folder", [*LAYERS, "tests", "tools"])
def test_no_module_imports_a_source_folder_by_its_bare_name(folder: str) -> None:
    bare = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(folder)
        for name in imports_of(path)
        if top(name) in LAYERS
    ]
    assert bare == []


def test_the_import_walk_sees_plain_from_and_relative_imports(tmp_path: Path) -> None:
    module = tmp_path / "adapters" / "memory" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import json\nfrom attrs import frozen\nfrom ..system import A\nfrom . import y\n"
    )
    assert list(imports_of(module, tmp_path)) == [
        "json",
        "attrs",
        "leaseq.adapters.system",
        "leaseq.adapters.memory",
    ]
