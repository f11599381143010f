"""``oncall teams …``: teams (what integrations, policies, schedules, rules and templates belong to), through TeamService, and an integration given to one (UpdateIntegration)."""

from __future__ import annotations

import argparse
from typing import Any

from ..access.v1 import access_pb2 as pb
from ..alerting.v1 import integrations_pb2 as ipb
from ..config import Settings
from .api import Api, run_api
from .output import add_json_flag, print_json, when


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        team = (await api.call("TeamService/CreateTeam", pb.CreateTeamRequest(id=args.id, name=args.name or ""))).team
        print(f"created team {team.id} ({team.name})")
        return 0

    return run_api(settings, go)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        listed = await api.call("TeamService/ListTeams", pb.ListTeamsRequest(my_teams=args.mine))
        if args.json:
            print_json(listed)
            return 0
        print(f"{'ID':<24} {'NAME':<32} CREATED")
        for team in listed.teams:
            print(f"{team.id:<24} {team.name:<32} {when(team.created_at)}")
        return 0

    return run_api(settings, go)


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        await api.call("TeamService/DeleteTeam", pb.DeleteTeamRequest(id=args.id))
        print(f"deleted team {args.id}")
        return 0

    return run_api(settings, go)


def cmd_integration(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        request = ipb.UpdateIntegrationRequest(integration_id=args.integration_id)
        request.team_id = "" if args.team == "-" else args.team
        integration = (await api.call("IntegrationService/UpdateIntegration", request)).integration
        print(f"integration {integration.id} ({integration.name}) now belongs to "
              f"{'team ' + integration.team_id if integration.team_id else 'no team'}")
        return 0

    return run_api(settings, go)


def register(sub: Any) -> None:
    p = sub.add_parser("teams", help="manage teams (what integrations, policies, schedules, rules and templates "
                                     "belong to; roles may be granted per team)")
    tsub = p.add_subparsers(dest="teams_command", required=True)
    c = tsub.add_parser("create", help="create a team")
    c.add_argument("id", help="the team's id, a slug: payments, sre-eu")
    c.add_argument("--name", help="a display name (default: the id)")
    c.set_defaults(func=cmd_create)
    c = tsub.add_parser("list", help="list teams")
    c.add_argument("--mine", action="store_true", help="only the teams the caller holds a role in")
    add_json_flag(c)
    c.set_defaults(func=cmd_list)
    c = tsub.add_parser("delete", help="delete a team nothing belongs to")
    c.add_argument("id")
    c.set_defaults(func=cmd_delete)
    c = tsub.add_parser("integration", help="give an integration (its alerts and incidents) to a team")
    c.add_argument("integration_id", type=int)
    c.add_argument("team", help="the team's id, or - for no team")
    c.set_defaults(func=cmd_integration)
