"""The notification service's words: e-mails read back as a mail client would, Atom feeds
read back as a feed reader would."""

from __future__ import annotations

import email.policy
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser

import feedparser
import pytest

from contracts.events import FeedbackVerdict, Language, MatchReason, NotUsefulReason
from contracts.notices import (
    Cadence,
    CompanyShown,
    FeedbackNotice,
    MatchNotice,
    NeedNotice,
    NeedStatus,
    OutgoingMessage,
    Recipient,
)
from services.notification.feeds import FeedEntry, render_atom
from services.notification.templates import render_email, subject_for

SENDER = "redthread <noreply@redthread.local>"
ANSWER_URL = "https://redthread.example.se/v1/answers/3f2c9a"
UNSUBSCRIBE_URL = "https://redthread.example.se/v1/unsubscribe/7d1e?token=" + "a1b2c3d4" * 8
CREATED_AT = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
ACME = CompanyShown(org_number="5560360793", name="Acme Press AB")


def a_match(**changes) -> MatchNotice:
    fields = dict(
        match_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        output_id=uuid.uuid4(),
        need_title="Långa ställtider i pressverkstaden",
        output_title="SMED i små serier",
        output_summary="En metod för att halvera ställtiden i pressar, prövad hos fyra underleverantörer.",
        score=0.834,
        reasons=[
            MatchReason(kind="shared-concepts", explanation="Båda handlar om: ställtid, omställning"),
            MatchReason(kind="strength-area", explanation="Samma styrkeområde: P2"),
        ],
        company=ACME,
        region="Småland och Öarna",
        answer_url=ANSWER_URL,
    )
    return MatchNotice(**(fields | changes))


def a_need(**changes) -> NeedNotice:
    fields = dict(
        need_id=uuid.uuid4(),
        revision=1,
        status=NeedStatus.open,
        title="Spårbarhet i svetsade detaljer",
        description="Vi vill kunna spåra varje svetsfog till operatör, parametrar och material.",
        need_type="technology",
        focus_areas=["P2", "P6"],
        keywords=["spårbarhet", "svetsning", "MES"],
        min_trl=5,
        region="Väst",
        iuc="IUC Väst",
    )
    return NeedNotice(**(fields | changes))


def a_feedback(**changes) -> FeedbackNotice:
    fields = dict(
        feedback_id=uuid.uuid4(),
        revision=1,
        match_id=uuid.uuid4(),
        output_id=uuid.uuid4(),
        output_title="SMED i små serier",
        need_title="Långa ställtider i pressverkstaden",
        company=ACME,
        verdict=FeedbackVerdict.new_question,
        comment="Metoden fungerade i pressen men inte i kantvikningen.",
        new_question="Hur kortar man ställtiden i en kantvikningspress med många verktyg?",
    )
    return FeedbackNotice(**(fields | changes))


def a_message(*notices, language: Language = Language.sv, **changes) -> OutgoingMessage:
    fields = dict(
        message_id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        recipient=Recipient(name="Karin Ödman", email="karin@example.se", language=language),
        notices=list(notices) or [a_match()],
        unsubscribe_url=UNSUBSCRIBE_URL,
        created_at=CREATED_AT,
    )
    return OutgoingMessage(**(fields | changes))


def sent(message: OutgoingMessage) -> EmailMessage:
    """The e-mail as the recipient's mail client reads it: written out and parsed again."""
    written = render_email(message, sender=SENDER).as_bytes()
    return BytesParser(policy=email.policy.default).parsebytes(written)


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()


def html_of(mail: EmailMessage) -> str:
    return mail.get_body(("html",)).get_content()


# --- headers and structure -------------------------------------------------------------------


