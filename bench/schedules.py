"""Benchmark for the schedule engine: on_call and shifts() latency on a realistic schedule.

The schedule has 5 layers (weekly, daily, 12-hour, weekday office hours, weekends) and
100 overrides, in Europe/Berlin, measured over March 2026 (which holds a DST change).
Prints p50/p99 (wall clock and CPU time) for: on_call on a schedule already in use, on_call on a freshly built
schedule (includes building its index, as when a schedule is loaded per request), and
shifts() over the whole month.

    .venv/bin/python bench/schedules.py [--calls 20000] [--months 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from oncall.schedules import (
    WEEKDAYS,
    Layer,
    Override,
    Schedule,
    ShiftLength,
    Weekday,
    WeeklyWindow,
    on_call,
    shifts,
)

MONTH_START = datetime(2026, 3, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 4, 1, tzinfo=UTC)


def build_schedule(rng: random.Random) -> Schedule:
    people = [f"user-{i}" for i in range(20)]
    epoch = datetime(2026, 1, 5, 8, tzinfo=UTC)  # a Monday, 09:00 in Berlin
    layers = (
        Layer("primary weekly", tuple(people[0:6]), ShiftLength.weekly(), time(9), epoch),
        Layer("secondary daily", tuple(people[6:10]), ShiftLength.daily(), time(9), epoch),
        Layer("follow the sun", tuple(people[10:13]), ShiftLength.hours(12), time(8), epoch),
        Layer(
            "office hours",
            tuple(people[13:18]),
            ShiftLength.daily(),
            time(9),
            epoch,
            WeeklyWindow.daily(time(9), time(17), WEEKDAYS),
        ),
        Layer(
            "weekends",
            tuple(people[18:20]),
            ShiftLength.weekly(),
            time(17),
            epoch,
            (WeeklyWindow(Weekday.FRIDAY, time(17), Weekday.MONDAY, time(9)),),
        ),
    )
    overrides = []
    span = int((MONTH_END - MONTH_START).total_seconds()) + 30 * 86400
    for i in range(100):
        start = MONTH_START - timedelta(days=15) + timedelta(seconds=rng.randrange(0, span, 60))
        end = start + timedelta(minutes=rng.randrange(60, 3 * 24 * 60, 15))
        a, b = rng.sample(people, 2)
        kind = rng.choice(("add", "remove", "replace"))
        if kind == "add":
            overrides.append(Override.add(f"ov-{i}", start, end, a))
        elif kind == "remove":
            overrides.append(Override.remove(f"ov-{i}", start, end, a))
        else:
            overrides.append(Override.replace(f"ov-{i}", start, end, a, replaces=b))
    return Schedule("Europe/Berlin", layers, tuple(overrides))


def random_instant(rng: random.Random) -> datetime:
    span = int((MONTH_END - MONTH_START).total_seconds() * 1_000_000)
    return MONTH_START + timedelta(microseconds=rng.randrange(span))


def measure(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall time and this thread's CPU time of each call, in milliseconds.

    On a busy machine the wall-time tail is mostly the scheduler preempting us; the CPU
    time is what the call itself costs.
    """
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = clock.perf_counter_ns(), clock.thread_time_ns()
        fn()
        cpu.append((clock.thread_time_ns() - c0) / 1e6)
        wall.append((clock.perf_counter_ns() - w0) / 1e6)
    return wall, cpu


def report(name: str, measured: tuple[list[float], list[float]]) -> None:
    wall, cpu = (statistics.quantiles(m, n=100, method="inclusive") for m in measured)
    print(
        f"{name:<40} n={len(measured[0]):<6} "
        f"wall p50={wall[49]:.3f} p99={wall[98]:.3f} ms   cpu p50={cpu[49]:.3f} p99={cpu[98]:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="on_call calls to time")
    parser.add_argument("--months", type=int, default=30, help="shifts() calls (one month each) to time")
    args = parser.parse_args()
    rng = random.Random(42)

    schedule = build_schedule(rng)
    on_call(schedule, MONTH_START)  # build its index once, as a long-lived caller would
    instants = [random_instant(rng) for _ in range(args.calls)]
    it = iter(instants)
    report("on_call (5 layers, 100 overrides)", measure(lambda: on_call(schedule, next(it)), args.calls))

    fresh = [build_schedule(random.Random(i)) for i in range(min(args.calls, 500))]
    fresh_it = iter(fresh)
    report(
        "on_call on a freshly built schedule",
        measure(lambda: on_call(next(fresh_it), random_instant(rng)), len(fresh)),
    )

    count = len(shifts(schedule, MONTH_START, MONTH_END))
    report(
        f"shifts() over a month ({count} shifts)",
        measure(lambda: shifts(schedule, MONTH_START, MONTH_END), args.months),
    )


if __name__ == "__main__":
    main()
