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

from leaseq.adapters.postgres.migrations.enqueue_function import (
    ENQUEUE_RESULT_ARGS,
    enqueue_result_function,
    pin_search_path,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _replace(*, writes_enqueued_event: bool) -> None:
    op.execute(
        enqueue_result_function(
            with_concurrency_key=True, writes_enqueued_event=writes_enqueued_event, replace=True
        )
    )
    # CREATE OR REPLACE resets the function's settings: pin its search_path again (0003)
    op.execute(pin_search_path(f"leaseq_enqueue_result({ENQUEUE_RESULT_ARGS})"))


def upgrade() -> None:
    _replace(writes_enqueued_event=False)


def downgrade() -> None:
    # The tasks enqueued since keep a derived event only: 0005's history read shows them
    # without their `enqueued` row.
    _replace(writes_enqueued_event=True)