def test_headers_identify_the_message_and_offer_one_click_unsubscribe():
    message = a_message()
    mail = sent(message)

    assert mail["From"] == SENDER
    assert mail["To"].addresses[0].display_name == "Karin Ödman"
    assert mail["To"].addresses[0].addr_spec == "karin@example.se"
    assert mail["Message-ID"] == f"<{message.message_id}@redthread.local>"
    assert mail["X-Redthread-Message-Id"] == str(message.message_id)
    assert mail["Date"].datetime == CREATED_AT
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Subject"] == 'Ny forskning för behovet "Långa ställtider i pressverkstaden"'


def test_a_resend_is_recognisably_the_same_message():
    message = a_message()
    first, again = sent(message), sent(message)
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Date"] == again["Date"]


def test_list_unsubscribe_stays_a_plain_url_when_written_for_smtp():
    # aiosmtplib writes with email.policy.SMTP; the default folding would turn a long URL
    # into RFC 2047 encoded words that no mail client reads as a URL.
    mail = render_email(a_message(), sender=SENDER)
    written = mail.as_bytes(policy=email.policy.SMTP)
    assert f"\r\nList-Unsubscribe: <{UNSUBSCRIBE_URL}>\r\n".encode() in written


def test_the_mail_has_a_plain_text_and_an_html_alternative():
    mail = sent(a_message())

    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    assert "SMED i små serier" in text_of(mail)
    assert "SMED i små serier" in html_of(mail)
    assert html_of(mail).lstrip().startswith("<!DOCTYPE html>")
    assert '<html lang="sv">' in html_of(mail)


def test_a_recipient_without_an_address_gets_no_e_mail():
    message = a_message(recipient=Recipient(name="Webhook", language=Language.sv))
    with pytest.raises(ValueError, match="no e-mail address"):
        render_email(message, sender=SENDER)


# --- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "greeting", "labels"),
    [
        (Language.sv, "Ny forskning för behovet", "Hej Karin Ödman!",
         ["Användbart", "Inte användbart", "Infört", "En ny forskningsfråga"]),
        (Language.no, "Ny forskning for behovet", "Hei Karin Ödman!",
         ["Nyttig", "Ikke nyttig", "Tatt i bruk", "Et nytt forskningsspørsmål"]),
        (Language.en, "New research for the need", "Hello Karin Ödman,",
         ["Useful", "Not useful", "Adopted", "A new research question"]),
    ],
)
def test_the_recipients_language_is_used(language, subject, greeting, labels):
    mail = sent(a_message(a_match(), language=language))

    assert mail["Subject"].startswith(subject)
    assert text_of(mail).startswith(greeting)
    for label in labels:
        assert label in text_of(mail)
        assert f">{label}</a>" in html_of(mail)


def test_the_three_languages_say_it_differently():
    notice = a_match()
    texts = {language: text_of(sent(a_message(notice, language=language))) for language in Language}
    assert len(set(texts.values())) == 3
    assert "företaget" in texts[Language.sv]
    assert "bedriften" in texts[Language.no]
    assert "company" in texts[Language.en]


# --- matches ---------------------------------------------------------------------------------


def test_a_match_shows_need_company_research_score_and_reasons():
    text = text_of(sent(a_message(a_match())))

    assert "Långa ställtider i pressverkstaden" in text
    assert "hos Acme Press AB" in text
    assert "SMED i små serier" in text
    assert "En metod för att halvera ställtiden" in text
    assert "83\u00a0%" in text
    assert "Båda handlar om: ställtid, omställning" in text
    assert "Samma styrkeområde: P2" in text
    assert "Småland och Öarna" in text


def test_interpolated_text_is_escaped_in_html():
    hostile = a_match(
        need_title='<script>alert(1)</script> "&" ställtid',
        output_title="Pressar & <b>verktyg</b>",
        company=CompanyShown(org_number="5560360793", name='Smith & "Söner" <AB>'),
        reasons=[MatchReason(kind="shared-terms", explanation="Båda: <img src=x onerror=alert(1)>")],
    )
    mail = sent(a_message(hostile))
    html = html_of(mail)

    assert "<script>" not in html and "<img" not in html and "<b>verktyg" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&amp;&quot; ställtid" in html
    assert "Pressar &amp; &lt;b&gt;verktyg&lt;/b&gt;" in html
    assert "Smith &amp; &quot;Söner&quot; &lt;AB&gt;" in html
    # The plain text shows the words as written.
    assert '<script>alert(1)</script> "&" ställtid' in text_of(mail)


