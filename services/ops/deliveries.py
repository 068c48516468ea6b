"""`deliveries list` and `deliveries resend`: what notification owes, and sending again
what it gave up on.

A delivery is given up (`failed`) when it failed for good or its peer stayed unreachable
past the horizon (`REDTHREAD_DELIVERY_GIVE_UP_AFTER_S`). Resending makes it pending and
due now, with a whole horizon again; its attempts so far stay in its history, and the
running dispatcher picks it up within its poll interval.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from services.common.settings import Settings
from services.ops.arguments import moment
from services.ops.connection import notification_connection

STATUSES = ("pending", "held", "digested", "delivered", "failed", "cancelled")
CHANNELS = ("email", "webhook", "atom")
ERROR_SHOWN_CHARS = 120


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("deliveries", help="notification's deliveries: list them, resend the failed")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="deliveries, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only these (failed: given up, resendable)")
    listing.add_argument("--channel", choices=CHANNELS)
    listing.add_argument("--since", type=moment, help="created at or after: an ISO time, or an age such as 2h, 30m, 7d")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(run=list_deliveries)

    resend = commands.add_parser("resend", help="send failed deliveries again")
    resend.add_argument("ids", nargs="*", type=UUID, metavar="ID", help="delivery ids")
    resend.add_argument("--all-failed", action="store_true", help="every failed delivery")
    resend.add_argument("--dry-run", action="store_true", help="say what would be resent, change nothing")
    resend.set_defaults(run=resend_deliveries)


@dataclass(frozen=True)
class Owed:
    """What notification owes on one channel."""

    channel: str
    pending: int  # to be sent, now or at a later attempt
    due: int  # of those, due now
    oldest_due_s: float | None  # how long the oldest due one has waited
    held: int  # held for a digest
    failed: int  # given up: resendable


@dataclass(frozen=True)
class Resent:
    resent: list[asyncpg.Record]
    refused: list[str]  # why each other one named was not resent


async def owed_deliveries(conn: asyncpg.Connection) -> list[Owed]:
    rows = await conn.fetch(
        "SELECT channel, count(*) FILTER (WHERE status = 'pending') AS pending,"
        " count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()) AS due,"
        " extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE status = 'pending'"
        "   AND next_attempt_at <= now()))::float8 AS oldest_due_s,"
        " count(*) FILTER (WHERE status = 'held') AS held, count(*) FILTER (WHERE status = 'failed') AS failed"
        " FROM deliveries WHERE status IN ('pending', 'held', 'failed') GROUP BY channel"
    )
    found = {row["channel"]: Owed(**dict(row)) for row in rows}
    return [found.get(channel) or Owed(channel, 0, 0, None, 0, 0) for channel in CHANNELS]


async def find_deliveries(
    conn: asyncpg.Connection, status: str | None = None, channel: str | None = None,
    since: datetime | None = None, limit: int = 100,
) -> list[asyncpg.Record]:
    """Deliveries, newest first."""
    return await conn.fetch(
        "SELECT delivery_id, notice_key, about_id, status, channel, destination, attempts, created_at, next_attempt_at,"
        " last_error FROM deliveries"
        " WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR channel = $2)"
        "  AND ($3::timestamptz IS NULL OR created_at >= $3)"
        " ORDER BY created_at DESC LIMIT $4",
        status, channel, since, limit,
    )


async def resend(conn: asyncpg.Connection, ids: list[UUID], all_failed: bool = False, dry_run: bool = False) -> Resent:
    """Makes the named failed deliveries (or every failed one) pending and due now."""
    async with conn.transaction():
        chosen = await conn.fetch(
            "SELECT delivery_id, notice_key, about_id, status, channel, destination, attempts, created_at, next_attempt_at,"
            " last_error FROM deliveries"
            " WHERE CASE WHEN $2 THEN status = 'failed' ELSE delivery_id = ANY($1::uuid[]) END"
            " ORDER BY created_at FOR UPDATE",
            ids, all_failed,
        )
        failed = [row for row in chosen if row["status"] == "failed"]
        if failed and not dry_run:
            await conn.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = now(), lease_until = NULL"
                " WHERE delivery_id = ANY($1::uuid[])",
                [row["delivery_id"] for row in failed],
            )
    refused = [f"{row['delivery_id']}: it is {row['status']}, not failed" for row in chosen if row["status"] != "failed"]
    refused += [f"{missing}: no such delivery" for missing in set(ids) - {row["delivery_id"] for row in chosen}]
    return Resent(failed, refused)


async def list_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    conn = await notification_connection(settings)
    try:
        rows = await find_deliveries(conn, args.status, args.channel, args.since, args.limit)
    finally:
        await conn.close()
    for row in rows:
        print(_line(row))
    print(f"{len(rows)} deliveries" + (f" (at most {args.limit}: --limit shows more)" if len(rows) == args.limit else ""))
    return 0


async def resend_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.ids) == args.all_failed:
        print("name the deliveries to resend (ID …) or say --all-failed, not both")
        return 2
    conn = await notification_connection(settings)
    try:
        outcome = await resend(conn, args.ids, args.all_failed, args.dry_run)
    finally:
        await conn.close()
    verb = "would resend" if args.dry_run else "resent"
    for row in outcome.resent:
        print(f"{verb} {_line(row)}")
    for refusal in outcome.refused:
        print(f"not resent {refusal}")
    print(f"{verb} {len(outcome.resent)} deliveries")
    return 1 if outcome.refused else 0


def _line(row: asyncpg.Record) -> str:
    error = (row["last_error"] or "").replace("\n", " ")
    if len(error) > ERROR_SHOWN_CHARS:
        error = error[: ERROR_SHOWN_CHARS - 1] + "…"
    created = row["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return (f"{row['delivery_id']}  {row['status']:<9} {row['channel']:<7} {created}  attempts {row['attempts']:<3}"
            f" {row['destination']}" + (f"  — {error}" if error else ""))
