"""An index answering "which of these intervals hold instant t?" with one bisect.

The intervals' endpoints cut the time line into elementary segments; each segment keeps
the tuple of items covering it, in the order the items were given (override precedence
is that order). Building costs O(n log n + total coverage); a lookup is O(log n).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")
_CLOSE, _OPEN = 0, 1


class SegmentIndex(Generic[T]):
    __slots__ = ("_active", "_bounds")

    def __init__(self, items: Sequence[tuple[datetime, datetime, T]]) -> None:
        # One sorted sweep over (instant, close/open, item number). Closing sorts first, so
        # an item ending where another begins is gone from the shared segment (half-open).
        events = [(s, _OPEN, i) for i, (s, _, _) in enumerate(items)]
        events += [(e, _CLOSE, i) for i, (_, e, _) in enumerate(items)]
        events.sort()
        bounds: list[datetime] = []
        per_segment: list[tuple[T, ...]] = []
        active: list[int] = []  # item numbers, kept sorted: their order is precedence
        n, j = len(events), 0
        while j < n:
            here = events[j][0]
            while j < n and events[j][0] == here:
                _, edge, i = events[j]
                if edge == _OPEN:
                    insort(active, i)
                else:
                    active.remove(i)
                j += 1
            bounds.append(here)
            per_segment.append(tuple(items[i][2] for i in active))
        self._bounds = bounds
        # per_segment[i] covers [bounds[i], bounds[i + 1]); the last is always empty.
        self._active = per_segment

    @property
    def bounds(self) -> list[datetime]:
        """Every instant at which the covering set may change."""
        return self._bounds

    def at(self, t: datetime) -> tuple[T, ...]:
        i = bisect_right(self._bounds, t) - 1
        if i < 0:
            return ()
        return self._active[i]
