"""`make bench-reporting-queries`: how long the board's dashboard waits for each figure
when reporting knows 100,000 companies.

- The read models are filled straight in SQL (generate_series), not through events —
  this measures the queries, not the projections (`make bench-reporting` does those):
  BENCH_COMPANIES companies (default 100,000), 1.2 needs each (5/6 of them open),
  as many research outputs as companies, 3 matches a need of which 60 % were told,
  20 % found useful, 5 % adopted and 3 % retracted, 0.6 participations a company, and
  the red thread of all of it (about 6.6 rows a company). Then the board's summaries
  (migration 007) of every output and need, by the very statements the projections
  refresh them with at the end of a batch, and VACUUM ANALYZE, as autovacuum would.
- Reporting runs in-process (its real app: middleware, problem handlers, telemetry);
  every board endpoint is called BENCH_CALLS times (default 20, after two warm-up
  calls) through the ASGI app with a board key, and p50/p95 are printed.
- Baseline, in the same run: `SELECT count(*)` over the biggest table (the red thread),
  a plain scan of every row; each endpoint's p50 is given as a ratio to it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time

import httpx

from contracts.notices import ApiKeyHash, PartnerAccessChanged
from services.common.api_keys import KEY_PREFIX, hash_secret
from services.common.partner_access import record_partner_access
from services.reporting.projections import REFRESH_OUTPUT_ROWS, REFRESH_NEED_SUMMARIES, REFRESH_OUTPUT_SUMMARIES
from services.reporting.service import build
from tests.bench.harness import bench_environment

COMPANIES = int(os.environ.get("BENCH_COMPANIES", "100000"))
CALLS = int(os.environ.get("BENCH_CALLS", "20"))

REGIONS = ("Norr", "Mitt", "Norra Mellansverige", "Östra Mellansverige", "Stockholm", "Väst", "Småland", "Syd", "Norge")

# $1: the number of companies. Ids are derived from sequence numbers (md5(...)::uuid), so
# that later statements can refer to rows of earlier ones without a lookup.
FILL = [
    "SELECT setseed(0.2030)",
    # Valid Swedish organisation numbers (Luhn), as the API accepts: 55 + seven digits of
    # the sequence number + the check digit.
    """CREATE FUNCTION pg_temp.org_number(i bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT base || (10 - sum(CASE WHEN k % 2 = 1 THEN 2 * d - CASE WHEN d > 4 THEN 9 ELSE 0 END ELSE d END) % 10) % 10
    FROM (SELECT '55' || lpad(i::text, 7, '0') AS base) AS b,
         LATERAL (SELECT k, substr(base, k, 1)::int AS d FROM generate_series(1, 9) AS k) AS digit
    GROUP BY base $$""",
    f"""INSERT INTO companies (org_number, name, country, region, iuc, described_at)
    SELECT pg_temp.org_number(i),
           (ARRAY['Värnamo', 'Gnosjö', 'Östersund', 'Åmål', 'Luleå', 'Borås', 'Tibro'])[1 + i % 7]
             || ' Mekaniska ' || i || ' AB',
           'SE', region, region || ' IUC ' || (i % 2), '2023-01-01'::timestamptz + (i % 1000) * interval '1 day'
    FROM generate_series(1, $1) AS i,
         LATERAL (SELECT (ARRAY{list(REGIONS)})[1 + i % {len(REGIONS)}] AS region) AS r""",
    """INSERT INTO participations (participation_id, company_org_number, initiative, initiative_owner, phase,
                                   started_on, ended_on, status, recorded_at, source)
    SELECT md5('participation' || i)::uuid, pg_temp.org_number((1 + (i * 7) % $1)), 'Initiativ ' || (i % 12),
           'Produktionslyftet', NULL, date '2023-01-01' + i % 1200,
           CASE WHEN i % 3 = 0 THEN date '2023-01-01' + i % 1200 + 90 END,
           CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'active' END, now(), '/partners/bench'
    FROM generate_series(1, ($1 * 6) / 10) AS i""",
    """INSERT INTO needs (need_id, company_org_number, title, submitted_at, status, region, iuc, focus_areas,
                          need_type, confidentiality, source)
    SELECT md5('need' || i)::uuid, c.org_number, 'Behov ' || i,
           '2023-01-01'::timestamptz + random() * interval '1200 days',
           CASE WHEN i % 6 = 0 THEN 'resolved' ELSE 'open' END, c.region, c.iuc,
           (ARRAY['{}', '{P1}', '{P2,P3}', '{P4}', '{P5,P6}', '{P2}'])[1 + i % 6]::text[],
           'process', CASE WHEN i % 20 = 0 THEN 'coach-only' ELSE 'public' END, '/partners/bench'
    FROM generate_series(1, ($1 * 12) / 10) AS i
    JOIN companies c ON c.org_number = pg_temp.org_number((1 + (i - 1) % $1))""",
    """INSERT INTO research_outputs (output_id, title, project, published_at, output_type, trl, focus_areas,
                                     researchers, source)
    SELECT md5('output' || i)::uuid, 'Resultat ' || i, 'Projekt ' || (i % 2000),
           '2023-01-01'::timestamptz + random() * interval '1200 days', 'method', 1 + i % 9,
           (ARRAY['{}', '{P1}', '{P2}', '{P3,P4}', '{P5}', '{P6,P2}'])[1 + i % 6]::text[],
           jsonb_build_array(jsonb_build_object('name', 'Forskare ' || (i % 5000), 'organisation', 'Lärosäte ' || (i % 40)),
                             jsonb_build_object('name', 'Forskare ' || ((i * 7) % 5000), 'organisation', 'RISE')),
           '/partners/bench'
    FROM generate_series(1, $1) AS i""",
    """INSERT INTO need_matches (match_id, need_id, output_id, output_title, score, reasons, proposed_at,
                                 notified_at, notified_to, feedback, first_useful_at, adopted_at, retracted_at)
    SELECT md5('match' || i)::uuid, md5('need' || (1 + (i * 13) % (($1 * 12) / 10)))::uuid, o.output_id, o.title,
           random(), '[]', proposed, told, CASE WHEN told IS NOT NULL THEN 'coach' || (i % 70) || '@example.se' END,
           CASE WHEN useful IS NOT NULL THEN 'useful' END, useful,
           CASE WHEN i % 20 = 0 THEN useful + interval '30 days' END,
           CASE WHEN i % 33 = 0 THEN proposed + interval '2 days' END
    FROM generate_series(1, ($1 * 36) / 10) AS i
    JOIN research_outputs o ON o.output_id = md5('output' || (1 + (i * 31) % $1))::uuid,
    LATERAL (SELECT o.published_at + random() * interval '60 days' AS proposed) AS p,
    LATERAL (SELECT CASE WHEN i % 10 < 6 THEN proposed + interval '1 day' END AS told) AS t,
    LATERAL (SELECT CASE WHEN i % 5 = 0 THEN proposed + interval '20 days' END AS useful) AS u""",
    # The red thread. Matches and notifications leave the company out, as feedback and
    # some partners do, so that the timeline query resolves it through the need.
    """INSERT INTO company_timeline (event_id, company_org_number, occurred_at, kind, summary, need_id, match_id, source)
    SELECT 'need-' || need_id, company_org_number, submitted_at, 'need-submitted', 'Behov: ' || title, need_id, NULL,
           source FROM needs""",
    """INSERT INTO company_timeline (event_id, company_org_number, occurred_at, kind, summary, need_id, match_id, source)
    SELECT 'participation-' || participation_id, company_org_number, recorded_at, 'participation-recorded',
           'Deltar i ' || initiative, NULL, NULL, source FROM participations""",
    """INSERT INTO company_timeline (event_id, company_org_number, occurred_at, kind, summary, need_id, match_id, source)
    SELECT 'match-' || match_id, NULL, proposed_at, 'match-proposed', 'Förslag: ' || output_title, need_id, match_id,
           '/redthread/matching' FROM need_matches""",
    """INSERT INTO company_timeline (event_id, company_org_number, occurred_at, kind, summary, need_id, match_id, source)
    SELECT 'told-' || match_id, NULL, notified_at, 'notification-dispatched', 'Meddelat via e-post', NULL, match_id,
           '/redthread/notification' FROM need_matches WHERE notified_at IS NOT NULL""",
]


async def summarise(conn) -> None:
    """The summaries of every need and output, as the projections would have kept them."""
    needs = await conn.fetchval("SELECT array_agg(need_id) FROM needs")
    outputs = await conn.fetchval("SELECT array_agg(output_id) FROM research_outputs")
    await conn.execute(REFRESH_NEED_SUMMARIES, needs)
    for statement in (REFRESH_OUTPUT_SUMMARIES, *REFRESH_OUTPUT_ROWS):
        await conn.execute(statement, outputs)


def endpoints(org_number: str, need_id: str) -> list[tuple[str, str]]:
    year = "start=2025-01-01&end=2025-12-31"
    return [
        ("funnel", "/v1/board/funnel"),
        ("funnel, one year", f"/v1/board/funnel?{year}"),
        ("uptake by region", "/v1/board/uptake?by=region"),
        ("uptake by focus_area", "/v1/board/uptake?by=focus_area"),
        ("uptake by initiative", "/v1/board/uptake?by=initiative"),
        ("uptake by region, one year", f"/v1/board/uptake?by=region&{year}"),
        ("white spots", "/v1/board/white-spots"),
        ("white spots, one year", f"/v1/board/white-spots?threshold=0.7&{year}"),
        ("reach (all)", "/v1/board/reach"),
        ("reach (top 50)", "/v1/board/reach?limit=50"),
        ("coverage", "/v1/board/coverage"),
        ("coverage, one year", f"/v1/board/coverage?{year}"),
        ("companies by name", "/v1/board/companies?q=v%C3%A4rnamo%20mekaniska%201"),
        ("companies by org number", "/v1/board/companies?q=5500012"),
        ("funnel as CSV", "/v1/board/funnel?format=csv"),
        ("reach as CSV", "/v1/board/reach?format=csv"),
        ("a company's timeline", f"/v1/companies/{org_number}/timeline"),
        ("a need's matches", f"/v1/needs/{need_id}/matches"),
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed(call, times: int) -> list[float]:
    for _ in range(2):
        await call()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def main() -> None:
    async with bench_environment() as settings:
        service = build(settings)
        await service.start()
        try:
            started = time.perf_counter()
            async with service.pool.acquire() as conn:
                for statement in FILL:
                    await conn.execute(statement, COMPANIES) if "$1" in statement else await conn.execute(statement)
                await summarise(conn)
                await conn.execute("VACUUM ANALYZE")
                sizes = {
                    table: await conn.fetchval(f"SELECT count(*) FROM {table}")
                    for table in ("companies", "needs", "research_outputs", "need_matches", "participations",
                                  "company_timeline", "output_uptake", "output_credits", "output_credit_companies")
                }
                secret = secrets.token_urlsafe(32)
                key_id = secrets.token_hex(6)
                await record_partner_access(conn, PartnerAccessChanged(
                    partner_id="bench-board", name="Styrelsen", event_types=[], reporting="board",
                    keys=[ApiKeyHash(key_id=key_id, sha256=hash_secret(secret).hex())],
                ))
                org_number = await conn.fetchval(
                    "SELECT company_org_number FROM needs n JOIN need_matches USING (need_id)"
                    " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                )
                need_id = await conn.fetchval(
                    "SELECT need_id FROM need_matches WHERE need_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                )
            print(f"filled in {time.perf_counter() - started:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in sizes.items()))

            async def count_the_thread() -> None:
                async with service.pool.acquire() as conn:
                    await conn.fetchval("SELECT count(*) FROM company_timeline")

            baseline = statistics.median(await timed(count_the_thread, CALLS))
            headers = {"Authorization": f"Bearer {KEY_PREFIX}_{key_id}_{secret}"}
            transport = httpx.ASGITransport(app=service.http_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://reporting", headers=headers) as client:
                print(f"\nboard endpoints at {sizes['companies']:,} companies, {CALLS} calls each (ms; ratio of p50 to"
                      f" the baseline)")
                print(f"  {'baseline: SELECT count(*) FROM company_timeline':<48} p50 {baseline:8.1f}")
                for name, path in endpoints(org_number, str(need_id)):
                    sizes_seen: list[int] = []

                    async def call(path: str = path) -> None:
                        response = await client.get(path)
                        response.raise_for_status()
                        sizes_seen.append(len(response.content))

                    samples = await timed(call, CALLS)
                    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
                    print(f"  {name:<48} p50 {p50:8.1f}  p95 {p95:8.1f}  {p50 / baseline:6.2f}× baseline"
                          f"  ({sizes_seen[-1]:,} bytes)")
        finally:
            await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
