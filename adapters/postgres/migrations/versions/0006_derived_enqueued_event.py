"""The `enqueued` event is derived from the task row, not written (ADR 0036).

Revision ID: 0006
Revises: 0005

`leaseq_enqueue_result` no longer inserts the event; the history read derives it from the
task's `created_at`. The events stored before stay: a task with a stored `enqueued` row is
read with that row and no derived one (so are tasks enqueued by a replica that still runs
the code of 0005 during a rolling upgrade). Replaced, not dropped: the function keeps its
owner and the grants an operator gave it.
"""

from __future__ import annotations

from alembic import op

from leaseq.adapters.postgres.migrations.enqueue_function import replace_enqueue_result

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _replace(*, writes_enqueued_event: bool) -> None:
    for statement in replace_enqueue_result(
        writes_enqueued_event=writes_enqueued_event, static_insert=False
    ):
        op.execute(statement)


def upgrade() -> None:
    _replace(writes_enqueued_event=False)


def downgrade() -> None:
    # The tasks enqueued since keep a derived event only: 0005's history read shows them
    # without their `enqueued` row.
    _replace(writes_enqueued_event=True)
