"""Who may drive ``talkface serve``: Host and Origin checks, an optional token, busy and slow clients.

A server on ``127.0.0.1`` is reachable by every web page the user's browser opens. Without
these checks such a page could POST jobs to it (a cross-origin form needs no permission) and,
through DNS rebinding (a name of the attacker's that resolves to 127.0.0.1), read its replies.
:class:`GuardMiddleware` therefore, before a request reaches the app:

1. refuses a ``Host`` header that is not an address the server listens on (``400 bad_host``):
   for a loopback server ``127.0.0.1``, ``localhost``, ``::1``; for one bound to every interface
   (``0.0.0.0``/``::``) any IP address, ``localhost`` and the machine's own name; names of a
   deliberate deployment (behind a proxy) are added with ``--allow-host`` (``*``: any);
2. refuses a state-changing request (POST, PUT, PATCH, DELETE) from another origin
   (``403 cross_origin``): its ``Origin`` must be the server's own (or listed with
   ``--allow-origin``), and without ``Origin`` a browser's ``Sec-Fetch-Site`` must be
   ``same-origin`` or ``none``; clients that send neither (curl, scripts) are not browsers;
3. with a token (``--token`` or ``TALKFACE_SERVE_TOKEN``), refuses API requests without it
   (``401 unauthorized``): ``Authorization: Bearer <token>``, or the cookie that opening
   ``/?token=<token>`` once sets (so the page, its ``<video>`` and downloads work);
4. answers ``503 busy`` to a new job when the queue is full, before reading its upload;
5. cuts off a client that stops sending its request body for ``client_timeout_s`` seconds, or
   sends it slower than 1 KiB/s on average after that long (``408 timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("talkface.serve")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

#: Name of the cookie holding the API token (set by ``GET /?token=...``).
TOKEN_COOKIE = "talkface_token"

#: Methods that change state: refused from other origins.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Slowest accepted average upload rate once ``client_timeout_s`` has passed, bytes/s.
MIN_UPLOAD_RATE = 1024

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether a listening address is this machine only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether a listening address means every interface (``0.0.0.0``, ``::``, empty)."""
    return host.strip("[]") in ("", "0.0.0.0", "::")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a ``Host`` header or URL authority, lower case, without port or IPv6 brackets."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class HostPolicy:
    """Which ``Host`` names a server listening on ``listen_host`` answers to (see the module docs)."""

    def __init__(self, listen_host: str, allowed: Iterable[str] = ()) -> None:
        self.any_host = False
        self.names = {host_name(a) for a in allowed if a.strip() and a.strip() != "*"}
        self.any_host = any(a.strip() == "*" for a in allowed)
        self.any_ip = is_wildcard(listen_host)
        self.names |= _LOOPBACK_NAMES
        if not self.any_ip:
            self.names.add(host_name(listen_host))
        else:
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    self.names.add(name.lower().rstrip("."))

    def allows(self, host_header: str | None) -> bool:
        """Whether a request with this ``Host`` header is for this server."""
        if self.any_host or host_header is None:  # no Host header (HTTP/1.0): not a browser
            return True
        name = host_name(host_header)
        return name in self.names or (self.any_ip and _is_ip(name))


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _cookie(header: str | None, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


async def _json(send: Send, status: int, code: str, message: str, field: str | None = None,
                headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message, "code": code, "field": field}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


#: A refused request whose declared body is at most this long is read (and thrown away) before the answer, for at most
#: :data:`DRAIN_S` seconds: closing a connection with unread data makes the kernel send a reset, which can reach the
#: client before the answer and lose it ("connection reset by peer" instead of the error; seen in a clean CI run of
#: ``test_a_refused_upload_gets_its_answer_not_a_reset``). Longer bodies (a 500 MB upload to a busy server) are
#: answered at once, unread.
DRAIN_BYTES = 8 * 2**20
DRAIN_S = 2.0


async def drain_small_body(scope: Scope, receive: Receive) -> None:
    """Read and discard a request body declared no longer than :data:`DRAIN_BYTES` (see there), within
    :data:`DRAIN_S` seconds."""
    declared = _headers(scope).get("content-length")
    if scope["type"] != "http" or declared is None or not declared.isdigit() or int(declared) > DRAIN_BYTES:
        return
    deadline = time.monotonic() + DRAIN_S
    seen = 0
    with contextlib.suppress(TimeoutError):
        while seen <= DRAIN_BYTES and (left := deadline - time.monotonic()) > 0:
            message = await asyncio.wait_for(receive(), left)
            if message.get("type") != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body"):
                return


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
                  headers: dict[str, str] | None = None) -> None:
    """Refuse a request: a JSON error for HTTP; for a WebSocket handshake, a close (policy violation) with the
    message as its reason (the client sees the handshake refused)."""
    if scope["type"] == "websocket":
        await receive()  # the websocket.connect message
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    await drain_small_body(scope, receive)
    await _json(send, status, code, message, headers=headers)


def track_start(send: Send) -> tuple[Send, Callable[[], bool]]:
    """``send`` wrapped to note when the response starts, and a function saying whether it has: a middleware
    that catches an error from the app can still answer it only before that."""
    started = False

    async def tracked(message: Any) -> None:
        nonlocal started
        if message.get("type") == "http.response.start":
            started = True
        await send(message)

    return tracked, lambda: started


class ClientTooSlow(Exception):
    """A client paused its request body too long, or sent it too slowly."""


