"""What the operator commands' arguments have in common."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta


def moment(text: str) -> datetime:
    """An ISO time (UTC unless it says otherwise), or an age back from now: 90s, 30m, 2h, 7d."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: float(text[:-1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO time or an age like 2h: {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
