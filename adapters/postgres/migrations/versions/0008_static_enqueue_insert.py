"""`leaseq_enqueue_result` inserts with a static statement and makes the id in place (ADR
0040).

Revision ID: 0008
Revises: 0007

Up to 0007 the function's insert was dynamic SQL, parsed and planned on every call, and
its id came from `leaseq_uuid7()`, a SQL function that is never inlined. Together they were
about a quarter of PostgreSQL's CPU per call. The arguments, checks, answers and errors
are unchanged. Replaced, not dropped: the function keeps its owner and the grants an
operator gave it.
"""

from __future__ import annotations

from alembic import op

from leaseq.adapters.postgres.migrations.enqueue_function import replace_enqueue_result

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in replace_enqueue_result(writes_enqueued_event=False, static_insert=True):
        op.execute(statement)


def downgrade() -> None:
    # 0006's function
    for statement in replace_enqueue_result(writes_enqueued_event=False, static_insert=False):
        op.execute(statement)
