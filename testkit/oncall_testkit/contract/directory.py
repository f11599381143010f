"""The directory contract: an unknown user is None or empty (never an exception), and a known one is well-typed.

``await check_directory(directory, known=["user-ann"])`` asks for users that do not exist
(and ids no directory holds: empty, NUL, very long, non-ASCII) and expects ``None`` from
``get_user`` and ``[]`` from ``get_users`` and ``get_contact_methods``. For each known id
it expects a ``User`` with that id, contact methods of ``ContactMethod`` with string kinds
and addresses, and ``get_users`` to return exactly the known ones among a mixed list.

The optional capabilities are checked when a directory has them (raising
``DirectoryUnsupported`` is allowed: a remote server may lack the call): ``find_users``
gives ``[]`` for queries that match no one and finds each known user by their email;
``authenticate`` gives None for an unknown user, whatever the password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from oncall_hookspecs import (
    ROLES,
    ContactMethod,
    Directory,
    DirectoryUnsupported,
    PasswordDirectory,
    User,
    UserFinder,
    UserQuery,
)

from ..registration import ContractViolation, check_shape

UNKNOWN_IDS = ["no-such-user-7f3a", "", " ", "\x00", "a\x00b", "x" * 10_000, "用户", "../etc/passwd", "' OR 1=1 --"]
DEADLINE_S = 30.0

T = TypeVar("T")


async def _ask(call: Awaitable[T], case: str) -> T:
    try:
        return await asyncio.wait_for(call, DEADLINE_S)
    except TimeoutError:
        raise ContractViolation(f"the directory did not answer within {DEADLINE_S:g} s ({case})") from None
    except Exception as exc:
        raise ContractViolation(f"{case} raised {type(exc).__name__}: {str(exc)[:300]}") from exc


def _check_user(user: Any, user_id: str) -> User:
    if not isinstance(user, User):
        raise ContractViolation(f"get_user({user_id!r}) must return a User or None, got {type(user).__name__}")
    if user.id != user_id:
        raise ContractViolation(f"get_user({user_id!r}) returned the user {user.id!r}")
    for name in ("name", "email", "time_zone", "role"):
        if not isinstance(getattr(user, name), str):
            raise ContractViolation(f"user {user_id!r}: {name} must be a string")
    if user.role and user.role not in ROLES:
        raise ContractViolation(f"user {user_id!r}: role must be one of {ROLES} or empty, got {user.role!r}")
    if not isinstance(user.groups, tuple) or not all(isinstance(g, str) for g in user.groups):
        raise ContractViolation(f"user {user_id!r}: groups must be a tuple of strings")
    _check_methods(list(user.contact_methods), f"user {user_id!r}'s contact_methods")
    return user


def _check_methods(methods: Any, case: str) -> None:
    if not isinstance(methods, list) or not all(isinstance(m, ContactMethod) for m in methods):
        raise ContractViolation(f"{case} must be a list of ContactMethod, got {methods!r:.300}")
    for m in methods:
        if not all(isinstance(getattr(m, f), str) and getattr(m, f) for f in ("id", "kind", "address")):
            raise ContractViolation(f"{case}: a contact method needs a string id, kind and address, got {m!r}")


async def check_directory(directory: Directory, *, known: Iterable[str] = ()) -> None:
    """Run the directory contract; raises ContractViolation naming the first case that broke it."""
    check_shape("directories", Directory, directory)
    for user_id in UNKNOWN_IDS:
        shown = repr(user_id)[:40]
        user = await _ask(directory.get_user(user_id), f"get_user({shown})")
        if user is not None:
            raise ContractViolation(f"get_user({shown}) must be None for a user that does not exist, got {user!r:.200}")
        users = await _ask(directory.get_users([user_id]), f"get_users([{shown}])")
        if users != []:
            raise ContractViolation(f"get_users([{shown}]) must be [] for a user that does not exist, got {users!r:.200}")
        methods = await _ask(directory.get_contact_methods(user_id), f"get_contact_methods({shown})")
        if methods != []:
            raise ContractViolation(f"get_contact_methods({shown}) must be [] for an unknown user, got {methods!r:.200}")
    if await _ask(directory.get_users([]), "get_users([])") != []:
        raise ContractViolation("get_users([]) must be []")

    known = list(known)
    for user_id in known:
        _check_user(await _ask(directory.get_user(user_id), f"get_user({user_id!r})"), user_id)
        _check_methods(await _ask(directory.get_contact_methods(user_id), f"get_contact_methods({user_id!r})"),
                       f"get_contact_methods({user_id!r})")
    if known:
        mixed = [UNKNOWN_IDS[0], *known, known[0]]
        users = await _ask(directory.get_users(mixed), f"get_users({mixed!r})")
        if not isinstance(users, list) or not all(isinstance(u, User) for u in users):
            raise ContractViolation(f"get_users must return a list of User, got {users!r:.300}")
        if sorted({u.id for u in users}) != sorted(set(known)):
            raise ContractViolation(f"get_users({mixed!r}) must return the known users {known}, got {[u.id for u in users]}")
    await _check_optional(directory, [_check_user(await directory.get_user(u), u) for u in known])


NO_MATCH = [UserQuery.by_email("no-such-user-7f3a@example.invalid"), UserQuery.by_contact("sms", "+19995550199"),
            UserQuery.by_contact("no-such-channel", "x"), UserQuery.by_external("https://idp.invalid", "no-such-sub")]


async def _optional(call: Awaitable[T], case: str) -> T | None:
    try:
        return await _ask(call, case)
    except ContractViolation as exc:
        if isinstance(exc.__cause__, DirectoryUnsupported):
            return None
        raise


async def _check_optional(directory: Directory, known: list[User]) -> None:
    if isinstance(directory, UserFinder):
        for query in NO_MATCH:
            found = await _optional(directory.find_users(query), f"find_users({query})")
            if found not in (None, []):
                raise ContractViolation(f"find_users({query}) must be [] when no one matches, got {found!r:.200}")
        for user in known:
            if not user.email:
                continue
            found = await _optional(directory.find_users(UserQuery.by_email(user.email)), f"find_users(email={user.email!r})")
            if found is not None and user.id not in [u.id for u in found if isinstance(u, User)]:
                raise ContractViolation(f"find_users(email={user.email!r}) must find {user.id!r}, got {found!r:.200}")
    if isinstance(directory, PasswordDirectory):
        for name in (UNKNOWN_IDS[0], ""):
            got = await _optional(directory.authenticate(name, "not-a-password-7f3a"), f"authenticate({name!r})")
            if got is not None:
                raise ContractViolation(f"authenticate({name!r}, …) must be None for an unknown user, got {got!r:.200}")