def test_an_anonymised_match_names_no_company_anywhere():
    named = sent(a_message(a_match()))
    anonymous = sent(a_message(a_match(company=None)))

    assert "Acme Press AB" in text_of(named)
    for body in (text_of(anonymous), html_of(anonymous), anonymous["Subject"]):
        assert "Acme" not in body
        assert "5560360793" not in body
    assert "hos ett företag" in text_of(anonymous)
    assert "hos ett företag" in html_of(anonymous)


@pytest.mark.parametrize("language", list(Language))
def test_a_match_offers_an_answer_link_for_every_verdict(language):
    mail = sent(a_message(a_match(), language=language))

    for verdict in ("useful", "not-useful", "adopted", "new-question"):
        link = f"{ANSWER_URL}?verdict={verdict}"
        assert link in text_of(mail)
        assert f'href="{link}"' in html_of(mail)


def test_the_coach_may_forward_the_answer_links():
    assert "vidarebefordra länkarna till företaget" in text_of(sent(a_message(a_match())))


def test_without_an_answer_url_there_are_no_answer_links():
    mail = sent(a_message(a_match(answer_url=None)))
    assert "?verdict=" not in text_of(mail)
    assert "?verdict=" not in html_of(mail)
    assert "Användbart" not in text_of(mail)


# --- needs -----------------------------------------------------------------------------------


def test_a_need_shows_what_a_researcher_needs_to_judge_it():
    need = a_need(company=ACME, urgency="high")
    mail = sent(a_message(need))
    text = text_of(mail)

    assert mail["Subject"] == 'Nytt behov: "Spårbarhet i svetsade detaljer"'
    assert "Vi vill kunna spåra varje svetsfog" in text
    assert "Typ av behov: Teknik" in text
    assert "P2 Flexibla tillverkningsprocesser, P6 Integrerad produkt- och produktionsutveckling" in text
    assert "spårbarhet, svetsning, MES" in text
    assert "Lägsta TRL: 5" in text
    assert "Brådska: Hög" in text
    assert "Region: Väst" in text
    assert "IUC: IUC Väst" in text
    assert "Acme Press AB" in text
    assert "P2 Flexibla tillverkningsprocesser" in html_of(mail)


def test_an_updated_need_says_so():
    assert sent(a_message(a_need(revision=3)))["Subject"] == 'Uppdaterat behov: "Spårbarhet i svetsade detaljer"'


def test_a_long_description_is_shortened_in_a_digest_but_whole_in_a_single_message():
    description = " ".join(f"ord{number}" for number in range(600))
    need = a_need(description=description)

    single = text_of(sent(a_message(need)))
    digest = text_of(sent(a_message(need, a_match(), cadence=Cadence.daily, period="2026-11-24")))

    assert "ord599" in single
    assert "ord599" not in digest
    shortened = next(line for line in digest.splitlines() if "ord0 " in line).strip()
    assert shortened.endswith("…")
    assert 500 <= len(shortened) <= 600


@pytest.mark.parametrize(
    ("status", "language", "subject", "sentence"),
    [
        (NeedStatus.withdrawn, Language.sv, "Ett behov har dragits tillbaka", "inte längre öppet"),
        (NeedStatus.resolved, Language.sv, "Ett behov är löst", "inte längre öppet"),
        (NeedStatus.withdrawn, Language.no, "Et behov er trukket tilbake", "ikke lenger åpent"),
        (NeedStatus.resolved, Language.en, "A need has been resolved", "no longer open"),
    ],
)
def test_a_closed_need_is_a_short_notice(status, language, subject, sentence):
    closed = NeedNotice(need_id=uuid.uuid4(), revision=4, status=status, region="Väst")
    mail = sent(a_message(closed, language=language))

    assert mail["Subject"] == subject
    assert sentence in text_of(mail)
    assert str(closed.need_id) in text_of(mail)


