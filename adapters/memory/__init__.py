"""The in-memory task store: the domain transitions applied directly, for embedding and tests."""

from leaseq.adapters.memory.notifier import InMemoryNotifier
from leaseq.adapters.memory.store import InMemoryTaskStore

__all__ = ["InMemoryNotifier", "InMemoryTaskStore"]
