"""Partner administration for the programme office.

    python -m services.intake.admin add-partner iuc-smaland --name "IUC Småland" \\
        --may-send needs,participations,feedback --regions Småland
    python -m services.intake.admin issue-key iuc-smaland      # prints the key once
    python -m services.intake.admin revoke-key <key id>
    python -m services.intake.admin list
    python -m services.intake.admin add-partner iuc-smaland … --own-kafka-topics
    python -m services.intake.admin issue-kafka-password iuc-smaland   # prints it once

To rotate a key without downtime: issue a new one, let the partner switch, revoke the
old one (revocation reaches every intake instance within 5 seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from contracts.events import FeedbackSubmitted, ParticipationRecorded
from contracts.topics import NEED_EVENTS, OUTPUT_EVENTS
from services.common.db import apply_migrations, create_pool
from services.common.kafka_acls import check_partner_principal
from services.common.kafka_provisioning import ProvisioningError, provision_partner, set_partner_password
from services.common.kafka_security import MissingCredential
from services.common.settings import Settings
from contracts.topics import PARTNER_ACCESS
from services.intake.partners import Partner, issue_key, revoke_key, save_partner

EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "needs": NEED_EVENTS,
    "research-outputs": OUTPUT_EVENTS,
    "participations": (ParticipationRecorded.EVENT_TYPE,),
    "feedback": (FeedbackSubmitted.EVENT_TYPE,),
}


def event_types(spec: str) -> frozenset[str]:
    """'needs,feedback' or full event type names; 'all' for everything, 'none' for nothing
    (a partner that only reads, such as the board's dashboard)."""
    names = [part.strip() for part in spec.split(",") if part.strip() and part.strip() != "none"]
    if names == ["all"]:
        names = list(EVENT_GROUPS)
    types: set[str] = set()
    known = {t for group in EVENT_GROUPS.values() for t in group}
    for name in names:
        if name in EVENT_GROUPS:
            types.update(EVENT_GROUPS[name])
        elif name in known:
            types.add(name)
        else:
            raise SystemExit(f"unknown event group or type {name!r}; groups: {', '.join(EVENT_GROUPS)}")
    return frozenset(types)


def _list(value: str | None) -> frozenset[str] | None:
    return frozenset(v.strip() for v in value.split(",") if v.strip()) if value else None


async def run(args: argparse.Namespace) -> int:
    settings = Settings()
    pool = await create_pool(settings.database_url, "intake", max_size=2)
    try:
        await apply_migrations(pool, "services.common", "services.intake")
        # Intake's outbox relay announces the change to the other services.
        access_topic = settings.topic(PARTNER_ACCESS.name)
        async with pool.acquire() as conn, conn.transaction():
            if args.command == "add-partner":
                await save_partner(
                    conn,
                    Partner(
                        partner_id=args.partner_id,
                        name=args.name or args.partner_id,
                        event_types=event_types(args.may_send),
                        regions=_list(args.regions),
                        org_numbers=_list(args.org_numbers),
                        requests_per_minute=args.requests_per_minute,
                        own_kafka_topics=args.own_kafka_topics,
                        reporting=args.reporting,
                        operator=args.operator,
                    ),
                    access_topic=access_topic,
                )
                print(f"partner {args.partner_id} saved")
                if args.own_kafka_topics:
                    created = await provision_partner(settings, args.partner_id)
                    print(f"its own topics: {', '.join(created)}; on Kafka it may write only these and read the "
                          f"need feed (issue-kafka-password {args.partner_id} gives it a password)")
            elif args.command == "issue-key":
                if not await conn.fetchval("SELECT true FROM partners WHERE partner_id = $1", args.partner_id):
                    print(f"no partner {args.partner_id}", file=sys.stderr)
                    return 1
                print(await issue_key(conn, args.partner_id, access_topic=access_topic))
            elif args.command == "issue-kafka-password":
                if not await conn.fetchval("SELECT own_kafka_topics FROM partners WHERE partner_id = $1", args.partner_id):
                    print(f"no partner {args.partner_id} with its own Kafka topics (add-partner … --own-kafka-topics)",
                          file=sys.stderr)
                    return 1
                print(await set_partner_password(settings, args.partner_id))
            elif args.command == "revoke-key":
                if not await revoke_key(conn, args.key_id, access_topic=access_topic):
                    print(f"no active key {args.key_id}", file=sys.stderr)
                    return 1
                print(f"key {args.key_id} revoked")
            elif args.command == "list":
                rows = await conn.fetch(
                    "SELECT p.partner_id, p.name, p.event_types, p.regions, p.org_numbers, p.requests_per_minute, p.reporting_role, p.operator,"
                    " array_remove(array_agg(k.key_id) FILTER (WHERE k.revoked_at IS NULL), NULL) AS keys"
                    " FROM partners p LEFT JOIN api_keys k USING (partner_id) GROUP BY p.partner_id ORDER BY 1"
                )
                for r in rows:
                    print(
                        f"{r['partner_id']:24} {r['name']:30} keys={','.join(r['keys']) or '-'} "
                        f"rpm={r['requests_per_minute']} regions={','.join(r['regions'] or ['any'])} "
                        f"types={len(r['event_types'])} reporting={r['reporting_role'] or '-'}"
                        + (" operator" if r["operator"] else "")
                    )
    finally:
        await pool.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.intake.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-partner", help="create or change a partner and its scope")
    add.add_argument("partner_id")
    add.add_argument("--name")
    add.add_argument("--may-send", default="all", help="needs,research-outputs,participations,feedback or event types")
    add.add_argument(
        "--reporting", choices=("board", "coach"), default=None,
        help="what it may see in reporting: board (all aggregates) or coach (the timelines of its companies)",
    )
    add.add_argument("--operator", action="store_true",
                     help="an operator of the programme office: may read what went out (deliveries, messages sent)")
    add.add_argument("--regions", help="Produktionslyftet regions it may speak for (default: any)")
    add.add_argument("--org-numbers", help="companies it may speak for (default: any)")
    add.add_argument("--requests-per-minute", type=int, default=600)
    add.add_argument(
        "--own-kafka-topics",
        action="store_true",
        help="create partner.<id>.* topics and accept its Kafka events only there",
    )
    issue = commands.add_parser("issue-key", help="a new API key (printed once)")
    issue.add_argument("partner_id")
    revoke = commands.add_parser("revoke-key", help="revoke a key by its id (the part after rt_)")
    revoke.add_argument("key_id")
    kafka_password = commands.add_parser(
        "issue-kafka-password",
        help="a new password (printed once) for the partner's Kafka principal, which replaces the old one",
    )
    kafka_password.add_argument("partner_id")
    commands.add_parser("list", help="partners, their active key ids and scope")
    args = parser.parse_args(argv)
    if getattr(args, "own_kafka_topics", False) or args.command == "issue-kafka-password":
        try:
            check_partner_principal(args.partner_id)
        except ValueError as error:
            parser.error(str(error))
    try:
        return asyncio.run(run(args))
    except (MissingCredential, ProvisioningError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
