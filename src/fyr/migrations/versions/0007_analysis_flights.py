"""analysis_flights: one in-flight model call per failure signature, shared by analyzer processes

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa

from fyr.db.base import UTCDateTime
from fyr.migrations import steps

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    steps.create_table(
        "analysis_flights",
        sa.Column("flight_key", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("rollout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("analysis_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("flight_key"),
    )


def downgrade() -> None:
    steps.drop_table("analysis_flights")
