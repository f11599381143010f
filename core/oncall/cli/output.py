"""How a command prints what the API answered: ``--json`` (the REST API's JSON), times, and who acts.

``--json`` prints a response exactly as the REST API answers it (``rest.jsonmap.response_json``:
proto field names, enums by name, defaults written), one JSON document, so a script that
reads the CLI reads the API too::

    if args.json:
        return print_json(reply)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import datetime

import orjson
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def add_json_flag(p: argparse.ArgumentParser) -> None:
    """``--json``: print the response as the REST API's JSON instead of a table."""
    p.add_argument("--json", action="store_true", help="print the API's answer as JSON (the REST API's shape)")


def json_text(message: Message) -> str:
    """``message`` as the REST API writes it, indented."""
    from ..rest.jsonmap import response_json

    return orjson.dumps(response_json(message), option=orjson.OPT_INDENT_2).decode()


def print_json(message: Message) -> int:
    """Print ``message`` as the REST API's JSON; 0, for ``return print_json(reply)``."""
    print(json_text(message))
    return 0


def print_json_object(parts: Mapping[str, Message]) -> int:
    """Print several responses as one JSON object (``{"alert": …, "timeline": …}``); 0."""
    from ..rest.jsonmap import response_json

    print(orjson.dumps({name: response_json(m) for name, m in parts.items()}, option=orjson.OPT_INDENT_2).decode())
    return 0


def when(ts: Timestamp, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp field as UTC text; ``-`` when it is unset."""
    if not ts.seconds and not ts.nanos:
        return "-"
    return f"{ts.ToDatetime().replace(tzinfo=None):{fmt}}"


def as_datetime(value: datetime) -> Timestamp:
    """A datetime as a Timestamp field value."""
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def enum_word(value: str, prefix: str) -> str:
    """``ALERT_STATUS_ACKNOWLEDGED`` → ``acknowledged``."""
    return value.removeprefix(prefix).lower()


def add_user_flag(p: argparse.ArgumentParser, what: str = "acting") -> None:
    """``--user``: who the action is credited to (default ``ONCALL_USER``)."""
    p.add_argument("--user", help=f"who is {what} (a user id); default: ONCALL_USER")


def acting_user(args: argparse.Namespace, environ: Mapping[str, str] = os.environ, *, attr: str = "user") -> str:
    """``--user`` (or the flag ``attr`` names), else ``ONCALL_USER``; exits 2 with a sentence when
    neither names anyone.

    An API key acts for the user the request names (the audit log names the key), so an
    action that is credited to someone needs a name from the command line.
    """
    user = (getattr(args, attr, None) or environ.get("ONCALL_USER", "")).strip()
    if not user:
        flag = "--" + attr.replace("_", "-")
        print(f"oncall: who is acting? give {flag} USER or set ONCALL_USER", file=sys.stderr)
        raise SystemExit(2)
    return user
