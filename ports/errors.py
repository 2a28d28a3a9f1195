"""Errors of the infrastructure behind a port, translated from driver errors at the edge."""

from __future__ import annotations

from leaseq.domain import LeaseqError


class StoreError(LeaseqError):
    code = "store_error"


class StoreUnavailable(StoreError):
    """The backend could not be reached or dropped the connection; the call may be retried."""

    code = "store_unavailable"


class SchemaOutOfDate(StoreError):
    """The database schema is not the version this code needs; run `leaseq migrate`."""

    code = "schema_out_of_date"
