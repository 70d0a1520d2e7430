"""The optional API key: a request to /v1 must carry it in the X-API-Key header.

:class:`ApiKeyGate` refuses a request from its headers, before any of its body is read; the FastAPI
dependency checks the same key again and puts the header in the API docs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

from photoscore.server.errors import error_response

API_KEY_HEADER = "X-API-Key"
GUARDED_PREFIX = "/v1"
_REFUSAL = f"missing or wrong API key in the {API_KEY_HEADER} header"
_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="Required when the server sets a key."
)


def _key_matches(given: str | None, expected: bytes) -> bool:
    """Whether ``given`` is the key whose sha256 is ``expected``, compared in constant time."""
    digest = hashlib.sha256((given or "").encode()).digest()
    return given is not None and hmac.compare_digest(digest, expected)


class ApiKeyGate:
    """ASGI middleware: 401 for a request under /v1 without the key, answered from its headers alone.

    The answer closes the connection, so a body sent with a refused request is never read.
    """

    def __init__(self, app: ASGIApp, key: str):
        self.app = app
        self._expected = hashlib.sha256(key.encode()).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._guarded(scope):
            name = API_KEY_HEADER.lower().encode()
            given = next(
                (value for key, value in scope["headers"] if key == name), None
            )  # the first, as Starlette
            if not _key_matches(None if given is None else given.decode("latin-1"), self._expected):
                refusal = error_response(
                    401, _REFUSAL, headers={"WWW-Authenticate": API_KEY_HEADER, "Connection": "close"}
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _guarded(scope: Scope) -> bool:
        return scope["path"].removeprefix(scope.get("root_path", "")).startswith(GUARDED_PREFIX)


def api_key_check(key: str) -> Callable[[str | None], Awaitable[None]]:
    """A FastAPI dependency that refuses (401) a request without ``key``; compares in constant time."""
    expected = hashlib.sha256(key.encode()).digest()

    async def check(given: str | None = Security(_header)) -> None:
        if not _key_matches(given, expected):
            raise HTTPException(401, _REFUSAL, headers={"WWW-Authenticate": API_KEY_HEADER})

    return check
