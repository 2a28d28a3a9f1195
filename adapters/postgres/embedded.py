"""An embedded PostgreSQL (the `pgserver` package) kept in the data directory, so that
`leaseq serve` works with nothing installed and its tasks survive restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) the server in `data_dir/postgres`; returns (URL, server handle).

    The server stops when this process exits; its data stays in the directory.
    """
    import pgserver

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    url = str(server.get_uri()).replace("postgres:@", "postgres@")
    return url, server
