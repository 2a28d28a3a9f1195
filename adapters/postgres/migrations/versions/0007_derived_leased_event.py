"""The `leased` event of a task's last grant is derived from the task row (ADR 0036).

Revision ID: 0007
Revises: 0006

`leased_at` records when the task's current or last lease was granted. A grant no longer
writes its `leased` row: while the lease lives, or once it succeeded, the history read
derives the event from the row; a lease that ends otherwise (retry, failure, release,
expiry, cancel) writes the row then, before its own. Nullable without a default: adding
it rewrites nothing. The rows stored before stay, and are read instead of derived ones.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE leaseq_tasks ADD COLUMN leased_at timestamptz")


def downgrade() -> None:
    # The tasks leased since, and still leased or succeeded, lose their last `leased`
    # event in 0006's history read: nothing stored it.
    op.execute("ALTER TABLE leaseq_tasks DROP COLUMN leased_at")
