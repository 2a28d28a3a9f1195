"""The base install (`pip install leaseq`) is the SDK: it works without the service's
packages (ADR 0031). The built wheel goes into a fresh venv without dependencies; the
current venv lends its packages, except every one that only `leaseq[server]` brings,
which an import hook refuses — so an SDK module importing one of them fails here."""

from __future__ import annotations

import re
import subprocess
import textwrap
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest

from tests.unit.test_packaging import installed_wheel  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(300)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _requirements(dist: str, extra: str | None = None) -> set[str]:
    """The distributions `dist` requires directly: its base list, or one extra's."""
    found = set()
    for requirement in distribution(dist).requires or []:
        marker = requirement.partition(";")[2]
        wanted = f'extra == "{extra}"' in marker if extra else "extra ==" not in marker
        if wanted:
            found.add(_name(requirement))
    return found


def _closure(names: set[str]) -> set[str]:
    """`names` and everything they require, as installed here."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo.extend(_requirements(name) - seen)
        except PackageNotFoundError:  # its marker leaves it out here: nothing to follow
            continue
    return seen


def server_only_modules() -> list[str]:
    """Import names of the distributions only `leaseq[server]` brings: top-level ones, and
    in a namespace shared with the base (opentelemetry) the next level (opentelemetry.sdk)."""
    base = _closure(_requirements("leaseq"))
    server_only = _closure(_requirements("leaseq", "server")) - base
    assert {"fastapi", "sqlalchemy", "alembic", "pgserver"} <= server_only
    shared = {
        module
        for module, dists in packages_distributions().items()
        if any(_name(d) not in server_only for d in dists)
    }
    modules = set()
    for dist in server_only:
        try:
            files = distribution(dist).files or []
        except PackageNotFoundError:  # its marker leaves it out here
            continue
        for file in files:
            parts = file.parts
            if file.suffix != ".py" or parts[0].endswith((".dist-info", ".data")):
                continue
            depth = 2 if parts[0] in shared and len(parts) > 2 else 1
            modules.add(".".join(parts[:depth]).removesuffix(".py"))
    return sorted(m for m in modules if m not in shared and not m.startswith(("_", "..")))


SDK_ONLY = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"{name} (a leaseq[server] package)", name=name)

    sys.meta_path.insert(0, Refuse())

    from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
    from leaseq.adapters.system import RandomJitter
    from leaseq.app.services import TaskService
    from leaseq.sdk import Client, Worker
    from leaseq.sdk.transport.inprocess import InProcessTransport
    import leaseq.sdk.cli, leaseq.sdk.transport.http, leaseq.app.cli

    async def main():
        notifier = InMemoryNotifier()
        service = TaskService(InMemoryTaskStore(notifier=notifier), notifier, RandomJitter())
        client = Client(InProcessTransport(service))
        worker = Worker(client, queue="q", wait_seconds=0.1)

        @worker.handler("double")
        async def double(ctx, n):
            return 2 * n

        queued = await client.enqueue("q", "double", 21)
        run = asyncio.create_task(worker.run(install_signal_handlers=False))
        done = await client.wait_for(queued.id, timeout=10)
        worker.stop()
        await run
        print("result", done.result)

    asyncio.run(main())
    print("server modules loaded:", sorted(set(sys.modules) & BLOCKED))
    sys.argv = ["leaseq", "serve"]
    leaseq.app.cli.main()
    """
)


def test_the_sdk_runs_a_worker_without_any_server_package(
    installed_wheel: tuple[Path, dict[str, str]],  # noqa: F811
    tmp_path: Path,
) -> None:
    python, env = installed_wheel
    blocked = server_only_modules()
    done = subprocess.run(
        [str(python), "-c", SDK_ONLY, ",".join(blocked)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == ["result 42", "server modules loaded: []"], done.stdout + done.stderr
    # `leaseq serve` on the SDK alone: one line that says what to install
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("leaseq: `leaseq serve` needs the service's packages"), line
    assert "pip install 'leaseq[server]'" in line


def test_the_base_install_does_not_require_the_service_packages() -> None:
    base = _closure(_requirements("leaseq"))
    assert not {"fastapi", "sqlalchemy", "alembic", "pgserver", "asyncpg", "uvicorn"} & base
    assert "leaseq" in _requirements("leaseq", "dev")  # dev includes leaseq[server]
