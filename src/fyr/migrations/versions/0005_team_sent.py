"""rollouts.team_sent: the team the Slack message named (routing file included)

The routing file is applied when the message is addressed, not stored as `team` (which holds only
what the Deployment or GitLab said explicitly). Without this column `fyr rollouts list --team`
could not find a rollout whose message said "Team: payments" because the routing file said so.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from fyr.migrations import steps

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    steps.add_column("rollouts", sa.Column("team_sent", sa.String(length=255), nullable=True))


def downgrade() -> None:
    steps.drop_column("rollouts", "team_sent")
