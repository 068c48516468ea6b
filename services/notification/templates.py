"""The words redthread sends: e-mails (and, through `notice_title` and `notice_html`, the
Atom feed entries) for match, need and feedback notices, in Swedish, Norwegian bokmål and
English. No I/O: builds the message only.

Each notice is first described as a `NoticeView` (a heading and a few typed parts), and
that one view is written out twice, as plain text and as HTML, so the two parts of an
e-mail and the feed can never say different things.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from contracts.events import NOT_USEFUL_REASON_WORDS, FeedbackVerdict, Language, NeedType, NotUsefulReason, StrengthArea, Urgency
from contracts.notices import (
    Cadence,
    CompanyShown,
    FeedbackNotice,
    MatchNotice,
    NeedNotice,
    NeedStatus,
    Notice,
    OutgoingMessage,
)

SUBJECT_MAX_CHARS = 300
TITLE_IN_SUBJECT_MAX_CHARS = 120
DIGEST_DESCRIPTION_MAX_CHARS = 600
MESSAGE_ID_DOMAIN = "redthread.local"

# Produktion2030's own names; they are shown in Swedish in every language, as the
# programme itself does.
STRENGTH_AREA_NAMES: dict[StrengthArea, str] = {
    StrengthArea.P1: "Hållbar och resurseffektiv produktion",
    StrengthArea.P2: "Flexibla tillverkningsprocesser",
    StrengthArea.P3: "Virtuell produktionsutveckling och simulering",
    StrengthArea.P4: "Människan i produktionssystemet",
    StrengthArea.P5: "Produkt- och produktionstjänster",
    StrengthArea.P6: "Integrerad produkt- och produktionsutveckling",
}

# Language.no means bokmål; "nb" is the tag mail clients and screen readers know best.
HTML_LANGUAGE_TAGS: dict[Language, str] = {Language.sv: "sv", Language.no: "nb", Language.en: "en"}


# --- the wording ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """Every sentence of one language. Placeholders in braces are filled with str.format."""

    greeting: str
    signoff: str
    items_one: str
    items_many: str
    digest_subject: str
    digest_intro: str
    digest_intro_without_period: str
    week: str
    during_week: str
    on_day: str
    months: tuple[str, ...]
    day_month: str
    percent: str
    # matches
    match_title: str
    follow_up_title: str
    follow_up_intro: str  # {months}
    match_intro: str
    some_company: str
    some_company_capitalised: str
    score_label: str
    region_label: str
    reasons_label: str
    answer_label: str
    answer_prompt: str
    answer_forwarding: str
    # needs
    new_need_title: str
    updated_need_title: str
    untitled_need_title: str
    new_need_intro: str
    updated_need_intro: str
    need_type_label: str
    strength_areas_label: str
    keywords_label: str
    min_trl_label: str
    urgency_label: str
    iuc_label: str
    company_label: str
    open_until_label: str
    withdrawn_title: str
    withdrawn_named_title: str
    resolved_title: str
    resolved_named_title: str
    closed_need_body: str
    need_id_label: str
    need_types: dict[NeedType, str]
    urgencies: dict[Urgency, str]
    # feedback
    feedback_title: str
    feedback_question_title: str
    feedback_intro: str
    feedback_intro_with_need: str
    verdict_label: str
    comment_label: str
    new_question_label: str
    new_question_lead: str
    verdicts: dict[FeedbackVerdict, str]
    reason_label: str
    not_useful_reasons: dict[NotUsefulReason, str]
    # digest groups
    group_matches: str
    group_feedback: str
    group_open_needs: str
    group_closed_needs: str
    # footer
    reason_subscription: str
    reason_coach: str
    cadence_phrases: dict[Cadence, str]
    unsubscribe_prompt: str
    unsubscribe_label: str


SWEDISH = Wording(
    greeting="Hej {name}!",
    signoff="Vänliga hälsningar\nredthread – den röda tråden mellan forskning och företag",
    items_one="1 nyhet",
    items_many="{count} nyheter",
    digest_subject="redthread: {items}, {period}",
    digest_intro="Här är en sammanfattning av det som hänt i redthread {period}: {items}.",
    digest_intro_without_period="Här är en sammanfattning av det senaste i redthread: {items}.",
    week="vecka {week}",
    during_week="under vecka {week}",
    on_day="den {day}",
    months=("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
            "oktober", "november", "december"),
    day_month="{day} {month}",
    percent="{value}\u00a0%",
    match_title='Ny forskning för behovet "{need}"',
    follow_up_title='Hur gick det med forskningen för "{need}"?',
    follow_up_intro="För {months} månader sedan tipsade vi om forskningsresultatet nedan, och ingen har svarat än."
    " Ett klick räcker: det hjälper forskarna och nästa företag.",
    match_intro='Vi har hittat ett forskningsresultat som kan svara mot behovet "{need}" hos {company}.',
    some_company="ett företag",
    some_company_capitalised="Ett företag",
    score_label="Matchningsgrad",
    region_label="Region",
    reasons_label="Varför vi föreslår det",
    answer_label="Vad tyckte företaget?",
    answer_prompt=(
        "Ett klick räcker för att berätta vad resultatet var värt – "
        "det hjälper forskarna att veta vad som gör nytta:"
    ),
    answer_forwarding="Du får gärna vidarebefordra länkarna till företaget, så kan de svara själva.",
    new_need_title='Nytt behov: "{title}"',
    updated_need_title='Uppdaterat behov: "{title}"',
    untitled_need_title="Ett behov hos {company}",
    new_need_intro="{company} har beskrivit ett behov av kunskap som din forskning kanske kan svara på.",
    updated_need_intro="Behovet har uppdaterats. Så här lyder det nu.",
    need_type_label="Typ av behov",
    strength_areas_label="Styrkeområden",
    keywords_label="Nyckelord",
    min_trl_label="Lägsta TRL",
    urgency_label="Brådska",
    iuc_label="IUC",
    company_label="Företag",
    open_until_label="Gäller till",
    withdrawn_title="Ett behov har dragits tillbaka",
    withdrawn_named_title='Behovet "{title}" har dragits tillbaka',
    resolved_title="Ett behov är löst",
    resolved_named_title='Behovet "{title}" är löst',
    closed_need_body="Behovet är inte längre öppet, så redthread skickar inget mer om det.",
    need_id_label="Behovets id",
    need_types={
        NeedType.process: "Process",
        NeedType.technology: "Teknik",
        NeedType.competence: "Kompetens",
        NeedType.organisation: "Organisation",
    },
    urgencies={Urgency.low: "Låg", Urgency.medium: "Medel", Urgency.high: "Hög"},
    feedback_title='Återkoppling på "{output}"',
    feedback_question_title='Ny forskningsfråga om "{output}"',
    feedback_intro='{company} har berättat vad "{output}" var värt för dem.',
    feedback_intro_with_need='{company} har berättat vad "{output}" var värt för behovet "{need}".',
    verdict_label="Omdöme",
    comment_label="Kommentar",
    new_question_label="Ny forskningsfråga",
    new_question_lead="Företaget har en fråga som forskningen ännu inte svarar på:",
    verdicts={
        FeedbackVerdict.useful: "Användbart",
        FeedbackVerdict.not_useful: "Inte användbart",
        FeedbackVerdict.adopted: "Infört",
        FeedbackVerdict.new_question: "En ny forskningsfråga",
    },
    reason_label="Skäl",
    not_useful_reasons=NOT_USEFUL_REASON_WORDS[Language.sv],
    group_matches="Ny forskning för behov",
    group_feedback="Återkoppling från företag",
    group_open_needs="Nya och uppdaterade behov",
    group_closed_needs="Behov som inte längre är öppna",
    reason_subscription="Du får det här meddelandet eftersom du prenumererar på nyheter från redthread{cadence}.",
    reason_coach="Du får det här meddelandet eftersom du är coach för företaget i redthread.",
    cadence_phrases={
        Cadence.immediate: "",
        Cadence.daily: " som en daglig sammanfattning",
        Cadence.weekly: " som en veckosammanfattning",
    },
    unsubscribe_prompt="Vill du inte få fler sådana meddelanden? Avsluta prenumerationen här: {url}",
    unsubscribe_label="Avsluta prenumerationen",
)

NORWEGIAN = Wording(
    greeting="Hei {name}!",
    signoff="Vennlig hilsen\nredthread – den røde tråden mellom forskning og bedrifter",
    items_one="1 nyhet",
    items_many="{count} nyheter",
    digest_subject="redthread: {items}, {period}",
    digest_intro="Her er en oppsummering av det som har skjedd i redthread {period}: {items}.",
    digest_intro_without_period="Her er en oppsummering av det siste i redthread: {items}.",
    week="uke {week}",
    during_week="i uke {week}",
    on_day="den {day}",
    months=("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september",
            "oktober", "november", "desember"),
    day_month="{day}. {month}",
    percent="{value}\u00a0%",
    match_title='Ny forskning for behovet "{need}"',
    follow_up_title='Hvordan gikk det med forskningen for "{need}"?',
    follow_up_intro="For {months} måneder siden tipset vi om forskningsresultatet nedenfor, og ingen har svart ennå."
    " Ett klikk er nok: det hjelper forskerne og neste bedrift.",
    match_intro='Vi har funnet et forskningsresultat som kan svare på behovet "{need}" hos {company}.',
    some_company="en bedrift",
    some_company_capitalised="En bedrift",
    score_label="Treffsikkerhet",
    region_label="Region",
    reasons_label="Hvorfor vi foreslår det",
    answer_label="Hva syntes bedriften?",
    answer_prompt=(
        "Ett klikk er nok for å si hva resultatet var verdt – det hjelper forskerne å se hva som er til nytte:"
    ),
    answer_forwarding="Du kan gjerne videresende lenkene til bedriften, så kan de svare selv.",
    new_need_title='Nytt behov: "{title}"',
    updated_need_title='Oppdatert behov: "{title}"',
    untitled_need_title="Et behov hos {company}",
    new_need_intro="{company} har beskrevet et kunnskapsbehov som forskningen din kanskje kan svare på.",
    updated_need_intro="Behovet er oppdatert. Slik lyder det nå.",
    need_type_label="Type behov",
    strength_areas_label="Styrkeområder",
    keywords_label="Nøkkelord",
    min_trl_label="Laveste TRL",
    urgency_label="Hastegrad",
    iuc_label="IUC",
    company_label="Bedrift",
    open_until_label="Gjelder til",
    withdrawn_title="Et behov er trukket tilbake",
    withdrawn_named_title='Behovet "{title}" er trukket tilbake',
    resolved_title="Et behov er løst",
    resolved_named_title='Behovet "{title}" er løst',
    closed_need_body="Behovet er ikke lenger åpent, så redthread sender ikke mer om det.",
    need_id_label="Behovets id",
    need_types={
        NeedType.process: "Prosess",
        NeedType.technology: "Teknologi",
        NeedType.competence: "Kompetanse",
        NeedType.organisation: "Organisasjon",
    },
    urgencies={Urgency.low: "Lav", Urgency.medium: "Middels", Urgency.high: "Høy"},
    feedback_title='Tilbakemelding på "{output}"',
    feedback_question_title='Nytt forskningsspørsmål om "{output}"',
    feedback_intro='{company} har fortalt hva "{output}" var verdt for dem.',
    feedback_intro_with_need='{company} har fortalt hva "{output}" var verdt for behovet "{need}".',
    verdict_label="Vurdering",
    comment_label="Kommentar",
    new_question_label="Nytt forskningsspørsmål",
    new_question_lead="Bedriften har et spørsmål som forskningen ennå ikke svarer på:",
    verdicts={
        FeedbackVerdict.useful: "Nyttig",
        FeedbackVerdict.not_useful: "Ikke nyttig",
        FeedbackVerdict.adopted: "Tatt i bruk",
        FeedbackVerdict.new_question: "Et nytt forskningsspørsmål",
    },
    reason_label="Grunn",
    not_useful_reasons=NOT_USEFUL_REASON_WORDS[Language.no],
    group_matches="Ny forskning for behov",
    group_feedback="Tilbakemeldinger fra bedrifter",
    group_open_needs="Nye og oppdaterte behov",
    group_closed_needs="Behov som ikke lenger er åpne",
    reason_subscription="Du får denne meldingen fordi du abonnerer på nyheter fra redthread{cadence}.",
    reason_coach="Du får denne meldingen fordi du er coach for bedriften i redthread.",
    cadence_phrases={
        Cadence.immediate: "",
        Cadence.daily: " som et daglig sammendrag",
        Cadence.weekly: " som et ukentlig sammendrag",
    },
    unsubscribe_prompt="Vil du ikke få flere slike meldinger? Meld deg av her: {url}",
    unsubscribe_label="Meld deg av",
)

ENGLISH = Wording(
    greeting="Hello {name},",
    signoff="Kind regards\nredthread – the red thread between research and industry",
    items_one="1 update",
    items_many="{count} updates",
    digest_subject="redthread: {items}, {period}",
    digest_intro="Here is a summary of what happened in redthread {period}: {items}.",
    digest_intro_without_period="Here is a summary of the latest in redthread: {items}.",
    week="week {week}",
    during_week="in week {week}",
    on_day="on {day}",
    months=("January", "February", "March", "April", "May", "June", "July", "August", "September",
            "October", "November", "December"),
    day_month="{day} {month}",
    percent="{value}%",
    match_title='New research for the need "{need}"',
    follow_up_title='How did the research for "{need}" work out?',
    follow_up_intro="{months} months ago we told you about the research result below, and nobody has answered yet."
    " One click is enough: it helps the researchers and the next company.",
    match_intro='We have found a research result that may answer the need "{need}" at {company}.',
    some_company="a company",
    some_company_capitalised="A company",
    score_label="Match score",
    region_label="Region",
    reasons_label="Why we suggest it",
    answer_label="What did the company think?",
    answer_prompt=(
        "One click is enough to say what the result was worth – it tells the researchers what makes a difference:"
    ),
    answer_forwarding="Feel free to forward the links to the company so that they can answer themselves.",
    new_need_title='New need: "{title}"',
    updated_need_title='Updated need: "{title}"',
    untitled_need_title="A need at {company}",
    new_need_intro="{company} has described a need for knowledge that your research may be able to answer.",
    updated_need_intro="The need has been updated. This is how it reads now.",
    need_type_label="Type of need",
    strength_areas_label="Strength areas",
    keywords_label="Keywords",
    min_trl_label="Minimum TRL",
    urgency_label="Urgency",
    iuc_label="IUC",
    company_label="Company",
    open_until_label="Open until",
    withdrawn_title="A need has been withdrawn",
    withdrawn_named_title='The need "{title}" has been withdrawn',
    resolved_title="A need has been resolved",
    resolved_named_title='The need "{title}" has been resolved',
    closed_need_body="This need is no longer open, so redthread will not send anything more about it.",
    need_id_label="Need id",
    need_types={
        NeedType.process: "Process",
        NeedType.technology: "Technology",
        NeedType.competence: "Skills",
        NeedType.organisation: "Organisation",
    },
    urgencies={Urgency.low: "Low", Urgency.medium: "Medium", Urgency.high: "High"},
    feedback_title='Feedback on "{output}"',
    feedback_question_title='A new research question about "{output}"',
    feedback_intro='{company} has told us what "{output}" was worth to them.',
    feedback_intro_with_need='{company} has told us what "{output}" was worth for the need "{need}".',
    verdict_label="Verdict",
    comment_label="Comment",
    new_question_label="New research question",
    new_question_lead="The company has a question that research does not answer yet:",
    verdicts={
        FeedbackVerdict.useful: "Useful",
        FeedbackVerdict.not_useful: "Not useful",
        FeedbackVerdict.adopted: "Adopted",
        FeedbackVerdict.new_question: "A new research question",
    },
    reason_label="Reason",
    not_useful_reasons=NOT_USEFUL_REASON_WORDS[Language.en],
    group_matches="New research for needs",
    group_feedback="Feedback from companies",
    group_open_needs="New and updated needs",
    group_closed_needs="Needs that are no longer open",
    reason_subscription="You receive this message because you subscribed to updates from redthread{cadence}.",
    reason_coach="You receive this message because you are the company's coach in redthread.",
    cadence_phrases={
        Cadence.immediate: "",
        Cadence.daily: " as a daily digest",
        Cadence.weekly: " as a weekly digest",
    },
    unsubscribe_prompt="Don't want messages like this any more? Unsubscribe here: {url}",
    unsubscribe_label="Unsubscribe",
)

WORDING: dict[Language, Wording] = {Language.sv: SWEDISH, Language.no: NORWEGIAN, Language.en: ENGLISH}

# The order of the answer links, the same in every language and in every message.
ANSWER_VERDICTS: tuple[FeedbackVerdict, ...] = (
    FeedbackVerdict.useful,
    FeedbackVerdict.not_useful,
    FeedbackVerdict.adopted,
    FeedbackVerdict.new_question,
)


# --- a notice as a view: what it says, before it becomes text or HTML ----------------------


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Facts:
    """Label–value rows, such as a need's type and strength areas."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Bullets:
    label: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Excerpt:
    """Quoted content from a partner: a research summary, a need's description, a comment."""

    title: str | None
    text: str


