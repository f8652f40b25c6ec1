"""retention: indexes on the timestamps the pruning loop deletes by

The pruner (fyr.db.retention) deletes old rows in small batches selected by a timestamp; without an
index each batch would scan the whole table while holding its locks. Each step is idempotent
(fyr.migrations.steps), so a run killed midway on MySQL/MariaDB is completed by the next one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

from fyr.migrations import steps

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    steps.create_index("idx_rollouts_updated", "rollouts", ["updated_at"])
    steps.create_index("idx_gitlab_updated", "gitlab_metadata", ["updated_at"])
    steps.create_index("idx_deliveries_received", "webhook_deliveries", ["received_at"])


def downgrade() -> None:
    steps.drop_index("idx_deliveries_received", "webhook_deliveries")
    steps.drop_index("idx_gitlab_updated", "gitlab_metadata")
    steps.drop_index("idx_rollouts_updated", "rollouts")
