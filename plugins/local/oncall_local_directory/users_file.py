"""The users file: users and their contact methods in YAML, read when it changes, written atomically.

    users:
      - id: alice
        name: Alice Example
        email: alice@example.com
        time_zone: Europe/Berlin
        role: responder                      # viewer, responder, editor or admin; optional
        groups: [payments, db]               # optional
        external_ids:                        # identities at an identity provider; optional
          - {issuer: "https://login.example.com", subject: "248289761001"}
        password_hash: "$argon2id$v=19$..."  # set by `oncall-directory set-password`; optional
        contact_methods:
          - {id: sms-1, type: sms, address: "+15555550100", priority: 1}
          - {id: slack-1, type: slack, address: U024BE7LH, priority: 2}
          - {id: voice-1, type: voice, address: "+15555550100", disabled: true}
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from oncall_hookspecs import ROLES

log = logging.getLogger(__name__)

#: the built-in channels, always accepted (their addresses are checked here)
CONTACT_TYPES = ("sms", "voice", "email", "slack", "teams", "push", "webhook")


def known_channels() -> tuple[str, ...]:
    """The channels a contact method may name: the built-in ones and every channel OnCall's
    catalog knows (third-party channels found by their entry points included)."""
    from oncall.notification import channels  # read when a file is, so a newly installed channel counts

    return tuple(dict.fromkeys((*CONTACT_TYPES, *channels.current().names())))


def channel_name(kind: str) -> str | None:
    """``kind`` as a channel name (a spec's alias applied), or None when no channel is installed under it."""
    if kind in CONTACT_TYPES:
        return kind
    from oncall.notification import channels

    name = channels.current().resolve(kind)
    return name if name in channels.current().names() else None

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class UsersFileError(Exception):
    """The file cannot be used at all (not YAML, or not shaped like a users file)."""


@dataclass(slots=True)
class LocalContactMethod:
    id: str
    type: str  # a channel name: one of known_channels()
    address: str
    priority: int = 0
    disabled: bool = False


@dataclass(slots=True, frozen=True)
class ExternalId:
    """The user's identity at an identity provider (an OpenID Connect issuer and subject)."""

    issuer: str
    subject: str


@dataclass(slots=True)
class LocalUser:
    id: str
    name: str
    email: str = ""
    time_zone: str = ""
    contact_methods: list[LocalContactMethod] = field(default_factory=list)
    role: str = ""  # one of ROLES, or empty
    groups: list[str] = field(default_factory=list)
    external_ids: list[ExternalId] = field(default_factory=list)
    # an argon2id hash (passwords.py), never the password; empty: no password login
    password_hash: str = ""

    def __repr__(self) -> str:  # never the hash
        return f"LocalUser(id={self.id!r}, name={self.name!r}, password={'set' if self.password_hash else 'unset'})"


@dataclass(slots=True)
class Loaded:
    """What a read found: the usable users by id, and a sentence for each entry left out."""

    users: dict[str, LocalUser] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check_address(kind: str, address: str) -> str | None:
    """Why ``address`` cannot be a ``kind`` contact method, or None when it can."""
    if not address:
        return "has no address"
    if kind in ("sms", "voice") and not _E164.fullmatch(address):
        return f"address {address!r} is not a phone number in E.164 form (+15555550100)"
    if kind == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
        return f"address {address!r} is not an email address"
    if kind == "webhook" and not address.startswith(("http://", "https://")):
        return f"address {address!r} is not an http(s) URL"
    return None


def check_user_id(user_id: str) -> str | None:
    if not _ID.fullmatch(user_id):
        return f"id {user_id!r} must be 1-128 letters, digits or . _ @ + - (starting with a letter or digit)"
    return None


def check_role(role: str) -> str | None:
    if role and role not in ROLES:
        return f"role {role!r} is not one of {', '.join(ROLES)}"
    return None


def check_group(group: str) -> str | None:
    if not group.strip() or len(group) > 200 or any(not c.isprintable() for c in group):
        return f"group {group[:40]!r} must be 1-200 printable characters"
    return None


def check_external_id(issuer: str, subject: str) -> str | None:
    if not issuer or not subject:
        return "an external id needs an issuer and a subject"
    if len(issuer) > 1000 or len(subject) > 1000 or any(not c.isprintable() for c in issuer + subject):
        return "an external id's issuer and subject must be printable, at most 1000 characters each"
    return None


def check_time_zone(tz: str) -> str | None:
    if not tz:
        return None
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return f"time_zone {tz!r} is not an IANA time zone (Europe/Berlin, America/New_York, UTC)"
    return None


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _contact_method(raw: Any, where: str, taken: set[str], counts: dict[str, int]) -> LocalContactMethod:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping with type and address")
    kind = channel_name(_str(raw.get("type")).lower())
    if kind is None:
        raise ValueError(f"{where}: type {raw.get('type')!r} is not one of {', '.join(known_channels())}"
                         " (no installed channel has that name)")
    address = _str(raw.get("address"))
    problem = check_address(kind, address)
    if problem:
        raise ValueError(f"{where}: {problem}")
    counts[kind] = counts.get(kind, 0) + 1
    cm_id = _str(raw.get("id")) or f"{kind}-{counts[kind]}"
    if cm_id in taken:
        raise ValueError(f"{where}: id {cm_id!r} is used twice in this user")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError(f"{where}: priority must be a whole number")
    disabled = raw.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ValueError(f"{where}: disabled must be true or false")
    taken.add(cm_id)
    return LocalContactMethod(id=cm_id, type=kind, address=address, priority=priority, disabled=disabled)


def _access(user: LocalUser, raw: dict[str, Any], where: str, problems: list[str]) -> None:
    """The user's role, groups, external ids and password hash; each one with a problem is
    left out (so it grants nothing) and named in ``problems``."""
    role = _str(raw.get("role")).lower()
    if problem := check_role(role):
        problems.append(f"{where}: {problem}; the user has no role")
    else:
        user.role = role
    groups = raw.get("groups") or []
    if not isinstance(groups, list):
        problems.append(f"{where}: groups must be a list")
        groups = []
    for group in groups:
        if problem := check_group(_str(group)):
            problems.append(f"{where}: {problem}")
        elif _str(group) not in user.groups:
            user.groups.append(_str(group))
    externals = raw.get("external_ids") or []
    if not isinstance(externals, list):
        problems.append(f"{where}: external_ids must be a list")
        externals = []
    for k, ext in enumerate(externals):
        issuer = _str(ext.get("issuer")) if isinstance(ext, dict) else ""
        subject = _str(ext.get("subject")) if isinstance(ext, dict) else ""
        if problem := check_external_id(issuer, subject):
            problems.append(f"{where}: external_ids[{k}]: {problem}")
        elif ExternalId(issuer, subject) not in user.external_ids:
            user.external_ids.append(ExternalId(issuer, subject))
    password_hash = _str(raw.get("password_hash"))
    if password_hash and not password_hash.startswith("$argon2id$"):
        # the value is not shown: it may be a password someone pasted in by mistake
        problems.append(f"{where}: password_hash is not an argon2id hash (set it with oncall-directory "
                        "set-password); the user cannot log in with a password")
    else:
        user.password_hash = password_hash


def parse(text: str, source: str = "users file") -> Loaded:
    """Read a users file's text. Raises UsersFileError when nothing in it can be used;
    an entry with a problem is left out and named in ``problems``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{source} is not valid YAML: {' '.join(str(exc).split())}") from None
    if doc is None:
        return Loaded()
    if not isinstance(doc, dict) or not isinstance(doc.get("users", []), list):
        raise UsersFileError(f"{source} must be a mapping with a list under 'users'")
    loaded = Loaded()
    for i, raw in enumerate(doc.get("users") or []):
        where = f"{source}: users[{i}]"
        try:
            if not isinstance(raw, dict):
                raise ValueError(f"{where}: must be a mapping with at least an id")
            user_id = _str(raw.get("id"))
            problem = check_user_id(user_id)
            if problem:
                raise ValueError(f"{where}: {problem}")
            where = f"{source}: user {user_id}"
            if user_id in loaded.users:
                raise ValueError(f"{where}: listed twice (the first one is used)")
            problem = check_time_zone(_str(raw.get("time_zone")))
            if problem:
                raise ValueError(f"{where}: {problem}")
            raw_methods = raw.get("contact_methods") or []
            if not isinstance(raw_methods, list):
                raise ValueError(f"{where}: contact_methods must be a list")
            user = LocalUser(
                id=user_id,
                name=_str(raw.get("name")) or user_id,
                email=_str(raw.get("email")),
                time_zone=_str(raw.get("time_zone")),
            )
        except ValueError as exc:
            loaded.problems.append(str(exc))
            continue
        # what only grants access is checked apart: a typo in it must not stop the user being paged
        _access(user, raw, where, loaded.problems)
        taken: set[str] = set()
        counts: dict[str, int] = {}
        for j, cm in enumerate(raw_methods):
            try:
                user.contact_methods.append(_contact_method(cm, f"{where}: contact_methods[{j}]", taken, counts))
            except ValueError as exc:
                # the user's other methods still page: one typo must not silence them all
                loaded.problems.append(str(exc))
        loaded.users[user_id] = user
    return loaded


def dump(users: list[LocalUser]) -> str:
    doc = {
        "users": [
            {
                "id": u.id,
                "name": u.name,
                **({"email": u.email} if u.email else {}),
                **({"time_zone": u.time_zone} if u.time_zone else {}),
                **({"role": u.role} if u.role else {}),
                **({"groups": list(u.groups)} if u.groups else {}),
                **({"external_ids": [{"issuer": e.issuer, "subject": e.subject} for e in u.external_ids]}
                   if u.external_ids else {}),
                **({"password_hash": u.password_hash} if u.password_hash else {}),
                "contact_methods": [
                    {
                        "id": cm.id,
                        "type": cm.type,
                        "address": cm.address,
                        **({"priority": cm.priority} if cm.priority else {}),
                        **({"disabled": True} if cm.disabled else {}),
                    }
                    for cm in u.contact_methods
                ],
            }
            for u in users
        ]
    }
    text: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text


def read(path: Path) -> Loaded:
    """The file as it is now; an absent file is an empty directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Loaded()
    return parse(text, str(path))


def write(path: Path, users: list[LocalUser]) -> None:
    """Replace the file in one step: a reader sees the old file or the new one, never half.

    Contact details are personal data, so the file is readable by its owner only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dump(users))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # the rename itself survives a crash only once the directory is synced
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the file's lock for a read-modify-write, so two CLI runs can't lose each other's edit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class UsersFile:
    """The users file as a live source: ``current()`` re-reads it whenever it has changed.

    A change is noticed by the file's identity, size and modification time, checked on
    every call (one ``stat``), so an edit or an atomic replace shows on the next lookup.
    A file that cannot be read keeps the last good contents in service: a typo while
    editing must not empty the directory in the middle of the night.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._loaded = Loaded()
        self._reported: tuple[int, int, int] | None = None  # the version whose problems were logged
        self._broken: tuple[int, int, int] | None = None  # the version that could not be read

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> Loaded:
        stamp = self._stat()
        if stamp is not None and stamp in (self._stamp, self._broken):
            return self._loaded
        if stamp is None:
            if self._stamp is not None or self._reported is None:
                log.info("no users file at %s: the local directory is empty "
                         "(add users with: oncall-directory add-user)", self.path)
                self._reported = (0, 0, 0)
            self._stamp, self._loaded = None, Loaded()
            return self._loaded
        try:
            loaded = read(self.path)
        except (UsersFileError, OSError, UnicodeDecodeError) as exc:
            log.error("%s; still serving the %d users read before", exc, len(self._loaded.users))
            self._broken = self._reported = stamp
            return self._loaded
        self._stamp, self._loaded = stamp, loaded
        if stamp != self._reported:
            for problem in loaded.problems:
                log.error("%s (left out)", problem)
            log.info("local directory: %d users from %s", len(loaded.users), self.path)
            self._reported = stamp
        return loaded
