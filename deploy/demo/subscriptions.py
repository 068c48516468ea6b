"""The demo's subscribers: researchers who follow the need feed and hear what companies
say about their results. Created through notification's API with a demo partner's key,
before the demo data arrives, so that they are told of it."""

from __future__ import annotations

import time

import httpx

DEMO_SUBSCRIPTIONS = (
    {
        "about": "needs", "channel": "email", "filters": {"focus_areas": ["P2"]},
        "subscriber": {"name": "Anders Berg", "email": "anders.berg@example.org", "language": "sv"},
    },
    {
        "about": "needs", "channel": "email", "filters": {"keywords": ["cobot", "robot", "automation"]},
        "subscriber": {"name": "Ingrid Nilsen", "email": "ingrid.nilsen@example.no", "language": "no"},
    },
    {
        "about": "feedback", "channel": "email",
        "subscriber": {"name": "Anders Berg", "email": "anders.berg@example.org", "language": "sv"},
    },
    {"about": "needs", "channel": "atom", "subscriber": {"name": "Produktion2030 programkontor", "language": "sv"}},
)


def subscribe_demo(notification_url: str, key: str, timeout_s: float = 30) -> list[dict]:
    """Create the demo subscriptions; waits until notification knows the partner's key
    (it learns keys from intake through Kafka)."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=notification_url, headers=headers, timeout=10) as client:
        deadline = time.monotonic() + timeout_s
        while client.get("/v1/subscriptions").status_code == 401:
            if time.monotonic() > deadline:
                raise RuntimeError(f"notification did not learn the demo partner's key within {timeout_s}s")
            time.sleep(0.5)
        existing = client.get("/v1/subscriptions").json()

        def same(a: dict, b: dict) -> bool:
            return all(a[k] == b[k] for k in ("about", "channel")) and a["subscriber"]["name"] == b["subscriber"]["name"]

        subscriptions = []
        for body in DEMO_SUBSCRIPTIONS:
            # A second `make run` finds the first run's subscriptions in place.
            found = next((s for s in existing if same(s, body)), None)
            if found is None:
                response = client.post("/v1/subscriptions", json=body)
                response.raise_for_status()
                found = response.json()
            subscriptions.append(found)
        return subscriptions
