"""Runnable examples of idempotent handlers (not part of the installed package)."""
