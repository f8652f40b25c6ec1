"""slack actions: message updates in place, the audit trail of clicks, workload mutes

- rollouts: an update queue (update_status + lease columns, like the notify and recovery queues)
  for editing the top Slack message when its incident changes; analysis_fresh, set by a
  "re-analyse" click so that the next analysis reuses nothing.
- rollout_actions: every accepted Slack action (who, which, when, on what), unique per click.
- workload_mutes: one row per muted workload, with its end.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fyr.db.base import UTCDateTime
from fyr.migrations import steps

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for column in (
        sa.Column("update_status", sa.Enum("PENDING", "SENT", "FAILED", name="update_status", length=16),
                  nullable=True),
        sa.Column("update_lease_owner", sa.String(length=64), nullable=True),
        sa.Column("update_lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("update_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("update_next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("update_error", sa.Text(), nullable=True),
        sa.Column("analysis_fresh", sa.Boolean(), nullable=False, server_default=sa.false()),
    ):
        steps.add_column("rollouts", column)
    steps.create_index("idx_update_queue", "rollouts", ["update_status", "update_next_attempt_at"])
    steps.create_table(
        "rollout_actions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("rollout_id", _ID, nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("slack_user_id", sa.String(length=64), nullable=False),
        sa.Column("slack_user_name", sa.String(length=255), nullable=True),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_actions")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_rollout_actions_dedupe_key")),
    )
    steps.create_index("idx_actions_rollout", "rollout_actions", ["rollout_id", "created_at"])
    steps.create_table(
        "workload_mutes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("cluster", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=255), nullable=False),
        sa.Column("muted_until", UTCDateTime(), nullable=False),
        sa.Column("muted_by", sa.String(length=64), nullable=False),
        sa.Column("rollout_id", _ID, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workload_mutes")),
        sa.UniqueConstraint("cluster", "namespace", "deployment",
                            name=op.f("uq_workload_mutes_cluster_namespace_deployment")),
    )


def downgrade() -> None:
    steps.drop_table("workload_mutes")
    steps.drop_index("idx_actions_rollout", "rollout_actions")
    steps.drop_table("rollout_actions")
    steps.drop_index("idx_update_queue", "rollouts")
    for col in ("analysis_fresh", "update_error", "update_next_attempt_at", "update_attempts",
                "update_lease_expires_at", "update_lease_owner", "update_status"):
        steps.drop_column("rollouts", col)
