"""Worked schedule examples: DST nights in Berlin and New York, restrictions, overrides, temporary schedules.

Every expected instant here was worked out by hand from the zone's offsets (Berlin: CET
+01:00 / CEST +02:00, changes 2026-03-29 02:00→03:00 and 2026-10-25 03:00→02:00; New
York: EST -05:00 / EDT -04:00, changes 2026-03-08 02:00→03:00 and 2026-11-01 02:00→01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from oncall.errors import InvalidArgument
from oncall.schedules import (
    WEEKDAYS,
    Layer,
    LayerReason,
    OnCallEntry,
    Override,
    OverrideReason,
    Schedule,
    Shift,
    ShiftLength,
    TemporaryReason,
    TemporarySchedule,
    TemporaryShift,
    Weekday,
    WeeklyWindow,
    on_call,
    shifts,
)

H = timedelta(hours=1)
US = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spans(found: list[Shift]) -> list[tuple[datetime, datetime, str]]:
    return [(s.start, s.end, s.user) for s in found]


def who(schedule: Schedule, at: datetime) -> list[str]:
    return [e.user for e in on_call(schedule, at)]


# (zone, handoff, three consecutive daily handoffs around the DST night, in UTC)
DAILY_ACROSS_DST = [
    # Berlin spring forward: 09:00 comes an hour earlier in UTC; 02:30 does not exist on
    # the 29th and hands off when the clocks jump (03:00 CEST = 01:00Z).
    ("Europe/Berlin", time(9), [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]),
    ("Europe/Berlin", time(2, 30), [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]),
    # Berlin fall back: 02:30 happens twice on the 25th; the first (CEST) is the handoff.
    ("Europe/Berlin", time(9), [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]),
    ("Europe/Berlin", time(2, 30), [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
    # New York spring forward: 02:30 on the 8th does not exist; 03:00 EDT = 07:00Z.
    ("America/New_York", time(9), [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)]),
    ("America/New_York", time(2, 30), [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]),
    # New York fall back repeats 01:00–02:00, so 01:30 is the ambiguous time (first: EDT);
    # 02:30 happens once, already in EST.
    ("America/New_York", time(9), [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)]),
    ("America/New_York", time(1, 30), [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]),
    ("America/New_York", time(2, 30), [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)]),
]


@pytest.mark.parametrize(("zone", "handoff", "handoffs"), DAILY_ACROSS_DST)
def test_daily_rotation_hands_off_at_local_time_across_dst_night(zone, handoff, handoffs):
    layer = Layer("daily", ("ana", "ben", "cho"), ShiftLength.daily(), handoff, handoffs[0] - timedelta(days=30))
    schedule = Schedule(zone, (layer,))
    found = shifts(schedule, handoffs[0], handoffs[2])
    assert [(s.start, s.end) for s in found] == [(handoffs[0], handoffs[1]), (handoffs[1], handoffs[2])]
    assert found[0].user != found[1].user
    # the instant before a handoff still belongs to the outgoing person
    assert who(schedule, handoffs[1] - US) == [found[0].user]
    assert who(schedule, handoffs[1]) == [found[1].user]


@pytest.mark.parametrize(
    ("zone", "handoff", "first", "lengths"),
    [
        ("Europe/Berlin", time(9), utc(2026, 3, 28, 8), [23 * H, 24 * H]),
        ("Europe/Berlin", time(9), utc(2026, 10, 24, 7), [25 * H, 24 * H]),
        ("America/New_York", time(9), utc(2026, 3, 7, 14), [23 * H, 24 * H]),
        ("America/New_York", time(9), utc(2026, 11, 1, 13) - timedelta(days=1), [25 * H, 24 * H]),
        ("Europe/Berlin", time(2, 30), utc(2026, 3, 28, 1, 30), [23.5 * H, 23.5 * H]),
        ("Europe/Berlin", time(2, 30), utc(2026, 10, 24, 0, 30), [24 * H, 25 * H]),
        ("America/New_York", time(1, 30), utc(2026, 10, 31, 5, 30), [24 * H, 25 * H]),
    ],
)
def test_day_shift_spanning_dst_change_is_23_or_25_hours(zone, handoff, first, lengths):
    schedule = Schedule(zone, (Layer("d", ("a", "b"), ShiftLength.daily(), handoff, first),))
    found = shifts(schedule, first, first + timedelta(days=2, hours=2))
    assert [s.end - s.start for s in found[:2]] == lengths


def test_weekly_rotation_hands_off_same_local_weekday_and_time_in_berlin():
    monday_0900 = utc(2026, 3, 2, 8)  # Monday 2 March 09:00 CET
    schedule = Schedule(
        "Europe/Berlin", (Layer("weekly", ("ana", "ben"), ShiftLength.weekly(), time(9), monday_0900),)
    )
    spring = shifts(schedule, utc(2026, 3, 23, 8), utc(2026, 4, 6, 7))
    assert spans(spring) == [
        (utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), "ben"),  # 167 h: the week loses an hour
        (utc(2026, 3, 30, 7), utc(2026, 4, 6, 7), "ana"),
    ]
    autumn = shifts(schedule, utc(2026, 10, 19, 7), utc(2026, 11, 2, 8))
    assert [(s.start, s.end - s.start) for s in autumn] == [
        (utc(2026, 10, 19, 7), 169 * H),  # Monday 09:00 CEST to Monday 09:00 CET
        (utc(2026, 10, 26, 8), 168 * H),
    ]
    for s in spring + autumn:
        local = s.start.astimezone(schedule.zone)
        assert (local.weekday(), local.time()) == (Weekday.MONDAY, time(9))


def test_weekly_rotation_with_handoff_inside_new_york_gap_and_fold():
    sunday = utc(2026, 3, 1, 7, 30)  # Sunday 1 March 02:30 EST
    schedule = Schedule(
        "America/New_York", (Layer("weekly", ("ana", "ben"), ShiftLength.weekly(), time(2, 30), sunday),)
    )
    assert [s.start for s in shifts(schedule, sunday, utc(2026, 3, 16))] == [
        sunday,
        utc(2026, 3, 8, 7),  # 02:30 skipped: the handoff happens as the clocks jump to 03:00 EDT
        utc(2026, 3, 15, 6, 30),
    ]
    assert [s.start for s in shifts(schedule, utc(2026, 10, 25, 6, 30), utc(2026, 11, 9))] == [
        utc(2026, 10, 25, 6, 30),
        utc(2026, 11, 1, 7, 30),  # 02:30 EST, once: New York repeats 01:00–02:00
        utc(2026, 11, 8, 7, 30),
    ]


def test_hour_shifts_are_absolute_and_drift_on_the_local_clock_across_dst():
    schedule = Schedule(
        "Europe/Berlin", (Layer("12h", ("ana", "ben"), ShiftLength.hours(12), time(9), utc(2026, 3, 27, 8)),)
    )
    found = shifts(schedule, utc(2026, 3, 27, 8), utc(2026, 3, 30, 8))
    assert [s.start for s in found] == [utc(2026, 3, 27, 8) + k * 12 * H for k in range(6)]
    assert {s.end - s.start for s in found} == {12 * H}
    local = [s.start.astimezone(schedule.zone).time() for s in found]
    assert local == [time(9), time(21), time(9), time(21), time(10), time(22)]


def test_hours_24_differs_from_daily_across_spring_forward():
    start = utc(2026, 3, 28, 8)
    by_hours = Schedule("Europe/Berlin", (Layer("h", ("a", "b"), ShiftLength.hours(24), time(9), start),))
    by_days = Schedule("Europe/Berlin", (Layer("d", ("a", "b"), ShiftLength.daily(), time(9), start),))
    assert shifts(by_hours, start, utc(2026, 3, 30))[1].start == utc(2026, 3, 29, 8)  # 10:00 CEST
    assert shifts(by_days, start, utc(2026, 3, 30))[1].start == utc(2026, 3, 29, 7)  # 09:00 CEST


def test_weekday_office_hours_restriction_follows_local_clock_across_dst():
    office = WeeklyWindow.daily(time(9), time(17), WEEKDAYS)
    layer = Layer("office", ("ana",), ShiftLength.weekly(), time(9), utc(2026, 1, 5, 8), office)
    berlin = Schedule("Europe/Berlin", (layer,))
    assert spans(shifts(berlin, utc(2026, 3, 27), utc(2026, 3, 31))) == [
        (utc(2026, 3, 27, 8), utc(2026, 3, 27, 16), "ana"),  # Friday, CET
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 15), "ana"),  # Monday, CEST
    ]
    new_york = Schedule("America/New_York", (layer,))
    assert spans(shifts(new_york, utc(2026, 10, 30), utc(2026, 11, 3))) == [
        (utc(2026, 10, 30, 13), utc(2026, 10, 30, 21), "ana"),  # Friday, EDT
        (utc(2026, 11, 2, 14), utc(2026, 11, 2, 22), "ana"),  # Monday, EST
    ]
    assert who(berlin, utc(2026, 3, 28, 12)) == []  # Saturday: outside the windows


def test_lower_layer_covers_where_restricted_upper_layer_is_closed():
    base = Layer("24/7", ("night",), ShiftLength.weekly(), time(9), utc(2026, 1, 5, 8))
    office = Layer(
        "office",
        ("day",),
        ShiftLength.weekly(),
        time(9),
        utc(2026, 1, 5, 8),
        WeeklyWindow.daily(time(9), time(17), WEEKDAYS),
    )
    schedule = Schedule("Europe/Berlin", (base, office))
    found = shifts(schedule, utc(2026, 3, 27, 0), utc(2026, 3, 31, 0))
    assert [(s.start, s.end, s.user, s.reason) for s in found] == [
        (utc(2026, 3, 27, 0), utc(2026, 3, 27, 8), "night", LayerReason(0, "24/7")),
        (utc(2026, 3, 27, 8), utc(2026, 3, 27, 16), "day", LayerReason(1, "office")),
        (utc(2026, 3, 27, 16), utc(2026, 3, 30, 7), "night", LayerReason(0, "24/7")),
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 15), "day", LayerReason(1, "office")),
        (utc(2026, 3, 30, 15), utc(2026, 3, 31, 0), "night", LayerReason(0, "24/7")),
    ]


@pytest.mark.parametrize(
    ("saturday", "expected"),
    [
        # Saturday 22:00 CET to Sunday 06:00 CEST: the short night is 7 hours
        (utc(2026, 3, 28), (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))),
        # Saturday 22:00 CEST to Sunday 06:00 CET: the long night is 9 hours
        (utc(2026, 10, 24), (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))),
    ],
)
def test_restriction_crossing_midnight_on_dst_night(saturday, expected):
    night = WeeklyWindow(Weekday.SATURDAY, time(22), Weekday.SUNDAY, time(6))
    layer = Layer("nights", ("owl",), ShiftLength.weekly(), time(9), utc(2026, 1, 5, 8), (night,))
    found = shifts(Schedule("Europe/Berlin", (layer,)), saturday, saturday + timedelta(days=2))
    assert [(s.start, s.end) for s in found] == [expected]


def test_restriction_opening_inside_the_gap_opens_when_the_clocks_jump():
    layer = Layer(
        "early", ("ana",), ShiftLength.daily(), time(9), utc(2026, 3, 1), WeeklyWindow.daily(time(2, 30), time(4))
    )
    found = shifts(Schedule("Europe/Berlin", (layer,)), utc(2026, 3, 28), utc(2026, 3, 30))
    assert [(s.start, s.end) for s in found] == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 3)),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),  # 03:00–04:00 CEST: the half hour before never was
    ]


def test_layer_starting_after_the_days_handoff_gives_first_participant_the_rest_of_that_shift():
    start = utc(2026, 3, 4, 12)  # Wednesday 13:00 CET, handoff at 09:00
    schedule = Schedule("Europe/Berlin", (Layer("d", ("ana", "ben"), ShiftLength.daily(), time(9), start),))
    assert who(schedule, start - US) == []
    assert spans(shifts(schedule, utc(2026, 3, 1), utc(2026, 3, 6, 8))) == [
        (start, utc(2026, 3, 5, 8), "ana"),
        (utc(2026, 3, 5, 8), utc(2026, 3, 6, 8), "ben"),
    ]


def test_layer_starting_before_the_days_handoff_hands_to_first_participant_at_that_handoff():
    start = utc(2026, 3, 1, 23)  # Monday 2 March 00:00 CET; the first handoff is Monday 09:00
    weekly = Layer("w", ("ana", "ben", "cho"), ShiftLength.weekly(), time(9), start)
    schedule = Schedule("Europe/Berlin", (weekly,))
    assert spans(shifts(schedule, utc(2026, 3, 1), utc(2026, 3, 16, 8))) == [
        (start, utc(2026, 3, 2, 8), "cho"),  # the lead-in is the shift before the first one
        (utc(2026, 3, 2, 8), utc(2026, 3, 9, 8), "ana"),
        (utc(2026, 3, 9, 8), utc(2026, 3, 16, 8), "ben"),
    ]


def test_same_user_across_a_handoff_is_one_shift():
    schedule = Schedule(
        "UTC", (Layer("solo", ("ana",), ShiftLength.daily(), time(9), utc(2026, 3, 1, 9)),)
    )
    assert spans(shifts(schedule, utc(2026, 3, 2), utc(2026, 3, 9))) == [(utc(2026, 3, 2), utc(2026, 3, 9), "ana")]


# In Berlin: ana from Monday 2 March 09:00 CET to Monday 9 March, then ben.
WEEK = Layer("week", ("ana", "ben"), ShiftLength.weekly(), time(9), utc(2026, 3, 2, 8))


def test_add_override_puts_a_second_user_on_call():
    ov = Override.add("ov1", utc(2026, 3, 3, 12), utc(2026, 3, 3, 18), "cho")
    schedule = Schedule("Europe/Berlin", (WEEK,), (ov,))
    assert on_call(schedule, utc(2026, 3, 3, 13)) == [
        OnCallEntry("ana", LayerReason(0, "week")),
        OnCallEntry("cho", OverrideReason("ov1")),
    ]
    assert who(schedule, utc(2026, 3, 3, 18)) == ["ana"]


def test_remove_override_can_leave_no_one_on_call():
    ov = Override.remove("ov1", utc(2026, 3, 3, 12), utc(2026, 3, 3, 18), "ana")
    schedule = Schedule("Europe/Berlin", (WEEK,), (ov,))
    assert who(schedule, utc(2026, 3, 3, 12)) == []
    assert spans(shifts(schedule, utc(2026, 3, 3), utc(2026, 3, 4))) == [
        (utc(2026, 3, 3), utc(2026, 3, 3, 12), "ana"),
        (utc(2026, 3, 3, 18), utc(2026, 3, 4), "ana"),
    ]


def test_replace_override_swaps_only_while_the_replaced_user_is_on_call():
    # ana holds the week to 9 March 08:00Z; ben takes over after. dee covers for ana only.
    ov = Override.replace("swap", utc(2026, 3, 8), utc(2026, 3, 10), "dee", replaces="ana")
    schedule = Schedule("Europe/Berlin", (WEEK,), (ov,))
    assert [(s.start, s.end, s.user, s.reason) for s in shifts(schedule, utc(2026, 3, 7), utc(2026, 3, 11))] == [
        (utc(2026, 3, 7), utc(2026, 3, 8), "ana", LayerReason(0, "week")),
        (utc(2026, 3, 8), utc(2026, 3, 9, 8), "dee", OverrideReason("swap")),
        (utc(2026, 3, 9, 8), utc(2026, 3, 11), "ben", LayerReason(0, "week")),
    ]


def test_overrides_apply_in_listed_order():
    remove = Override.remove("first", utc(2026, 3, 3), utc(2026, 3, 4), "cho")
    add = Override.add("second", utc(2026, 3, 3), utc(2026, 3, 4), "cho")
    at = utc(2026, 3, 3, 12)
    assert who(Schedule("Europe/Berlin", (WEEK,), (remove, add)), at) == ["ana", "cho"]
    assert who(Schedule("Europe/Berlin", (WEEK,), (add, remove)), at) == ["ana"]


def test_add_override_for_someone_already_on_call_reports_the_override():
    ov = Override.add("extra", utc(2026, 3, 3, 12), utc(2026, 3, 3, 18), "ana")
    schedule = Schedule("Europe/Berlin", (WEEK,), (ov,))
    assert on_call(schedule, utc(2026, 3, 3, 12)) == [OnCallEntry("ana", OverrideReason("extra"))]
    assert [(s.start, s.end, s.reason) for s in shifts(schedule, utc(2026, 3, 3), utc(2026, 3, 4))] == [
        (utc(2026, 3, 3), utc(2026, 3, 3, 12), LayerReason(0, "week")),
        (utc(2026, 3, 3, 12), utc(2026, 3, 3, 18), OverrideReason("extra")),
        (utc(2026, 3, 3, 18), utc(2026, 3, 4), LayerReason(0, "week")),
    ]


def test_temporary_schedule_replaces_layers_and_overrides():
    temp = TemporarySchedule(
        "holidays",
        utc(2026, 3, 4),
        utc(2026, 3, 6),
        (
            TemporaryShift(utc(2026, 3, 4), utc(2026, 3, 5), ("eve", "fay")),
            TemporaryShift(utc(2026, 3, 5, 12), utc(2026, 3, 6), ("gus",)),
        ),
    )
    ov = Override.add("ov", utc(2026, 3, 3), utc(2026, 3, 7), "hal")
    schedule = Schedule("Europe/Berlin", (WEEK,), (ov,), (temp,))
    assert on_call(schedule, utc(2026, 3, 4, 1)) == [
        OnCallEntry("eve", TemporaryReason("holidays")),
        OnCallEntry("fay", TemporaryReason("holidays")),
    ]
    assert who(schedule, utc(2026, 3, 5, 6)) == []  # inside the window, between its shifts
    assert who(schedule, utc(2026, 3, 6)) == ["ana", "hal"]  # the window has ended
    assert spans(shifts(schedule, utc(2026, 3, 3, 12), utc(2026, 3, 6, 12))) == [
        (utc(2026, 3, 3, 12), utc(2026, 3, 4), "ana"),
        (utc(2026, 3, 3, 12), utc(2026, 3, 4), "hal"),
        (utc(2026, 3, 4), utc(2026, 3, 5), "eve"),
        (utc(2026, 3, 4), utc(2026, 3, 5), "fay"),
        (utc(2026, 3, 5, 12), utc(2026, 3, 6), "gus"),
        (utc(2026, 3, 6), utc(2026, 3, 6, 12), "ana"),
        (utc(2026, 3, 6), utc(2026, 3, 6, 12), "hal"),
    ]


def test_higher_layer_wins_over_lower_layer():
    low = Layer("low", ("ana",), ShiftLength.weekly(), time(9), utc(2026, 1, 1))
    high = Layer("high", ("ben",), ShiftLength.weekly(), time(9), utc(2026, 3, 10))
    schedule = Schedule("UTC", (low, high))
    assert on_call(schedule, utc(2026, 3, 9)) == [OnCallEntry("ana", LayerReason(0, "low"))]
    assert on_call(schedule, utc(2026, 3, 10)) == [OnCallEntry("ben", LayerReason(1, "high"))]


def test_instants_in_any_offset_are_accepted_and_answers_are_utc():
    schedule = Schedule("Europe/Berlin", (WEEK,))
    kolkata = timezone(timedelta(hours=5, minutes=30))
    assert who(schedule, datetime(2026, 3, 9, 13, 29, tzinfo=kolkata)) == ["ana"]  # 07:59Z, 08:59 CET
    found = shifts(schedule, datetime(2026, 3, 9, 12, tzinfo=kolkata), datetime(2026, 3, 10, tzinfo=kolkata))
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in found)
    assert found[0].start == utc(2026, 3, 9, 6, 30)


def test_naive_datetimes_are_refused():
    schedule = Schedule("Europe/Berlin", (WEEK,))
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        on_call(schedule, datetime(2026, 3, 3, 12))
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        shifts(schedule, datetime(2026, 3, 3), utc(2026, 3, 4))
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        Layer("x", ("a",), ShiftLength.daily(), time(9), datetime(2026, 3, 3))
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        Override.add("o", datetime(2026, 3, 3), utc(2026, 3, 4), "a")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Schedule("Mars/Olympus_Mons"), "unknown time zone"),
        (lambda: Layer("x", (), ShiftLength.daily(), time(9), utc(2026, 1, 1)), "at least one participant"),
        (lambda: ShiftLength.hours(0), "whole number >= 1"),
        (lambda: Layer("x", ("a",), ShiftLength.daily(), time(9, tzinfo=UTC), utc(2026, 1, 1)), "tzinfo"),
        (lambda: Override.add("o", utc(2026, 1, 2), utc(2026, 1, 1), "a"), "must be before end"),
        (lambda: Override.replace("o", utc(2026, 1, 1), utc(2026, 1, 2), "a", replaces="a"), "themselves"),
        (lambda: WeeklyWindow(Weekday.MONDAY, time(9), Weekday.MONDAY, time(9)), "same moment"),
        (
            lambda: Schedule(
                "UTC",
                temporary_schedules=(
                    TemporarySchedule("t1", utc(2026, 1, 1), utc(2026, 1, 3)),
                    TemporarySchedule("t2", utc(2026, 1, 2), utc(2026, 1, 4)),
                ),
            ),
            "overlap",
        ),
        (
            lambda: TemporarySchedule(
                "t", utc(2026, 1, 1), utc(2026, 1, 2), (TemporaryShift(utc(2026, 1, 1), utc(2026, 1, 3), ("a",)),)
            ),
            "outside",
        ),
        (lambda: shifts(Schedule("UTC"), utc(2026, 1, 2), utc(2026, 1, 1)), "before start"),
    ],
)
def test_invalid_schedules_are_refused_with_a_clear_message(build, message):
    with pytest.raises(InvalidArgument, match=message):
        build()
