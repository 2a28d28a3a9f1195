"""Packaging: every source package is listed, and the wheel installs as `leaseq.*` only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("domain", "ports", "adapters", "app", "sdk")
SKIPPED = {".venv", ".git", ".typecheck", "build", "dist", "tests", ".hypothesis"}


def setuptools_config() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    return config


def listed_packages() -> set[str]:
    return set(setuptools_config()["packages"])  # type: ignore[call-overload]


def package_folder(package: str) -> Path:
    """Where setuptools finds `package`, following the `package-dir` mapping."""
    mapping: dict[str, str] = setuptools_config()["package-dir"]  # type: ignore[assignment]
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in mapping:
            return ROOT / mapping[prefix] / Path(*parts[cut:])
    return ROOT / Path(*parts)


def folders_with_init() -> set[str]:
    return {
        "leaseq." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in SOURCE_FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }


def test_every_folder_with_an_init_is_a_listed_package() -> None:
    assert folders_with_init() - listed_packages() == set()


def test_every_listed_package_maps_to_a_folder_with_an_init() -> None:
    missing = {p for p in listed_packages() if not (package_folder(p) / "__init__.py").is_file()}
    assert missing == set()


def test_every_listed_package_lives_under_leaseq() -> None:
    assert {p for p in listed_packages() if not p.startswith("leaseq.")} == set()


def test_there_is_no_root_init_so_nothing_generic_lands_in_site_packages() -> None:
    assert not (ROOT / "__init__.py").exists()


def run(python: Path, code: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv outside the repository with only the built wheel installed (no deps);
    the current venv's site-packages comes after it on the path, for attrs only."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a clean copy: a stale build/ folder could hide a missing package
    shutil.copytree(ROOT, source, ignore=lambda _d, names: [n for n in names if n in SKIPPED])
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = (work / "dist").glob("leaseq-*.whl")
    venv.create(work / "venv", with_pip=False)
    python = work / "venv" / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # attrs (the domain's one dependency) comes from the current venv, on the path *after*
    # the new venv's site-packages; a .pth line is appended, and the editable install's own
    # finder there is not activated (its .pth is not processed from a plain path entry).
    new_site = run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])", work, {})
    Path(new_site.strip(), "zz_current_venv.pth").write_text(sysconfig.get_paths()["purelib"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return python, env


def test_the_wheel_installs_every_package_under_leaseq(
    installed_wheel: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    python, env = installed_wheel
    packages = sorted(folders_with_init() | listed_packages())
    out = run(
        python,
        "import importlib.util, sys\n"
        f"for name in {packages!r}:\n"
        "    spec = importlib.util.find_spec(name)\n"
        "    print(name, spec.origin if spec else None)\n",
        tmp_path,
        env,
    )
    venv_root = python.parent.parent.resolve()
    found = dict(line.split(" ", 1) for line in out.splitlines())
    assert set(found) == set(packages)
    assert all(Path(origin).resolve().is_relative_to(venv_root) for origin in found.values()), out


def test_the_installed_wheel_imports_leaseq_domain_from_itself_and_no_bare_domain(
    installed_wheel: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    python, env = installed_wheel
    out = run(
        python,
        "import leaseq.domain, leaseq.ports\n"
        "print(leaseq.domain.__file__)\n"
        "for bare in ('domain', 'ports', 'adapters', 'app', 'sdk'):\n"
        "    try:\n"
        "        __import__(bare)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    print('importable:', bare)\n",
        tmp_path,
        env,
    )
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("importable:")] == []
    [domain_file] = lines
    assert Path(domain_file).resolve().is_relative_to(python.parent.parent.resolve())


def test_the_wheel_ships_the_console_templates_and_static_files(
    installed_wheel: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    python, env = installed_wheel
    out = run(
        python,
        "import importlib.util, pathlib\n"
        "spec = importlib.util.find_spec('leaseq.adapters.http.console')\n"
        "here = pathlib.Path(spec.origin).parent\n"
        "for name in ('templates/base.html', 'templates/task.html', 'static/console.js',"
        " 'static/console.css'):\n"
        "    print(name, (here / name).is_file())\n",
        tmp_path,
        env,
    )
    assert "False" not in out and out.count("True") == 4, out
