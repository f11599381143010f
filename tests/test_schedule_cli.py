"""``oncall schedule …`` run as a real process against the test database.

Until the lead registers the commands in ``oncall.cli``, each run goes through a few lines
that build an ``oncall`` parser with ``cli.schedules.register`` and call the chosen command,
as ``oncall.cli.main`` does. Times in the examples are Berlin wall-clock times: the clocks
jump from 02:00 CET to 03:00 CEST on 2026-03-29.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

ONCALL = """
import argparse, sys
from oncall.cli.schedules import register
from oncall.config import Settings
parser = argparse.ArgumentParser(prog="oncall")
register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args()
sys.exit(args.func(args, Settings.from_env()))
"""


@pytest.fixture
def oncall(db_url: str) -> Any:
    env = dict(os.environ, ONCALL_DATABASE_URL=db_url, ONCALL_LOG_LEVEL="WARNING",
               ONCALL_PUBLIC_URL="https://oncall.example.test")

    def run(*argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-c", ONCALL, *argv], env=env, capture_output=True,
                                text=True, timeout=120)
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    return run


def test_a_schedule_set_up_from_the_command_line_answers_who_and_shifts_across_dst(oncall):
    created = oncall("schedule", "create", "--name", "db", "--tz", "Europe/Berlin")
    assert created.stdout.startswith("db  [") and "Europe/Berlin, version 1" in created.stdout

    oncall("schedule", "add-rotation", "db", "--name", "daily", "--users", "alice,bob", "--shift", "1d",
           "--handoff", "02:30", "--start", "2026-03-27")
    shown = oncall("schedule", "add-rotation", "db", "--name", "office", "--users", "carol", "--shift", "1w",
                   "--handoff", "09:00", "--start", "2026-03-23", "--weekdays", "mon-sun", "--between", "09:00-17:00")
    assert "version 3" in shown.stdout
    assert "layer 0: 'daily'  alice, bob  every 1 day, handoff 02:30, from 2026-03-27 02:30 CET" in shown.stdout
    assert "layer 1: 'office'  carol  every 1 week, handoff 09:00, from 2026-03-23 09:00 CET" in shown.stdout
    assert "only sun 09:00 → sun 17:00" in shown.stdout

    # 01:59 CET is bob's; the 02:30 handoff doesn't exist that night and happens at 03:00 CEST
    assert oncall("schedule", "who", "db", "--at", "2026-03-29T01:59").stdout == (
        "on call on 'db' at 2026-03-29 01:59 CET (2026-03-29 00:59 UTC):\n  bob  layer 'daily' (0)\n")
    assert oncall("schedule", "who", "db", "--at", "2026-03-29T03:00+02:00").stdout == (
        "on call on 'db' at 2026-03-29 03:00 CEST (2026-03-29 01:00 UTC):\n  alice  layer 'daily' (0)\n")

    assert oncall("schedule", "shifts", "db", "--from", "2026-03-29", "--to", "2026-03-30").stdout.splitlines() == [
        "2026-03-29 00:00 CET → 2026-03-29 03:00 CEST  bob  layer 'daily' (0)",
        "2026-03-29 03:00 CEST → 2026-03-29 09:00 CEST  alice  layer 'daily' (0)",
        "2026-03-29 09:00 CEST → 2026-03-29 17:00 CEST  carol  layer 'office' (1)",
        "2026-03-29 17:00 CEST → 2026-03-30 00:00 CEST  alice  layer 'daily' (0)",
    ]
    assert oncall("schedule", "shifts", "db", "--from", "2026-03-29", "--to", "2026-03-30",
                  "--user", "carol").stdout.splitlines() == [
        "2026-03-29 09:00 CEST → 2026-03-29 17:00 CEST  carol  layer 'office' (1)",
    ]
    listed = oncall("schedule", "list").stdout
    assert "db " in listed and "Europe/Berlin" in listed and "2 layer(s)  version 3" in listed


def test_overrides_from_the_command_line(oncall):
    oncall("schedule", "create", "--name", "db", "--tz", "Europe/Berlin")
    oncall("schedule", "add-rotation", "db", "--name", "daily", "--users", "alice,bob", "--shift", "1d",
           "--handoff", "02:30", "--start", "2026-03-27")

    added = oncall("schedule", "override", "db", "--replace-with", "dave", "--user", "alice",
                   "--from", "2026-03-29T04:00", "--to", "2026-03-29T06:00").stdout
    override_id, _, rest = added.strip().partition("  ")
    assert rest == "2026-03-29 04:00 CEST → 2026-03-29 06:00 CEST  dave replaces alice"
    oncall("schedule", "override", "db", "--remove", "--user", "alice",
           "--from", "2026-03-29T07:00", "--to", "2026-03-29T08:00")
    oncall("schedule", "override", "db", "--add", "--user", "erin",
           "--from", "2026-03-29T07:30", "--to", "2026-03-29T08:00")

    assert oncall("schedule", "who", "db", "--at", "2026-03-29T05:00").stdout.splitlines()[1:] == [
        f"  dave  override {override_id}"]
    assert oncall("schedule", "who", "db", "--at", "2026-03-29T07:10").stdout == (
        "nobody is on call on 'db' at 2026-03-29 07:10 CEST (2026-03-29 05:10 UTC)\n")

    listed = oncall("schedule", "overrides", "db", "--all").stdout.splitlines()
    assert [line.split("  ", 1)[1] for line in listed] == [
        "2026-03-29 04:00 CEST → 2026-03-29 06:00 CEST  dave replaces alice",
        "2026-03-29 07:00 CEST → 2026-03-29 08:00 CEST  remove alice",
        "2026-03-29 07:30 CEST → 2026-03-29 08:00 CEST  add erin",
    ]
    oncall("schedule", "remove-override", "db", override_id)
    assert oncall("schedule", "who", "db", "--at", "2026-03-29T05:00").stdout.splitlines()[1:] == [
        "  alice  layer 'daily' (0)"]


def test_a_calendar_token_is_printed_once_and_stored_hashed(oncall, db_url):
    oncall("schedule", "create", "--name", "db", "--tz", "UTC")
    out = oncall("schedule", "calendar-token", "db", "--user", "alice").stdout.splitlines()
    assert out[0].startswith("created calendar token ") and out[0].endswith("for 'db' (alice's shifts)")
    secret = out[1].split()[1]
    assert out[1].endswith("(shown only now; it is stored hashed)")
    assert out[2].startswith("feed:  https://oncall.example.test/api/v1/schedules/")
    assert out[2].endswith(f"/calendar.ics?token={secret}")
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT user_id, token_hash FROM alerting.schedule_calendar_tokens").fetchall()
    assert rows == [("alice", hashlib.sha256(secret.encode()).digest())]

    token_id = out[0].split()[3]
    [listed] = oncall("schedule", "calendar-tokens", "db").stdout.splitlines()
    assert listed.startswith(f"{token_id}  ") and "alice's shifts" in listed and secret not in listed
    revoked = oncall("schedule", "revoke-calendar-token", "db", token_id).stdout
    assert revoked == f"revoked calendar token {token_id} of 'db': its feed URL no longer works\n"
    assert oncall("schedule", "calendar-tokens", "db").stdout == "no calendar tokens for 'db'\n"


@pytest.mark.parametrize(("argv", "complaint"), [
    (("schedule", "create", "--name", "x", "--tz", "Mars/Base"),
     "oncall: unknown time zone 'Mars/Base'; use an IANA name"),
    (("schedule", "who", "nope"), "oncall: no schedule has the id or name 'nope'"),
    (("schedule", "shifts", "db", "--from", "2026-01-01", "--to", "2026-06-01"),
     "oncall: shifts are listed over at most 93 days at a time; "
     "2025-12-31T23:00:00+00:00 to 2026-05-31T22:00:00+00:00 is longer"),
    (("schedule", "remove-rotation", "db", "--name", "nope"), "oncall: schedule 'db' has no layer named 'nope'"),
])
def test_refusals_are_one_sentence_and_exit_1(oncall, argv, complaint):
    oncall("schedule", "create", "--name", "db", "--tz", "Europe/Berlin")
    result = oncall(*argv, ok=False)
    assert result.returncode == 1
    assert result.stderr.startswith(complaint)
    assert "Traceback" not in result.stderr


def test_malformed_rotation_flags_are_refused_before_anything_is_written(oncall, db_url):
    oncall("schedule", "create", "--name", "db", "--tz", "UTC")
    for flag, value, complaint in [
        ("--shift", "3x", "not a shift length: '3x'"),
        ("--handoff", "9am", "--handoff must be a time of day like 09:00"),
        ("--weekdays", "mon-fry", "not a day or range of days: 'mon-fry'"),
    ]:
        flags = {"--shift": "1d", "--handoff": "09:00", "--weekdays": "mon-fri", flag: value}
        result = oncall("schedule", "add-rotation", "db", "--name", "x", "--users", "a", "--start", "2026-01-01",
                        *[part for pair in flags.items() for part in pair], ok=False)
        assert result.returncode == 1
        assert complaint in result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT layers, version FROM alerting.schedules").fetchall() == [([], 1)]