@dataclass(frozen=True)
class Highlight:
    """What the reader must not miss: a company's new research question."""

    label: str
    lead: str
    text: str


@dataclass(frozen=True)
class Links:
    label: str
    prompt: str
    links: tuple[tuple[str, str], ...]
    note: str


Part = Paragraph | Facts | Bullets | Excerpt | Highlight | Links


@dataclass(frozen=True)
class NoticeView:
    heading: str
    parts: tuple[Part, ...]


def notice_view(notice: Notice, language: Language, *, in_digest: bool = False) -> NoticeView:
    wording = WORDING[language]
    if isinstance(notice, MatchNotice):
        return _match_view(notice, wording, language)
    if isinstance(notice, NeedNotice):
        return _need_view(notice, wording, in_digest=in_digest)
    return _feedback_view(notice, wording)


def notice_title(notice: Notice, language: Language) -> str:
    """The one-line title of a notice: the subject of a single e-mail, an Atom entry's title."""
    wording = WORDING[language]
    if isinstance(notice, MatchNotice):
        return wording.match_title.format(need=_shortened_title(notice.need_title))
    if isinstance(notice, NeedNotice):
        return _need_title(notice, wording)
    return _feedback_title(notice, wording)


def notice_html(notice: Notice, language: Language) -> str:
    """A notice as an HTML fragment without its heading (a feed entry shows the title apart)."""
    return "\n".join(_part_html(part) for part in notice_view(notice, language).parts)


