"""Profile solomo_record_check_in: the committed (old) text against the living file (new), in one scratch cluster.

Both versions are installed side by side under other names (solomo_record_check_in_old / _new), so one run compares
them on the same data, interleaved in blocks (noise from other load on the machine hits both alike):

* pairs of members walk the same route (inside, inside, edge, away; bench/dataset.py member_routes), member A
  through the old function, member B through the new one, with the same recorded_at;
* pg_stat_statements (track = all) gives the server-side mean per top-level call and per nested statement;
* --check first runs an equivalence scenario (late fixes, mocked, low accuracy, impossible speed, revisits)
  and compares answers and every row written, member A against member B.

Run: ``uv run python -m bench.checkin_function [--fences 5000] [--pairs 250] [--rounds 4] [--reps 3] [--check]
[--old-ref HEAD] [--plan-cache-mode auto|force_generic_plan|force_custom_plan] [--explain] [--nested --track all]
[--interleave] [--keep]`` (a few minutes; the cluster is not durable: this compares CPU, not commits). With
``--nested --track all`` it prints each nested statement's share of a call: where the database's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from bench.dataset import Size, load, member_routes, offset
from bench.harness import signing_codec
from solomo.db.cluster import LocalCluster, ensure_postgis
from solomo.db.migrate import upgrade
from solomo.db.pool import asyncpg_dsn

REPO = Path(__file__).parents[1]

LIVING = "solomo/checkins/sql/record_check_in.sql"
SIG = "CREATE OR REPLACE FUNCTION solomo_record_check_in("


def versions(old_ref: str) -> dict[str, str]:
    git = shutil.which("git") or "git"
    old = subprocess.run(  # noqa: S603 - git with fixed arguments and a ref the operator typed
        [git, "-C", str(REPO), "show", f"{old_ref}:{LIVING}"], capture_output=True, text=True, check=True
    ).stdout
    new = (REPO / LIVING).read_text()
    out = {}
    for name, text in (("old", old), ("new", new)):
        assert SIG in text
        out[name] = text.replace(SIG, f"CREATE OR REPLACE FUNCTION solomo_record_check_in_{name}(")
    return out


def call_sql(name: str) -> str:
    return f"SELECT solomo_record_check_in_{name}($1, $2, $3, $4, $5, $6, $7, 'gps')"


async def pgss_snapshot(conn: Any) -> dict[tuple[str, bool], tuple[int, float, int]]:
    rows = await conn.fetch(
        "SELECT min(query) AS query, toplevel, sum(calls)::bigint AS calls, sum(total_exec_time) AS total_exec_time,"
        " sum(rows)::bigint AS rows FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " GROUP BY left(regexp_replace(query, '\\$[0-9]+|[0-9]+', '', 'g'), 200), toplevel"
    )
    return {(r["query"], r["toplevel"]): (r["calls"], r["total_exec_time"], r["rows"]) for r in rows}


async def run_block(conn: Any, name: str, calls: list[tuple[Any, ...]]) -> float:
    sql = call_sql(name)
    started = time.perf_counter()
    for args in calls:
        await conn.fetchval(sql, *args)
    return time.perf_counter() - started


async def profile(  # noqa: PLR0912, PLR0915 - one measurement, printed as it is taken
    dsn: str, brand: uuid.UUID, pairs: list[tuple[Any, Any]], args: argparse.Namespace
) -> None:
    conn = await asyncpg.connect(dsn)
    if args.plan_cache_mode != "auto":
        await conn.execute(f"SET plan_cache_mode = {args.plan_cache_mode}")
    await conn.execute(f"SET pg_stat_statements.track = '{args.track}'")
    base = args.base
    step = args.step
    client: dict[str, list[float]] = defaultdict(list)  # seconds per block / calls
    nested: dict[str, dict[str, list[float]]] = {
        "old": defaultdict(lambda: [0, 0.0, 0]),
        "new": defaultdict(lambda: [0, 0.0, 0]),
    }
    top: dict[str, list[float]] = {"old": [0, 0.0], "new": [0, 0.0]}
    per_rep: dict[str, list[float]] = defaultdict(list)
    for rnd in range(args.warm_rounds + args.rounds):
        measuring = rnd >= args.warm_rounds
        if rnd == args.warm_rounds:
            # Real statistics (autovacuum's job in the field), then a fresh session: plpgsql replans.
            await conn.execute("ANALYZE")
            await conn.close()
            conn = await asyncpg.connect(dsn)
            if args.plan_cache_mode != "auto":
                await conn.execute(f"SET plan_cache_mode = {args.plan_cache_mode}")
            await conn.execute(f"SET pg_stat_statements.track = '{args.track}'")
        for pos in range(4):
            step += 1
            at = base + timedelta(seconds=61 * step)
            blocks = {
                "old": [(brand, a.member_id, *a.points[pos][:2], a.points[pos][2], at, False) for a, _ in pairs],
                "new": [(brand, b.member_id, *b.points[pos][:2], b.points[pos][2], at, False) for _, b in pairs],
            }
            order = ["old", "new"] if (step % 2) else ["new", "old"]
            if args.interleave:
                await conn.execute("SELECT pg_stat_statements_reset()")
                spent = {"old": 0.0, "new": 0.0}
                for i in range(len(pairs)):
                    for name in order if i % 2 else order[::-1]:
                        t0 = time.perf_counter()
                        await conn.fetchval(call_sql(name), *blocks[name][i])
                        spent[name] += time.perf_counter() - t0
                snap = await pgss_snapshot(conn)
                if not measuring:
                    continue
                for name in ("old", "new"):
                    client[name].append(spent[name] / len(pairs))
                    for (query, toplevel), (calls, total, _rows) in snap.items():
                        if toplevel and f"solomo_record_check_in_{name}(" in query:
                            top[name][0] += calls
                            top[name][1] += total
                            per_rep[name].append(total / calls)
                continue
            for name in order:
                await conn.execute("SELECT pg_stat_statements_reset()")
                seconds = await run_block(conn, name, blocks[name])
                snap = await pgss_snapshot(conn)
                if not measuring:
                    continue
                client[name].append(seconds / len(blocks[name]))
                for (query, toplevel), (calls, total, rows) in snap.items():
                    if toplevel:
                        if f"solomo_record_check_in_{name}(" in query:
                            top[name][0] += calls
                            top[name][1] += total
                            per_rep[name].append(total / calls)
                        continue
                    entry = nested[name][query]
                    entry[0] += calls
                    entry[1] += total
                    entry[2] += rows
    await conn.close()
    args.step = step
    print(
        f"\n== timing: {len(pairs)} pairs x {args.rounds} walks x 4 points per version, plan_cache_mode="
        f"{args.plan_cache_mode} =="
    )
    for name in ("old", "new"):
        top_calls, top_ms = top[name]
        per_block = per_rep[name]
        print(
            f"{name}: server mean {top_ms / top_calls:.3f} ms/call over {top_calls:.0f} calls"
            f" (pg_stat_statements, track={args.track}); per block min {min(per_block):.3f}"
            f" median {sorted(per_block)[len(per_block) // 2]:.3f} max {max(per_block):.3f};"
            f" client round trip {1000 * sum(client[name]) / len(client[name]):.3f} ms/call"
        )
        if not args.interleave and args.track == "all":
            stmts = sum(v[0] for v in nested[name].values())
            print(f"    nested statements per call: {stmts / top_calls:.2f}")
    if args.nested and not args.interleave and args.track == "all":
        for name in ("old", "new"):
            per_call = top[name][0]
            print(f"\n-- nested statements of {name} (per top-level call: calls, ms, rows) --")
            for query, (n, ms, found) in sorted(nested[name].items(), key=lambda kv: -kv[1][1]):
                text = " ".join(query.split())[:150]
                print(f"  {n / per_call:5.2f} calls {ms / per_call:7.4f} ms {found / per_call:6.2f} rows  {text}")


async def explain(dsn: str, brand: uuid.UUID, pairs: list[tuple[Any, Any]], args_explain_pos: int = 0) -> None:
    conn = await asyncpg.connect(dsn)
    a, b = pairs[0]
    logs: list[str] = []
    conn.add_log_listener(lambda _c, m: logs.append(str(m.message)))
    for name, route in (("old", a), ("new", b)):
        tr = conn.transaction()
        await tr.start()
        at = datetime.now(UTC) + timedelta(days=5)
        for i in range(6):
            lon, lat, acc = route.points[i % 2]
            await conn.fetchval(
                call_sql(name), brand, route.member_id, lon, lat, acc, at + timedelta(seconds=61 * i), False
            )
        await conn.execute("LOAD 'auto_explain'")
        await conn.execute(
            "SET LOCAL auto_explain.log_min_duration = 0; SET LOCAL auto_explain.log_analyze = on;"
            " SET LOCAL auto_explain.log_buffers = on; SET LOCAL auto_explain.log_nested_statements = on;"
            " SET LOCAL client_min_messages = log"
        )
        lon, lat, acc = route.points[3]
        await conn.fetchval(
            call_sql(name), brand, route.member_id, lon, lat, acc, at + timedelta(seconds=61 * 7), False
        )
        logs.clear()
        lon, lat, acc = route.points[args_explain_pos]
        await conn.fetchval(
            call_sql(name), brand, route.member_id, lon, lat, acc, at + timedelta(seconds=61 * 8), False
        )
        print(f"\n== auto_explain, {name}, away -> point {args_explain_pos} ==")
        for line in logs:
            print(line)
        await tr.rollback()
    await conn.close()


# -- equivalence -------------------------------------------------------------------------------------


def scenario(
    rng: random.Random, points: list[tuple[float, float, float]]
) -> list[tuple[int, float, float, float, bool]]:
    """(seconds from base, lon, lat, accuracy, mocked) for one member: walks with late fixes and flagged ones."""
    lon0, lat0 = points[0][:2]
    far = offset(lon0, lat0, 20_000, rng.uniform(0, 2 * math.pi))
    t = 0
    out = []
    for _ in range(rng.randint(8, 16)):
        kind = rng.random()
        if kind < 0.6:
            t += rng.choice([31, 61, 200, 400])
            p = points[rng.randrange(4)]
            out.append((t, p[0], p[1], p[2], False))
        elif kind < 0.75:  # late fix
            p = points[rng.randrange(4)]
            out.append((t - rng.randint(1, 900), p[0], p[1], p[2], False))
        elif kind < 0.82:
            t += 61
            p = points[rng.randrange(3)]
            out.append((t, p[0], p[1], p[2], True))  # mocked
        elif kind < 0.9:
            t += 61
            p = points[rng.randrange(3)]
            out.append((t, p[0], p[1], 500.0, False))  # low accuracy
        elif kind < 0.95:
            t += 40
            out.append((t, float(far[0]), float(far[1]), 10.0, False))  # impossible speed
        else:
            out.append((t, points[0][0], points[0][1], points[0][2], False))  # same instant again
    return out


STRIP = ("id", "received_at")

MEMBER_QUERIES = {
    "checkins": "SELECT recorded_at, flags, flagged_store_ids, accuracy_m, mocked FROM checkins WHERE member_id = $1"
    " ORDER BY recorded_at, received_at",
    "fence_states": "SELECT fence_id, inside, entered_at, dwell_fired, last_recorded_at FROM fence_states"
    " WHERE member_id = $1 ORDER BY fence_id",
    "checkin_matches": "SELECT recorded_at, fence_id, store_id, event FROM checkin_matches WHERE member_id = $1"
    " ORDER BY recorded_at, fence_id, event NULLS FIRST",
    "member_firsts": "SELECT store_key, first_at FROM member_firsts WHERE member_id = $1 ORDER BY store_key",
    "stats_pending": "SELECT kind, n, CASE WHEN kind = 'impression' THEN NULL ELSE at END AS at, in_brand,"
    " ARRAY(SELECT unnest(store_ids) ORDER BY 1) AS store_ids,"
    " offer_id FROM stats_pending WHERE member_id = $1 ORDER BY kind, n, 3, in_brand,"
    " ARRAY(SELECT unnest(store_ids) ORDER BY 1)::text, offer_id",
    "offer_eligibility": "SELECT offer_id, store_id, granted_at, eligible_until, grant_day, claimed_at"
    " FROM offer_eligibility WHERE member_id = $1 ORDER BY offer_id",
    "offer_impressions": "SELECT offer_id, day, store_id FROM offer_impressions WHERE member_id = $1 ORDER BY offer_id",
}


async def check(dsn: str, brand: uuid.UUID, pairs: list[tuple[Any, Any]], seed: int) -> bool:
    conn = await asyncpg.connect(dsn)
    rng = random.Random(seed)
    base = datetime.now(UTC) - timedelta(minutes=30)
    answers_differ = 0
    rows_differ = 0
    events: defaultdict[str, int] = defaultdict(int)
    for a, b in pairs:
        for t, lon, lat, acc, mocked in scenario(rng, a.points):
            at = base + timedelta(seconds=t)
            ra = json.loads(await conn.fetchval(call_sql("old"), brand, a.member_id, lon, lat, acc, at, mocked))
            rb = json.loads(await conn.fetchval(call_sql("new"), brand, b.member_id, lon, lat, acc, at, mocked))
            for r in (ra, rb):
                for k in STRIP:
                    r.pop(k, None)
            for m in ra.get("matches", []):
                events[m["event"]] += 1
            events["exit"] += len(ra.get("exits", []))
            events["offers"] += len(ra.get("offers", []))
            events["late"] += 0
            if ra != rb:
                answers_differ += 1
                if answers_differ <= 3:
                    print("ANSWER DIFFERS", ra, rb, sep="\n  ")
        for table, sql in MEMBER_QUERIES.items():
            xa = [tuple(r) for r in await conn.fetch(sql, a.member_id)]
            xb = [tuple(r) for r in await conn.fetch(sql, b.member_id)]
            if xa != xb:
                rows_differ += 1
                if rows_differ <= 3:
                    print(f"ROWS DIFFER in {table}:\n  old {xa}\n  new {xb}")
    await conn.close()
    print(
        f"\n== equivalence: {len(pairs)} pairs; events seen {dict(events)}; answers differing {answers_differ};"
        f" member tables differing {rows_differ} =="
    )
    return answers_differ == 0 and rows_differ == 0


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    loaded = await load(
        dsn,
        Size(fences=args.fences, members=4 * args.pairs + 400, cities=args.cities, stores_per_city=10, offers=24),
        rng,
    )
    print(f"loaded {loaded.counts} in {time.perf_counter() - started:.1f} s", flush=True)
    conn = await asyncpg.connect(dsn)
    for text in versions(args.old_ref).values():
        await conn.execute(text)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    await conn.close()
    codec, _ = signing_codec()
    routes = member_routes(loaded, codec, rng, 4 * args.pairs + 200)

    def paired(chunk: list[Any]) -> list[tuple[Any, Any]]:
        half = len(chunk) // 2
        out = []
        for a, b in zip(chunk[:half], chunk[half:], strict=True):
            out.append((a, type(b)(b.member_id, b.token, a.points)))
        return out

    timing_pairs = paired(routes[: 2 * args.pairs])
    check_pairs = paired(routes[2 * args.pairs : 2 * args.pairs + 200])
    ok = True
    if args.check:
        ok = await check(dsn, loaded.brand_id, check_pairs, args.seed)
    for _ in range(args.reps):
        await profile(dsn, loaded.brand_id, timing_pairs, args)
        args.warm_rounds = 0
    if args.explain:
        await explain(dsn, loaded.brand_id, timing_pairs)
    if not ok:
        raise SystemExit("equivalence check FAILED")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fences", type=int, default=5_000)
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=2, help="measured walks (4 check-ins each) per rep")
    parser.add_argument("--warm-rounds", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--nested", action="store_true", help="print nested statements")
    parser.add_argument("--old-ref", default="HEAD")
    parser.add_argument("--plan-cache-mode", default="auto")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="alternate old/new call by call (top-level means only, no nested breakdown)",
    )
    parser.add_argument("--track", default="all", choices=["all", "top"], help="pg_stat_statements.track")
    args = parser.parse_args()
    args.base, args.step = datetime.now(UTC), 0
    parent = Path(tempfile.mkdtemp(prefix="solomo-profile-"))
    parent.chmod(0o755)
    cluster = LocalCluster(parent / "pg", durable=False)
    try:
        ensure_postgis(cluster.bindir, install=False)
        cluster.init()
        with (cluster.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nshared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\n"
                "pg_stat_statements.max = 10000\n"
            )
        cluster.start()
        url = cluster.ensure_database("profile")
        upgrade(url)
        asyncio.run(main_async(args, asyncpg_dsn(url)))
    finally:
        if args.keep:
            cluster.stop()
            print(f"kept (stopped) {cluster.datadir}")
        else:
            cluster.destroy()
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