class GuardMiddleware:
    """ASGI middleware enforcing the checks of this module in front of the app.

    Args:
        app: the wrapped ASGI app.
        listen_host: the address the server listens on (``ServeConfig.host``).
        allowed_hosts: more ``Host`` names to answer (``*``: any).
        allowed_origins: more origins allowed to POST/DELETE (``https://app.example``; ``*``: any).
        token: API token (``None``: none needed).
        has_room: whether a new job would be queued now (for busy before the body is read).
        client_timeout_s: longest pause in a request body, seconds.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], *, listen_host: str, allowed_hosts: Iterable[str] = (),
                 allowed_origins: Iterable[str] = (), token: str | None = None,
                 has_room: Callable[[], bool] | None = None, client_timeout_s: float = 30.0) -> None:
        self.app = app
        self.hosts = HostPolicy(listen_host, tuple(allowed_hosts))
        origins = tuple(o.strip().rstrip("/").lower() for o in allowed_origins if o.strip())
        self.any_origin = "*" in origins
        self.origins = frozenset(o for o in origins if o != "*")
        self.token = token or None
        self.has_room = has_room
        self.client_timeout_s = client_timeout_s

    def _same_origin(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if self.any_origin or origin in self.origins:
            return True
        if origin == "null" or host is None:
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        given = None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given is None:
            given = _cookie(headers.get("cookie"), TOKEN_COOKIE)
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host")
        if not self.hosts.allows(host):
            name = host_name(host or "")[:80]
            log.warning("refused a request for Host %r", name)
            await _refuse(scope, receive, send, 400, "bad_host",
                          f"Host {name!r} is not an address this server answers to; start it "
                        f"with --allow-host {name or 'NAME'} to serve that name")
            return
        method = scope.get("method", "GET").upper()
        # a WebSocket is not covered by the browser's same-origin policy: check its Origin like a POST's
        if method in UNSAFE_METHODS or scope["type"] == "websocket":
            origin = headers.get("origin")
            fetch_site = headers.get("sec-fetch-site")
            if origin is not None:
                cross = not self._same_origin(origin, host)
            else:
                cross = fetch_site is not None and fetch_site not in ("same-origin", "none") and not self.any_origin
            if cross:
                log.warning("refused a cross-origin %s from %r", method, (origin or fetch_site or "")[:80])
                await _refuse(scope, receive, send, 403, "cross_origin",
                              "requests from other web sites are refused (Origin "
                            f"{(origin or fetch_site or '')[:80]!r}); start the server with --allow-origin to allow "
                            "one")
                return
        path = scope.get("path", "")
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if scope["type"] == "http" and method in ("GET", "HEAD") and "token" in query and \
                    not path.startswith("/v1/"):
                await self._login(query, send)
                return
            if path.startswith("/v1/") and not self._authorized(headers):
                await _refuse(scope, receive, send, 401, "unauthorized",
                              "this server needs its API token: send 'Authorization: "
                            "Bearer <token>', or open the link with ?token= that 'talkface serve' printed",
                            headers={"WWW-Authenticate": "Bearer"})
                return
        if method == "POST" and path.endswith("/v1/animate") and self.has_room is not None and not self.has_room():
            await _refuse(scope, receive, send, 503, "busy", "server busy: too many jobs waiting; retry later",
                        headers={"Retry-After": "5"})
            return
        if scope["type"] != "http" or method not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        await self._with_timeout(scope, receive, send)

    async def _login(self, query: dict[str, list[str]], send: Send) -> None:
        given = (query.get("token") or [""])[0]
        assert self.token is not None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            await _json(send, 401, "unauthorized", "wrong token")
            return
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"./"), (b"set-cookie", cookie.encode()), (b"content-length", b"0"),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})

    async def _with_timeout(self, scope: Scope, receive: Receive, send: Send) -> None:
        timeout = self.client_timeout_s
        start = time.monotonic()
        seen = 0

        async def timed_receive() -> Any:
            nonlocal seen
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise ClientTooSlow from None
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                elapsed = time.monotonic() - start
                if message.get("more_body") and elapsed > timeout and seen < MIN_UPLOAD_RATE * elapsed:
                    raise ClientTooSlow
            return message

        tracked_send, started = track_start(send)
        try:
            await self.app(scope, timed_receive, tracked_send)
        except ClientTooSlow:
            log.warning("cut off a client that sent its request too slowly")
            if not started():
                await _json(send, 408, "timeout", f"request body too slow (a pause over {timeout:g} s, or under "
                            f"{MIN_UPLOAD_RATE} bytes/s)")


def header_timeout_protocol(timeout_s: float) -> type:
    """uvicorn's HTTP/1.1 protocol, closing connections that take over ``timeout_s`` s to send a request's headers.

    uvicorn times out idle keep-alive connections, but not a client that opens a connection and
    sends its headers a byte at a time (or never): each would hold a connection for ever. Pass the
    result as ``uvicorn.run(..., http=...)``. Slow *bodies* are :class:`GuardMiddleware`'s job.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._header_cycle = self.cycle
            self._header_timer = self.loop.call_later(timeout_s, self._header_timer_fired)

        def _header_timer_fired(self) -> None:
            if self.transport.is_closing():
                return
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and self.cycle is self._header_cycle:  # no new request began in a whole period
                log.info("closed a connection that sent no complete request headers in %g s", timeout_s)
                self.transport.close()
                return
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol
