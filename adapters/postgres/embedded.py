"""An embedded PostgreSQL (the `pgserver` package) kept in the data directory, so that
`leaseq serve` works with nothing installed and its tasks survive restarts."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

# pgserver counts the processes using a server in this file and stops the server when
# the last one exits. A process killed with SIGKILL never removes itself, so without the
# pruning below the server would outlive every later clean stop.
_HANDLES = ".handle_pids.json"
# PostgreSQL's lock file: its first line is the server's pid, its second the data folder.
_PID_FILE = "postmaster.pid"


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) the server in `data_dir/postgres`; returns (URL, server handle).

    The server stops when the last process using it exits; its data stays in the
    directory. A server left running by a killed `leaseq serve` is reused, and stopped
    when this process exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and then
        # falls back to a folder of its own, which is all pgserver needs.
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(pgdata)
    forget_stale_pid_file(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    url = str(server.get_uri()).replace("postgres:@", "postgres@")
    return url, server


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop the processes that no longer run from pgserver's list of the server's users;
    returns the pids dropped."""
    path = pgdata / _HANDLES
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    dead = [pid for pid in pids if not (isinstance(pid, int) and _running(pid))]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def forget_stale_pid_file(pgdata: Path) -> bool:
    """Remove postmaster.pid when it names no PostgreSQL serving `pgdata` (the server was
    killed, then its pid was reused, e.g. after a reboot); returns whether it did.

    pgserver would take the pid's process for the server: wait for a socket nobody opens,
    then kill that process (someone else's) to stop "its" server."""
    path = pgdata / _PID_FILE
    try:
        lines = path.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return False
    if _running(pid) and _serves(pid, pgdata):
        return False  # a live server of this folder: pgserver reuses it
    path.unlink(missing_ok=True)
    return True


def _serves(pid: int, pgdata: Path) -> bool:
    """Whether `pid` is a postgres whose data folder is `pgdata`; True where /proc cannot
    tell (not Linux), so that a live server is never taken for a stale one."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    args = [arg.decode(errors="replace") for arg in argv]
    return Path(args[0]).name == "postgres" and str(pgdata) in args


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True
