"""The `analysis_flights` table: one row per failure signature whose model call is in flight.

Identical failures analysed at the same moment (ten replicas of a broken service in ten namespaces,
one bad base image under many services) should cost one model call. The first analyzer to insert
the row calls the model; the others, in the same process or another one sharing the database, see
the primary-key conflict, wait for `analysis_id` to be filled and reuse that analysis.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from fyr.db.base import Base, UTCDateTime, utcnow
from fyr.db.bounded import BoundedString
from fyr.models.rollout import BIGINT


class AnalysisFlight(Base):
    __tablename__ = "analysis_flights"

    flight_key: Mapped[str] = mapped_column(BoundedString(64), primary_key=True)
    owner: Mapped[str] = mapped_column(BoundedString(255))
    rollout_id: Mapped[int] = mapped_column(BIGINT)
    analysis_id: Mapped[int | None] = mapped_column(BIGINT)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