def notice_text(notice: Notice, language: Language) -> str:
    """A notice as plain text without its heading."""
    return "\n\n".join(_part_text(part) for part in notice_view(notice, language).parts)


def answer_links(answer_url: str, language: Language) -> tuple[tuple[str, str], ...]:
    """(label, url) for each verdict a coach or company can give with one click."""
    verdicts = WORDING[language].verdicts
    return tuple((verdicts[verdict], f"{answer_url}?verdict={verdict.value}") for verdict in ANSWER_VERDICTS)


def _match_view(notice: MatchNotice, wording: Wording, language: Language) -> NoticeView:
    company = notice.company.name if notice.company else wording.some_company
    facts = [(wording.score_label, _percent(notice.score, wording))]
    if notice.region:
        facts.append((wording.region_label, notice.region))
    parts: list[Part] = [
        Paragraph(wording.match_intro.format(need=notice.need_title, company=company)),
        Excerpt(notice.output_title, notice.output_summary),
        Facts(tuple(facts)),
    ]
    if notice.reasons:
        # The matcher writes its explanations in Swedish; they are shown as given.
        parts.append(Bullets(wording.reasons_label, tuple(reason.explanation for reason in notice.reasons)))
    if notice.answer_url:
        parts.append(
            Links(
                wording.answer_label,
                wording.answer_prompt,
                answer_links(notice.answer_url, language),
                wording.answer_forwarding,
            )
        )
    return NoticeView(notice_title(notice, language), tuple(parts))


