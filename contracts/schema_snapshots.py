"""JSON Schema snapshots of the contracts, committed under contracts/schemas/.

    python -m contracts.schema_snapshots          # rewrite the snapshots
    python -m contracts.schema_snapshots --check  # fail if a model drifted from its snapshot
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from contracts.envelope import Envelope
from contracts.events import ALL_CONTRACTS
from contracts.notices import NOTICE_EVENT_CONTRACTS, OutgoingMessage

SNAPSHOT_DIR = Path(__file__).parent / "schemas"


def render() -> dict[str, str]:
    # The attributes by name: the ce_ header names are the Kafka binding of them.
    snapshots = {"cloudevents-envelope.json": Envelope.model_json_schema(by_alias=False)}
    snapshots["redthread.notices.webhook-body.json"] = OutgoingMessage.model_json_schema()
    for contract in (*ALL_CONTRACTS, *NOTICE_EVENT_CONTRACTS):
        schema = contract.model_json_schema()
        schema["$id"] = f"urn:redthread:{contract.EVENT_TYPE}:v{contract.SCHEMA_VERSION}"
        snapshots[f"{contract.EVENT_TYPE}.v{contract.SCHEMA_VERSION}.json"] = schema
    return {name: json.dumps(schema, indent=2, ensure_ascii=False) + "\n" for name, schema in snapshots.items()}


def drifted() -> list[str]:
    """Names whose committed snapshot differs from the model, or is missing or stale."""
    expected = render()
    present = {p.name for p in SNAPSHOT_DIR.glob("*.json")}
    changed = [n for n, text in expected.items() if not (SNAPSHOT_DIR / n).exists() or (SNAPSHOT_DIR / n).read_text() != text]
    return sorted(changed + sorted(present - set(expected)))


def main() -> int:
    if "--check" in sys.argv:
        if names := drifted():
            print("contract schemas out of date:", ", ".join(names), "- run `make schemas`", file=sys.stderr)
            return 1
        return 0
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    for stale in SNAPSHOT_DIR.glob("*.json"):
        stale.unlink()
    for name, text in render().items():
        (SNAPSHOT_DIR / name).write_text(text)
    print(f"wrote {len(render())} schemas to {SNAPSHOT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
