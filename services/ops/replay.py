"""`replay`: rebuild reporting's read models from the beginning of its topics — the
replay reporting has had from the start (`make replay`, services/reporting/replay.py),
here beside the other operator commands; its arguments are passed on unchanged."""

from __future__ import annotations

import argparse

from services.common.settings import Settings
from services.reporting import replay


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser(
        "replay", add_help=False,
        help="rebuild reporting's read models from its topics ([--into SCHEMA] [--swap] [--batch-size N]; --help)",
    )
    parser.set_defaults(run=run_replay, passes_on=True)


async def run_replay(args: argparse.Namespace, _settings: Settings) -> int:
    return await replay.main(args.passed_on)
