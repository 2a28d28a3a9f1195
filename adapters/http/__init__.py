"""The HTTP inbound adapter: the FastAPI application of the API v1."""
