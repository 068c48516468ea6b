"""Who describes a company. Its master data — name, county, municipality, and the region
and IUC intake derives from them — is kept once per organisation number, with the
partner each field came from. The rule, since many partners describe the same company:

- The first accepted description registers the company.
- A partner's scope is judged on the company as registered, not as an event describes
  it: a partner scoped to one region cannot reach another region's company by writing
  that it lies in its own region.
- Moving a company to another region therefore takes a scope that covers both regions
  (partners without a regional scope cover every region).
- A field an event leaves out keeps its registered value, and the canonical event
  carries it: a partner may name a known company by its number and name alone.
- A field an event gives differently replaces the registered one, and the registry
  records which partner gave it and when (`sources`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from contracts.events import CompanyRef
from services.common.consumer import TransientError

FIELDS = ("name", "county", "municipality", "region", "iuc")


@dataclass
class Registered:
    company: CompanyRef
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    revision: int = 0  # as read; 0 when not registered yet


async def registered_companies(conn: asyncpg.Connection, org_numbers: set[str]) -> dict[str, Registered]:
    """The registered companies among `org_numbers`, read without a lock: a company recurs
    in many batches, which would otherwise wait for each other; a change saved meanwhile
    by another batch is found when this one saves (save_registrations)."""
    rows = await conn.fetch(
        "SELECT org_number, country, name, county, municipality, region, iuc, sources, revision FROM companies"
        " WHERE org_number = ANY($1::text[])",
        list(org_numbers),
    )
    return {
        r["org_number"]: Registered(
            CompanyRef(country=r["country"], org_number=r["org_number"], name=r["name"], county=r["county"],
                       municipality=r["municipality"], region=r["region"], iuc=r["iuc"]),
            json.loads(r["sources"]),
            r["revision"],
        )
        for r in rows
    }


def as_registered(described: CompanyRef, registered: Registered | None) -> CompanyRef:
    """The company as an event describes it, with what it leaves out taken from the
    registry; `described` itself when the registry adds nothing (the common case: no copy)."""
    if registered is None:
        return described
    kept = {
        f: value for f in FIELDS if getattr(described, f) is None and (value := getattr(registered.company, f)) is not None
    }
    return described.model_copy(update=kept) if kept else described


class CompanyBook:
    """The registry as one batch sees it: what was read, and the accepted descriptions
    applied in the batch's order, each field stamped with the partner that gave it."""

    def __init__(self, registered: dict[str, Registered]) -> None:
        self.registered = registered
        self.changed: dict[str, Registered] = {}
        self._stamps: dict[str, dict[str, str]] = {}  # one per partner and batch

    def described(self, partner_id: str, company: CompanyRef) -> None:
        entry = self.registered.get(company.org_number)
        if entry is None:
            entry = self.registered[company.org_number] = Registered(company)
            fields: tuple[str, ...] | list[str] = FIELDS
        else:
            fields = [f for f in FIELDS if getattr(company, f) != getattr(entry.company, f)]
            if not fields:
                return
            entry.company = company
        stamp = self._stamps.get(partner_id)
        if stamp is None:
            stamp = self._stamps[partner_id] = {"partner": partner_id, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        for f in fields:
            if getattr(company, f) is not None:
                entry.sources[f] = stamp
        self.changed[company.org_number] = entry


async def save_registrations(conn: asyncpg.Connection, changed: dict[str, Registered]) -> None:
    """Saves each change on top of what it was decided on. Raises TransientError when
    another batch moved (or registered elsewhere) one of these companies meanwhile, or
    this batch moves one that another batch changed meanwhile: the batch is then decided
    again, on what that one saved. Scope is judged on the region, so only the region
    needs this care; for the other fields the last description wins."""
    if not changed:
        return
    rows = [
        (org, r.company.country.value, r.company.name, r.company.county, r.company.municipality, r.company.region,
         r.company.iuc, json.dumps(r.sources), r.revision + 1)
        for org, r in changed.items()
    ]
    saved = await conn.fetch(
        "INSERT INTO companies AS c (org_number, country, name, county, municipality, region, iuc, sources, revision)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
        " $8::jsonb[], $9::int[])"
        " ON CONFLICT (org_number) DO UPDATE SET country = EXCLUDED.country, name = EXCLUDED.name,"
        " county = EXCLUDED.county, municipality = EXCLUDED.municipality, region = EXCLUDED.region, iuc = EXCLUDED.iuc,"
        " sources = EXCLUDED.sources, revision = c.revision + 1, updated_at = now()"
        # Saved when nothing changed meanwhile, or when the company stays in the region this
        # batch found it in (a name or an address line: the last description wins). A region
        # changed meanwhile, by either side, sends the batch back to be decided again.
        " WHERE c.revision = EXCLUDED.revision - 1 OR c.region IS NOT DISTINCT FROM EXCLUDED.region"
        " RETURNING org_number",
        *map(list, zip(*rows)),
    )
    if len(saved) != len(rows):
        missed = sorted(set(changed) - {r["org_number"] for r in saved})
        raise TransientError(f"companies {', '.join(missed)} were described by another transaction meanwhile")
