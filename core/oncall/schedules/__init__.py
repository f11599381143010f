"""On-call schedules: who is on call when, computed from layers, overrides and temporary schedules.

Pure computation, no I/O: storage and services build a ``Schedule`` and ask ``on_call``
or ``shifts``. The rules (wall-clock handoffs, DST gaps and folds, precedence) are in
docs/schedules.md.
"""

from .model import (
    EVERY_DAY,
    WEEKDAYS,
    Layer,
    LayerReason,
    OnCallEntry,
    Override,
    OverrideKind,
    OverrideReason,
    Reason,
    Schedule,
    Shift,
    ShiftLength,
    ShiftUnit,
    TemporaryReason,
    TemporarySchedule,
    TemporaryShift,
    Weekday,
    WeeklyWindow,
)
from .resolve import on_call, shifts
from .wallclock import instant_at

__all__ = [
    "EVERY_DAY",
    "WEEKDAYS",
    "Layer",
    "LayerReason",
    "OnCallEntry",
    "Override",
    "OverrideKind",
    "OverrideReason",
    "Reason",
    "Schedule",
    "Shift",
    "ShiftLength",
    "ShiftUnit",
    "TemporaryReason",
    "TemporarySchedule",
    "TemporaryShift",
    "Weekday",
    "WeeklyWindow",
    "instant_at",
    "on_call",
    "shifts",
]
