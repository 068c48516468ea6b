"""Who may read what in reporting, and what a reader sees. Pure functions.

- board: every figure, company search, every timeline and every need's matches, but
  never contact data (no e-mail addresses; who was told is hidden), and never what a
  confidential need says (the company's coach alone sees that).
- coach: the timelines and need matches of the companies in its scope (its
  organisation numbers, or the companies of its regions), contact data included; no
  figures. A coach partner without a scope sees no company.
- no reporting role: nothing.
"""

from __future__ import annotations

import re

from contracts.notices import PartnerAccessChanged

BOARD = "board"
COACH = "coach"

CONTACT_HIDDEN = "[kontaktuppgift dold]"
CONFIDENTIAL_NEED = "Gäller ett konfidentiellt behov (visas bara för företagets coach)"

# Anything around an '@' is taken for an address: e-mail, or a URL with credentials.
_ADDRESS = re.compile(r"\S*@\S*")


def canonical_org_number(org_number: str) -> str:
    """Organisation numbers as the read models keep them: digits only."""
    return re.sub(r"[\s-]", "", org_number)


def coach_covers(access: PartnerAccessChanged, org_number: str | None, region: str | None) -> bool:
    """Whether a coach partner's scope holds the company."""
    if org_number is None:
        return False
    scoped_companies = {canonical_org_number(o) for o in access.org_numbers or ()}
    return org_number in scoped_companies or (region is not None and region in (access.regions or ()))


def without_contact_data(text: str) -> str:
    return _ADDRESS.sub(CONTACT_HIDDEN, text)


def board_summary(summary: str, confidentiality: str) -> str:
    """A timeline row's summary as the board may read it."""
    if confidentiality != "public":
        return CONFIDENTIAL_NEED
    return without_contact_data(summary)
