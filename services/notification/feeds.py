"""Atom feeds of notices, for researchers and partners who would rather subscribe in a feed
reader than get e-mail. No I/O: builds the document only. The wording is the e-mails'
(`templates.notice_title`, `templates.notice_html`), so a feed never says something else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from feedgen.feed import FeedGenerator

from contracts.events import Language
from contracts.notices import MatchNotice, Notice
from services.notification.templates import HTML_LANGUAGE_TAGS, notice_html, notice_title

FEED_AUTHOR = "redthread"

# XML 1.0 forbids most control characters, and lxml refuses to write them; the contracts
# only keep NUL out, so a stray vertical tab in a partner's text would break the feed.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class FeedEntry:
    entry_id: UUID
    published: datetime
    notice: Notice


def render_atom(
    *,
    feed_id: UUID,
    title: str,
    feed_url: str,
    language: Language,
    entries: list[FeedEntry],
    updated: datetime | None = None,
) -> bytes:
    newest_first = sorted(entries, key=lambda entry: _aware(entry.published), reverse=True)

    feed = FeedGenerator()
    feed.id(f"urn:uuid:{feed_id}")
    feed.title(_xml_safe(title))
    feed.link(href=feed_url, rel="self", type="application/atom+xml")
    feed.language(HTML_LANGUAGE_TAGS[language])
    # Atom wants an author for every entry; one on the feed covers them all.
    feed.author({"name": FEED_AUTHOR})
    feed.updated(_feed_updated(newest_first, updated))

    for entry in newest_first:
        # feedgen prepends by default; appending keeps our newest-first order.
        item = feed.add_entry(order="append")
        item.id(f"urn:uuid:{entry.entry_id}")
        item.title(_xml_safe(notice_title(entry.notice, language)))
        item.content(_xml_safe(notice_html(entry.notice, language)), type="html")
        published = _aware(entry.published)
        # A notice never changes once written; a changed need arrives as a new notice.
        item.published(published)
        item.updated(published)
        if isinstance(entry.notice, MatchNotice) and entry.notice.answer_url:
            item.link(href=entry.notice.answer_url, rel="alternate", type="text/html")

    return feed.atom_str(pretty=True)


def _feed_updated(newest_first: list[FeedEntry], updated: datetime | None) -> datetime:
    """The later of the newest entry and `updated` (which can say, for example, that an
    entry was removed); an empty feed with no `updated` is as new as now."""
    candidates = [_aware(moment) for moment in (updated,) if moment is not None]
    if newest_first:
        candidates.append(_aware(newest_first[0].published))
    return max(candidates) if candidates else datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # feedgen refuses naive datetimes; redthread's clocks are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _xml_safe(text: str) -> str:
    return XML_FORBIDDEN.sub("", text)
