"""A real HTTP server on 127.0.0.1 that serves feed files and records every request.

Tests tell it what to answer per path: a body with validators (it then answers 304 to a
matching conditional GET, as RFC 9110 §13.1 says), an error status, a redirect, a slow
answer, a gzip-compressed body, or an endless stream of bytes. Each request is recorded
(method, path, headers) so tests can check what mcwatch sent.
"""

from __future__ import annotations

import gzip as gzip_module
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server that takes a client hanging up as normal: a client that
    closes a kept-alive connection (httpx does, at the end of a command) would otherwise
    print a traceback into the stderr the test is reading."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    gzip: bool = False
    location: str | None = None  # a redirect
    stream_total: int = 0  # > 0: repeat ``body`` until this many bytes were written


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Message


class FeedServer:
    """Serves routes set by the test; ``url(path)`` is where to find them."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        # Requests being answered now, and the most seen at once, per Host header.
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._closing = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test output is for the test

            def do_GET(self) -> None:
                server._handle(self)

            def do_HEAD(self) -> None:
                server._handle(self)

        self._httpd = LoopbackServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a slow route must not hold up the test's end
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    # -- what the test says ---------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        gzip: bool = False,
    ) -> None:
        if gzip:  # compressed once here, not per request (a 64 MiB bomb takes a second)
            body = gzip_module.compress(body, compresslevel=9)
        self.routes[path] = Route(
            body=body,
            status=status,
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            headers=dict(headers or {}),
            delay=delay,
            gzip=gzip,
        )

    def redirect(self, path: str, to: str, *, status: int = 301) -> None:
        self.routes[path] = Route(status=status, location=self.url(to) if to[:1] == "/" else to)

    def stream(self, path: str, chunk: bytes, *, total_bytes: int) -> None:
        """An endless-looking body: ``chunk`` repeated up to ``total_bytes``, no length."""
        self.routes[path] = Route(body=chunk, stream_total=total_bytes)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the server side ------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        host = (handler.headers.get("Host") or "").rsplit(":", 1)[0]
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, handler.path, handler.headers))
            self.in_flight[host] = self.in_flight.get(host, 0) + 1
            self.max_in_flight[host] = max(self.max_in_flight.get(host, 0), self.in_flight[host])
        try:
            self._answer(handler)
        finally:
            with self._lock:
                self.in_flight[host] -= 1

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        route = self.routes.get(path)
        if route is None:
            self._reply(handler, 404, b"not found", {"Content-Type": "text/plain"})
            return
        if route.delay and self._closing.wait(route.delay):
            return
        if route.location is not None:
            self._reply(handler, route.status, b"", {"Location": route.location})
            return
        if route.stream_total:
            self._stream(handler, route)
            return
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.status == 200 and self._not_modified(handler.headers, route):
            validators = {k: v for k, v in headers.items() if k != "Content-Type"}
            self._reply(handler, 304, b"", validators)
            return
        if route.gzip:
            headers["Content-Encoding"] = "gzip"
        self._reply(handler, route.status, route.body, headers)

    @staticmethod
    def _not_modified(request: Message, route: Route) -> bool:
        # If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2).
        if_none_match = request.get("If-None-Match")
        if if_none_match is not None:
            return route.etag is not None and route.etag in [
                tag.strip() for tag in if_none_match.split(",")
            ]
        since = request.get("If-Modified-Since")
        return since is not None and route.last_modified == since

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): that is its right

    def _stream(self, handler: BaseHTTPRequestHandler, route: Route) -> None:
        handler.close_connection = True
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", route.content_type)
            handler.send_header("Connection", "close")
            handler.end_headers()
            written = 0
            while written < route.stream_total and not self._closing.is_set():
                handler.wfile.write(route.body)
                written += len(route.body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # mcwatch hung up once it had seen enough: that is the point


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    try:
        yield server
    finally:
        server.close()

