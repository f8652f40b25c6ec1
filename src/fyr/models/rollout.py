"""The `rollouts` table (docs/architecture.md 'The database is the queue') with the changes docs/architecture.md
'Rollout state machine' ask for.

Changes from the seed, each made by migration 0001:
- UNIQUE (cluster, namespace, deployment, generation): a restarted watcher inserts nothing twice.
- status SUPERSEDED: a generation overtaken by a newer one before it finished.
- failure_reason / failure_message: why it failed (the seed logs `reason="crashloop"`).
- revision, image, gitlab_app, gitlab_env: what the watcher saw, for the message and correlation.
- lease columns per queue (analysis_*, notify_*, recovery_*): the database is the queue.
- slack_channel_sent / slack_ts / slack_thread_ts: where the message went, for exactly-once and replies.
- failure_signature: same deployment + same signature → thread reply, no second LLM call.

Migration 0003: kind and uid, in the unique key (cluster, kind, namespace, deployment, uid,
generation), so a workload re-created under the same name starts its own history; status DELETED.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Enum, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fyr.db.base import Base, UTCDateTime
from fyr.db.bounded import BoundedString, BoundedText


class RolloutStatus(enum.StrEnum):
    PENDING = "PENDING"
    ROLLING_OUT = "ROLLING_OUT"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"
    DELETED = "DELETED"  # the workload went away before the rollout finished (migration 0003)


class Origin(enum.StrEnum):
    K8S = "k8s"
    GITLAB = "gitlab"
    MIXED = "mixed"


class AnalysisStatus(enum.StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


class NotifyStatus(enum.StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], native_enum=True,
                create_constraint=False, validate_strings=True, length=16)


BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Rollout(Base):
    __tablename__ = "rollouts"
    __table_args__ = (
        UniqueConstraint("cluster", "kind", "namespace", "deployment", "uid", "generation"),
        Index("idx_status", "cluster", "status"),
        Index("idx_analysis_queue", "analysis_status", "analysis_next_attempt_at"),
        Index("idx_notify_queue", "notify_status", "notify_next_attempt_at"),
        Index("idx_recovery_queue", "recovery_status", "recovery_next_attempt_at"),
        Index("idx_update_queue", "update_status", "update_next_attempt_at"),
        Index("idx_git_commit", "git_commit"),
        Index("idx_rollouts_updated", "updated_at"),  # retention (migration 0002)
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(BoundedString(255))
    namespace: Mapped[str] = mapped_column(BoundedString(255))
    # The workload: kind Deployment, StatefulSet or DaemonSet; `deployment` is its name (the column
    # kept its first name); uid '' when unknown (rows written before migration 0003).
    kind: Mapped[str] = mapped_column(BoundedString(32), default="Deployment", server_default="Deployment")
    deployment: Mapped[str] = mapped_column(BoundedString(255))
    uid: Mapped[str] = mapped_column(BoundedString(64), default="", server_default="")
    generation: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int | None] = mapped_column(Integer)
    image: Mapped[str | None] = mapped_column(BoundedString(1024))

    status: Mapped[RolloutStatus] = mapped_column(_enum(RolloutStatus, "rollout_status"))
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "rollout_origin"), default=Origin.K8S)
    failure_reason: Mapped[str | None] = mapped_column(BoundedString(255))
    failure_message: Mapped[str | None] = mapped_column(BoundedText())

    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # analysis queue
    analysis_id: Mapped[int | None] = mapped_column(BIGINT)
    analysis_status: Mapped[AnalysisStatus | None] = mapped_column(_enum(AnalysisStatus, "analysis_status"))
    analysis_lease_owner: Mapped[str | None] = mapped_column(BoundedString(64))
    analysis_lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    analysis_attempts: Mapped[int] = mapped_column(Integer, default=0)
    analysis_next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    analysis_error: Mapped[str | None] = mapped_column(BoundedText())
    failure_signature: Mapped[str | None] = mapped_column(BoundedString(64))

    # notification queue
    notify_status: Mapped[NotifyStatus | None] = mapped_column(_enum(NotifyStatus, "notify_status"))
    notify_lease_owner: Mapped[str | None] = mapped_column(BoundedString(64))
    notify_lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    notify_next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notify_error: Mapped[str | None] = mapped_column(BoundedText())
    slack_channel_sent: Mapped[str | None] = mapped_column(BoundedString(255))
    slack_ts: Mapped[str | None] = mapped_column(BoundedString(64))
    slack_thread_ts: Mapped[str | None] = mapped_column(BoundedString(64))
    team_sent: Mapped[str | None] = mapped_column(BoundedString(255))  # the team the message named (routing too)

    # recovery reply queue (a FAILED rollout that later reached SUCCESS)
    recovery_status: Mapped[NotifyStatus | None] = mapped_column(_enum(NotifyStatus, "recovery_status"))
    recovery_lease_owner: Mapped[str | None] = mapped_column(BoundedString(64))
    recovery_lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    recovery_next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovery_error: Mapped[str | None] = mapped_column(BoundedText())

    # message update queue: the top Slack message is edited in place (chat.update) when its incident
    # changes (recovered, fixed by a newer generation, superseded, repeated, muted, re-analysed)
    update_status: Mapped[NotifyStatus | None] = mapped_column(_enum(NotifyStatus, "update_status"))
    update_lease_owner: Mapped[str | None] = mapped_column(BoundedString(64))
    update_lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    update_attempts: Mapped[int] = mapped_column(Integer, default=0)
    update_next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    update_error: Mapped[str | None] = mapped_column(BoundedText())
    analysis_fresh: Mapped[bool] = mapped_column(Boolean, default=False)  # re-analysis: reuse nothing

    # git metadata (docs/architecture.md 'GitLab correlation')
    gitlab_app: Mapped[str | None] = mapped_column(BoundedString(255))
    gitlab_env: Mapped[str | None] = mapped_column(BoundedString(255))
    git_project: Mapped[str | None] = mapped_column(BoundedString(255))
    git_commit: Mapped[str | None] = mapped_column(BoundedString(255))
    pipeline_url: Mapped[str | None] = mapped_column(BoundedText())
    mr_url: Mapped[str | None] = mapped_column(BoundedText())
    team: Mapped[str | None] = mapped_column(BoundedString(255))
    slack_channel: Mapped[str | None] = mapped_column(BoundedString(255))
