"""``oncall teams …``: teams made, listed and deleted by the trusted door (the CLI has the database), and an integration given to one."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ..config import Settings
from .runner import run


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..auth import teams

    async def go(pool: Any) -> int:
        team = await teams.create(pool, args.id, args.name or "", datetime.now(UTC))
        print(f"created team {team.id} ({team.name})")
        return 0

    return run(settings, go)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..auth import teams

    async def go(pool: Any) -> int:
        print(f"{'ID':<24} {'NAME':<32} CREATED")
        for team in await teams.list_teams(pool):
            print(f"{team.id:<24} {team.name:<32} {team.created_at:%Y-%m-%d %H:%M}")
        return 0

    return run(settings, go)


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..auth import teams

    async def go(pool: Any) -> int:
        await teams.delete(pool, args.id, datetime.now(UTC))
        print(f"deleted team {args.id}")
        return 0

    return run(settings, go)


def cmd_integration(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import store
    from ..auth import teams

    team = None if args.team == "-" else teams.check_id(args.team, "team")

    async def go(pool: Any) -> int:
        integration = await store.set_integration_team(pool, args.integration_id, team)
        print(f"integration {integration.id} ({integration.name}) now belongs to "
              f"{'team ' + integration.team_id if integration.team_id else 'no team'}")
        return 0

    return run(settings, go)


def register(sub: Any) -> None:
    p = sub.add_parser("teams", help="manage teams (what integrations, policies, schedules, rules and templates "
                                     "belong to; roles may be granted per team)")
    tsub = p.add_subparsers(dest="teams_command", required=True)
    c = tsub.add_parser("create", help="create a team")
    c.add_argument("id", help="the team's id, a slug: payments, sre-eu")
    c.add_argument("--name", help="a display name (default: the id)")
    c.set_defaults(func=cmd_create)
    c = tsub.add_parser("list", help="list teams")
    c.set_defaults(func=cmd_list)
    c = tsub.add_parser("delete", help="delete a team nothing belongs to")
    c.add_argument("id")
    c.set_defaults(func=cmd_delete)
    c = tsub.add_parser("integration", help="give an integration (its alerts and incidents) to a team")
    c.add_argument("integration_id", type=int)
    c.add_argument("team", help="the team's id, or - for no team")
    c.set_defaults(func=cmd_integration)
