"""GitLab staging tables (docs/architecture.md 'GitLab correlation'): metadata waits here until its rollout is seen.

`gitlab_metadata` is keyed by (project, environment, commit); either side (webhook or watcher)
joins the other when it arrives. `webhook_deliveries` makes a repeated delivery a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fyr.db.base import Base, UTCDateTime, utcnow
from fyr.db.bounded import BoundedString, BoundedText
from fyr.models.rollout import BIGINT


class GitlabMetadata(Base):
    __tablename__ = "gitlab_metadata"
    __table_args__ = (
        UniqueConstraint("project_path", "environment", "commit_sha"),
        Index("idx_gitlab_commit", "commit_sha"),
        Index("idx_gitlab_slug", "project_slug", "environment"),
        Index("idx_gitlab_job", "job_id"),
        Index("idx_gitlab_updated", "updated_at"),  # retention (migration 0002)
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    project_path: Mapped[str] = mapped_column(BoundedString(255))
    project_slug: Mapped[str] = mapped_column(BoundedString(255))
    environment: Mapped[str] = mapped_column(BoundedString(255), default="")
    commit_sha: Mapped[str] = mapped_column(BoundedString(64))
    pipeline_id: Mapped[int | None] = mapped_column(BIGINT)
    pipeline_url: Mapped[str | None] = mapped_column(BoundedText())
    mr_url: Mapped[str | None] = mapped_column(BoundedText())
    job_id: Mapped[int | None] = mapped_column(BIGINT)
    deployment_status: Mapped[str | None] = mapped_column(BoundedString(32))
    team: Mapped[str | None] = mapped_column(BoundedString(255))
    slack_channel: Mapped[str | None] = mapped_column(BoundedString(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("idx_deliveries_received", "received_at"),  # retention (migration 0002)
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(BoundedString(128))
    event_kind: Mapped[str] = mapped_column(BoundedString(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
