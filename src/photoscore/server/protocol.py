"""uvicorn's HTTP/1.1 protocol (h11) with a time limit on each request's line and headers.

uvicorn times out idle keep-alive connections, but not a client that opens a connection and sends its
headers slowly, or never: such connections would stay open for ever. This protocol closes them with a
408 once the app's header timeout has passed since the connection opened (or since the previous answer)
without a complete request head. The app sets the timeout in its lifespan state under
:data:`HEADER_TIMEOUT_STATE`.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_STATE = "photoscore_header_timeout_s"
DEFAULT_HEADER_TIMEOUT_S = 10.0
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class HeaderTimeoutProtocol(H11Protocol):
    """H11Protocol that closes connections whose request head does not arrive in time."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        if not self.transport.is_closing():
            timeout = self.app_state.get(HEADER_TIMEOUT_STATE, DEFAULT_HEADER_TIMEOUT_S)
            self._header_timer = self.loop.call_later(timeout, self._headers_overdue)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # no complete request head
            self.transport.write(_TIMED_OUT)
            self.transport.close()
