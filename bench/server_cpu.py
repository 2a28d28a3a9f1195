"""Server CPU per request under the servers ADR 0018 weighed: `leaseq serve`'s uvicorn
(httptools, with the read deadlines), plain uvicorn, hypercorn and granian, each serving
the same app (memory store, development mode) in a child process, one keep-alive client
sending requests one at a time. CPU of the server's process tree (psutil), per request.

hypercorn and granian are not dependencies: install them aside and name the folder,

    pip install --target "$ASIDE" hypercorn granian
    .venv/bin/python bench/server_cpu.py --aside "$ASIDE" --n 3000 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil

APP_SOURCE = """from leaseq.app.container import build_container
from leaseq.app.settings import Settings

app = build_container(Settings(memory=True)).http_app()
"""
UVICORN = """import sys
import uvicorn
from bench_app import app
from leaseq.adapters.http.server import server_config

port = int(sys.argv[1])
if sys.argv[2] == "deadlines":
    config = server_config(app, host="127.0.0.1", port=port, header_timeout=10,
                           body_timeout=30, access_log=False, log_level="warning")
else:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools",
                            loop="uvloop", access_log=False, log_level="warning")
uvicorn.Server(config).run()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree_cpu(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


@contextlib.contextmanager
def running(cmd: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[int]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{cmd[:4]} did not start")
            time.sleep(0.2)  # a child process starts: nothing to wait on
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def measure(pid: int, port: int, n: int) -> dict[str, float]:
    found: dict[str, float] = {}
    body = json.dumps({"queue": "empty", "worker_id": "w", "max_tasks": 10})
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        calls: dict[str, Callable[[], httpx.Response]] = {
            "healthz": lambda: http.get("/healthz"),
            "lease_empty": lambda: http.post(
                "/v1/leases", content=body, headers={"content-type": "application/json"}
            ),
        }
        for name, call in calls.items():
            for _ in range(200):
                call()
            before = tree_cpu(pid)
            for _ in range(n):
                assert call().status_code == 200
            found[f"{name}_server_cpu_us"] = round((tree_cpu(pid) - before) / n * 1e6, 1)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--aside", help="folder where hypercorn and granian were installed")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.gettempdir()) / f"leaseq-server-cpu-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "bench_app.py").write_text(APP_SOURCE)
    (work / "run_uvicorn.py").write_text(UVICORN)
    path = os.pathsep.join(p for p in (args.aside, str(work)) if p)
    env = {**os.environ, "PYTHONPATH": path}
    py = sys.executable
    servers: dict[str, Callable[[int], list[str]]] = {
        "uvicorn with read deadlines (leaseq serve)": lambda p: [
            py,
            "run_uvicorn.py",
            str(p),
            "deadlines",
        ],
        "uvicorn, plain httptools": lambda p: [py, "run_uvicorn.py", str(p), "plain"],
    }
    if args.aside:
        servers["hypercorn"] = lambda p: [
            py,
            "-m",
            "hypercorn",
            "bench_app:app",
            "--bind",
            f"127.0.0.1:{p}",
            "--read-timeout",
            "10",
        ]
        servers["granian"] = lambda p: [
            py,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(p),
            "--workers",
            "1",
            "--no-ws",
            "bench_app:app",
        ]
    for _ in range(args.rounds):
        for name, command in servers.items():
            port = free_port()
            with running(command(port), env, work, port) as pid:
                print(
                    json.dumps(
                        {"measure": "server_cpu", "server": name, **measure(pid, port, args.n)}
                    )
                )


if __name__ == "__main__":
    main()
