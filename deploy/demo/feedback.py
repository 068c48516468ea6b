"""A few answers from the demo's coaches about the matches they were told of, sent to
intake as a coach tool would, so that the board's funnel reaches "found useful" and
"adopted" and a researcher hears what a company said."""

from __future__ import annotations

from uuid import UUID, uuid5

import httpx

# Which answers the first notified matches get (ordered by match id, so a second run
# answers the same matches the same way and intake finds them unchanged).
ANSWERS = (
    ("adopted", "Metoden är införd i linje 2; ställtiden har halverats.", None),
    ("useful", "Bra underlag inför nästa förbättringsvecka.", None),
    ("useful", None, None),
    ("new-question", None, "Hur fungerar metoden när vi kör många små order med kort ledtid?"),
    ("not-useful", "För stora investeringar för oss just nu.", None),
)
DEMO_FEEDBACK = UUID("0b6d3c8e-4f1a-4e2b-9c57-7a1d2e3f4a5b")


def answer_some(notification_url: str, intake_url: str, key: str, operator_key: str) -> int:
    """Answer the first notified matches (found with an operator's key); returns how many
    answers intake accepted."""
    sent = httpx.get(f"{notification_url}/v1/notifications", params={"limit": 1000}, timeout=10,
                     headers={"Authorization": f"Bearer {operator_key}"}).json()
    match_ids = sorted({n["match_id"] for n in sent})[: len(ANSWERS)]
    accepted = 0
    with httpx.Client(base_url=intake_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        for match_id, (verdict, comment, question) in zip(match_ids, ANSWERS):
            body = {
                "feedback_id": str(uuid5(DEMO_FEEDBACK, match_id)),
                "match_id": match_id,
                "verdict": verdict,
                "reporter": {"name": "Anna Lindqvist", "email": "anna.lindqvist@example.se", "organisation": "IUC Sjuhärad"},
            }
            body |= {k: v for k, v in (("comment", comment), ("new_question", question)) if v}
            response = client.post("/v1/feedback", json=body)
            accepted += response.status_code == 202 and response.json()["effect"] == "accepted"
    return accepted
