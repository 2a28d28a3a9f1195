"""The SQLAlchemy async engine on asyncpg, from any libpq-style URL."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


def asyncpg_url(url: str) -> str:
    """`postgresql://`, `postgres://` or `postgresql+asyncpg://` → the asyncpg dialect URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {scheme}://…")
    return f"postgresql+asyncpg://{rest}"


def libpq_url(url: str) -> str:
    """The same URL as asyncpg.connect accepts it (for the LISTEN connection)."""
    return "postgresql://" + asyncpg_url(url).partition("://")[2]


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Every statement of the store is one atomic statement, so connections run in
    autocommit: one round trip per call, no BEGIN/COMMIT."""
    return create_async_engine(
        make_url(asyncpg_url(url)),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "leaseq"}},
    )
