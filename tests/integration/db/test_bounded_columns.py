"""Every string column bounds its values: no write path can send MariaDB a value it refuses."""

from __future__ import annotations

from sqlalchemy import String, Text, insert, select

from fyr.db.base import utcnow
from fyr.db.bounded import TEXT_MAX_BYTES, TRUNCATION_MARKER, BoundedString, BoundedText, bound_bytes, bound_chars
from fyr.db.engine import Database
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.tables import Base


def test_every_string_column_of_every_table_is_bounded() -> None:
    unbounded = [f"{t.name}.{c.name}" for t in Base.metadata.tables.values() for c in t.columns
                 if isinstance(c.type, String | Text) and not isinstance(c.type, BoundedString | BoundedText)
                 and type(c.type).__name__ != "Enum"]
    assert unbounded == [], "use fyr.db.bounded.BoundedString/BoundedText for these columns"


def test_bounds_cut_with_a_visible_marker_inside_the_limit() -> None:
    assert bound_chars("short", 10) == "short"
    cut = bound_chars("a" * 300, 255)
    assert len(cut) == 255 and cut.endswith(TRUNCATION_MARKER)
    emoji = "🔥" * 20_000  # 80,000 bytes
    cut_b = bound_bytes(emoji, TEXT_MAX_BYTES)
    assert len(cut_b.encode()) <= TEXT_MAX_BYTES and cut_b.endswith(TRUNCATION_MARKER)
    assert cut_b.removesuffix(TRUNCATION_MARKER) == "🔥" * len(cut_b.removesuffix(TRUNCATION_MARKER))


async def test_core_upserts_of_the_ingestor_tables_are_bounded_too(any_database: Database) -> None:
    db = any_database
    now = utcnow()
    async with db.session() as s:
        await s.execute(insert(GitlabMetadata).values(
            project_path="group/" + "p" * 400, project_slug="s" * 300, environment="e" * 300, commit_sha="c" * 100,
            pipeline_url="https://gitlab.example/" + "u" * 70_000, team="t" * 1_000, created_at=now, updated_at=now))
        await s.execute(insert(WebhookDelivery).values(dedupe_key="k" * 500, event_kind="x" * 100, received_at=now))
    async with db.session() as s:
        row = (await s.execute(select(GitlabMetadata))).scalar_one()
        delivery = (await s.execute(select(WebhookDelivery))).scalar_one()
    assert len(row.project_path) == 255 and row.project_path.endswith(TRUNCATION_MARKER)
    assert row.commit_sha.endswith(TRUNCATION_MARKER) and len(row.commit_sha) == 64
    assert row.pipeline_url is not None and len(row.pipeline_url.encode()) <= TEXT_MAX_BYTES
    assert len(delivery.dedupe_key) == 128
