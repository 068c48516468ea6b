"""The one topic registry: every topic redthread uses, who writes it and who reads it.

`make up` creates these with explicit partition counts; clients never auto-create topics.
Records are keyed by their aggregate so that the events of one need, one output or one
company stay in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.events import (
    DeadLetterRecord,
    FeedbackSubmitted,
    MatchProposed,
    MatchRetracted,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    NotificationDispatched,
    ParticipationRecorded,
    PersonErased,
    PersonKeyDestroyed,
    PersonKeyIssued,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
)
from contracts.notices import NeedNotice, PartnerAccessChanged

NEED_EVENTS = tuple(c.EVENT_TYPE for c in (NeedSubmitted, NeedUpdated, NeedWithdrawn, NeedResolved))
OUTPUT_EVENTS = tuple(c.EVENT_TYPE for c in (ResearchOutputPublished, ResearchOutputUpdated, ResearchOutputWithdrawn))


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    writer: str
    readers: tuple[str, ...]
    event_types: tuple[str, ...]
    description: str
    # Topic-level configuration, e.g. compaction for topics that hold the latest state per key.
    config: tuple[tuple[str, str], ...] = ()

    @property
    def seals_persons(self) -> bool:
        """Whether persons are sealed on this topic (contracts.personal_data): on every
        topic that one of redthread's services writes and only services read. Partners'
        topics hold what partners send, in clear (notification, answering for the people
        who use its links, is a partner there like any other)."""
        return self.writer in SERVICES and set(self.readers) <= set(SERVICES)


PARTNERS = "partner systems"
SERVICES = ("intake", "matching", "notification", "reporting")

PARTNER_NEEDS = Topic(
    "partner.needs.v1", "need_id", 6, PARTNERS, ("intake",), NEED_EVENTS,
    "Needs as partners send them; validated by intake before anyone else sees them.",
)
PARTNER_RESEARCH_OUTPUTS = Topic(
    "partner.research-outputs.v1", "output_id", 6, PARTNERS, ("intake",), OUTPUT_EVENTS,
    "Research outputs from project registries (Produktion2030, RISE).",
)
PARTNER_PARTICIPATIONS = Topic(
    "partner.participations.v1", "company org number", 3, PARTNERS, ("intake",), (ParticipationRecorded.EVENT_TYPE,),
    "Participations in initiatives, from IUC CRMs, coach tools and Produktivitetsspranget.",
)
PARTNER_FEEDBACK = Topic(
    "partner.feedback.v1", "match_id", 3, f"{PARTNERS}; notification", ("intake",), (FeedbackSubmitted.EVENT_TYPE,),
    "Feedback on matches from partner tools, and the answers coaches and companies give through the "
    "links in notification's messages (notification is a partner of intake here, like any other).",
)
NEEDS = Topic(
    "redthread.needs.v1", "need_id", 6, "intake", ("matching", "notification", "reporting"), NEED_EVENTS,
    "Accepted company needs and their changes (updated, withdrawn, resolved).",
)
RESEARCH_OUTPUTS = Topic(
    "redthread.research-outputs.v1", "output_id", 6, "intake", ("matching", "reporting"),
    OUTPUT_EVENTS, "Accepted research outputs and their changes.",
)
PARTICIPATIONS = Topic(
    "redthread.participations.v1", "company org number", 3, "intake", ("reporting",),
    (ParticipationRecorded.EVENT_TYPE,), "Accepted participations in initiatives.",
)
FEEDBACK = Topic(
    "redthread.feedback.v1", "match_id", 3, "intake", ("matching", "notification", "reporting"), (FeedbackSubmitted.EVENT_TYPE,),
    "Accepted feedback from companies and coaches.",
)
MATCHES = Topic(
    "redthread.matches.v1", "need_id", 6, "matching", ("intake", "notification", "reporting"),
    (MatchProposed.EVENT_TYPE, MatchRetracted.EVENT_TYPE),
    "Proposed matches between a need and a research output, with score and reasons, and their retractions.",
)
NOTIFICATIONS = Topic(
    "redthread.notifications.v1", "need_id", 3, "notification", ("reporting",),
    (NotificationDispatched.EVENT_TYPE,), "Messages sent to people about matches.",
)
NEED_FEED = Topic(
    "redthread.need-feed.v1", "need_id", 3, "notification", ("partner systems",), (NeedNotice.EVENT_TYPE,),
    "The need feed for partners who consume Kafka directly: every open need as researchers may see it "
    "(anonymised needs without their company, coach-only needs never), and when it closes.",
)
PARTNER_ACCESS = Topic(
    "redthread.partner-access.v1", "partner_id", 1, "intake", ("notification", "reporting"), (PartnerAccessChanged.EVENT_TYPE,),
    "Each partner's scope and API key hashes as they are now (compacted), so every service with an HTTP "
    "API authenticates partners the same way.",
    config=(("cleanup.policy", "compact"),),
)
ERASURES = Topic(
    "redthread.erasures.v1", "person_id", 1, "intake", ("matching", "notification", "reporting"),
    (PersonErased.EVENT_TYPE,),
    "People who asked to be forgotten, by person id (never their address). Kept for good "
    "(compacted, no retention), so that a replay erases them again.",
    config=(("cleanup.policy", "compact"), ("retention.ms", "-1")),
)
PERSON_KEYS = Topic(
    "redthread.person-keys.v1", "person_id", 3, "intake", ("matching", "notification", "reporting"),
    (PersonKeyIssued.EVENT_TYPE, PersonKeyDestroyed.EVENT_TYPE),
    "Each person's key, sealed, that seals their data on the other topics; replaced by its "
    "destruction when they are erased. Compacted within the hour (one-hour segments), so "
    "that a destroyed key leaves the broker's disks too.",
    config=(
        ("cleanup.policy", "compact"), ("retention.ms", "-1"), ("segment.ms", "3600000"),
        ("max.compaction.lag.ms", "3600000"), ("min.cleanable.dirty.ratio", "0.01"),
    ),
)
DEAD_LETTERS = Topic(
    "redthread.dead-letters.v1", "source topic", 3, "every consumer", ("operators",),
    (DeadLetterRecord.EVENT_TYPE,),
    "Records a consumer could not accept, with the reason in headers and body. The one "
    "topic with many writers: each consumer dead-letters what it cannot handle.",
)

ALL_TOPICS: tuple[Topic, ...] = (
    PARTNER_NEEDS,
    PARTNER_RESEARCH_OUTPUTS,
    PARTNER_PARTICIPATIONS,
    PARTNER_FEEDBACK,
    NEEDS,
    RESEARCH_OUTPUTS,
    PARTICIPATIONS,
    FEEDBACK,
    MATCHES,
    NOTIFICATIONS,
    NEED_FEED,
    PARTNER_ACCESS,
    ERASURES,
    PERSON_KEYS,
    DEAD_LETTERS,
)

# --- partners' own topics ------------------------------------------------------------
#
# A partner on Kafka may get topics of its own, `partner.<partner id>.<kind>.v1`, one per
# shared partner topic, writable only by its principal (PREFIXED ACL on
# `partner.<partner id>.`, docs/partner-access.md). On those, the broker vouches for who
# sent a record; intake reads them by pattern and requires the CloudEvents source to be
# that same partner.

PARTNER_FAMILIES: tuple[Topic, ...] = (PARTNER_NEEDS, PARTNER_RESEARCH_OUTPUTS, PARTNER_PARTICIPATIONS, PARTNER_FEEDBACK)
PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_OWN_TOPIC = re.compile(
    r"^partner\.(?P<partner>[a-z0-9][a-z0-9-]{0,62})\.(?P<kind>needs|research-outputs|participations|feedback)\.v1$"
)


def own_topic(family: Topic, partner_id: str) -> str:
    """The partner's own topic of a family: partner.<id>.needs.v1 for partner.needs.v1."""
    if family not in PARTNER_FAMILIES:
        raise ValueError(f"{family.name} is not a partner topic")
    if not PARTNER_ID.match(partner_id):
        raise ValueError(f"partner id {partner_id!r} must be lower-case letters, digits and '-' (no '.')")
    return f"partner.{partner_id}.{family.name.removeprefix('partner.')}"


def partner_topic_owner(name: str) -> tuple[Topic, str | None] | None:
    """(family, owning partner id) of a partner topic: None as the owner for a shared
    one; None for any other topic."""
    for family in PARTNER_FAMILIES:
        if name == family.name:
            return family, None
    if match := _OWN_TOPIC.match(name):
        family = next(f for f in PARTNER_FAMILIES if f.name == f"partner.{match['kind']}.v1")
        return family, match["partner"]
    return None
