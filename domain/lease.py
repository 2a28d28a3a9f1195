"""The lease: who holds a task, with which secret token and fencing epoch, until when."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen


@frozen
class Lease:
    """One grant of a task to a worker.

    `token` is an unguessable secret (128 bits or more) that proves the holder;
    `epoch` grows with every grant of the same task and is handed to the handler as
    a fencing number for its own side effects. A lease is live while
    `now < expires_at`. The task keeps its most recent lease after it ends, so a
    late call with that token can be told apart ("expired") from a stranger's.
    `request_id` names the worker's lease request that was granted it, so that a repeat
    of that request (its answer was lost) is answered with this lease again.
    """

    owner: str
    token: str
    epoch: int
    expires_at: datetime
    request_id: str | None = None  # the lease request that was granted it, if it named one

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at
