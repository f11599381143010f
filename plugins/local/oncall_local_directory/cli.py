"""``oncall-directory``: add, list and remove users of the local directory, or serve it over gRPC.

    oncall-directory add-user --id alice --name "Alice" --email alice@example.com \\
        --sms +15555550100 --slack U024BE7LH
    oncall-directory set-password alice      # prompts twice, or reads one line from stdin
    oncall-directory list
    oncall-directory remove alice
    oncall-directory serve --addr 127.0.0.1:7070
    oncall-directory serve --addr 0.0.0.0:7070 --tls-cert dir.crt --tls-key dir.key --client-ca clients-ca.pem

The file is ONCALL_LOCAL_DIRECTORY_FILE (default: users.yaml in ONCALL_DATA_DIR), or --file.
A running OnCall picks up every change on its next lookup; nothing needs restarting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from oncall.directory.settings import is_loopback
from oncall.tls import ServerTls, TlsError, check_server
from oncall_hookspecs import ROLES

from .passwords import check_password, hash_password
from .settings import SettingsError, check_addr, users_file_path
from .users_file import (
    ExternalId,
    LocalContactMethod,
    LocalUser,
    UsersFile,
    UsersFileError,
    check_address,
    check_external_id,
    check_group,
    check_role,
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
    add.add_argument("--role", default="", help=f"the user's OnCall role: {', '.join(ROLES)} (default: none)")
    add.add_argument("--group", action="append", default=[], dest="groups", metavar="GROUP",
                     help="a group (team) the user belongs to (repeatable)")
    add.add_argument("--external", action="append", nargs=2, default=[], metavar=("ISSUER", "SUBJECT"),
                     help="the user's identity at an identity provider, e.g. an OpenID Connect issuer "
                          "and subject (repeatable)")
    add.add_argument("--replace", action="store_true", help="replace the user if the id exists "
                                                            "(a password set before is kept)")

    pw = sub.add_parser("set-password", parents=[common],
                        help="set a user's password for local login (prompted twice without echo, "
                             "or one line read from stdin when it is not a terminal)")
    pw.add_argument("id", metavar="ID", help="the user's id")
    pw.add_argument("--remove", action="store_true", help="remove the user's password: no password login")

    ls = sub.add_parser("list", parents=[common], help="list users and their contact methods")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rm = sub.add_parser("remove", parents=[common], help="remove users")
    rm.add_argument("ids", nargs="+", metavar="ID", help="user id(s) to remove")

    serve = sub.add_parser("serve", parents=[common], help="serve the file over the directory gRPC contract")
    serve.add_argument("--addr", default="127.0.0.1:7070", help="host:port to listen on (default 127.0.0.1:7070); "
                                                                 "callers must send $ONCALL_LOCAL_DIRECTORY_TOKEN "
                                                                 "as a bearer token when it is set")
    serve.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve TLS with this certificate (PEM; "
                                                                      "with --tls-key)")
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's private key (PEM)")
    serve.add_argument("--client-ca", type=Path, metavar="FILE", help="require client certificates signed by "
                                                                       "this CA (mutual TLS; needs --tls-cert)")
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
    problems = [p for p in (check_user_id(args.id), check_time_zone(args.time_zone), check_role(args.role)) if p]
    problems += [f"--group: {p}" for p in map(check_group, args.groups) if p]
    problems += [f"--external: {p}" for p in (check_external_id(i, s) for i, s in args.external) if p]
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
                     time_zone=args.time_zone, contact_methods=methods, role=args.role,
                     groups=list(dict.fromkeys(g.strip() for g in args.groups)),
                     external_ids=list(dict.fromkeys(ExternalId(i, s) for i, s in args.external)))


def add_user(path: Path, args: argparse.Namespace) -> str:
    user = _new_user(args)
    with locked(path):
        users = _load_for_edit(path)
        if user.id in users and not args.replace:
            raise CliError(f"user {user.id!r} already exists; add --replace to replace it")
        replaced = user.id in users
        if replaced:
            user.password_hash = users[user.id].password_hash  # a new profile, the same password
        users[user.id] = user
        write(path, list(users.values()))
    methods = ", ".join(f"{cm.type} {cm.address}" for cm in user.contact_methods) or "no contact methods"
    return f"{'replaced' if replaced else 'added'} {user.id} ({user.name}): {methods}"


def read_new_password(stdin: TextIO | None = None) -> str:
    """The new password: asked twice without echo on a terminal, else the first line of stdin
    (its line ending dropped). Never printed, never in a message."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != first:
            raise CliError("the two passwords differ; nothing changed")
        return first
    return stdin.readline().rstrip("\r\n")


