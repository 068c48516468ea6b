#!/usr/bin/env python3
"""Validate outputs.jsonl and needs.jsonl in this folder.

Checks: every line parses as a JSON object, required fields exist with sane
types/enums, ids are unique UUID4s (also across the two files), titles are at
most 300 characters, and company org numbers are checksum-valid (Swedish:
NNNNNN-NNNN, Luhn, starting 55/56; Norwegian: 9 digits, mod-11).
Exit code 0 when everything passes, 1 otherwise.
"""
import datetime
import json
import os
import re
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
LANGS = {"sv", "en", "no"}
AREAS = {"P1", "P2", "P3", "P4", "P5", "P6"}
OUTPUT_TYPES = {"report", "method", "tool", "demonstrator", "course", "dataset"}
NEED_TYPES = {"process", "technology", "competence", "organisation"}
URGENCY = {"low", "medium", "high"}
CONFIDENTIALITY = {"public", "anonymised", "coach-only"}

errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == 0:  # weights 2,1,2,1,... from the left over 10 digits
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def se_orgnr_ok(s):
    if not isinstance(s, str) or not re.fullmatch(r"5[56]\d{4}-\d{4}", s):
        return False
    return luhn_ok(s.replace("-", ""))


def no_orgnr_ok(s):
    if not isinstance(s, str) or not re.fullmatch(r"\d{9}", s):
        return False
    w = [3, 2, 7, 6, 5, 4, 3, 2]
    r = 11 - sum(int(a) * b for a, b in zip(s[:8], w)) % 11
    if r == 11:
        r = 0
    return r != 10 and r == int(s[8])


def uuid4_ok(s):
    try:
        u = uuid.UUID(s)
    except (ValueError, TypeError, AttributeError):
        return False
    return u.version == 4 and str(u) == s


def str_list(v, item_ok=lambda x: True):
    return isinstance(v, list) and all(isinstance(x, str) and item_ok(x) for x in v)


def email_ok(e, domains):
    return isinstance(e, str) and re.fullmatch(r"[^@\s]+@([A-Za-z0-9.-]+)", e) is not None \
        and e.rsplit("@", 1)[1] in domains


def load(name):
    rows = []
    path = os.path.join(HERE, name)
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                err(f"{name}:{no}", "blank line")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                err(f"{name}:{no}", f"does not parse: {e}")
                continue
            if not isinstance(obj, dict):
                err(f"{name}:{no}", "not a JSON object")
                continue
            rows.append((no, obj))
    return rows


def check_required(where, obj, fields):
    ok = True
    for k in fields:
        if k not in obj:
            err(where, f"missing field {k}")
            ok = False
    return ok


OUTPUT_FIELDS = ["output_id", "project", "output_type", "title", "summary", "language", "trl",
                 "focus_areas", "keywords", "contact_researchers", "access_terms", "links", "published_at"]
NEED_FIELDS = ["need_id", "company", "coach", "title", "description", "language", "need_type",
               "focus_areas", "keywords", "min_trl", "urgency", "confidentiality"]


