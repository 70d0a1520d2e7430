"""Photo bytes from where a manifest says they are: local paths, object stores, web servers.

- ``http://`` and ``https://`` URLs: fetched with a time limit per attempt on the whole transfer
  (connecting, TLS, headers, redirects and body together: a server trickling a byte at a time is cut off
  at the deadline) and a bounded number of attempts. Timeouts, connection errors, 429 and 5xx answers are
  tried again after a short, growing pause; other answers (404, 403, ...) are final.
- Any other ``scheme://`` URI (``s3://``, ``gs://``, ``hdfs://`` ...): a pyarrow filesystem, with the
  credentials and settings of its usual environment variables (for S3: ``AWS_*``, including
  ``AWS_ENDPOINT_URL``). Read errors other than a missing file are tried again like HTTP ones.
- Anything else is a local path (``file://`` URIs too).

HTTP(S) connections, redirects included, never go to a link-local address (cloud metadata services)
unless its network is allowed.

Every failure is a :class:`FetchError` whose message says why, so the photo keeps its row with an error.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

import pyarrow.fs as pafs

from photoscore.images import NotRegularFileError, open_regular_file

DEFAULT_TIMEOUT = 30.0
DEFAULT_ATTEMPTS = 3
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
_CHUNK = 1 << 20
REDACTED = "***"
# Never fetched from unless allowed: link-local addresses, where cloud metadata services answer (AWS,
# GCP, Azure: 169.254.169.254; AWS over IPv6: fd00:ec2::254), so a URL or a redirect cannot read them.
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
)
_FIRST_PAUSE = 0.25


class FetchError(Exception):
    """A photo whose bytes could not be had; ``str()`` is the reason."""


class _Retryable(Exception):
    """A failure worth another attempt; ``str()`` is the reason."""


class BlockedAddress(OSError):
    """A connection to an address in BLOCKED_NETWORKS that was not allowed."""


def is_remote(location: str) -> bool:
    """Whether ``location`` is a URI other than ``file://`` (so not read with ``open``); never raises,
    whatever the rest of the URI holds."""
    scheme, separator, _ = location.partition("://")
    valid = len(scheme) > 1 and scheme[0].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)
    return bool(separator) and valid and scheme.lower() != "file"


def _userinfo_span(location: str) -> tuple[int, int] | None:
    """Where the ``user:password`` of a URI's authority is (``scheme://USERINFO@host/...``), if any."""
    _, separator, rest = location.partition("://")
    if not separator:
        return None
    start = len(location) - len(rest)
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, authority_end)
    return None if at < 0 else (start, start + at)


def redact_credentials(location: str) -> str:
    """``location`` with the user name and password of a URI replaced by ``***``: what photoscore keeps,
    writes and prints of such a URI (``https://***@host/a.jpg``)."""
    span = _userinfo_span(location)
    return location if span is None else location[: span[0]] + REDACTED + location[span[1] :]


def local_path(location: str) -> str:
    """A local path or ``file://`` URI (percent-escapes decoded, as RFC 8089 has them) -> the path."""
    if not location.startswith("file://"):
        return location
    try:
        return os.fsdecode(unquote_to_bytes(urlsplit(location).path))
    except ValueError:  # a malformed URI: opening it as given says it is not found
        return location


def path_location(path: str) -> str:
    """How a local file is named in a job's table: its path, or, when the name is not valid UTF-8 (which
    Arrow's strings cannot hold), a ``file://`` URI with its bytes percent-escaped."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "file://" + quote(os.fsencode(path))
    return path


def uri_stem(uri: str) -> str:
    """The file name of a URI's path without its extension: ``https://h/a/b.jpg?x=1`` -> ``b``."""
    path = uri.partition("://")[2].split("?", 1)[0].split("#", 1)[0]
    return PurePosixPath(path.partition("/")[2]).stem


