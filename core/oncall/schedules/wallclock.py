"""Local wall-clock times to UTC instants, with one rule for the times a DST change skips or repeats.

- A local time that happens twice (the fall-back fold) means its first occurrence.
- A local time that never happens (the spring-forward gap) means the first instant after
  the gap: the moment the clocks jump past it (02:30 on a 02:00→03:00 night is 03:00).

The mapping is monotonic: a later wall-clock time never maps to an earlier instant. The
rotation arithmetic depends on that (see ``rotation.py``).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo



def local_date(zone: ZoneInfo, instant: datetime) -> date:
    """The calendar date the clocks in ``zone`` show at ``instant``."""
    return instant.astimezone(zone).date()


def instant_at(zone: ZoneInfo, day: date, at: time) -> datetime:
    """The UTC instant at which the clocks in ``zone`` read ``at`` on ``day`` (see module rules)."""
    return instant_of(zone, datetime.combine(day, at))


# Rotations and restriction windows ask for the same few handoff instants over and over
# (every on_call for a daily layer asks for today's and yesterday's); tz arithmetic costs
# microseconds, a cache hit far less.
@lru_cache(maxsize=1 << 16)
def instant_of(zone: ZoneInfo, wall: datetime) -> datetime:
    """The UTC instant at which the clocks in ``zone`` read the naive ``wall`` (see module rules)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 is the first of two occurrences when it is repeated
    return _end_of_gap(zone, wall)


def _end_of_gap(zone: ZoneInfo, wall: datetime) -> datetime:
    """The transition instant that skips over ``wall``.

    zoneinfo does not expose transitions, but brackets them: read with the offset after
    the change (fold=1) a skipped time lands before the transition, read with the offset
    before it (fold=0) it lands at or after it. Transitions fall on whole seconds, so a
    binary search over seconds finds the first instant whose clock reading passed ``wall``.
    """
    before = wall.replace(tzinfo=zone, fold=1).timestamp()
    after = wall.replace(tzinfo=zone, fold=0).timestamp()
    lo, hi = math.floor(before), math.ceil(after)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) > wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)