# --- feedback --------------------------------------------------------------------------------


def test_feedback_puts_the_new_research_question_first_and_highlighted():
    feedback = a_feedback()
    mail = sent(a_message(feedback))
    text, html = text_of(mail), html_of(mail)

    assert mail["Subject"] == 'Ny forskningsfråga om "SMED i små serier"'
    assert "NY FORSKNINGSFRÅGA" in text
    assert text.index(feedback.new_question) < text.index("Omdöme: En ny forskningsfråga")
    assert text.index(feedback.new_question) < text.index(feedback.comment)
    question_at = html.index(feedback.new_question)
    assert html.rfind("border:2px solid", 0, question_at) > html.rfind("</div>", 0, question_at)
    assert "Långa ställtider i pressverkstaden" in text
    assert "Acme Press AB" in text


@pytest.mark.parametrize(
    ("verdict", "words"),
    [
        (FeedbackVerdict.useful, "Omdöme: Användbart"),
        (FeedbackVerdict.not_useful, "Omdöme: Inte användbart"),
        (FeedbackVerdict.adopted, "Omdöme: Infört"),
    ],
)
def test_feedback_without_a_question_gives_the_verdict_in_words(verdict, words):
    feedback = a_feedback(verdict=verdict, new_question=None, need_title=None, company=None)
    mail = sent(a_message(feedback))

    assert mail["Subject"] == 'Återkoppling på "SMED i små serier"'
    assert words in text_of(mail)
    assert "Ett företag har berättat" in text_of(mail)
    assert "FORSKNINGSFRÅGA" not in text_of(mail)


@pytest.mark.parametrize(
    ("language", "words"),
    [(Language.sv, "Skäl: För dyrt att prova"), (Language.no, "Grunn: For dyrt å prøve"),
     (Language.en, "Reason: Too costly to try")],
)
def test_a_not_useful_answer_tells_the_researchers_why_in_their_language(language, words):
    feedback = a_feedback(verdict=FeedbackVerdict.not_useful, reason=NotUsefulReason.too_costly, new_question=None)
    assert words in text_of(sent(a_message(feedback, language=language)))


@pytest.mark.parametrize(
    ("language", "subject", "intro"),
    [
        (Language.sv, 'Hur gick det med forskningen för "Långa ställtider i pressverkstaden"?', "För 3 månader sedan"),
        (Language.no, 'Hvordan gikk det med forskningen for "Långa ställtider i pressverkstaden"?', "For 3 måneder siden"),
        (Language.en, 'How did the research for "Långa ställtider i pressverkstaden" work out?', "3 months ago"),
    ],
)
def test_a_follow_up_asks_how_it_went_and_offers_the_answer_links_again(language, subject, intro):
    mail = sent(a_message(a_match(answer_url=ANSWER_URL), language=language, subscription_id=None, follow_up_months=3))
    text = text_of(mail)
    assert mail["Subject"] == subject
    assert text.index(intro) < text.index("SMED"), "why it is asked comes first"
    assert f"{ANSWER_URL}?verdict=adopted" in text


# --- digests ---------------------------------------------------------------------------------


