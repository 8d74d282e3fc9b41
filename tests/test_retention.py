"""Retention: raw coordinates past the brand's retention are coarsened in batches; partitions are made ahead."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from solomo.checkins.retention import ensure_partitions, purge
from tests.cli import run_solomo_async
from tests.conftest import BrandContext
from tests.scenes import PARIS, make_scene


async def test_purge_coarsens_old_coordinates_and_keeps_matches_and_flags(
    brand: BrandContext, engine: AsyncEngine, database_url: str
) -> None:
    scene = await make_scene(brand)
    await brand.client.patch("/v1/brand", json={"retention_days": 2}, headers=brand.admin)
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    recent = await scene.ok(*PARIS)
    async with brand.sessions() as session:
        for days in (3, 4, 5):
            checkin_id = await session.scalar(
                text(
                    """
                    INSERT INTO checkins (brand_id, member_id, recorded_at, location, accuracy_m, flags)
                    VALUES (:b, :m, now() - make_interval(days => :d), ST_SetSRID(ST_MakePoint(2.35678, 48.85432), 4326)::geography,
                            10, CASE WHEN :d = 5 THEN ARRAY['mocked'] ELSE '{}' END)
                    RETURNING id
                    """
                ),
                {"b": brand.id, "m": scene.member["id"], "d": days},
            )
            await session.execute(
                text(
                    "INSERT INTO checkin_matches (checkin_id, recorded_at, brand_id, member_id, fence_id, store_id, event)"
                    " SELECT id, recorded_at, brand_id, member_id, :f, :s, 'enter' FROM checkins WHERE id = :c"
                ),
                {"c": checkin_id, "f": fence["id"], "s": scene.store["id"]},
            )
        await session.commit()

    report = await purge(engine, batch=2)
    assert report.coarsened >= 3  # other tests' brands may have old rows too; ours are checked below

    async with brand.sessions() as session:
        rows = (
            await session.execute(
                text(
                    """
                    SELECT id, location IS NULL AS purged, ST_AsText(coarse_location) AS coarse, flags,
                           (SELECT count(*) FROM checkin_matches m WHERE m.checkin_id = c.id) AS matches
                    FROM checkins c WHERE member_id = :m ORDER BY recorded_at
                    """
                ),
                {"m": scene.member["id"]},
            )
        ).all()
    old, newest = rows[:3], rows[3]
    assert all(r.purged and r.coarse == "POINT(2.36 48.85)" and r.matches == 1 for r in old)
    assert old[0].flags == ["mocked"]
    assert (str(newest.id), newest.purged, newest.coarse) == (recent["id"], False, None)

    listed = (await brand.client.get("/v1/members/me/checkins", headers=scene.headers)).json()["items"]
    assert listed[-1]["location"] is None
    assert listed[-1]["coarse_location"] == {"type": "Point", "coordinates": [2.36, 48.85]}

    done = await run_solomo_async(database_url, "maintenance", "purge", "--delete")
    assert done.returncode == 0, done.stderr
    assert "deleted the coordinates of" in done.stdout
    assert "webhook messages done more than 30 days ago" in done.stdout


async def test_partitions_are_created_ahead_and_used(brand: BrandContext, engine: AsyncEngine) -> None:
    said = await ensure_partitions(engine, months_ahead=1, today=date(2031, 12, 15))
    assert said == ["checkins_2031_12: created", "checkins_2032_01: created"]
    assert await ensure_partitions(engine, months_ahead=1, today=date(2031, 12, 15)) == []
    member = await brand.member("p")
    async with brand.sessions() as session:
        table = await session.scalar(
            text(
                """
                INSERT INTO checkins (brand_id, member_id, recorded_at, location, accuracy_m)
                VALUES (:b, :m, '2032-01-03T10:00:00Z', ST_SetSRID(ST_MakePoint(0, 0), 4326)::geography, 5)
                RETURNING tableoid::regclass::text
                """
            ),
            {"b": brand.id, "m": member["id"]},
        )
        await session.rollback()
    assert table == "checkins_2032_01"


async def test_a_partition_that_ended_before_every_brand_s_retention_is_coarsened_whole(
    brand: BrandContext, engine: AsyncEngine
) -> None:
    # 2001 is before any brand's retention can reach (at most 3,650 days); this month is within everyone's.
    member = await brand.member("old")
    async with brand.sessions() as session:
        await session.execute(
            text("CREATE TABLE checkins_2001_01 PARTITION OF checkins FOR VALUES FROM ('2001-01-01') TO ('2001-02-01')")
        )
        await session.execute(
            text(
                """
                INSERT INTO checkins (brand_id, member_id, recorded_at, location, accuracy_m)
                VALUES (:b, :m, '2001-01-15T10:00:00Z', ST_SetSRID(ST_MakePoint(2.35678, 48.85432), 4326)::geography, 5)
                """
            ),
            {"b": brand.id, "m": member["id"]},
        )
        await session.commit()
    try:
        report = await purge(engine)
        assert "checkins_2001_01" in report.whole_partitions
        assert not any(name.startswith(f"checkins_{date.today():%Y_%m}") for name in report.whole_partitions)
        async with brand.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT location IS NULL AS purged, ST_AsText(coarse_location) AS coarse FROM checkins_2001_01"
                    )
                )
            ).one()
        assert (row.purged, row.coarse) == (True, "POINT(2.36 48.85)")
        # Already coarse: the next purge has nothing to do there.
        assert "checkins_2001_01" not in (await purge(engine)).whole_partitions
    finally:
        async with brand.sessions() as session:
            await session.execute(text("DROP TABLE checkins_2001_01"))
            await session.commit()