def _need_title(notice: NeedNotice, wording: Wording) -> str:
    title = _shortened_title(notice.title) if notice.title else None
    if notice.status is NeedStatus.withdrawn:
        return wording.withdrawn_named_title.format(title=title) if title else wording.withdrawn_title
    if notice.status is NeedStatus.resolved:
        return wording.resolved_named_title.format(title=title) if title else wording.resolved_title
    if title is None:
        return wording.untitled_need_title.format(company=_company_name(notice.company, wording))
    template = wording.new_need_title if notice.revision == 1 else wording.updated_need_title
    return template.format(title=title)


def _need_view(notice: NeedNotice, wording: Wording, *, in_digest: bool) -> NoticeView:
    heading = _need_title(notice, wording)
    if notice.status is not NeedStatus.open:
        rows = [(wording.need_id_label, str(notice.need_id))]
        rows += _place_rows(notice, wording)
        return NoticeView(heading, (Paragraph(wording.closed_need_body), Facts(tuple(rows))))

    if notice.revision == 1:
        intro = wording.new_need_intro.format(company=_company_name(notice.company, wording, capitalised=True))
    else:
        intro = wording.updated_need_intro
    parts: list[Part] = [Paragraph(intro)]
    if notice.description:
        # A digest holds many needs; a long description there would bury the others.
        description = _shortened(notice.description, DIGEST_DESCRIPTION_MAX_CHARS) if in_digest else notice.description
        parts.append(Excerpt(None, description))

    rows: list[tuple[str, str]] = []
    if notice.need_type:
        rows.append((wording.need_type_label, wording.need_types[notice.need_type]))
    if notice.focus_areas:
        areas = ", ".join(f"{area.value} {STRENGTH_AREA_NAMES[area]}" for area in notice.focus_areas)
        rows.append((wording.strength_areas_label, areas))
    if notice.keywords:
        rows.append((wording.keywords_label, ", ".join(notice.keywords)))
    if notice.min_trl is not None:
        rows.append((wording.min_trl_label, str(notice.min_trl)))
    if notice.urgency:
        rows.append((wording.urgency_label, wording.urgencies[notice.urgency]))
    rows += _place_rows(notice, wording)
    if notice.expires_on:
        rows.append((wording.open_until_label, notice.expires_on.isoformat()))
    if rows:
        parts.append(Facts(tuple(rows)))
    return NoticeView(heading, tuple(parts))