class Fetcher:
    """Fetches photo bytes; safe to share between threads (filesystems are made once per bucket)."""

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        allow_networks: Sequence[str] = (),
    ):
        """``allow_networks``: networks (``"169.254.10.0/24"``) trusted although in BLOCKED_NETWORKS."""
        if timeout <= 0 or attempts < 1:
            raise ValueError("the fetch timeout must be positive and attempts at least 1")
        self.timeout = timeout
        self.attempts = attempts
        self.max_bytes = max_bytes
        self.allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self._filesystems: dict[str, pafs.FileSystem] = {}
        self._lock = threading.Lock()

    def fetch(self, location: str) -> bytes:
        """The bytes at ``location``; raises FetchError naming the reason (never the URI's credentials)."""
        if not is_remote(location):
            return self._read_local(local_path(location))
        if _userinfo_span(location) is not None:
            raise FetchError(
                "the URL holds a user name or password (user:password@host), which photoscore never sends; "
                "use a presigned URL or the object store's own credentials"
            )
        read = self._read_http if location.startswith(("http://", "https://")) else self._read_uri
        pause = _FIRST_PAUSE
        for attempt in range(1, self.attempts + 1):
            try:
                return read(location)
            except _Retryable as exc:
                if attempt == self.attempts:
                    raise FetchError(f"{exc} (after {self.attempts} attempts)") from None
                time.sleep(pause)
                pause *= 2
        raise AssertionError("unreachable")

    def _read_local(self, path: str) -> bytes:
        try:
            with open_regular_file(path) as stream:
                return self._read_capped(stream)
        except FileNotFoundError:
            raise FetchError("file not found") from None
        except IsADirectoryError:
            raise FetchError("is a folder, not an image file") from None
        except NotRegularFileError as exc:
            raise FetchError(exc.strerror) from None
        except OSError as exc:
            raise FetchError(f"cannot read: {exc.strerror or exc}") from None

    def _read_http(self, url: str) -> bytes:
        """One attempt at ``url``; every connection it opens is shut down when the attempt's time is up."""
        deadline = _Deadline(self.timeout)
        timed_out = f"timed out after {self.timeout:g} s"
        handlers = (
            _DeadlineHTTPHandler(deadline, self.check_address),
            _DeadlineHTTPSHandler(deadline, self.check_address),
        )
        opener = urllib.request.build_opener(*handlers)
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "photoscore-batch"})
            with opener.open(request, timeout=self.timeout) as answer:
                data = bytearray()
                while chunk := answer.read1(_CHUNK):
                    data += chunk
                    if len(data) > self.max_bytes:
                        raise FetchError(f"larger than {self.max_bytes:,} bytes")
                if deadline.expired:  # the connection was shut down: what came is cut short
                    raise _Retryable(timed_out)
                return bytes(data)
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(reason) from None
            raise FetchError(reason) from None
        except (ValueError, http.client.InvalidURL) as exc:  # a malformed URL: no attempt can succeed
            raise FetchError(f"malformed URL ({exc})") from None
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            if deadline.expired or isinstance(exc, TimeoutError) or _timed_out(exc):
                raise _Retryable(timed_out) from None
            if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BlockedAddress):
                raise FetchError(str(exc.reason)) from None
            if isinstance(exc, urllib.error.URLError):
                raise _Retryable(f"cannot connect: {exc.reason}") from None
            raise _Retryable(f"connection failed: {exc}") from None
        finally:
            deadline.cancel()

    def check_address(self, address: str) -> None:
        """Raise BlockedAddress for an IP address in BLOCKED_NETWORKS and not in the allowed networks."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) aside
        if any(ip in n for n in BLOCKED_NETWORKS) and not any(ip in n for n in self.allowed):
            raise BlockedAddress(
                f"refused to connect to {ip}, a link-local address where cloud metadata services answer; "
                "trust its network with --allow-network if photos really are there"
            )

    def _read_uri(self, uri: str) -> bytes:
        try:
            filesystem, path = self._filesystem(uri)
            with filesystem.open_input_stream(path) as stream:
                return self._read_capped(stream)
        except FileNotFoundError:
            raise FetchError("file not found") from None
        except ValueError as exc:  # an unknown scheme or a malformed URI
            raise FetchError(f"cannot read: {exc}") from None
        except OSError as exc:
            raise _Retryable(f"cannot read: {exc}") from None

    def _filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        parts = urlsplit(uri)
        key = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            if key not in self._filesystems:
                self._filesystems[key] = self._with_timeouts(pafs.FileSystem.from_uri(uri)[0])
            filesystem = self._filesystems[key]
        return filesystem, f"{parts.netloc}{parts.path}" if parts.netloc else parts.path

    def _with_timeouts(self, filesystem: pafs.FileSystem) -> pafs.FileSystem:
        """``filesystem`` with this fetcher's timeout on each request (S3: connecting and each read, one
        SDK attempt, since :meth:`fetch` retries; GCS: its retries, the only time limit it offers)."""
        rebuild, (options, *_) = filesystem.__reduce__()  # the options from_uri resolved (region ...)
        if isinstance(filesystem, pafs.S3FileSystem):
            retry = pafs.AwsStandardS3RetryStrategy(max_attempts=1)
            limits = {
                "request_timeout": self.timeout,
                "connect_timeout": self.timeout,
                "retry_strategy": retry,
            }
        elif isinstance(filesystem, pafs.GcsFileSystem):
            limits = {"retry_time_limit": datetime.timedelta(seconds=self.timeout)}
        else:
            return filesystem
        return rebuild({**options, **limits})

    def _read_capped(self, stream) -> bytes:  # type: ignore[no-untyped-def]
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise FetchError(f"larger than {self.max_bytes:,} bytes")
        return bytes(data)


class _Deadline:
    """The end of one attempt: when it passes, every socket attached to it is shut down, which ends a
    read that is waiting or trickling, whatever the server does."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _connection_class(
    base: type[http.client.HTTPConnection], deadline: _Deadline, check: Callable[[str], None]
) -> Any:
    """``base`` whose addresses pass ``check`` (every address the host resolves to, before connecting,
    and the one connected to) and whose sockets are attached to ``deadline`` as soon as they connect."""

    class Connection(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create = self._create_connection

            def create_attached(address: tuple[str, int], *c_args: Any, **c_kwargs: Any) -> socket.socket:
                for info in socket.getaddrinfo(*address, type=socket.SOCK_STREAM):
                    check(str(info[4][0]))
                sock = create(address, *c_args, **c_kwargs)
                deadline.attach(sock)
                try:
                    check(sock.getpeername()[0])
                except BlockedAddress:
                    sock.close()
                    raise
                return sock

            self._create_connection = create_attached

    return Connection


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline, check: Callable[[str], None]):
        super().__init__()
        self._connection = _connection_class(http.client.HTTPConnection, deadline, check)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline, check: Callable[[str], None]):
        super().__init__()
        self._connection = _connection_class(http.client.HTTPSConnection, deadline, check)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._context, check_hostname=self._check_hostname)
