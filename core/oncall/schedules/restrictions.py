"""A layer's restrictions: the weekly local-time windows in which it may have someone on call.

Each window's opening and closing are wall-clock times, turned into instants one
occurrence at a time with the schedule's gap/fold rule, so "09:00–17:00" stays
09:00–17:00 on the clock across daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .model import WeeklyWindow
from .wallclock import instant_at, local_date

ONE_WEEK = timedelta(days=7)

Interval = tuple[datetime, datetime]


class WeeklyMask:
    """The union of a layer's restriction windows, as instants."""

    __slots__ = ("_windows", "_zone")

    def __init__(self, windows: Sequence[WeeklyWindow], zone: ZoneInfo) -> None:
        self._zone = zone
        # (weekday it opens, opening time, days from opening to closing date, closing time)
        self._windows: tuple[tuple[int, time, timedelta, time], ...] = tuple(
            (int(w.start_day), w.start_time, timedelta(days=w.end_day_offset), w.end_time) for w in windows
        )

    def _occurrence(self, opens_on: date, window: tuple[int, time, timedelta, time]) -> Interval:
        _, opens, length, closes = window
        return instant_at(self._zone, opens_on, opens), instant_at(self._zone, opens_on + length, closes)

    def contains(self, t: datetime) -> bool:
        today = local_date(self._zone, t)
        for window in self._windows:
            latest = today - timedelta(days=(today.weekday() - window[0]) % 7)
            # A window is at most a week long, so only the occurrence opening on or before
            # today and the one a week earlier can hold t; the one a week later only can
            # when a fall-back fold crosses midnight and t is in its repeated hour.
            for opens_on in (latest, latest - ONE_WEEK, latest + ONE_WEEK):
                s, e = self._occurrence(opens_on, window)
                if s <= t < e:
                    return True
        return False

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """The open stretches within ``[start, end)``: sorted, disjoint, not touching."""
        first = local_date(self._zone, start) - ONE_WEEK - timedelta(days=1)
        last = local_date(self._zone, end) + timedelta(days=1)
        found: list[Interval] = []
        for window in self._windows:
            opens_on = first + timedelta(days=(window[0] - first.weekday()) % 7)
            while opens_on <= last:
                s, e = self._occurrence(opens_on, window)
                s, e = max(s, start), min(e, end)
                if s < e:
                    found.append((s, e))
                opens_on += ONE_WEEK
        found.sort()
        merged: list[Interval] = []
        for s, e in found:
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        return merged
