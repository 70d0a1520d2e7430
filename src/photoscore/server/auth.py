"""The optional API key: a request to /v1 must carry it in the X-API-Key header."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="Required when the server sets a key."
)


def api_key_check(key: str) -> Callable[[str | None], Awaitable[None]]:
    """A FastAPI dependency that refuses (401) a request without ``key``; compares in constant time."""
    expected = hashlib.sha256(key.encode()).digest()

    async def check(given: str | None = Security(_header)) -> None:
        digest = hashlib.sha256((given or "").encode()).digest()
        if given is None or not hmac.compare_digest(digest, expected):
            raise HTTPException(
                401,
                f"missing or wrong API key in the {API_KEY_HEADER} header",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )

    return check
