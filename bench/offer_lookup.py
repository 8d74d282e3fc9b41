"""A/B of the check-in function's offer lookup: version 2 (``bench/sql/record_check_in_v2.sql``, a frozen copy,
every active offer tested against every fired event) against the current one
(``solomo/checkins/sql/record_check_in.sql``, an event's offers found through indexes).

Prints figures; asserts nothing except that both versions grant the same offers. On a throwaway cluster:
1,000 offers over 20,000 fences and 1,000 stores (bench/dataset.py), then 1,000 check-ins per version and
round, each by a member of its own at a fence's centre, straight through asyncpg (no HTTP).
Run: ``uv run python -m bench.offer_lookup [--offers 1000] [--check-ins 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np

from bench.dataset import Loaded, Size, load
from solomo.db.migrate import upgrade
from solomo.db.pool import asyncpg_dsn
from tests.databases import TestDatabases

#: Version 2 of the check-in function, kept here for this comparison only.
OLD_VERSION = Path(__file__).with_name("sql") / "record_check_in_v2.sql"
VERSIONS = {"v2 (scan)": "solomo_record_check_in_v2", "current (indexed)": "solomo_record_check_in"}


async def _round(
    conn: asyncpg.Connection, loaded: Loaded, function: str, members: Sequence[uuid.UUID], salt: int
) -> tuple[list[float], int]:
    fences = loaded.fences
    times: list[float] = []
    granted = 0
    for i, member in enumerate(members):
        k = (i * 7919 + salt) % len(fences.lons)
        started = time.perf_counter()
        async with conn.transaction():
            answer: str = await conn.fetchval(
                f"SELECT {function}($1, $2, $3, $4, $5, $6, false, NULL)::text",
                loaded.brand_id,
                member,
                float(fences.lons[k]),
                float(fences.lats[k]),
                5.0,
                datetime.now(UTC),
            )
        times.append((time.perf_counter() - started) * 1000)
        granted += answer.count('"offer_id"')
    return times, granted


async def run(url: str, offers: int, check_ins: int) -> None:
    dsn = asyncpg_dsn(url)
    size = Size(fences=20_000, members=4 * check_ins, cities=100, stores_per_city=10, offers=offers)
    loaded = await load(dsn, size, np.random.default_rng(7))
    conn = await asyncpg.connect(dsn)
    try:
        old = OLD_VERSION.read_text()
        await conn.execute(old.replace("FUNCTION solomo_record_check_in(", "FUNCTION solomo_record_check_in_v2("))
        print(f"{offers} offers, {len(loaded.fences.lons)} fences; {check_ins} check-ins per version and round")
        for salt in range(2):
            granted: set[int] = set()
            for n, (label, function) in enumerate(VERSIONS.items()):
                start = (2 * salt + n) * check_ins
                times, count = await _round(conn, loaded, function, loaded.member_ids[start : start + check_ins], salt)
                granted.add(count)
                print(
                    f"round {salt + 1} {label:20s} median {statistics.median(times):7.2f} ms"
                    f"  mean {statistics.mean(times):7.2f} ms  offers granted {count}"
                )
            print(f"round {salt + 1}: both versions granted the same offers: {len(granted) == 1}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=1000)
    parser.add_argument("--check-ins", type=int, default=1000)
    args = parser.parse_args()
    databases = TestDatabases.start(None)
    try:
        url = databases.create("offer_lookup")
        upgrade(url)
        asyncio.run(run(url, args.offers, args.check_ins))
    finally:
        databases.close()


if __name__ == "__main__":
    main()
