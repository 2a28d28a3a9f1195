"""What a repeated call needs: the report that ended a lease, and the request a lease
was granted to (see docs/adr/0021-repeated-reports-and-lease-requests.md).

Revision ID: 0004
Revises: 0003

`report_*` hold the record of the report that ended the task's most recent report-ended
lease (`leaseq.domain.ReportRecord`): its fingerprint, and the task's fields that report
left which later transitions may change. `lease_request` is the lease request id the
current (or most recent) lease was granted to. All nullable, no default: adding them
rewrites nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE leaseq_tasks
            ADD COLUMN lease_request      text,
            ADD COLUMN report_fingerprint text,
            ADD COLUMN report_state       text,
            ADD COLUMN report_at          timestamptz,
            ADD COLUMN report_epoch       bigint,
            ADD COLUMN report_attempts    integer,
            ADD COLUMN report_run_at      timestamptz,
            ADD COLUMN report_last_error  text
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE leaseq_tasks
            DROP COLUMN lease_request,
            DROP COLUMN report_fingerprint,
            DROP COLUMN report_state,
            DROP COLUMN report_at,
            DROP COLUMN report_epoch,
            DROP COLUMN report_attempts,
            DROP COLUMN report_run_at,
            DROP COLUMN report_last_error
        """
    )
