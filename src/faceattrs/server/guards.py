"""ASGI guards of ``faceattrs serve``: allowed hosts, same-origin requests, 405s and
header/idle timeouts.

* :func:`allowed_hosts`: the ``Host`` names Starlette's ``TrustedHostMiddleware`` accepts
  (this machine's names by default: a web page elsewhere cannot reach the server through
  DNS rebinding);
* :class:`OriginCheck`: a browser's cross-origin POST/PUT/PATCH/DELETE and WebSocket
  are refused (403 / close 1008) unless their ``Origin`` is listed; requests without an
  ``Origin`` (curl, scripts) and same-origin ones pass;
* :class:`MethodNotAllowed`: 405 with ``Allow`` for a known API path and another method
  (the page's static files would otherwise answer 404), and 404 for any method on an
  unknown path under ``/api/`` (the static files would answer a POST there 405, as if the
  endpoint existed);
* :func:`guarded_h11_protocol`: uvicorn's h11 protocol that closes a connection whose
  request headers are not complete within ``header_timeout_s`` (idle, slow-loris).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def split_list(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def allowed_hosts(configured: str, bind_host: str) -> list[str]:
    """Host names to accept: ``configured`` (comma-separated; ``*``: any) or this
    machine's loopback names plus the address the server binds, when specific."""
    if configured.strip():
        return split_list(configured)
    hosts = list(LOOPBACK_HOSTS)
    if bind_host not in ("0.0.0.0", "::", "", *hosts):
        hosts.append(f"[{bind_host}]" if ":" in bind_host else bind_host)
    return hosts


async def _json(send, status: int, code: str, detail: str, headers=()) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class OriginCheck:
    """Refuse cross-origin unsafe requests and WebSockets from browsers (see module doc).

    ``allowed``: origins (``scheme://host[:port]``) accepted besides the server's own;
    ``*`` accepts any."""

    def __init__(self, app, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {origin.rstrip("/").lower() for origin in allowed}

    def accepts(self, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin")
        if origin is None:
            return True  # not a browser's cross-origin request
        text = origin.decode("latin-1").strip().rstrip("/").lower()
        if "*" in self.allowed or text in self.allowed:
            return True
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        return text != "null" and urlsplit(text).netloc == host

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        checked = kind == "websocket" or (kind == "http" and scope["method"] in UNSAFE_METHODS)
        if not checked or self.accepts(dict(scope.get("headers") or [])):
            return await self.app(scope, receive, send)
        if kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
            return None
        return await _json(
            send,
            403,
            "cross_origin",
            "requests from another site's pages are refused (see --allowed-origins)",
        )


class MethodNotAllowed:
    """405 (with ``Allow``) when a route has this path but not this method; 404 when no
    route has a path under ``api_root``."""

    def __init__(self, app, routes, api_root: str = "/api/") -> None:
        self.app, self.routes, self.api_root = app, routes, api_root

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            allowed = self._allowed(scope["path"], scope["method"])
            if allowed is None and scope["path"].startswith(self.api_root):
                return await _json(
                    send, 404, "not_found", f"no endpoint {scope['path']}; see /docs"
                )
            if allowed:
                header = ", ".join(sorted(allowed)).encode()
                return await _json(
                    send,
                    405,
                    "method_not_allowed",
                    f"{scope['method']} is not allowed here; use {header.decode()}",
                    [(b"allow", header)],
                )
        return await self.app(scope, receive, send)

    def _allowed(self, path: str, method: str) -> set[str] | None:
        """The methods of the routes matching ``path``; empty when ``method`` is one; None
        when no route (but a mount) matches."""
        methods: set[str] | None = None
        for route in self.routes:
            regex, route_methods = (
                getattr(route, "path_regex", None),
                getattr(route, "methods", None),
            )
            if regex is None or not route_methods or not regex.match(path):
                continue
            if method in route_methods:
                return set()
            methods = (methods or set()) | set(route_methods)
        return methods


def guarded_h11_protocol(header_timeout_s: float):
    """uvicorn's h11 protocol, closing connections whose request headers are not
    complete ``header_timeout_s`` after the connection opened or the previous response
    ended (uvicorn's own keep-alive timeout stops counting at the first byte)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            cycle = self.cycle
            self.loop.call_later(header_timeout_s, self._header_timeout, cycle)

        def _header_timeout(self, cycle) -> None:
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # closed, or upgraded to a WebSocket (its own protocol now)
            if self.cycle is cycle:  # no new request since the timer started
                self.transport.close()

    return GuardedH11Protocol
