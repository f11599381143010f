"""What an on-call schedule is made of: layers, restrictions, overrides, temporary schedules, results.

Every value here is a frozen dataclass, checked when it is built: instants must be
timezone-aware and are normalised to UTC, intervals must be non-empty, sequences become
tuples. A ``Schedule`` that was built is therefore one the resolver can compute on without
further checks. Bad input raises ``InvalidArgument`` (a 400 / INVALID_ARGUMENT upstream).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import IntEnum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InvalidArgument



def utc_instant(value: Any, what: str) -> datetime:
    """``value`` as a UTC datetime; naive datetimes are refused, never guessed."""
    if not isinstance(value, datetime):
        raise InvalidArgument(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    # Always the same tzinfo object: aware comparisons between datetimes sharing one tzinfo
    # take CPython's fast path, which the bisect-heavy resolver relies on.
    return value.astimezone(UTC)


def _check_interval(start: datetime, end: datetime, what: str) -> None:
    if not start < end:
        raise InvalidArgument(f"{what}: start {start.isoformat()} must be before end {end.isoformat()}")


def _user(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{what} must be a non-empty user id string, got {value!r}")
    return value


def _local_time(value: Any, what: str) -> time:
    if not isinstance(value, time):
        raise InvalidArgument(f"{what} must be a datetime.time, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise InvalidArgument(f"{what} is a local wall-clock time; it must not carry a tzinfo")
    # fold would silently change how a repeated local time resolves; the schedule's rule decides.
    return value.replace(fold=0)


class Weekday(IntEnum):
    """Days of the week, numbered like ``date.weekday()``."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


WEEKDAYS = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)
EVERY_DAY = tuple(Weekday)


class ShiftUnit(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True, slots=True)
class ShiftLength:
    """How long one participant holds a layer: ``count`` hours, days or weeks.

    Hours are absolute durations; days and weeks are counted on the schedule's local
    calendar, so a day that contains a daylight-saving change is 23 or 25 hours long.
    """

    count: int
    unit: ShiftUnit

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise InvalidArgument(f"shift length must be a whole number >= 1, got {self.count!r}")
        try:
            object.__setattr__(self, "unit", ShiftUnit(self.unit))
        except ValueError:
            raise InvalidArgument(f"shift unit must be hour, day or week, got {self.unit!r}") from None

    @classmethod
    def hours(cls, count: int) -> ShiftLength:
        return cls(count, ShiftUnit.HOUR)

    @classmethod
    def days(cls, count: int) -> ShiftLength:
        return cls(count, ShiftUnit.DAY)

    @classmethod
    def weeks(cls, count: int) -> ShiftLength:
        return cls(count, ShiftUnit.WEEK)

    @classmethod
    def hourly(cls) -> ShiftLength:
        return cls.hours(1)

    @classmethod
    def daily(cls) -> ShiftLength:
        return cls.days(1)

    @classmethod
    def weekly(cls) -> ShiftLength:
        return cls.weeks(1)

    @property
    def calendar_days(self) -> int | None:
        """Local calendar days per shift, or None for an hour-based (absolute) length."""
        if self.unit is ShiftUnit.HOUR:
            return None
        return self.count * (7 if self.unit is ShiftUnit.WEEK else 1)


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """A window that repeats every week, in the schedule's local time.

    It opens at ``start_time`` on ``start_day`` and closes at ``end_time`` on ``end_day``,
    the first time that moment comes after the opening: Friday 17:00 to Monday 09:00 spans
    the weekend, Monday 22:00 to Monday 06:00 spans almost a whole week.
    """

    start_day: Weekday
    start_time: time
    end_day: Weekday
    end_time: time

    def __post_init__(self) -> None:
        for name in ("start_day", "end_day"):
            try:
                object.__setattr__(self, name, Weekday(getattr(self, name)))
            except ValueError:
                raise InvalidArgument(f"{name} must be 0 (Monday) to 6 (Sunday)") from None
        object.__setattr__(self, "start_time", _local_time(self.start_time, "window start_time"))
        object.__setattr__(self, "end_time", _local_time(self.end_time, "window end_time"))
        if self.start_day == self.end_day and self.start_time == self.end_time:
            raise InvalidArgument("a restriction window must not open and close at the same moment")

    @property
    def end_day_offset(self) -> int:
        """Local calendar days from the opening day to the closing day (0 to 7)."""
        days = (self.end_day - self.start_day) % 7
        if days == 0 and self.end_time <= self.start_time:
            return 7
        return days

    @classmethod
    def daily(
        cls, start: time, end: time, days: Iterable[Weekday | int] = EVERY_DAY
    ) -> tuple[WeeklyWindow, ...]:
        """One window per given day from ``start`` to ``end``; past midnight when ``end <= start``.

        ``WeeklyWindow.daily(time(9), time(17), WEEKDAYS)`` is office hours; a ``start`` of
        22:00 and ``end`` of 06:00 on Friday means Friday night into Saturday morning.
        """
        windows = []
        for day in days:
            start_day = Weekday(day)
            end_day = Weekday((start_day + 1) % 7) if end <= start else start_day
            windows.append(cls(start_day, start, end_day, end))
        return tuple(windows)