def _place_rows(notice: NeedNotice, wording: Wording) -> list[tuple[str, str]]:
    rows = []
    if notice.company:
        rows.append((wording.company_label, f"{notice.company.name} ({notice.company.org_number})"))
    if notice.region:
        rows.append((wording.region_label, notice.region))
    if notice.iuc:
        rows.append((wording.iuc_label, notice.iuc))
    return rows


def _raises_question(notice: FeedbackNotice) -> bool:
    return bool(notice.new_question) or notice.verdict is FeedbackVerdict.new_question


def _feedback_view(notice: FeedbackNotice, wording: Wording) -> NoticeView:
    company = _company_name(notice.company, wording, capitalised=True)
    if notice.need_title:
        intro = wording.feedback_intro_with_need.format(
            company=company, output=notice.output_title, need=notice.need_title
        )
    else:
        intro = wording.feedback_intro.format(company=company, output=notice.output_title)
    parts: list[Part] = [Paragraph(intro)]
    # The new question comes first: for a researcher it is the reason to read on.
    if notice.new_question:
        parts.append(Highlight(wording.new_question_label, wording.new_question_lead, notice.new_question))
    # The company is already named in the first sentence.
    rows = [(wording.verdict_label, wording.verdicts[notice.verdict])]
    if notice.reason:
        rows.append((wording.reason_label, wording.not_useful_reasons[notice.reason]))
    if notice.region:
        rows.append((wording.region_label, notice.region))
    parts.append(Facts(tuple(rows)))
    if notice.comment:
        parts.append(Excerpt(wording.comment_label, notice.comment))
    return NoticeView(_feedback_title(notice, wording), tuple(parts))


def _feedback_title(notice: FeedbackNotice, wording: Wording) -> str:
    template = wording.feedback_question_title if _raises_question(notice) else wording.feedback_title
    return template.format(output=_shortened_title(notice.output_title))