def set_password(path: Path, user_id: str, password: str | None) -> str:
    """Set (or with None remove) ``user_id``'s password hash in the file."""
    if password is not None and (problem := check_password(password)):
        raise CliError(f"{problem}; nothing changed")
    password_hash = hash_password(password) if password is not None else ""
    with locked(path):
        users = _load_for_edit(path)
        user = users.get(user_id)
        if user is None:
            raise CliError(f"no such user: {user_id} (nothing changed)")
        user.password_hash = password_hash
        write(path, list(users.values()))
    return f"{'set the password of' if password is not None else 'removed the password of'} {user_id}"


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
             "role": u.role, "groups": u.groups,
             "external_ids": [{"issuer": e.issuer, "subject": e.subject} for e in u.external_ids],
             "password": bool(u.password_hash),
             "contact_methods": [{"id": cm.id, "type": cm.type, "address": cm.address,
                                  "priority": cm.priority, "disabled": cm.disabled} for cm in u.contact_methods]}
            for u in users
        ], indent=2)
    if not users:
        return f"no users in {path}"
    rows = [("ID", "NAME", "EMAIL", "TIME ZONE", "ROLE", "PASSWORD", "CONTACT METHODS")]
    for u in users:
        methods = ", ".join(
            f"{cm.type}:{cm.address}" + (" (disabled)" if cm.disabled else "")
            for cm in sorted(u.contact_methods, key=lambda cm: cm.priority)
        )
        rows.append((u.id, u.name, u.email, u.time_zone or "UTC", u.role or "-", "set" if u.password_hash else "-",
                     methods or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=True)) + "  " + r[6] for r in rows)


def _server_tls(args: argparse.Namespace) -> ServerTls | None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise CliError("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        if args.client_ca is not None:
            raise CliError("--client-ca needs --tls-cert and --tls-key")
        return None
    tls = ServerTls(args.tls_cert, args.tls_key, args.client_ca)
    try:
        check_server(tls)
    except TlsError as exc:
        # the core's sentence names its own settings; here they are the flags
        raise CliError(str(exc).replace("ONCALL_TLS_CERT_FILE / ONCALL_TLS_KEY_FILE", "--tls-cert / --tls-key")
                       .replace("ONCALL_GRPC_CLIENT_CA_FILE", "--client-ca")) from None
    return tls


async def serve(path: Path, addr: str, token: str | None, tls: ServerTls | None = None) -> int:
    from oncall.tls import grpc_server_credentials

    from .server import start_server

    users = UsersFile(path)
    users.current()  # report the file's state (and any problem) before the first call
    credentials = grpc_server_credentials(tls) if tls is not None else None
    server, port = await start_server(users, addr, token, credentials)
    host = addr.rpartition(":")[0]
    if not token and not is_loopback(addr):
        logging.getLogger(__name__).warning(
            "serving contact details on %s without a token: set ONCALL_LOCAL_DIRECTORY_TOKEN", addr)
    over = "" if tls is None else " over mutual TLS" if tls.client_ca_file else " over TLS"
    print(f"serving {len(users.current().users)} users from {path} on {host}:{port}{over}"
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
        elif args.command == "set-password":
            print(set_password(path, args.id, None if args.remove else read_new_password()))
        elif args.command == "remove":
            print(remove_users(path, args.ids))
        elif args.command == "list":
            print(list_users(path, args.json))
        elif args.command == "serve":
            addr = check_addr("--addr", args.addr)
            tls = _server_tls(args)
            return asyncio.run(serve(path, addr, os.environ.get("ONCALL_LOCAL_DIRECTORY_TOKEN") or None, tls))
    except (CliError, SettingsError, OSError) as exc:
        print(f"oncall-directory: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

