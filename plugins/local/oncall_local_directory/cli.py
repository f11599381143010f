"""``oncall-directory``: add, list and remove users of the local directory, or serve it over gRPC.

    oncall-directory add-user --id alice --name "Alice" --email alice@example.com \\
        --sms +15555550100 --slack U024BE7LH
    oncall-directory list
    oncall-directory remove alice
    oncall-directory serve --addr 127.0.0.1:7070

The file is ONCALL_LOCAL_DIRECTORY_FILE (default: users.yaml in ONCALL_DATA_DIR), or --file.
A running OnCall picks up every change on its next lookup; nothing needs restarting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oncall.directory.settings import is_loopback

from .settings import SettingsError, check_addr, users_file_path
from .users_file import (
    LocalContactMethod,
    LocalUser,
    UsersFile,
    UsersFileError,
    check_address,
    check_time_zone,
    check_user_id,
    locked,
    read,
    write,
)


class CliError(Exception):
    """Ends the command with this message and exit status 1."""


class _Contact(argparse.Action):
    """Collects contact methods in command-line order: that order is their priority."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        contacts = list(getattr(namespace, "contacts", None) or [])
        contacts.append((self.metavar.lower(), values))  # type: ignore[union-attr]
        namespace.contacts = contacts


class _Email(argparse.Action):
    """--email is the profile's address, and (unless --no-email-contact) a contact method in its place."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        namespace.email = values
        contacts = list(getattr(namespace, "contacts", None) or [])
        contacts.append(("email-profile", values))
        namespace.contacts = contacts


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", type=Path, help="the users file (default: $ONCALL_LOCAL_DIRECTORY_FILE, "
                                                  "else users.yaml in $ONCALL_DATA_DIR)")
    parser = argparse.ArgumentParser(prog="oncall-directory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add-user", parents=[common], help="add a user (or replace one with --replace)")
    add.add_argument("--id", required=True, help="the user id OnCall stores (policies, schedules)")
    add.add_argument("--name", help="the name people see (default: the id)")
    add.add_argument("--email", action=_Email, default="", help="the user's email; also paged by email "
                                                                "unless --no-email-contact")
    add.add_argument("--no-email-contact", action="store_true", help="don't page the --email address")
    add.add_argument("--time-zone", default="", help="IANA time zone, e.g. Europe/Berlin (default UTC)")
    for kind, what in (("sms", "phone number, E.164"), ("voice", "phone number, E.164"),
                       ("slack", "Slack member id"), ("teams", "Teams user id or UPN"),
                       ("push", "push topic or device token"), ("webhook", "http(s) URL")):
        add.add_argument(f"--{kind}", action=_Contact, metavar=kind.upper(), dest="contacts",
                         help=f"a {kind} contact method: {what} (repeatable; order = priority)")
    add.add_argument("--notify-email", action=_Contact, metavar="EMAIL", dest="contacts",
                     help="another address to page by email (repeatable)")
    add.add_argument("--replace", action="store_true", help="replace the user if the id exists")

    ls = sub.add_parser("list", parents=[common], help="list users and their contact methods")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rm = sub.add_parser("remove", parents=[common], help="remove users")
    rm.add_argument("ids", nargs="+", metavar="ID", help="user id(s) to remove")

    serve = sub.add_parser("serve", parents=[common], help="serve the file over the directory gRPC contract")
    serve.add_argument("--addr", default="127.0.0.1:7070", help="host:port to listen on (default 127.0.0.1:7070); "
                                                                 "callers must send $ONCALL_LOCAL_DIRECTORY_TOKEN "
                                                                 "as a bearer token when it is set")
    return parser


def _load_for_edit(path: Path) -> dict[str, LocalUser]:
    try:
        loaded = read(path)
    except UsersFileError as exc:
        raise CliError(f"{exc}; fix it by hand first") from None
    if loaded.problems:
        # rewriting would silently drop the entries with problems
        raise CliError("the users file has problems; fix them by hand first:\n  " + "\n  ".join(loaded.problems))
    return loaded.users


def _new_user(args: argparse.Namespace) -> LocalUser:
    problems = [p for p in (check_user_id(args.id), check_time_zone(args.time_zone)) if p]
    email_problem = check_address("email", args.email) if args.email else None
    if email_problem:
        problems.append(f"--email: {email_problem}")
    methods: list[LocalContactMethod] = []
    counts: dict[str, int] = {}
    for kind, address in args.contacts or []:
        if kind == "email-profile":
            if args.no_email_contact or email_problem:
                continue
            kind = "email"
        elif problem := check_address(kind, address):
            problems.append(f"--{kind}: {problem}")
            continue
        counts[kind] = counts.get(kind, 0) + 1
        methods.append(LocalContactMethod(id=f"{kind}-{counts[kind]}", type=kind, address=address,
                                          priority=len(methods) + 1))
    if problems:
        raise CliError("cannot add the user:\n  " + "\n  ".join(problems))
    return LocalUser(id=args.id, name=(args.name or "").strip() or args.id, email=args.email,
                     time_zone=args.time_zone, contact_methods=methods)


def add_user(path: Path, args: argparse.Namespace) -> str:
    user = _new_user(args)
    with locked(path):
        users = _load_for_edit(path)
        if user.id in users and not args.replace:
            raise CliError(f"user {user.id!r} already exists; add --replace to replace it")
        replaced = user.id in users
        users[user.id] = user
        write(path, list(users.values()))
    methods = ", ".join(f"{cm.type} {cm.address}" for cm in user.contact_methods) or "no contact methods"
    return f"{'replaced' if replaced else 'added'} {user.id} ({user.name}): {methods}"


def remove_users(path: Path, ids: Sequence[str]) -> str:
    with locked(path):
        users = _load_for_edit(path)
        unknown = [i for i in ids if i not in users]
        if unknown:
            raise CliError(f"no such user: {', '.join(unknown)} (nothing removed)")
        for i in ids:
            del users[i]
        write(path, list(users.values()))
    return f"removed {', '.join(ids)}"


def list_users(path: Path, as_json: bool) -> str:
    try:
        loaded = read(path)
    except UsersFileError as exc:
        raise CliError(str(exc)) from None
    for problem in loaded.problems:
        print(f"warning: {problem} (left out)", file=sys.stderr)
    users = list(loaded.users.values())
    if as_json:
        return json.dumps([
            {"id": u.id, "name": u.name, "email": u.email, "time_zone": u.time_zone or "UTC",
             "contact_methods": [{"id": cm.id, "type": cm.type, "address": cm.address,
                                  "priority": cm.priority, "disabled": cm.disabled} for cm in u.contact_methods]}
            for u in users
        ], indent=2)
    if not users:
        return f"no users in {path}"
    rows = [("ID", "NAME", "EMAIL", "TIME ZONE", "CONTACT METHODS")]
    for u in users:
        methods = ", ".join(
            f"{cm.type}:{cm.address}" + (" (disabled)" if cm.disabled else "")
            for cm in sorted(u.contact_methods, key=lambda cm: cm.priority)
        )
        rows.append((u.id, u.name, u.email, u.time_zone or "UTC", methods or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows)


async def serve(path: Path, addr: str, token: str | None) -> int:
    from .server import start_server

    users = UsersFile(path)
    users.current()  # report the file's state (and any problem) before the first call
    server, port = await start_server(users, addr, token)
    host = addr.rpartition(":")[0]
    if not token and not is_loopback(addr):
        logging.getLogger(__name__).warning(
            "serving contact details on %s without a token: set ONCALL_LOCAL_DIRECTORY_TOKEN", addr)
    print(f"serving {len(users.current().users)} users from {path} on {host}:{port}"
          f"{' (bearer token required)' if token else ''}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=2.0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    path: Path = args.file or users_file_path()
    try:
        if args.command == "add-user":
            print(add_user(path, args))
        elif args.command == "remove":
            print(remove_users(path, args.ids))
        elif args.command == "list":
            print(list_users(path, args.json))
        elif args.command == "serve":
            addr = check_addr("--addr", args.addr)
            return asyncio.run(serve(path, addr, os.environ.get("ONCALL_LOCAL_DIRECTORY_TOKEN") or None))
    except (CliError, SettingsError, OSError) as exc:
        print(f"oncall-directory: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

