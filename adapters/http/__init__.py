"""The HTTP inbound adapter: the FastAPI application of the API v1."""

from leaseq.adapters.http.app import create_app
from leaseq.adapters.http.options import HttpOptions

__all__ = ["HttpOptions", "create_app"]
