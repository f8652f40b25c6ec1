"""Failure → Slack after a database outage: seconds from the database's return to the message.

`fyr all` (watcher, analyzer with the rules, notifier) runs in this process against the simulated
cluster and the Slack fake; a healthy rollout is recorded, the database goes away for --outage
seconds (SQLite: every session fails; MariaDB: a TCP proxy between Fyr and the server is cut, so
connects are refused and open connections drop), the rollout crash-loops meanwhile, the database
comes back. Printed per outage length: the delay from the return to the Slack message, per run
and the worst. The goal is 2 s (before the shared database watch: 9 s after 20 s, 28 s after 60 s).

    .venv/bin/python bench/recovery.py                                   # SQLite, 20 s and 60 s
    .venv/bin/python bench/recovery.py --outage 20 --runs 3 \\
        --database-url mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_recovery

On MySQL/MariaDB the database named in the URL is dropped, re-created and migrated before each run:
its name must start with `fyr_bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fyr.db.migrate import ensure_database, sync_url, upgrade
from fyr.logging import configure_logging
from tests.e2e.outage import failure_to_slack_after_outage


def _fresh(url: str | None, work: Path, run: str) -> str:
    if url is None:
        raw = f"sqlite+aiosqlite:///{work / f'recovery-{run}.db'}"  # a new file per run: nothing primed
    else:
        parsed = make_url(url)
        if not (parsed.database or "").startswith("fyr_bench"):
            print("bench/recovery.py: the database name must start with fyr_bench", file=sys.stderr)
            raise SystemExit(2)
        server = create_engine(sync_url(url).set(database=""))
        with server.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
        server.dispose()
        ensure_database(url)
        raw = url
    upgrade(raw)
    return raw


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, action="append", help="outage seconds (repeatable; 20 and 60)")
    parser.add_argument("--runs", type=int, default=2, help="runs per outage length")
    parser.add_argument("--database-url", default=None, help="MariaDB URL (default: a SQLite file)")
    args = parser.parse_args()
    configure_logging(service="bench", level=os.environ.get("FYR_BENCH_LOG_LEVEL", "ERROR"), fmt="console")
    logging.getLogger().setLevel(os.environ.get("FYR_BENCH_LOG_LEVEL", "ERROR"))
    outages = args.outage or [20.0, 60.0]
    backend = "sqlite" if args.database_url is None else "mariadb"
    with tempfile.TemporaryDirectory(prefix="fyr-recovery-") as tmp:
        for outage in outages:
            delays = []
            for run in range(args.runs):
                url = _fresh(args.database_url, Path(tmp), f"{outage:.0f}-{run}")
                result = await failure_to_slack_after_outage(database_url=url, outage_s=outage, work_dir=Path(tmp),
                                                             name=f"api{run}")
                delays.append(result.back_to_slack_s)
                print(f"{backend} outage {outage:.0f} s run {run + 1}: Slack {result.back_to_slack_s:.2f} s "
                      f"after the return ({result.messages} message)", flush=True)
            print(f"{backend} outage {outage:.0f} s: worst {max(delays):.2f} s, "
                  f"mean {sum(delays) / len(delays):.2f} s over {len(delays)} runs", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
