"""SDK transports: how the client and the worker reach the queue (HTTP, in-process)."""
