"""Partner API keys, as every service with an HTTP API checks them.

Keys look like `rt_<key id>_<secret>`. Only a SHA-256 of the secret is stored: the
secrets are 256 random bits, so a slow password hash would add nothing but latency.
Partners present a key as `Authorization: Bearer rt_…` or `X-API-Key: rt_…`.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header

from services.common.problems import Problem

KEY_PREFIX = "rt"


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_key(api_key: str) -> tuple[str, str] | None:
    """(key id, secret), or None when it is not shaped like one of our keys."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def presented_key(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(alias="X-API-Key", description="Alternative to Authorization: Bearer")] = None,
) -> str | None:
    """The API key a request carries (a FastAPI dependency)."""
    return x_api_key or (authorization.removeprefix("Bearer ").strip() if authorization else None)


def unauthenticated() -> Problem:
    return Problem(
        401,
        "a valid API key is required (Authorization: Bearer rt_… or X-API-Key)",
        slug="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="redthread"'},
    )
