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

FIELDS = ("name", "county", "municipality", "region", "iuc")


@dataclass
class Registered:
    company: CompanyRef
    sources: dict[str, dict[str, str]] = field(default_factory=dict)


async def registered_companies(conn: asyncpg.Connection, org_numbers: set[str]) -> dict[str, Registered]:
    """The registered companies among `org_numbers`, locked for this transaction in one
    order for all, so that two batches describing the same company take turns."""
    rows = await conn.fetch(
        "SELECT org_number, country, name, county, municipality, region, iuc, sources FROM companies"
        " WHERE org_number = ANY($1::text[]) ORDER BY org_number FOR UPDATE",
        sorted(org_numbers),
    )
    return {
        r["org_number"]: Registered(
            CompanyRef(country=r["country"], org_number=r["org_number"], name=r["name"], county=r["county"],
                       municipality=r["municipality"], region=r["region"], iuc=r["iuc"]),
            json.loads(r["sources"]),
        )
        for r in rows
    }


def as_registered(described: CompanyRef, registered: Registered | None) -> CompanyRef:
    """The company as an event describes it, with what it leaves out taken from the registry."""
    if registered is None:
        return described
    kept = {f: getattr(registered.company, f) for f in FIELDS if getattr(described, f) is None}
    return described.model_copy(update=kept) if kept else described


def registration(partner_id: str, company: CompanyRef, registered: Registered | None) -> Registered | None:
    """The registry entry after `partner_id`'s accepted description, or None when it
    changes nothing."""
    changed = [f for f in FIELDS if registered is None or getattr(company, f) != getattr(registered.company, f)]
    if not changed:
        return None
    stamp = {"partner": partner_id, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    sources = dict(registered.sources) if registered else {}
    sources.update({f: stamp for f in changed if getattr(company, f) is not None})
    return Registered(company, sources)


async def save_registrations(conn: asyncpg.Connection, changed: dict[str, Registered]) -> None:
    if not changed:
        return
    await conn.executemany(
        "INSERT INTO companies (org_number, country, name, county, municipality, region, iuc, sources)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (org_number) DO UPDATE SET country = $2, name = $3,"
        " county = $4, municipality = $5, region = $6, iuc = $7, sources = $8::jsonb, updated_at = now()",
        [
            (org, r.company.country.value, r.company.name, r.company.county, r.company.municipality, r.company.region,
             r.company.iuc, json.dumps(r.sources))
            for org, r in changed.items()
        ],
    )
