"""Slack actions on a failure message, and the mutes they set.

`rollout_actions` is the audit trail: every accepted click (who, which action, when, on what),
unique on the click's dedupe key so that Slack's retry of the same request has one effect.
`workload_mutes` holds one row per muted workload: its failures are still recorded and analysed,
but their messages go quietly into the first message's thread until `muted_until`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fyr.db.base import Base, UTCDateTime, utcnow
from fyr.db.bounded import BoundedString, BoundedText
from fyr.models.rollout import BIGINT


class RolloutAction(Base):
    __tablename__ = "rollout_actions"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("idx_actions_rollout", "rollout_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(BIGINT)
    action: Mapped[str] = mapped_column(BoundedString(32))
    slack_user_id: Mapped[str] = mapped_column(BoundedString(64))
    slack_user_name: Mapped[str | None] = mapped_column(BoundedString(255))
    dedupe_key: Mapped[str] = mapped_column(BoundedString(128))
    detail: Mapped[str | None] = mapped_column(BoundedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkloadMute(Base):
    __tablename__ = "workload_mutes"
    __table_args__ = (UniqueConstraint("cluster", "namespace", "deployment"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(BoundedString(255))
    namespace: Mapped[str] = mapped_column(BoundedString(255))
    deployment: Mapped[str] = mapped_column(BoundedString(255))
    muted_until: Mapped[datetime] = mapped_column(UTCDateTime())
    muted_by: Mapped[str] = mapped_column(BoundedString(64))
    rollout_id: Mapped[int] = mapped_column(BIGINT)  # the rollout whose message was clicked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
