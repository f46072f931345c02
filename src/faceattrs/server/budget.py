"""The server's memory and CPU budget: decoded pixels in flight and analyses at once.

Every image request and camera frame asks :class:`Admission` for the pixels it will
decode (known from the image headers, before anything is decoded) and a slot among the
``max_busy`` analyses that run at once. What fits runs; what does not waits in a short
queue (first come, first served) for at most ``wait_s``; when the queue is full or the
wait is over the request is refused at once with 429 (busy) or 503 (pixels spent) and
``Retry-After``, rather than slowing every client down. A ticket is given back when its
work really ends (a thread still decoding for a closed connection keeps its pixels).
"""

from __future__ import annotations

import asyncio
import collections
import math
from dataclasses import dataclass

from faceattrs.server.errors import ApiError


@dataclass(frozen=True)
class Ticket:
    """What one admitted piece of work holds until :meth:`Admission.release`."""

    pixels: int
    slot: bool


class Admission:
    """Bounds decoded pixels in flight and analyses at once (one event loop uses it)."""

    def __init__(self, max_pixels: int, max_busy: int, max_waiting: int, wait_s: float) -> None:
        if max_pixels < 1 or max_busy < 1 or max_waiting < 0 or wait_s < 0:
            raise ValueError("admission limits must be positive")
        self.max_pixels, self.max_busy = max_pixels, max_busy
        self.max_waiting, self.wait_s = max_waiting, wait_s
        self.pixels = 0  # decoded pixels of the work admitted and not yet released
        self.busy = 0  # analyses admitted with a slot
        self.refused = 0
        self._waiting: collections.deque[tuple[asyncio.Future, Ticket]] = collections.deque()

    def _fits(self, ticket: Ticket) -> bool:
        if self.pixels + ticket.pixels > self.max_pixels and self.pixels > 0:
            return False
        return not ticket.slot or self.busy < self.max_busy

    def _take(self, ticket: Ticket) -> None:
        self.pixels += ticket.pixels
        self.busy += ticket.slot

    async def acquire(self, pixels: int, slot: bool = True) -> Ticket:
        """Wait (briefly) until ``pixels`` decoded pixels and, with ``slot``, an analysis
        slot are free; ApiError 413 when ``pixels`` alone is over the budget, 429/503 with
        Retry-After when the server stays busy."""
        if pixels > self.max_pixels:
            raise ApiError(
                413,
                "too_many_pixels",
                f"{pixels:,} pixels in one request, the server's budget is {self.max_pixels:,}",
            )
        ticket = Ticket(pixels, slot)
        if not self._waiting and self._fits(ticket):
            self._take(ticket)
            return ticket
        if len(self._waiting) >= self.max_waiting:
            raise self._busy(ticket)
        granted = asyncio.get_running_loop().create_future()
        self._waiting.append((granted, ticket))
        try:
            await asyncio.wait_for(asyncio.shield(granted), self.wait_s)
        except TimeoutError:
            if not (granted.done() and not granted.cancelled()):
                granted.cancel()
                self._drop(granted)
                raise self._busy(ticket) from None
        except BaseException:  # the client went away while waiting
            if granted.done() and not granted.cancelled():
                self.release(ticket)  # granted meanwhile: give it back
            else:
                granted.cancel()
                self._drop(granted)
            raise
        return ticket

    def release(self, ticket: Ticket) -> None:
        """Give back what ``ticket`` holds and admit the waiting work that now fits."""
        self.pixels -= ticket.pixels
        self.busy -= ticket.slot
        while self._waiting:
            granted, waiting = self._waiting[0]
            if granted.done():  # given up
                self._waiting.popleft()
                continue
            if not self._fits(waiting):
                break
            self._waiting.popleft()
            self._take(waiting)
            granted.set_result(None)

    def _drop(self, granted: asyncio.Future) -> None:
        self._waiting = collections.deque(item for item in self._waiting if item[0] is not granted)

    def _busy(self, ticket: Ticket) -> ApiError:
        self.refused += 1
        retry = max(1, math.ceil(self.wait_s))
        if ticket.slot and self.busy >= self.max_busy:
            return ApiError(
                429,
                "server_busy",
                f"{self.busy} analyses running and {len(self._waiting)} waiting; "
                f"try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )
        return ApiError(
            503,
            "memory_budget_spent",
            f"{self.pixels:,} of {self.max_pixels:,} decoded pixels in use; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )

    def status(self) -> dict[str, int]:
        return {
            "pixels_in_flight": self.pixels,
            "analyses_running": self.busy,
            "waiting": len(self._waiting),
            "refused": self.refused,
        }
