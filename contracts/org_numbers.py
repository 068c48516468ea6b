"""Organisation numbers: the identity of a company across every partner system."""

from __future__ import annotations

import re
from functools import lru_cache

_NON_DIGITS = re.compile(r"[\s-]")
_NORWEGIAN_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def norwegian_check_digit(first_eight: str) -> int | None:
    """The mod-11 check digit, or None when the number cannot have one."""
    remainder = sum(int(d) * w for d, w in zip(first_eight, _NORWEGIAN_WEIGHTS)) % 11
    check = 11 - remainder
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


# Companies recur in every partner's events: the check runs once per number and country
# (a refusal raises and is not cached).
@lru_cache(maxsize=100_000)
def normalise_org_number(raw: str, country: str = "SE") -> str:
    """Canonical form ("5560360793" / "923609016") or ValueError saying what is wrong."""
    digits = _NON_DIGITS.sub("", raw)
    if not digits.isdigit():
        raise ValueError("organisation number may contain only digits, spaces and dashes")
    if country == "SE":
        if len(digits) != 10:
            raise ValueError(f"Swedish organisationsnummer has 10 digits, got {len(digits)}")
        if not luhn_is_valid(digits):
            raise ValueError("Swedish organisationsnummer fails its Luhn check digit")
        return digits
    if country == "NO":
        if len(digits) != 9:
            raise ValueError(f"Norwegian organisasjonsnummer has 9 digits, got {len(digits)}")
        if norwegian_check_digit(digits[:8]) != int(digits[8]):
            raise ValueError("Norwegian organisasjonsnummer fails its mod-11 check digit")
        return digits
    raise ValueError(f"unknown country {country!r}")