def test_a_weekly_digest_counts_its_items_and_groups_them_by_kind():
    notices = [
        a_need(title="Behov ett"),
        a_match(need_title="Matchat behov"),
        NeedNotice(need_id=uuid.uuid4(), revision=2, status=NeedStatus.withdrawn),
        a_feedback(output_title="Återkopplat resultat"),
        a_need(title="Behov två"),
    ]
    mail = sent(a_message(*notices, cadence=Cadence.weekly, period="2026-W48"))
    text = text_of(mail)

    assert mail["Subject"] == "redthread: 5 nyheter, vecka 48"
    assert "under vecka 48: 5 nyheter" in text
    order = [
        text.index("NY FORSKNING FÖR BEHOV (1)"),
        text.index('Ny forskning för behovet "Matchat behov"'),
        text.index("ÅTERKOPPLING FRÅN FÖRETAG (1)"),
        text.index('Ny forskningsfråga om "Återkopplat resultat"'),
        text.index("NYA OCH UPPDATERADE BEHOV (2)"),
        text.index('Nytt behov: "Behov ett"'),
        text.index('Nytt behov: "Behov två"'),
        text.index("BEHOV SOM INTE LÄNGRE ÄR ÖPPNA (1)"),
    ]
    assert order == sorted(order)
    html = html_of(mail)
    assert html.count("<h2") == 4
    assert html.count("<h3") == 5


@pytest.mark.parametrize(
    ("language", "period", "subject"),
    [
        (Language.sv, "2026-11-24", "redthread: 2 nyheter, 24 november"),
        (Language.no, "2026-W48", "redthread: 2 nyheter, uke 48"),
        (Language.no, "2026-11-24", "redthread: 2 nyheter, 24. november"),
        (Language.en, "2026-W48", "redthread: 2 updates, week 48"),
        (Language.en, None, "redthread: 2 updates"),
    ],
)
def test_digest_subjects_name_the_period_in_the_recipients_language(language, period, subject):
    message = a_message(a_match(), a_need(), language=language, cadence=Cadence.daily, period=period)
    assert subject_for(message) == subject


def test_a_digest_of_one_is_still_a_digest():
    message = a_message(a_need(), cadence=Cadence.daily, period="2026-11-24")
    assert subject_for(message) == "redthread: 1 nyhet, 24 november"


# --- footer and subject limits ---------------------------------------------------------------


def test_every_mail_ends_with_why_it_came_and_how_to_stop_it():
    subscribed = sent(a_message(cadence=Cadence.weekly, period="2026-W48"))
    coached = sent(a_message(subscription_id=None))

    assert "prenumererar på nyheter från redthread som en veckosammanfattning" in text_of(subscribed)
    assert "du är coach för företaget" in text_of(coached)
    for mail in (subscribed, coached):
        assert text_of(mail).rstrip().endswith(UNSUBSCRIBE_URL)
        assert f'href="{UNSUBSCRIBE_URL}"' in html_of(mail)
        assert "Avsluta prenumerationen" in html_of(mail)


def test_a_subject_stays_on_one_short_line():
    title = "Ställtider\nBcc: someone@example.com " + "mycket " * 40
    subject = subject_for(a_message(a_match(need_title=title[:300])))
    assert "\n" not in subject
    assert len(subject) <= 300
    assert subject.startswith('Ny forskning för behovet "Ställtider Bcc: someone@example.com mycket')
    assert subject.endswith('…"')
    assert sent(a_message(a_match(need_title=title[:300])))["Bcc"] is None


# --- Atom feeds ------------------------------------------------------------------------------

FEED_ID = uuid.UUID("6a0d3b46-8d47-4a45-9a4e-0c1f7e2b5d10")
FEED_URL = "https://redthread.example.se/v1/feeds/6a0d3b46.atom"


def a_feed(entries: list[FeedEntry], *, language: Language = Language.sv, updated: datetime | None = None):
    atom = render_atom(
        feed_id=FEED_ID, title="Behov för P2-forskare", feed_url=FEED_URL, language=language,
        entries=entries, updated=updated,
    )
    assert isinstance(atom, bytes)
    return feedparser.parse(atom)


