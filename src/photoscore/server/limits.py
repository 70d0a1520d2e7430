"""Limits on the raw request body, enforced before anything is parsed or spooled to disk: its size, by
Content-Length and as it streams in, and how long the client may pause while sending it."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photoscore.server.errors import error_response

# An answer given before the whole body has arrived closes the connection: the rest is never read.
CLOSE = {"Connection": "close"}


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, by its Content-Length or as it streams in;
    408 when no piece of the body arrives for ``idle_timeout`` seconds."""

    def __init__(self, app: ASGIApp, max_bytes: int, idle_timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.idle_timeout = idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            too_large = error_response(413, self._too_large(f" of {int(declared):,} bytes"), headers=CLOSE)
            await too_large(scope, receive, send)
            return
        received = 0
        complete = False

        async def limited() -> Message:
            nonlocal received, complete
            if complete:  # after the body, receive() waits for a disconnect: no time limit
                return await receive()
            try:
                async with asyncio.timeout(self.idle_timeout):
                    message = await receive()
            except TimeoutError:  # FastAPI passes HTTPExceptions from body parsing through
                raise HTTPException(
                    408, f"request body stalled: nothing received for {self.idle_timeout:g} s", CLOSE
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._too_large(""), CLOSE)
            return message

        await self.app(scope, limited, send)

    def _too_large(self, size: str) -> str:
        return f"request body{size} is larger than the limit of {self.max_bytes:,} bytes"
