"""Lost and duplicated effects, in the manner of Jepsen's checkers: what was acknowledged
and what was observed go in, counts with examples come out. No I/O.

Lost (each a fact that should be there and is not, once the platform is left to recover):
  need-not-in-reporting      an acknowledged need without its row in reporting's needs and
                             its need-submitted row on the company's timeline
  need-not-matched           an acknowledged need the workload made to match, with no match
  match-not-in-reporting     a match matching proposed, missing from reporting's need_matches
                             or without its match-proposed timeline row
  match-without-email        a match whose coach got no e-mail about it
  match-without-webhook      a match the webhook subscription was not told of (no 2xx answer)
  notification-not-in-reporting  a delivered e-mail or webhook call whose
                             notification-dispatched row is missing from the timeline

Duplicated (each an effect that happened more than once):
  email                      more than one e-mail about one match to one recipient
  webhook                    more than one webhook-id about one match to one subscription
                             (a resend under the same webhook-id is counted apart, as
                             `webhook_resent`: Standard Webhooks receivers drop it)
  timeline                   more than one timeline row for one need-submitted, one
                             match-proposed, or one notification of a match per channel
  match                      more than one match id for one (need, output) pair
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

EXAMPLES = 3

LOST_KINDS = (
    "need-not-in-reporting",
    "need-not-matched",
    "match-not-in-reporting",
    "match-without-email",
    "match-without-webhook",
    "notification-not-in-reporting",
)
DUPLICATE_KINDS = ("email", "webhook", "timeline", "match")


@dataclass(frozen=True)
class Match:
    match_id: str
    need_id: str
    output_id: str


@dataclass(frozen=True)
class TimelineRow:
    event_id: str
    kind: str
    need_id: str | None
    match_id: str | None
    channel: str | None = None  # for notification-dispatched: email or webhook


@dataclass(frozen=True)
class Delivery:
    """A row of notification's deliveries: what a message id is about."""

    delivery_id: str
    match_id: str | None
    recipient_key: str
    channel: str


@dataclass(frozen=True)
class Received:
    """One message that reached a peer: an e-mail (its Message-ID) or a webhook call (its
    webhook-id) answered with 2xx."""

    message_id: str
    recipient: str  # e-mail address, or the subscription's receiver


@dataclass
class Observation:
    reporting_needs: set[str] = field(default_factory=set)
    matches: list[Match] = field(default_factory=list)  # matching's proposed_matches
    reporting_matches: list[Match] = field(default_factory=list)  # reporting's need_matches
    timeline: list[TimelineRow] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    emails: list[Received] = field(default_factory=list)
    webhooks: list[Received] = field(default_factory=list)


@dataclass
class Verdict:
    lost: dict[str, list[str]] = field(default_factory=dict)  # kind → every lost item
    duplicated: dict[str, list[str]] = field(default_factory=dict)  # kind → one entry per extra copy
    webhook_resent: int = 0
    unexplained_messages: list[str] = field(default_factory=list)  # received, but no delivery row names them
    effects: dict[str, int] = field(default_factory=dict)  # what the workload caused: matches, e-mails, webhook calls

    @property
    def lost_count(self) -> int:
        return sum(len(items) for items in self.lost.values())

    @property
    def duplicated_count(self) -> int:
        return sum(len(items) for items in self.duplicated.values())

    def duplicates_beyond(self, allowed: dict[str, int]) -> int:
        return sum(max(0, len(items) - allowed.get(kind, 0)) for kind, items in self.duplicated.items())

    def summary(self) -> str:
        def part(counts: dict[str, list[str]]) -> str:
            shown = [f"{kind} {len(items)} (e.g. {', '.join(items[:EXAMPLES])})" for kind, items in counts.items() if items]
            return "; ".join(shown) or "none"

        return f"lost: {part(self.lost)} | duplicated: {part(self.duplicated)}"


