"""The `analyses` and `analysis_metrics` tables, and the analysis JSON contract (docs/architecture.md 'Analysis
pipeline', 'The bundle')."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer
from sqlalchemy import JSON, Boolean, Float, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from fyr.db.base import Base, UTCDateTime, utcnow
from fyr.db.bounded import BoundedString
from fyr.models.rollout import BIGINT


class Category(enum.StrEnum):
    IMAGE_PULL = "image_pull"
    CRASH_LOOP = "crash_loop"
    OOM_KILLED = "oom_killed"
    CONFIG_ERROR = "config_error"
    PROBE_FAILURE = "probe_failure"
    SCHEDULING = "scheduling"
    CREATE_FAILED = "create_failed"
    MOUNT_FAILURE = "mount_failure"
    PROGRESS_DEADLINE = "progress_deadline"
    UNKNOWN = "unknown"


Confidence = Literal["high", "medium", "low"]


class FlagKind(enum.StrEnum):
    PROMPT_INJECTION = "prompt_injection"  # instruction-like text in the logs or events
    CATEGORY_KEPT = "category_kept"  # the model's category was refused: the rules' stands
    OUTPUT_GUARD = "output_guard"  # a field carried a command, a link or a mention: replaced


class AnalysisFlag(BaseModel):
    """Something a reader of the analysis must know about how it was made (Fyr's own words)."""

    kind: FlagKind
    message: str = Field(max_length=500)
    field: str | None = None


class AnalysisResult(BaseModel):
    """The `analysis` JSON: what the notifier renders and `fyr analyze` prints.

    `flags` appears in the JSON only when there is one, so an ordinary analysis keeps its shape.
    """

    category: Category
    summary: str = Field(max_length=300)
    root_cause: str = Field(max_length=3000)
    evidence: list[str] = Field(default_factory=list, max_length=20)
    suggested_fix: str = Field(max_length=3000)
    confidence: Confidence
    model_name: str = "rules"
    prompt_version: str = "rules-v1"
    flags: list[AnalysisFlag] = Field(default_factory=list, max_length=20)

    @model_serializer(mode="wrap")
    def _omit_no_flags(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not data.get("flags"):
            data.pop("flags", None)
        return data


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (
        Index("idx_rollout", "rollout_id"),
        Index("idx_signature", "signature", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(BIGINT)
    model_name: Mapped[str] = mapped_column(BoundedString(255))
    prompt_version: Mapped[str] = mapped_column(BoundedString(255))
    reduced_context: Mapped[dict[str, Any]] = mapped_column(JSON)
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str | None] = mapped_column(BoundedString(64))
    reused_from_id: Mapped[int | None] = mapped_column(BIGINT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnalysisMetric(Base):
    __tablename__ = "analysis_metrics"
    __table_args__ = (Index("idx_metrics_analysis", "analysis_id"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    analysis_id: Mapped[int] = mapped_column(BIGINT)
    rollout_id: Mapped[int] = mapped_column(BIGINT)
    model_name: Mapped[str] = mapped_column(BoundedString(255))
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    context_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
