"""``oncall keys …`` and ``oncall audit``: API keys and the audit log, through ApiKeyService and AuditService.

Locally (no ``ONCALL_SERVER_URL``) the command line is ``internal:cli`` (admin), so it makes
the first admin key of a new server; remotely, the key it is called with decides.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from ..access.v1 import access_pb2 as pb
from ..config import Settings
from .api import Api, run_api
from .output import as_datetime, when

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime, flag: str) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w`` from now, or an ISO 8601 instant (UTC when it names no zone)."""
    m = _DURATION.match(text.strip())
    if m:
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SystemExit(f"{flag} takes a duration (30d, 12h, 90m, 2w) or an ISO 8601 time, got {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: ``2h`` (ago), ``7d`` (ago) or an ISO 8601 time."""
    m = _DURATION.match(text.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return parse_when(text, now, "--since")


def _time(value: Timestamp) -> str:
    return when(value)


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    expires = parse_when(args.expires, now, "--expires") if args.expires else None
    request = pb.CreateApiKeyRequest(name=args.name, role=args.role, team_id=args.team or "", scopes=args.scope or [])
    if expires is not None:
        request.expires_at.CopyFrom(as_datetime(expires))

    async def go(api: Api) -> int:
        made = await api.call("ApiKeyService/CreateApiKey", request)
        key, token = made.api_key, made.key
        print(f"created API key {key.id} {key.name!r} (role {key.role}"
              f"{', team ' + key.team_id if key.team_id else ''}"
              f"{', scopes ' + ' '.join(key.scopes) if key.scopes else ''}"
              f"{', expires ' + _time(key.expires_at) if key.HasField('expires_at') else ''})")
        print(f"key: {token}")
        print("The key is shown only now; it is stored hashed. Send it as 'authorization: Bearer <key>'.")
        return 0

    return run_api(settings, go)


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        listed = (await api.call("ApiKeyService/ListApiKeys", pb.ListApiKeysRequest(include_inactive=args.all))).api_keys
        now = datetime.now(UTC)
        print(f"{'ID':>4}  {'NAME':<20} {'ROLE':<10} {'KEY':<24} {'STATE':<8} {'LAST USED':<16} EXPIRES")
        for k in listed:
            expired = k.HasField("expires_at") and k.expires_at.ToDatetime(tzinfo=UTC) <= now
            state = "revoked" if k.HasField("revoked_at") else ("expired" if expired else "active")
            print(f"{k.id:>4}  {k.name:<20} {k.role:<10} {'oncall_' + k.prefix + '_…':<24} {state:<8} "
                  f"{_time(k.last_used_at):<16} {_time(k.expires_at)}")
        return 0

    return run_api(settings, go)


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        key = (await api.call("ApiKeyService/RevokeApiKey", pb.RevokeApiKeyRequest(id=args.id))).api_key
        print(f"revoked API key {key.id} {key.name!r}")
        return 0

    return run_api(settings, go)


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    request = pb.ListAuditEventsRequest(
        principal=args.principal or "", method=args.method or "", resource=args.resource or "",
        outcome=args.outcome or "", page_size=args.limit, page_token=args.page_token or "",
    )
    if args.since:
        request.since.CopyFrom(as_datetime(parse_since(args.since, now)))

    async def go(api: Api) -> int:
        page = await api.call("AuditService/ListAuditEvents", request)
        for e in page.events:
            if args.json:
                print(json.dumps({"id": e.id, "at": e.at.ToDatetime(tzinfo=UTC).isoformat(), "principal": e.principal,
                                  "role": e.role, "method": e.method, "resource": e.resource, "outcome": e.outcome,
                                  "summary": json_format.MessageToDict(e.summary), "peer": e.peer,
                                  "user_agent": e.user_agent}))
            else:
                print(f"{when(e.at, '%Y-%m-%d %H:%M:%S')}  {e.principal:<28} {e.method.rpartition('/')[2]:<24} "
                      f"{e.resource:<20} {e.outcome}")
        if page.next_page_token:
            print(f"more: --page-token {page.next_page_token}")
        return 0

    return run_api(settings, go)


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage API keys (who may call gRPC and the API, with which role)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    p = ksub.add_parser("create", help="create an API key and print it (shown once)")
    p.add_argument("--name", required=True, help="a label for the key (bootstrap, grafana, ci …)")
    p.add_argument("--role", required=True, choices=["viewer", "responder", "editor", "admin"])
    p.add_argument("--team", help="grant the role for this team only")
    p.add_argument("--scope", action="append", metavar="PERMISSION",
                   help="narrow the key to this permission (resource:action, e.g. alerts:ack); repeatable")
    p.add_argument("--expires", metavar="WHEN", help="a duration (30d, 12h) or an ISO 8601 time; default: never")
    p.set_defaults(func=cmd_keys_create)
    p = ksub.add_parser("list", help="list API keys (never their secrets)")
    p.add_argument("--all", action="store_true", help="also revoked and expired keys")
    p.set_defaults(func=cmd_keys_list)
    p = ksub.add_parser("revoke", help="revoke an API key")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_keys_revoke)

    p = sub.add_parser("audit", help="show the audit log (who changed what), newest first")
    p.add_argument("--principal", help="only this principal (api_key:3 (bootstrap))")
    p.add_argument("--method", help="only this method (UpdatePolicy, or the full name)")
    p.add_argument("--resource", help="only this resource kind (policies) or resource (policies/3)")
    p.add_argument("--outcome", help="only this outcome (OK, PERMISSION_DENIED …)")
    p.add_argument("--since", metavar="WHEN", help="a time ago (2h, 7d) or an ISO 8601 time")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--page-token")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.set_defaults(func=cmd_audit)
