"""ASGI middleware that refuses request bodies over a size limit (413 JSON), used by
``faceattrs serve`` before any route reads the upload."""

from __future__ import annotations

import json


class BodySizeLimit:
    """ASGI middleware: answer 413 JSON once a request body exceeds ``max_bytes``."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._reject(send)
        seen = 0
        too_large = replaced = False

        async def limited_receive():
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                too_large = True
                raise _BodyTooLarge
            return message

        async def guarded_send(message):
            nonlocal replaced
            if not too_large:
                await send(message)
            elif not replaced:  # whatever the app answers to the cut-off body: 413
                replaced = True
                await self._reject(send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced:
                await self._reject(send)

    async def _reject(self, send) -> None:
        body = json.dumps(
            {
                "error": "upload_too_large",
                "detail": f"request body is over the limit of {self.max_bytes:,} bytes",
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


class _BodyTooLarge(Exception):
    pass