def _company_name(company: CompanyShown | None, wording: Wording, *, capitalised: bool = False) -> str:
    if company:
        return company.name
    return wording.some_company_capitalised if capitalised else wording.some_company


def _percent(score: float, wording: Wording) -> str:
    return wording.percent.format(value=round(score * 100))


def _shortened(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = cut.rfind(" ")
    if boundary > limit // 2:
        cut = cut[:boundary]
    return cut.rstrip(" ,.;:–-") + "…"


def _shortened_title(title: str) -> str:
    # A title is on one line in a subject or a feed title, and short enough to read there.
    return _shortened(_one_line(title), TITLE_IN_SUBJECT_MAX_CHARS)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- digests -------------------------------------------------------------------------------


def _is_digest(message: OutgoingMessage) -> bool:
    return message.cadence is not Cadence.immediate or len(message.notices) > 1


def _items(count: int, wording: Wording) -> str:
    return wording.items_one if count == 1 else wording.items_many.format(count=count)


def _period_phrases(period: str | None, wording: Wording) -> tuple[str, str] | None:
    """The period of a digest for a subject ("vecka 48") and for a sentence ("under vecka 48")."""
    if not period:
        return None
    week = re.fullmatch(r"\d{4}-W(\d{2})", period)
    if week:
        number = int(week.group(1))
        return wording.week.format(week=number), wording.during_week.format(week=number)
    try:
        day = date.fromisoformat(period)
    except ValueError:
        # A period we cannot read is still better shown than hidden.
        return period, period
    spoken = wording.day_month.format(day=day.day, month=wording.months[day.month - 1])
    return spoken, wording.on_day.format(day=spoken)


@dataclass(frozen=True)
class DigestGroup:
    heading: str
    notices: tuple[Notice, ...]


def digest_groups(notices: list[Notice], language: Language) -> list[DigestGroup]:
    """Notices grouped by kind: research for needs first (a coach acts on it), then what
    companies said (a researcher acts on it), then needs, the open ones before the closed."""
    wording = WORDING[language]
    groups = (
        (wording.group_matches, lambda n: isinstance(n, MatchNotice)),
        (wording.group_feedback, lambda n: isinstance(n, FeedbackNotice)),
        (wording.group_open_needs, lambda n: isinstance(n, NeedNotice) and n.status is NeedStatus.open),
        (wording.group_closed_needs, lambda n: isinstance(n, NeedNotice) and n.status is not NeedStatus.open),
    )
    found = [DigestGroup(heading, tuple(n for n in notices if belongs(n))) for heading, belongs in groups]
    return [group for group in found if group.notices]


# --- subject and e-mail --------------------------------------------------------------------


def subject_for(message: OutgoingMessage) -> str:
    wording = WORDING[message.recipient.language]
    if _is_digest(message):
        items = _items(len(message.notices), wording)
        period = _period_phrases(message.period, wording)
        subject = wording.digest_subject.format(items=items, period=period[0]) if period else f"redthread: {items}"
    elif message.follow_up_months is not None:
        subject = _follow_up_title(message, wording)
    else:
        subject = notice_title(message.notices[0], message.recipient.language)
    # A header must stay on one line: a line break in it would be refused or, worse, read as a new header.
    return _shortened(_one_line(subject), SUBJECT_MAX_CHARS)


class OneLineHeader(UnstructuredHeader):
    """A header written as given, never folded or encoded.

    The standard policy turns any word longer than a line into RFC 2047 encoded words,
    so `List-Unsubscribe: <https://…>` with a URL of more than about 60 characters left as
    `=?utf-8?q?=3Chttps=3A//…?=`, which no mail client reads as a URL. The header object
    folds itself, so this holds whatever policy the mail is finally written with
    (aiosmtplib writes with `email.policy.SMTP`, not the message's own policy)."""

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _mail_policy() -> EmailPolicy:
    headers = HeaderRegistry()
    headers.map_to_type("list-unsubscribe", OneLineHeader)
    return default_policy.clone(header_factory=headers)


MAIL_POLICY = _mail_policy()


def _ascii_url(url: str) -> str:
    # A header line must be ASCII; the contract's URL pattern lets through e.g. "ö".
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def render_email(message: OutgoingMessage, *, sender: str) -> EmailMessage:
    recipient = message.recipient
    if recipient.email is None:
        raise ValueError(f"message {message.message_id}: the recipient has no e-mail address")
    language = recipient.language
    wording = WORDING[language]
    subject = subject_for(message)

    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = sender
    email["To"] = formataddr((_one_line(recipient.name), recipient.email))
    email["Subject"] = subject
    # The message's own time and id, not the time of sending: a resend after a crash is
    # then recognisably the same message, and mail clients thread it as one.
    email["Date"] = format_datetime(_aware(message.created_at))
    email["Message-ID"] = f"<{message.message_id}@{MESSAGE_ID_DOMAIN}>"
    email["X-Redthread-Message-Id"] = str(message.message_id)
    email["Content-Language"] = HTML_LANGUAGE_TAGS[language]
    # RFC 8058: mail clients show an unsubscribe button that POSTs to the URL, no login.
    email["List-Unsubscribe"] = f"<{_ascii_url(message.unsubscribe_url)}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    sections = _sections(message)
    email.set_content(_text_body(message, wording, sections), charset="utf-8")
    email.add_alternative(_html_body(message, wording, subject, sections), subtype="html", charset="utf-8")
    return email


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Section:
    """A group of a digest (heading set) or the single notice of a message (heading None)."""

    heading: str | None
    views: tuple[NoticeView, ...]


def _sections(message: OutgoingMessage) -> list[Section]:
    language = message.recipient.language
    if message.follow_up_months is not None:
        return [Section(None, (_follow_up_view(message, language),))]
    if not _is_digest(message):
        return [Section(None, (notice_view(message.notices[0], language),))]
    return [
        Section(
            f"{group.heading} ({len(group.notices)})",
            tuple(notice_view(notice, language, in_digest=True) for notice in group.notices),
        )
        for group in digest_groups(message.notices, language)
    ]


def _follow_up_view(message: OutgoingMessage, language: Language) -> NoticeView:
    """The match told again, asked about: its title a question, the why first."""
    wording = WORDING[language]
    match = notice_view(message.notices[0], language)
    return NoticeView(
        _follow_up_title(message, wording),
        (Paragraph(wording.follow_up_intro.format(months=message.follow_up_months)), *match.parts),
    )


def _follow_up_title(message: OutgoingMessage, wording: Wording) -> str:
    notice = message.notices[0]
    return wording.follow_up_title.format(need=getattr(notice, "need_title", "") or "")


def _digest_intro(message: OutgoingMessage, wording: Wording) -> str:
    items = _items(len(message.notices), wording)
    period = _period_phrases(message.period, wording)
    if period:
        return wording.digest_intro.format(period=period[1], items=items)
    return wording.digest_intro_without_period.format(items=items)


def _footer_reason(message: OutgoingMessage, wording: Wording) -> str:
    if message.subscription_id is None:
        return wording.reason_coach
    return wording.reason_subscription.format(cadence=wording.cadence_phrases[message.cadence])


# --- plain text ----------------------------------------------------------------------------


def _text_body(message: OutgoingMessage, wording: Wording, sections: list[Section]) -> str:
    lines = [wording.greeting.format(name=message.recipient.name), ""]
    if _is_digest(message):
        lines += [_digest_intro(message, wording), ""]
    for section in sections:
        if section.heading:
            lines += ["", section.heading.upper(), "=" * len(section.heading), ""]
        for view in section.views:
            lines += [view.heading, "-" * min(len(view.heading), 72), ""]
            lines += ["\n\n".join(_part_text(part) for part in view.parts), "", ""]
    lines += [wording.signoff, "", "-- ", _footer_reason(message, wording)]
    lines.append(wording.unsubscribe_prompt.format(url=message.unsubscribe_url))
    return "\n".join(lines) + "\n"


def _part_text(part: Part) -> str:
    if isinstance(part, Paragraph):
        return part.text
    if isinstance(part, Facts):
        return "\n".join(f"{label}: {value}" for label, value in part.rows)
    if isinstance(part, Bullets):
        return f"{part.label}:\n" + "\n".join(f"  - {item}" for item in part.items)
    if isinstance(part, Excerpt):
        body = _indented(part.text)
        return f"  {part.title}\n{body}" if part.title else body
    if isinstance(part, Highlight):
        # Plain text has no colour; a framed block stands out in any mail client.
        frame = "*" * 60
        return f"{frame}\n{part.label.upper()}\n{part.lead}\n\n{part.text}\n{frame}"
    links = "\n".join(f"  {label}:\n    {url}" for label, url in part.links)
    return f"{part.label}\n{part.prompt}\n{links}\n{part.note}"


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


# --- HTML ----------------------------------------------------------------------------------

# Inline styles only: many mail clients drop <style> blocks and never load external CSS.
RED = "#b3261e"
FONT = "font-family:Arial,Helvetica,sans-serif;"
STYLE_PAGE = "margin:0;padding:0;background-color:#f3f1ee;"
STYLE_CARD = (
    f"max-width:640px;margin:0 auto;padding:24px 28px;background-color:#ffffff;{FONT}"
    "font-size:16px;line-height:1.5;color:#222222;border-top:4px solid " + RED + ";"
)
STYLE_P = "margin:0 0 14px 0;"
STYLE_H1 = f"margin:8px 0 16px 0;font-size:22px;line-height:1.3;color:{RED};"
STYLE_H2 = f"margin:28px 0 12px 0;padding-bottom:4px;font-size:19px;color:{RED};border-bottom:1px solid #e4dcd6;"
STYLE_H3 = "margin:20px 0 10px 0;font-size:17px;line-height:1.3;color:#222222;"
STYLE_EXCERPT = "margin:0 0 14px 0;padding:10px 14px;border-left:3px solid #d9cfc8;background-color:#faf8f6;"
STYLE_HIGHLIGHT = f"margin:0 0 16px 0;padding:14px 16px;border:2px solid {RED};background-color:#fdf1ef;"
STYLE_TABLE = "border-collapse:collapse;margin:0 0 14px 0;font-size:15px;"
STYLE_LABEL = "padding:2px 16px 2px 0;vertical-align:top;color:#666666;white-space:nowrap;"
STYLE_VALUE = "padding:2px 0;vertical-align:top;"
STYLE_BUTTON = (
    f"display:inline-block;margin:0 8px 8px 0;padding:8px 14px;border:1px solid {RED};"
    f"border-radius:4px;color:{RED};text-decoration:none;font-weight:bold;"
)
STYLE_FOOTER = "margin:24px 0 0 0;padding-top:12px;border-top:1px solid #e4dcd6;font-size:13px;color:#666666;"


def _escaped(text: str) -> str:
    """Escaped for HTML, line breaks kept as <br>."""
    return "<br>\n".join(html.escape(line) for line in text.splitlines()) if text else ""


def _html_body(message: OutgoingMessage, wording: Wording, subject: str, sections: list[Section]) -> str:
    body = [f'<p style="{STYLE_P}">{_escaped(wording.greeting.format(name=message.recipient.name))}</p>']
    if _is_digest(message):
        body.append(f'<p style="{STYLE_P}">{_escaped(_digest_intro(message, wording))}</p>')
    for section in sections:
        if section.heading:
            body.append(f'<h2 style="{STYLE_H2}">{_escaped(section.heading)}</h2>')
        heading_tag, heading_style = ("h3", STYLE_H3) if section.heading else ("h1", STYLE_H1)
        for view in section.views:
            body.append(f'<{heading_tag} style="{heading_style}">{_escaped(view.heading)}</{heading_tag}>')
            body += [_part_html(part) for part in view.parts]
    body.append(f'<p style="{STYLE_P}margin-top:24px;">{_escaped(wording.signoff)}</p>')
    unsubscribe = html.escape(message.unsubscribe_url, quote=True)
    body.append(
        f'<p style="{STYLE_FOOTER}">{_escaped(_footer_reason(message, wording))}<br>\n'
        f'<a href="{unsubscribe}" style="color:#666666;">{_escaped(wording.unsubscribe_label)}</a></p>'
    )
    language_tag = HTML_LANGUAGE_TAGS[message.recipient.language]
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{language_tag}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_escaped(subject)}</title>\n</head>\n"
        f'<body style="{STYLE_PAGE}">\n<div style="{STYLE_CARD}">\n' + "\n".join(body) + "\n</div>\n</body>\n</html>\n"
    )


