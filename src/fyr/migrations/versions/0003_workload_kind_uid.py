"""rollouts: workload kind and uid in the unique key; DELETED status

Why: StatefulSets and DaemonSets roll out too, and a workload deleted and re-created under the same
name must not meet its predecessor's rows. Existing rows become kind `Deployment` with uid ''
(unknown); the watcher adopts such a row when it sees the same Deployment generation. DELETED closes
an open rollout whose workload went away (never notified as a failure).

Downgrade: the old key cannot hold other kinds or several uids of one name, so rows of other kinds
are removed, of several uids for one (cluster, namespace, name, generation) the newest row stays,
and DELETED becomes SUPERSEDED.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from fyr.migrations import steps

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OLD = ("PENDING", "ROLLING_OUT", "SUCCESS", "FAILED", "SUPERSEDED")
_NEW = (*_OLD, "DELETED")
_OLD_KEY = "uq_rollouts_cluster_namespace_deployment_generation"
_NEW_KEY = "uq_rollouts_cluster_kind_namespace_deployment_uid_generation"


def _widen_status(batch_op: Any) -> None:
    batch_op.alter_column("status", existing_type=sa.Enum(*_OLD, name="rollout_status", length=16),
                          type_=sa.Enum(*_NEW, name="rollout_status", length=16), existing_nullable=False)


def upgrade() -> None:
    # Each step does only what is missing (fyr.migrations.steps): a run killed midway is completed.
    steps.add_column("rollouts", sa.Column("kind", sa.String(length=32), server_default="Deployment",
                                           nullable=False))
    steps.add_column("rollouts", sa.Column("uid", sa.String(length=64), server_default="", nullable=False))
    steps.swap_unique("rollouts", _OLD_KEY, _NEW_KEY,
                      ["cluster", "kind", "namespace", "deployment", "uid", "generation"], alter=_widen_status)


def downgrade() -> None:
    op.execute("DELETE FROM rollouts WHERE kind <> 'Deployment'")
    # Of several uids for one old key, keep the newest row (a derived table: MySQL cannot select from
    # the table it deletes from directly).
    op.execute(
        "DELETE FROM rollouts WHERE id NOT IN (SELECT keep FROM (SELECT MAX(id) AS keep FROM rollouts "
        "GROUP BY cluster, namespace, deployment, generation) AS newest)"
    )
    op.execute("UPDATE rollouts SET status = 'SUPERSEDED' WHERE status = 'DELETED'")
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.drop_constraint(_NEW_KEY, type_="unique")
        batch_op.create_unique_constraint(_OLD_KEY, ["cluster", "namespace", "deployment", "generation"])
        batch_op.alter_column("status", existing_type=sa.Enum(*_NEW, name="rollout_status", length=16),
                              type_=sa.Enum(*_OLD, name="rollout_status", length=16), existing_nullable=False)
        batch_op.drop_column("uid")
        batch_op.drop_column("kind")
