"""Driver errors translated to the ports' store errors, in one table at the adapter's edge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

from leaseq.ports import SchemaOutOfDate, StoreError, StoreUnavailable

SCHEMA_HINT = "the database schema is not the one this leaseq needs; run `leaseq migrate`"

# First match wins; checked against the SQLAlchemy error and the driver error it wraps.
TRANSLATIONS: tuple[tuple[tuple[type[BaseException], ...], type[StoreError], str], ...] = (
    ((asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError), SchemaOutOfDate, SCHEMA_HINT),
    (
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.AdminShutdownError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.QueryCanceledError,
            asyncpg.ReadOnlySQLTransactionError,
            asyncpg.SerializationError,
            asyncpg.DeadlockDetectedError,
            sa_exc.TimeoutError,
            sa_exc.InterfaceError,
            sa_exc.OperationalError,
            OSError,
            TimeoutError,
            ConnectionError,
        ),
        StoreUnavailable,
        "the database is unavailable",
    ),
)


def translate(error: BaseException) -> StoreError:
    """The store error for a driver or SQLAlchemy error (StoreError when nothing matches)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return _wrap(StoreUnavailable, "the database connection was lost", error)
    candidates = [error]
    orig = getattr(error, "orig", None)
    if orig is not None:
        candidates.append(orig)
        cause = getattr(orig, "__cause__", None)
        if cause is not None:
            candidates.append(cause)
    for candidate in candidates:
        for kinds, target, message in TRANSLATIONS:
            if isinstance(candidate, kinds):
                return _wrap(target, message, error)
    return _wrap(StoreError, "the database refused the statement", error)


def _wrap(kind: type[StoreError], message: str, error: BaseException) -> StoreError:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return kind(f"{message}: {text}")


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver-level errors as store errors; domain errors pass through."""
    try:
        yield
    except (sa_exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise translate(exc) from exc
    except TimeoutError as exc:
        raise translate(exc) from exc
