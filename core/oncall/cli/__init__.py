"""The ``oncall`` command line: one parser, each command family in its own module, one runner."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..config import Settings
from ..errors import OnCallError
from ..logs import configure as configure_logging
from . import access, alerts, escalation, grouping, incidents, notification, plugin, schedules, server, silences, teams


#: commands that run a server or a long task, whose log at INFO is what they report
_LOGGING_COMMANDS = frozenset({"serve", "engine", "migrate"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncall", description="Self-hosted alerting and on-call.")
    sub = parser.add_subparsers(dest="command", required=True)
    server.register(sub)
    plugin.register_list(sub)
    alert_commands = alerts.register(sub)
    escalation.register_alert_commands(alert_commands)
    escalation.register(sub)
    silences.register(sub)
    incidents.register(sub)
    grouping.register(sub)
    schedules.register(sub)
    notification.register(sub)
    plugin.register(sub)
    access.register(sub)
    teams.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import psycopg

    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    # a server's log says what it started (INFO); a command's output is its answer, with
    # warnings and errors only, unless ONCALL_LOG_LEVEL asks for more
    quiet = args.command not in _LOGGING_COMMANDS and not os.environ.get("ONCALL_LOG_LEVEL")
    configure_logging("WARNING" if quiet else settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except OnCallError as exc:
        # a refusal the user can act on ("already exists", "not found"): a sentence, not a traceback
        print(f"oncall: {exc.detail}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"oncall: cannot reach the database: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