def check_outputs(rows, seen):
    for no, o in rows:
        w = f"outputs.jsonl:{no}"
        if not check_required(w, o, OUTPUT_FIELDS):
            continue
        if not uuid4_ok(o["output_id"]):
            err(w, "output_id is not a UUID4")
        elif o["output_id"] in seen:
            err(w, f"duplicate id {o['output_id']}")
        seen.add(o["output_id"])
        for k in ("project", "title", "summary"):
            if not isinstance(o[k], str) or not o[k].strip():
                err(w, f"{k} must be a non-empty string")
        if isinstance(o["title"], str) and len(o["title"]) > 300:
            err(w, f"title longer than 300 chars ({len(o['title'])})")
        if isinstance(o["summary"], str):
            wc = len(o["summary"].split())
            if not 60 <= wc <= 120:
                err(w, f"summary has {wc} words (want 60-120)")
        if o["output_type"] not in OUTPUT_TYPES:
            err(w, f"bad output_type {o['output_type']!r}")
        if o["language"] not in LANGS:
            err(w, f"bad language {o['language']!r}")
        if not (isinstance(o["trl"], int) and not isinstance(o["trl"], bool) and 1 <= o["trl"] <= 9):
            err(w, "trl must be an integer 1-9")
        if not str_list(o["focus_areas"], lambda x: x in AREAS):
            err(w, "bad focus_areas")
        if not str_list(o["keywords"]) or not 2 <= len(o["keywords"]) <= 6:
            err(w, "keywords must be a list of 2-6 strings")
        cr = o["contact_researchers"]
        if not isinstance(cr, list) or not cr:
            err(w, "contact_researchers must be a non-empty list")
        else:
            for r in cr:
                if not isinstance(r, dict) or not {"name", "email", "organisation"} <= set(r):
                    err(w, "researcher needs name, email, organisation")
                elif not email_ok(r["email"], {"example.org"}):
                    err(w, f"researcher email not at example.org: {r['email']}")
        if o["access_terms"] is not None and not isinstance(o["access_terms"], str):
            err(w, "access_terms must be a string or null")
        if not (isinstance(o["links"], list) and len(o["links"]) >= 1 and
                all(isinstance(u, str) and u.startswith("https://example.org/") for u in o["links"])):
            err(w, "links must be a list of https://example.org/... URLs")
        try:
            t = datetime.datetime.fromisoformat(o["published_at"])
            if t.tzinfo is None:
                err(w, "published_at lacks a timezone")
            elif not 2024 <= t.year <= 2026:
                err(w, "published_at outside 2024-2026")
        except (TypeError, ValueError):
            err(w, "published_at is not ISO 8601")


def check_needs(rows, seen):
    for no, n in rows:
        w = f"needs.jsonl:{no}"
        if not check_required(w, n, NEED_FIELDS):
            continue
        if not uuid4_ok(n["need_id"]):
            err(w, "need_id is not a UUID4")
        elif n["need_id"] in seen:
            err(w, f"duplicate id {n['need_id']}")
        seen.add(n["need_id"])
        c = n["company"]
        if not isinstance(c, dict) or not check_required(w + " company", c, ["country", "org_number", "name", "county"]):
            err(w, "company incomplete")
        else:
            if c["country"] == "SE":
                if not se_orgnr_ok(c["org_number"]):
                    err(w, f"invalid Swedish org number {c['org_number']!r}")
            elif c["country"] == "NO":
                if not no_orgnr_ok(c["org_number"]):
                    err(w, f"invalid Norwegian org number {c['org_number']!r}")
            else:
                err(w, f"bad country {c['country']!r}")
        coach = n["coach"]
        if coach is not None:
            if not isinstance(coach, dict) or not {"name", "email", "organisation"} <= set(coach):
                err(w, "coach needs name, email, organisation (or null)")
            elif not email_ok(coach["email"], {"example.se", "example.no"}):
                err(w, f"coach email not at example.se/example.no: {coach['email']}")
        for k in ("title", "description"):
            if not isinstance(n[k], str) or not n[k].strip():
                err(w, f"{k} must be a non-empty string")
        if isinstance(n["title"], str) and len(n["title"]) > 300:
            err(w, f"title longer than 300 chars ({len(n['title'])})")
        if n["language"] not in LANGS:
            err(w, f"bad language {n['language']!r}")
        if n["need_type"] not in NEED_TYPES:
            err(w, f"bad need_type {n['need_type']!r}")
        if not str_list(n["focus_areas"], lambda x: x in AREAS):
            err(w, "bad focus_areas")
        if not str_list(n["keywords"]):
            err(w, "keywords must be a list of strings")
        m = n["min_trl"]
        if m is not None and not (isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 9):
            err(w, "min_trl must be null or an integer 1-9")
        if n["urgency"] not in URGENCY:
            err(w, f"bad urgency {n['urgency']!r}")
        if n["confidentiality"] not in CONFIDENTIALITY:
            err(w, f"bad confidentiality {n['confidentiality']!r}")


def main():
    seen = set()
    outputs = load("outputs.jsonl")
    needs = load("needs.jsonl")
    check_outputs(outputs, seen)
    check_needs(needs, seen)
    for e in errors:
        print("ERROR", e)
    print(f"outputs: {len(outputs)} lines, needs: {len(needs)} lines, errors: {len(errors)}")
    if errors:
        print("FAIL")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