def check(
    acknowledged: Iterable[str],
    expected_to_match: Iterable[str],
    seen: Observation,
    webhook_receivers: Iterable[str] = (),
) -> Verdict:
    """`acknowledged`: the need ids intake acknowledged (HTTP 202, or the broker's ack of
    the partner record); `expected_to_match`: those of them built to find a match;
    `webhook_receivers`: the receivers subscribed to every match."""
    acknowledged = set(acknowledged)
    verdict = Verdict()

    needs_on_timeline = {row.need_id for row in seen.timeline if row.kind == "need-submitted"}
    verdict.lost["need-not-in-reporting"] = sorted(
        need for need in acknowledged if need not in seen.reporting_needs or need not in needs_on_timeline
    )
    matched_needs = {m.need_id for m in seen.matches}
    verdict.lost["need-not-matched"] = sorted(set(expected_to_match) & acknowledged - matched_needs)

    ours = [m for m in seen.matches if m.need_id in acknowledged]
    in_reporting = {m.match_id for m in seen.reporting_matches}
    proposed_on_timeline = {row.match_id for row in seen.timeline if row.kind == "match-proposed"}
    verdict.lost["match-not-in-reporting"] = sorted(
        m.match_id for m in ours if m.match_id not in in_reporting or m.match_id not in proposed_on_timeline
    )

    about = {d.delivery_id: d for d in seen.deliveries}
    verdict.unexplained_messages = sorted(
        {r.message_id for r in [*seen.emails, *seen.webhooks] if r.message_id not in about}
    )
    emailed = {about[r.message_id].match_id for r in seen.emails if r.message_id in about}
    called = {(about[r.message_id].match_id, r.recipient) for r in seen.webhooks if r.message_id in about}
    verdict.lost["match-without-email"] = sorted(m.match_id for m in ours if m.match_id not in emailed)
    verdict.lost["match-without-webhook"] = sorted(
        f"{m.match_id}{receiver}" for m in ours for receiver in webhook_receivers if (m.match_id, receiver) not in called
    )

    told_on_timeline = {(row.match_id, row.channel) for row in seen.timeline if row.kind == "notification-dispatched"}
    proposed = {m.match_id for m in ours}
    told = {(match, "email") for match in emailed} | {(match, "webhook") for match, _ in called}
    verdict.lost["notification-not-in-reporting"] = sorted(
        f"{match}/{channel}" for match, channel in told if match in proposed and (match, channel) not in told_on_timeline
    )

    # --- duplicated: only of this workload's needs and their matches ---
    ours_ids = {m.match_id for m in [*seen.matches, *seen.reporting_matches] if m.need_id in acknowledged}

    def extra_copies(keys: Iterable[object]) -> list[str]:
        return [str(key) for key, n in Counter(keys).items() for _ in range(n - 1)]

    def match_of(message_id: str) -> str | None:
        delivery = about.get(message_id)
        return delivery.match_id if delivery else None

    verdict.duplicated["email"] = extra_copies(
        (match_of(r.message_id), r.recipient.lower()) for r in seen.emails if match_of(r.message_id) in ours_ids
    )
    distinct_calls = {(r.message_id, r.recipient) for r in seen.webhooks if match_of(r.message_id) in ours_ids}
    verdict.webhook_resent = sum(1 for r in seen.webhooks if match_of(r.message_id) in ours_ids) - len(distinct_calls)
    verdict.duplicated["webhook"] = extra_copies((match_of(message_id), to) for message_id, to in distinct_calls)
    verdict.duplicated["timeline"] = extra_copies(
        (row.kind, row.need_id) if row.kind == "need-submitted" else (row.kind, row.match_id)
        for row in seen.timeline
        if (row.kind == "need-submitted" and row.need_id in acknowledged)
        or (row.kind == "match-proposed" and row.match_id in ours_ids)
    )
    # One notification row per recipient told: a match told to two webhook subscriptions
    # has two rows for the webhook channel, and nothing in a row names the recipient.
    recipients = Counter((d.match_id, d.channel) for d in seen.deliveries)
    rows = Counter(
        (row.match_id, row.channel)
        for row in seen.timeline
        if row.kind == "notification-dispatched" and row.match_id in ours_ids
    )
    verdict.duplicated["timeline"] += [
        str(("notification-dispatched", *key)) for key, n in rows.items() for _ in range(n - max(1, recipients[key]))
    ]
    verdict.effects = {
        "matches": len(ours),
        "e-mails": sum(1 for r in seen.emails if match_of(r.message_id) in ours_ids),
        "webhook calls": sum(1 for r in seen.webhooks if match_of(r.message_id) in ours_ids),
    }
    verdict.duplicated["match"] = _pairs_with_several_ids(
        [m for m in [*seen.matches, *seen.reporting_matches] if m.need_id in acknowledged]
    )
    return verdict


def unanswered(
    records: Iterable[tuple[str, str, int, int, str | None, str | None]],
    dead_letters: set[tuple[str, int, int]],
    accepted_needs: set[str],
) -> list[str]:
    """The hostile records with no outcome. Each is (label, topic, partition, offset,
    need that must be accepted, need that may be accepted or dead-lettered); any other
    record must have a dead letter naming its topic, partition and offset."""
    silent = []
    for label, topic, partition, offset, must_accept, may_accept in records:
        lettered = (topic, partition, offset) in dead_letters
        if must_accept:
            answered = must_accept in accepted_needs
        elif may_accept:
            answered = may_accept in accepted_needs or lettered
        else:
            answered = lettered
        if not answered:
            silent.append(f"{label} @{partition}/{offset}")
    return silent


def _pairs_with_several_ids(matches: list[Match]) -> list[str]:
    ids: dict[tuple[str, str], set[str]] = {}
    for m in matches:
        if m.need_id and m.output_id:
            ids.setdefault((m.need_id, m.output_id), set()).add(m.match_id)
    return [f"{need}/{output}" for (need, output), found in ids.items() for _ in range(len(found) - 1)]


@dataclass(frozen=True)
class Result:
    scenario: str
    workload: str
    verdict: Verdict
    recovery_s: float | None  # from the heal to every effect there; None: not by the deadline
    after_last_ack_s: float | None = None  # from the workload's last acknowledgement
    unacknowledged: int = 0  # needs the client gave up on

    def line(self) -> str:
        if self.recovery_s is None:
            recovered = "NOT RECOVERED"
        else:
            recovered = f"{self.recovery_s:.1f}s after the heal ({self.after_last_ack_s:.1f}s after the last ack)"
        return (
            f"FAULT {self.scenario} | lost {self.verdict.lost_count} | duplicated {self.verdict.duplicated_count}"
            f" | recovery {recovered} | workload {self.workload}, {self.unacknowledged} never acknowledged;"
            f" {', '.join(f'{n} {what}' for what, n in self.verdict.effects.items())}"
            f" | webhook resends under the same id {self.verdict.webhook_resent}"
            f" | {self.verdict.summary()}"
        )
