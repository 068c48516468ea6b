"""python -m services.ops <group> <command> …; `--help` at any level says what there is."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common.settings import Settings
from services.ops import dead_letters, deliveries, flow, lag, links, outbox, replay
from services.ops.connection import MissingSchema

GROUPS = (dead_letters, deliveries, flow, lag, links, outbox, replay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.ops",
        description="Operator commands against redthread's databases and Kafka (DATABASE_URL, REDTHREAD_*, as the services read them).",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for group in GROUPS:
        group.register(groups)
    args, passed_on = parser.parse_known_args(argv)
    if passed_on and not getattr(args, "passes_on", False):
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    args.passed_on = passed_on
    try:
        return asyncio.run(args.run(args, Settings()))
    except MissingSchema as missing:
        print(missing, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
