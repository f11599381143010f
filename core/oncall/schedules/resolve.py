"""Who is on call: at one instant (``on_call``) and over a range as flattened shifts (``shifts``).

Resolution at an instant, in order:

1. a temporary schedule active then decides alone (its shifts' users; no layers, no overrides);
2. otherwise the highest layer with someone on call then gives that one person;
3. then the active overrides apply in the order listed: remove, add, or replace.

``shifts`` sweeps the range once: every instant at which the answer may change (a handoff,
a restriction edge, an override or temporary-schedule edge) cuts it into pieces, each
piece is resolved with the same step 1–3 code as ``on_call``, and unchanged (user, reason)
pairs carry across the cuts, so a user's shift stays whole while the reason stays the same.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime

from ..errors import InvalidArgument
from .model import (
    Layer,
    LayerReason,
    OnCallEntry,
    OverrideReason,
    Reason,
    Schedule,
    Shift,
    TemporaryReason,
    TemporarySchedule,
    utc_instant,
)
from .restrictions import WeeklyMask
from .rotation import Rotation, Turn
from .segments import SegmentIndex

# (add_user, remove_user, reason) — an Override, reduced to what resolution needs.
_Op = tuple[str | None, str | None, OverrideReason]


class _CompiledLayer:
    """A layer's rotation masked by its restrictions."""

    __slots__ = ("mask", "reason", "rotation")

    def __init__(self, index: int, layer: Layer, schedule: Schedule) -> None:
        self.reason = LayerReason(index, layer.name)
        self.rotation = Rotation(layer, schedule.zone)
        self.mask = WeeklyMask(layer.restrictions, schedule.zone) if layer.restrictions else None

    def user_at(self, t: datetime) -> str | None:
        user = self.rotation.user_at(t)
        if user is None or (self.mask is not None and not self.mask.contains(t)):
            return None
        return user

    def turns(self, start: datetime, end: datetime) -> list[Turn]:
        turns = self.rotation.turns(start, end)
        if self.mask is None or not turns:
            return turns
        return _intersect(turns, self.mask.intervals(turns[0][0], turns[-1][1]))


class _Compiled:
    """A schedule turned into indexes; built once per Schedule object."""

    __slots__ = ("_cuts", "layers", "overrides", "temporaries")

    def __init__(self, schedule: Schedule) -> None:
        self.layers = tuple(_CompiledLayer(i, layer, schedule) for i, layer in enumerate(schedule.layers))
        self.overrides: SegmentIndex[_Op] = SegmentIndex(
            [(o.start, o.end, (o.add_user, o.remove_user, OverrideReason(o.id))) for o in schedule.overrides]
        )
        self.temporaries: SegmentIndex[tuple[TemporaryReason, SegmentIndex[str]]] = SegmentIndex(
            [(t.start, t.end, (TemporaryReason(t.id), _temporary_index(t))) for t in schedule.temporary_schedules]
        )
        edges = set(self.overrides.bounds) | set(self.temporaries.bounds)
        for t in schedule.temporary_schedules:
            edges.update(b for s in t.shifts for b in (s.start, s.end))
        self._cuts = sorted(edges)

    def layer_winner(self, t: datetime) -> tuple[str, LayerReason] | None:
        for layer in reversed(self.layers):
            user = layer.user_at(t)
            if user is not None:
                return user, layer.reason
        return None

    def resolve(self, t: datetime, winner: tuple[str, LayerReason] | None) -> dict[str, Reason]:
        """Steps 1–3 at ``t``, given the layers' answer there. Insertion order is stable."""
        temporary = self.temporaries.at(t)
        if temporary:
            reason, users = temporary[0]
            return dict.fromkeys(users.at(t), reason)
        on: dict[str, Reason] = {}
        if winner is not None:
            on[winner[0]] = winner[1]
        for add, remove, why in self.overrides.at(t):
            if remove is not None:
                if remove not in on:
                    if add is not None:
                        continue  # a replace only acts while the replaced user is on call
                else:
                    del on[remove]
            if add is not None:
                on.pop(add, None)  # re-insert: the override is now why they are on call
                on[add] = why
        return on

    def cuts(self, start: datetime, end: datetime) -> list[datetime]:
        """Override and temporary-schedule edges (windows and their shifts) inside ``(start, end)``."""
        return self._cuts[bisect_right(self._cuts, start) : bisect_left(self._cuts, end)]


def _temporary_index(t: TemporarySchedule) -> SegmentIndex[str]:
    # One item per (shift, user): overlapping shifts union their users, first-listed first.
    return SegmentIndex([(s.start, s.end, u) for s in t.shifts for u in s.users])


def _intersect(turns: Sequence[Turn], open_: Sequence[tuple[datetime, datetime]]) -> list[Turn]:
    out: list[Turn] = []
    i = j = 0
    while i < len(turns) and j < len(open_):
        ts, te, user = turns[i]
        ws, we = open_[j]
        s, e = max(ts, ws), min(te, we)
        if s < e:
            out.append((s, e, user))
        if te <= we:
            i += 1
        else:
            j += 1
    return out


def _compiled(schedule: Schedule) -> _Compiled:
    # Cached on the instance, outside its fields: a Schedule is frozen, so its index can
    # never go stale, and repeated on_call calls skip building it.
    try:
        cached: _Compiled = schedule.__dict__["_compiled"]
        return cached
    except KeyError:
        compiled = schedule.__dict__["_compiled"] = _Compiled(schedule)
        return compiled


def on_call(schedule: Schedule, at: datetime) -> list[OnCallEntry]:
    """Who is on call in ``schedule`` at ``at`` (timezone-aware), and why."""
    t = utc_instant(at, "at")
    compiled = _compiled(schedule)
    on = compiled.resolve(t, None if compiled.temporaries.at(t) else compiled.layer_winner(t))
    return [OnCallEntry(user, reason) for user, reason in on.items()]


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final on-call shifts in ``[start, end)``, one per user and unbroken reason.

    Shifts are clipped to the range and sorted by start, then user. ``on_call(t)`` for any
    ``t`` in the range lists exactly the users of the shifts holding ``t``, with their reasons.
    """
    start = utc_instant(start, "start")
    end = utc_instant(end, "end")
    if end < start:
        raise InvalidArgument(f"end {end.isoformat()} is before start {start.isoformat()}")
    if start == end:
        return []
    compiled = _compiled(schedule)
    layer_turns = [layer.turns(start, end) for layer in compiled.layers]

    cuts = {start, end}
    for turns in layer_turns:
        for s, e, _ in turns:
            cuts.add(s)
            cuts.add(e)
    cuts.update(compiled.cuts(start, end))
    points = sorted(cuts)

    out: list[Shift] = []
    open_since: dict[tuple[str, Reason], datetime] = {}
    cursor = [0] * len(layer_turns)  # per layer: first turn that has not ended
    for here in points[:-1]:  # each piece runs from `here` to the next cut
        winner = None
        for li in range(len(layer_turns) - 1, -1, -1):
            turns = layer_turns[li]
            c = cursor[li]
            while c < len(turns) and turns[c][1] <= here:
                c += 1
            cursor[li] = c
            if c < len(turns) and turns[c][0] <= here:
                winner = turns[c][2], compiled.layers[li].reason
                break
        current = set(compiled.resolve(here, winner).items())
        for key in [k for k in open_since if k not in current]:
            out.append(Shift(open_since.pop(key), here, key[0], key[1]))
        for key in current:
            open_since.setdefault(key, here)
    for (user, reason), since in open_since.items():
        out.append(Shift(since, end, user, reason))
    out.sort(key=lambda s: (s.start, s.user, s.end))
    return out
