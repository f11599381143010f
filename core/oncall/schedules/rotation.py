"""A layer's rotation: where its handoffs fall and who holds the shift between two of them.

Shifts are numbered from the rotation's first handoff, the handoff time on the local date
of the layer's start: shift k belongs to participant k mod n (k may be negative, for a
start earlier that day than the handoff). Finding the shift that holds an instant is
arithmetic, never a walk from the layer start:

- day and week lengths count local calendar days. The handoff "on" a local date is the
  wall-clock handoff time of that date turned into an instant (``wallclock.instant_at``);
  shift k runs from the handoff on ``first_date + k·N days`` to the one N days later.
  Which shift holds ``t`` follows from the latest local date whose handoff is at or before
  ``t``: at most a step or two from ``t``'s own local date.
- hour lengths are absolute: shift k runs from ``first_handoff + k·N hours``; floor division.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .model import Layer
from .wallclock import instant_at, local_date

ONE_DAY = timedelta(days=1)

# (start, end, user): one participant's turn, clipped to what was asked for.
Turn = tuple[datetime, datetime, str]


class Rotation:
    """The turns of one layer's participants, ignoring restrictions."""

    __slots__ = ("_days", "_first", "_first_date", "_handoff", "_participants", "_start", "_step", "_zone")

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self._zone = zone
        self._handoff = layer.handoff
        self._participants = layer.participants
        self._start = layer.start
        # The first handoff is the handoff time on the start's local date; participant 0
        # takes over there. The grid runs both ways from it, so a start earlier that day
        # falls in shift -1 (the last participant's), exactly as the rotation would have it.
        self._first_date = local_date(zone, layer.start)
        self._first = instant_at(zone, self._first_date, layer.handoff)
        self._days = layer.shift_length.calendar_days
        self._step = timedelta(hours=layer.shift_length.count)

    @property
    def start(self) -> datetime:
        return self._start

    def _handoff_on(self, day: date) -> datetime:
        return instant_at(self._zone, day, self._handoff)

    def _latest_handoff_date(self, t: datetime) -> date:
        """The last local date whose handoff instant is at or before ``t``.

        Handoff instants never decrease from one date to the next (the wall-clock rule is
        monotonic), so starting from ``t``'s local date and stepping is exact; the loops
        run at most once or twice, a little more only around exotic midnight transitions.
        """
        day = local_date(self._zone, t)
        while self._handoff_on(day) > t:
            day -= ONE_DAY
        while self._handoff_on(day + ONE_DAY) <= t:
            day += ONE_DAY
        return day

    def boundary(self, k: int) -> datetime:
        """When shift ``k`` begins (before clipping to the layer start)."""
        if self._days is None:
            return self._first + k * self._step
        return self._handoff_on(self._first_date + timedelta(days=k * self._days))

    def index_at(self, t: datetime) -> int:
        """The shift k with ``boundary(k) <= t < boundary(k + 1)``."""
        if self._days is None:
            return (t - self._first) // self._step
        return (self._latest_handoff_date(t) - self._first_date).days // self._days

    def participant(self, k: int) -> str:
        return self._participants[k % len(self._participants)]

    def turn_at(self, t: datetime) -> Turn | None:
        """The turn holding ``t``, or None before the layer starts."""
        if t < self._start:
            return None
        k = self.index_at(t)
        return max(self.boundary(k), self._start), self.boundary(k + 1), self.participant(k)

    def user_at(self, t: datetime) -> str | None:
        if t < self._start:
            return None
        return self.participant(self.index_at(t))

    def turns(self, start: datetime, end: datetime) -> list[Turn]:
        """The turns overlapping ``[start, end)``, clipped to it and to the layer start."""
        lo = max(start, self._start)
        if lo >= end:
            return []
        k = self.index_at(lo)
        begin = self.boundary(k)
        out: list[Turn] = []
        while begin < end:
            finish = self.boundary(k + 1)
            s, e = max(begin, lo), min(finish, end)
            if s < e:  # a shift can be empty only where a whole local day was skipped
                out.append((s, e, self.participant(k)))
            k += 1
            begin = finish
        return out
