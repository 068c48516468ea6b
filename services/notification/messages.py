"""The e-mail a coach gets about a proposed match. No I/O: builds the message only."""

from __future__ import annotations

from email.message import EmailMessage
from datetime import UTC, datetime
from email.utils import format_datetime

from contracts.events import Confidentiality, MatchProposed


def subject_for(match: MatchProposed) -> str:
    return f"Ny forskning för behovet \"{match.need_title}\""[:300]


def match_email(match: MatchProposed, *, notification_id: str, sender: str, recipient: str) -> EmailMessage:
    company = match.company.name if match.company and match.confidentiality is not Confidentiality.anonymised else None
    reasons = "\n".join(f"  - {reason.explanation}" for reason in match.reasons)
    body = (
        f"Hej {match.coach.name if match.coach else ''},\n\n"
        f"redthread har hittat ett forskningsresultat som kan svara mot behovet "
        f"\"{match.need_title}\"{f' hos {company}' if company else ''}.\n\n"
        f"{match.output_title}\n{match.output_summary}\n\n"
        f"Varför vi föreslår det (träffsäkerhet {match.score:.0%}):\n{reasons}\n\n"
        f"Berätta gärna vad företaget tycker: svara med om det var användbart, inte användbart,\n"
        f"infört, eller om det väcker en ny forskningsfråga. Matchnings-id: {match.match_id}\n\n"
        f"Vänliga hälsningar\nredthread – den röda tråden mellan forskning och företag\n"
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject_for(match)
    message["Date"] = format_datetime(datetime.now(UTC))
    # A stable id: should a crash make us send twice, the mailbox sees one message.
    message["Message-ID"] = f"<{notification_id}@redthread.local>"
    message["X-Redthread-Match-Id"] = str(match.match_id)
    message.set_content(body)
    return message