@dataclass(frozen=True, slots=True)
class Layer:
    """A rotation: ``participants`` take turns, one shift each, handing off at ``handoff`` local time.

    The rotation's first handoff, to ``participants[0]``, is at ``handoff`` on the local date
    of ``start``; if ``start`` is earlier that day, the lead-in is the previous turn's (the
    last participant's). The layer has no one on call before ``start``. With
    ``restrictions`` it has someone on call only inside those windows.
    """

    name: str
    participants: tuple[str, ...]
    shift_length: ShiftLength
    handoff: time
    start: datetime
    restrictions: tuple[WeeklyWindow, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InvalidArgument("layer name must be a string")
        participants = tuple(self.participants)
        if not participants:
            raise InvalidArgument(f"layer {self.name!r} needs at least one participant")
        for p in participants:
            _user(p, f"layer {self.name!r} participant")
        object.__setattr__(self, "participants", participants)
        if not isinstance(self.shift_length, ShiftLength):
            raise InvalidArgument(f"layer {self.name!r} shift_length must be a ShiftLength")
        object.__setattr__(self, "handoff", _local_time(self.handoff, f"layer {self.name!r} handoff"))
        object.__setattr__(self, "start", utc_instant(self.start, f"layer {self.name!r} start"))
        restrictions = tuple(self.restrictions)
        for r in restrictions:
            if not isinstance(r, WeeklyWindow):
                raise InvalidArgument(f"layer {self.name!r} restrictions must be WeeklyWindow values")
        object.__setattr__(self, "restrictions", restrictions)


class OverrideKind(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Override:
    """For ``[start, end)``: put ``add_user`` on call, take ``remove_user`` off, or both (replace).

    A replace only acts while ``remove_user`` is on call, and then ``add_user`` takes their
    place; an add needs no one to make room; a remove may leave no one on call.
    """

    id: str
    start: datetime
    end: datetime
    add_user: str | None = None
    remove_user: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidArgument("override id must be a non-empty string")
        object.__setattr__(self, "start", utc_instant(self.start, f"override {self.id} start"))
        object.__setattr__(self, "end", utc_instant(self.end, f"override {self.id} end"))
        _check_interval(self.start, self.end, f"override {self.id}")
        if self.add_user is None and self.remove_user is None:
            raise InvalidArgument(f"override {self.id} must add a user, remove one, or both")
        if self.add_user is not None:
            _user(self.add_user, f"override {self.id} add_user")
        if self.remove_user is not None:
            _user(self.remove_user, f"override {self.id} remove_user")
        if self.add_user == self.remove_user:
            raise InvalidArgument(f"override {self.id} replaces {self.add_user} with themselves")

    @property
    def kind(self) -> OverrideKind:
        if self.add_user is None:
            return OverrideKind.REMOVE
        if self.remove_user is None:
            return OverrideKind.ADD
        return OverrideKind.REPLACE

    @classmethod
    def add(cls, id: str, start: datetime, end: datetime, user: str) -> Override:
        return cls(id, start, end, add_user=user)

    @classmethod
    def remove(cls, id: str, start: datetime, end: datetime, user: str) -> Override:
        return cls(id, start, end, remove_user=user)

    @classmethod
    def replace(cls, id: str, start: datetime, end: datetime, user: str, replaces: str) -> Override:
        return cls(id, start, end, add_user=user, remove_user=replaces)


@dataclass(frozen=True, slots=True)
class TemporaryShift:
    """One explicit shift of a temporary schedule: ``users`` are on call for ``[start, end)``."""

    start: datetime
    end: datetime
    users: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc_instant(self.start, "temporary shift start"))
        object.__setattr__(self, "end", utc_instant(self.end, "temporary shift end"))
        _check_interval(self.start, self.end, "temporary shift")
        users = tuple(self.users)
        if not users:
            raise InvalidArgument("a temporary shift needs at least one user")
        for u in users:
            _user(u, "temporary shift user")
        object.__setattr__(self, "users", users)


@dataclass(frozen=True, slots=True)
class TemporarySchedule:
    """Replaces the whole schedule (layers and overrides) for ``[start, end)`` with explicit shifts.

    Inside the window only ``shifts`` count; where none runs, no one is on call.
    """

    id: str
    start: datetime
    end: datetime
    shifts: tuple[TemporaryShift, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidArgument("temporary schedule id must be a non-empty string")
        object.__setattr__(self, "start", utc_instant(self.start, f"temporary schedule {self.id} start"))
        object.__setattr__(self, "end", utc_instant(self.end, f"temporary schedule {self.id} end"))
        _check_interval(self.start, self.end, f"temporary schedule {self.id}")
        shifts = tuple(self.shifts)
        for s in shifts:
            if not isinstance(s, TemporaryShift):
                raise InvalidArgument(f"temporary schedule {self.id} shifts must be TemporaryShift values")
            if s.start < self.start or s.end > self.end:
                raise InvalidArgument(
                    f"temporary schedule {self.id}: shift {s.start.isoformat()}–{s.end.isoformat()} "
                    "lies outside the temporary schedule"
                )
        object.__setattr__(self, "shifts", shifts)


@dataclass(frozen=True)
class Schedule:
    """A time zone and what decides who is on call in it.

    ``layers`` are ordered bottom to top: where several have someone on call, the last
    one listed wins. ``overrides`` apply on top of the layers, in the order listed (each
    to the result of those before it). ``temporary_schedules`` must not overlap.

    Not slotted on purpose: the resolver keeps its precomputed index in the instance
    ``__dict__`` (outside the dataclass fields, so equality and repr ignore it).
    """

    time_zone: str
    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()
    temporary_schedules: tuple[TemporarySchedule, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidArgument(f"unknown time zone {self.time_zone!r}; use an IANA name") from None
        for name, kind in (
            ("layers", Layer),
            ("overrides", Override),
            ("temporary_schedules", TemporarySchedule),
        ):
            values = tuple(getattr(self, name))
            for v in values:
                if not isinstance(v, kind):
                    raise InvalidArgument(f"schedule {name} must be {kind.__name__} values")
            object.__setattr__(self, name, values)
        _check_unique((o.id for o in self.overrides), "override")
        _check_unique((t.id for t in self.temporary_schedules), "temporary schedule")
        by_start = sorted(self.temporary_schedules, key=lambda t: t.start)
        for before, after in zip(by_start, by_start[1:], strict=False):
            if after.start < before.end:
                raise InvalidArgument(f"temporary schedules {before.id} and {after.id} overlap")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # ZoneInfo caches instances by key


def _check_unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InvalidArgument(f"{what} id {i!r} is used twice")
        seen.add(i)


@dataclass(frozen=True, slots=True)
class LayerReason:
    """On call through layer ``index`` (0 = bottom) named ``name``."""

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class OverrideReason:
    """On call because override ``override_id`` put them there."""

    override_id: str


@dataclass(frozen=True, slots=True)
class TemporaryReason:
    """On call through a shift of temporary schedule ``temporary_schedule_id``."""

    temporary_schedule_id: str


Reason = LayerReason | OverrideReason | TemporaryReason


@dataclass(frozen=True, slots=True)
class OnCallEntry:
    """One user on call at an instant, and why."""

    user: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class Shift:
    """``user`` is on call for ``[start, end)`` (UTC) for ``reason``, continuously."""

    start: datetime
    end: datetime
    user: str
    reason: Reason
