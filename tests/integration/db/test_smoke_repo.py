from fyr.db import repositories as repo
from fyr.db.engine import Database
from fyr.db.repositories import Queue, RolloutKey
from fyr.models.rollout import RolloutStatus


async def test_record_fail_claim(any_database: Database) -> None:
    db = any_database
    key = RolloutKey("c", "ns", "api", 2)
    async with db.session() as s:
        r = await repo.record_generation(s, key, status=RolloutStatus.ROLLING_OUT)
        assert await repo.transition(s, r, RolloutStatus.FAILED, reason="CrashLoopBackOff")
    async with db.session() as s:
        claims = await repo.claim(s, Queue.ANALYSIS, owner="t", limit=5, lease_seconds=30, max_attempts=3)
    assert [c.rollout_id for c in claims] == [r.id]
    await db.check_schema()
