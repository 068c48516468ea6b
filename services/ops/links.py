"""`links revoke`: the answer links of a match (or of one recipient) stop working at once.

Answer links also expire on their own after `REDTHREAD_ANSWER_LINK_TTL_DAYS` (180): the
answer page then says so, and the coach answers through the coach tool instead.
"""

from __future__ import annotations

import argparse
from uuid import UUID

from services.common.settings import Settings
from services.ops.connection import notification_connection


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("links", help="answer links in match messages: revoke them")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    revoke = commands.add_parser("revoke", help="the answer links of a match stop working")
    revoke.add_argument("--match", type=UUID, required=True, help="the match whose links to revoke")
    revoke.add_argument("--email", help="only the links sent to this address")
    revoke.add_argument("--dry-run", action="store_true", help="say how many would be revoked, change nothing")
    revoke.set_defaults(run=revoke_links)


async def revoke_links(args: argparse.Namespace, settings: Settings) -> int:
    conn = await notification_connection(settings)
    try:
        async with conn.transaction():
            chosen = await conn.fetch(
                "SELECT token FROM answer_links WHERE match_id = $1 AND revoked_at IS NULL"
                " AND ($2::text IS NULL OR lower(reporter->>'email') = lower($2)) FOR UPDATE",
                args.match, args.email,
            )
            if chosen and not args.dry_run:
                await conn.execute("UPDATE answer_links SET revoked_at = now() WHERE token = ANY($1::text[])",
                                   [row["token"] for row in chosen])
    finally:
        await conn.close()
    verb = "would be revoked" if args.dry_run else "revoked"
    print(f"{len(chosen)} answer link(s) of match {args.match}{' to ' + args.email if args.email else ''} {verb}")
    return 0