def test_an_atom_feed_lists_the_notices_newest_first():
    match, need, feedback = a_match(), a_need(), a_feedback()
    entries = [
        FeedEntry(uuid.uuid4(), CREATED_AT - timedelta(days=2), need),
        FeedEntry(uuid.uuid4(), CREATED_AT, match),
        FeedEntry(uuid.uuid4(), CREATED_AT - timedelta(days=1), feedback),
    ]
    feed = a_feed(entries)

    assert feed.bozo == 0
    assert feed.version == "atom10"
    assert feed.feed.id == f"urn:uuid:{FEED_ID}"
    assert feed.feed.title == "Behov för P2-forskare"
    assert {"rel": "self", "href": FEED_URL} in [{"rel": link.rel, "href": link.href} for link in feed.feed.links]
    assert feed.feed.updated_parsed[:6] == CREATED_AT.timetuple()[:6]

    assert [entry.id for entry in feed.entries] == [
        f"urn:uuid:{entries[1].entry_id}", f"urn:uuid:{entries[2].entry_id}", f"urn:uuid:{entries[0].entry_id}",
    ]
    assert [entry.title for entry in feed.entries] == [
        'Ny forskning för behovet "Långa ställtider i pressverkstaden"',
        'Ny forskningsfråga om "SMED i små serier"',
        'Nytt behov: "Spårbarhet i svetsade detaljer"',
    ]
    assert feed.entries[0].published_parsed[:6] == CREATED_AT.timetuple()[:6]
    assert feed.entries[0].updated_parsed[:6] == CREATED_AT.timetuple()[:6]


def test_feed_entries_carry_the_e_mails_wording_as_html():
    feed = a_feed([FeedEntry(uuid.uuid4(), CREATED_AT, a_match()), FeedEntry(uuid.uuid4(), CREATED_AT, a_need())])
    match_entry, need_entry = feed.entries

    assert match_entry.content[0].type == "text/html"
    assert "En metod för att halvera ställtiden" in match_entry.content[0].value
    assert f"{ANSWER_URL}?verdict=adopted" in match_entry.content[0].value
    assert "P2 Flexibla tillverkningsprocesser" in need_entry.content[0].value


def test_a_match_entry_links_to_its_answer_page_and_a_need_entry_to_nothing():
    feed = a_feed([
        FeedEntry(uuid.uuid4(), CREATED_AT, a_match()),
        FeedEntry(uuid.uuid4(), CREATED_AT - timedelta(hours=1), a_need()),
    ])
    assert [(link.rel, link.href) for link in feed.entries[0].links] == [("alternate", ANSWER_URL)]
    assert feed.entries[1].get("links", []) == []


def test_feed_titles_follow_the_feeds_language_and_escape_markup():
    need = a_need(title='Fixturer <för> "små" serier & varianter', description="Mät <för> & efter")
    feed = a_feed([FeedEntry(uuid.uuid4(), CREATED_AT, need)], language=Language.en)

    assert feed.bozo == 0
    assert feed.feed.language == "en"
    assert feed.entries[0].title == 'New need: "Fixturer <för> "små" serier & varianter"'
    assert "Mät &lt;för&gt; &amp; efter" in feed.entries[0].content[0].value


def test_an_empty_feed_is_valid():
    updated = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    feed = a_feed([], updated=updated)

    assert feed.bozo == 0
    assert feed.entries == []
    assert feed.feed.id == f"urn:uuid:{FEED_ID}"
    assert feed.feed.updated_parsed[:6] == updated.timetuple()[:6]


def test_control_characters_from_partners_do_not_break_the_feed():
    need = a_need(title="Start\x01of heading", description="Form\x0cfeed och \x1bescape i texten")
    feed = a_feed([FeedEntry(uuid.uuid4(), CREATED_AT, need)])

    assert feed.bozo == 0
    assert feed.entries[0].title == 'Nytt behov: "Startof heading"'
    assert "escape i texten" in feed.entries[0].content[0].value
