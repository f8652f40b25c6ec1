"""initial schema: rollouts, analyses, analysis_metrics, gitlab staging

Differences from the seed design's schema, on purpose (docs/architecture.md 'Rollout state machine'):
- rollouts: UNIQUE (cluster, namespace, deployment, generation) instead of a plain index, so that a
  restarted watcher records nothing twice; status gains SUPERSEDED (a generation overtaken by a newer
  one before it finished); failure_reason/failure_message; revision, image; lease columns for the
  analysis, notification and recovery-reply queues (owner, expiry, attempts, next attempt, error);
  the Slack channel and ts once sent; the GitLab deploy-board annotations (gitlab_app, gitlab_env).
- analyses: signature and reused_from_id (a repeated failure reuses its analysis, history complete).
- analysis_metrics: tokens, latency and cost per analysis (the seed's optional table).
- gitlab_metadata, webhook_deliveries: GitLab metadata staged until its rollout is seen; dedupe of
  repeated webhook deliveries.

Every step goes through fyr.migrations.steps, which skips what already exists: on MySQL/MariaDB
(DDL is not transactional) a run killed midway is completed by the next `fyr db upgrade`.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 11:05:03.306665
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fyr.db.base import UTCDateTime
from fyr.migrations import steps

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    steps.create_table(
        "analyses",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("rollout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=False),
        sa.Column("prompt_version", sa.String(length=255), nullable=False),
        sa.Column("reduced_context", sa.JSON(), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=True),
        sa.Column("reused_from_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    steps.create_index("idx_rollout", "analyses", ["rollout_id"])
    steps.create_index("idx_signature", "analyses", ["signature", "created_at"])

    steps.create_table(
        "analysis_metrics",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("analysis_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rollout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("context_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_metrics")),
    )
    steps.create_index("idx_metrics_analysis", "analysis_metrics", ["analysis_id"])

    steps.create_table(
        "gitlab_metadata",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("project_path", sa.String(length=255), nullable=False),
        sa.Column("project_slug", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=False),
        sa.Column("pipeline_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("pipeline_url", sa.Text(), nullable=True),
        sa.Column("mr_url", sa.Text(), nullable=True),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("deployment_status", sa.String(length=32), nullable=True),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column("slack_channel", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gitlab_metadata")),
        sa.UniqueConstraint(
            "project_path",
            "environment",
            "commit_sha",
            name=op.f("uq_gitlab_metadata_project_path_environment_commit_sha"),
        ),
    )
    steps.create_index("idx_gitlab_commit", "gitlab_metadata", ["commit_sha"])
    steps.create_index("idx_gitlab_job", "gitlab_metadata", ["job_id"])
    steps.create_index("idx_gitlab_slug", "gitlab_metadata", ["project_slug", "environment"])

    steps.create_table(
        "rollouts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("cluster", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=255), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("image", sa.String(length=1024), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING", "ROLLING_OUT", "SUCCESS", "FAILED", "SUPERSEDED", name="rollout_status", length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "origin", sa.Enum("k8s", "gitlab", "mixed", name="rollout_origin", length=16), nullable=False
        ),
        sa.Column("failure_reason", sa.String(length=255), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.Column("superseded_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("analysis_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "analysis_status",
            sa.Enum("PENDING", "DONE", "FAILED", name="analysis_status", length=16),
            nullable=True,
        ),
        sa.Column("analysis_lease_owner", sa.String(length=64), nullable=True),
        sa.Column("analysis_lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("analysis_attempts", sa.Integer(), nullable=False),
        sa.Column("analysis_next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("analysis_error", sa.Text(), nullable=True),
        sa.Column("failure_signature", sa.String(length=64), nullable=True),
        sa.Column(
            "notify_status",
            sa.Enum("PENDING", "SENT", "FAILED", name="notify_status", length=16),
            nullable=True,
        ),
        sa.Column("notify_lease_owner", sa.String(length=64), nullable=True),
        sa.Column("notify_lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("notify_next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.Column("slack_channel_sent", sa.String(length=255), nullable=True),
        sa.Column("slack_ts", sa.String(length=64), nullable=True),
        sa.Column("slack_thread_ts", sa.String(length=64), nullable=True),
        sa.Column(
            "recovery_status",
            sa.Enum("PENDING", "SENT", "FAILED", name="recovery_status", length=16),
            nullable=True,
        ),
        sa.Column("recovery_lease_owner", sa.String(length=64), nullable=True),
        sa.Column("recovery_lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("recovery_attempts", sa.Integer(), nullable=False),
        sa.Column("recovery_next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("recovery_error", sa.Text(), nullable=True),
        sa.Column("gitlab_app", sa.String(length=255), nullable=True),
        sa.Column("gitlab_env", sa.String(length=255), nullable=True),
        sa.Column("git_project", sa.String(length=255), nullable=True),
        sa.Column("git_commit", sa.String(length=255), nullable=True),
        sa.Column("pipeline_url", sa.Text(), nullable=True),
        sa.Column("mr_url", sa.Text(), nullable=True),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column("slack_channel", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
        sa.UniqueConstraint(
            "cluster",
            "namespace",
            "deployment",
            "generation",
            name=op.f("uq_rollouts_cluster_namespace_deployment_generation"),
        ),
    )
    steps.create_index("idx_analysis_queue", "rollouts", ["analysis_status", "analysis_next_attempt_at"])
    steps.create_index("idx_git_commit", "rollouts", ["git_commit"])
    steps.create_index("idx_notify_queue", "rollouts", ["notify_status", "notify_next_attempt_at"])
    steps.create_index("idx_recovery_queue", "rollouts", ["recovery_status", "recovery_next_attempt_at"])
    steps.create_index("idx_status", "rollouts", ["cluster", "status"])

    steps.create_table(
        "webhook_deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("event_kind", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_webhook_deliveries_dedupe_key")),
    )


def downgrade() -> None:
    steps.drop_table("webhook_deliveries")
    steps.drop_index("idx_status", "rollouts")
    steps.drop_index("idx_recovery_queue", "rollouts")
    steps.drop_index("idx_notify_queue", "rollouts")
    steps.drop_index("idx_git_commit", "rollouts")
    steps.drop_index("idx_analysis_queue", "rollouts")

    steps.drop_table("rollouts")
    steps.drop_index("idx_gitlab_slug", "gitlab_metadata")
    steps.drop_index("idx_gitlab_job", "gitlab_metadata")
    steps.drop_index("idx_gitlab_commit", "gitlab_metadata")

    steps.drop_table("gitlab_metadata")
    steps.drop_index("idx_metrics_analysis", "analysis_metrics")

    steps.drop_table("analysis_metrics")
    steps.drop_index("idx_signature", "analyses")
    steps.drop_index("idx_rollout", "analyses")

    steps.drop_table("analyses")