def _part_html(part: Part) -> str:
    if isinstance(part, Paragraph):
        return f'<p style="{STYLE_P}">{_escaped(part.text)}</p>'
    if isinstance(part, Facts):
        rows = "".join(
            f'<tr><td style="{STYLE_LABEL}">{_escaped(label)}</td><td style="{STYLE_VALUE}">{_escaped(value)}</td></tr>'
            for label, value in part.rows
        )
        return f'<table role="presentation" style="{STYLE_TABLE}">{rows}</table>'
    if isinstance(part, Bullets):
        items = "".join(f'<li style="margin:0 0 4px 0;">{_escaped(item)}</li>' for item in part.items)
        return (
            f'<p style="{STYLE_P}margin-bottom:6px;"><strong>{_escaped(part.label)}</strong></p>'
            f'<ul style="margin:0 0 14px 0;padding-left:22px;">{items}</ul>'
        )
    if isinstance(part, Excerpt):
        title = f'<strong>{_escaped(part.title)}</strong><br>\n' if part.title else ""
        return f'<div style="{STYLE_EXCERPT}">{title}{_escaped(part.text)}</div>'
    if isinstance(part, Highlight):
        return (
            f'<div style="{STYLE_HIGHLIGHT}">'
            f'<p style="margin:0 0 6px 0;font-size:13px;font-weight:bold;letter-spacing:0.05em;'
            f'text-transform:uppercase;color:{RED};">{_escaped(part.label)}</p>'
            f'<p style="margin:0 0 8px 0;">{_escaped(part.lead)}</p>'
            f'<p style="margin:0;font-size:18px;font-weight:bold;">{_escaped(part.text)}</p></div>'
        )
    buttons = "".join(
        f'<a href="{html.escape(url, quote=True)}" style="{STYLE_BUTTON}">{_escaped(label)}</a>'
        for label, url in part.links
    )
    return (
        f'<p style="{STYLE_P}margin-bottom:6px;"><strong>{_escaped(part.label)}</strong><br>\n'
        f"{_escaped(part.prompt)}</p>"
        f'<p style="margin:0 0 6px 0;">{buttons}</p>'
        f'<p style="{STYLE_P}font-size:14px;color:#555555;">{_escaped(part.note)}</p>'
    )
