"""Load the demo data set through intake's HTTP API, as a partner system would.

    python -m deploy.demo.load [intake-url]     # registers the demo partners first

Participations first, then needs, then research outputs — so the outputs arriving last
are matched against the stored needs, as new research would be. Loading twice is safe:
what is already there answers 409 and is counted as such.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from rich.progress import Progress

DATA = Path(__file__).parent / "data"
ORDER = (
    ("participations.jsonl", "/v1/participations", "iuc-sverige"),
    ("needs.jsonl", "/v1/needs", "produktionslyftet-coach"),
    ("research_outputs.jsonl", "/v1/research-outputs", "produktion2030"),
)


def load(intake_url: str, keys: dict[str, str]) -> dict[str, int]:
    counts = {"accepted": 0, "already loaded": 0, "rejected": 0}
    batches = [(path, [json.loads(line) for line in (DATA / path).read_text().splitlines() if line.strip()], url, partner)
               for path, url, partner in ORDER]
    with httpx.Client(base_url=intake_url, timeout=10) as client, Progress() as progress:
        task = progress.add_task("loading demo data", total=sum(len(rows) for _, rows, _, _ in batches))
        for path, rows, url, partner in batches:
            for row in rows:
                response = client.post(url, json=row, headers={"Authorization": f"Bearer {keys[partner]}"})
                if response.status_code == 202 and response.json()["effect"] == "accepted":
                    counts["accepted"] += 1
                elif response.status_code == 409 or response.json().get("effect") == "unchanged":
                    counts["already loaded"] += 1
                else:
                    counts["rejected"] += 1
                    progress.console.print(f"[red]{path}: {response.status_code} {response.text[:300]}")
                progress.advance(task)
    return counts


if __name__ == "__main__":
    import asyncio

    from deploy.demo.partners import provision
    from services.common.settings import Settings

    result = load(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001", asyncio.run(provision(Settings())))
    print(", ".join(f"{n} {k}" for k, n in result.items()))
    sys.exit(1 if result["rejected"] else 0)
