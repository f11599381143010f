"""Local passwords: argon2id hashes kept in the users file, and checking a password against one.

The hash is argon2-cffi's default argon2id (RFC 9106's low-memory profile: 3 passes over
64 MiB, 4 lanes), self-describing, so a later change of parameters still verifies old hashes.
A check takes the same work whether or not the user exists or has a password (a hash made
once per process stands in), so its timing does not tell which of user or password was wrong.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()
_stand_in: str | None = None
_lock = threading.Lock()


def check_password(password: str) -> str | None:
    """Why ``password`` cannot be set, or None when it can (the password itself is never in the answer)."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if "\x00" in password:
        return "a password cannot contain a NUL character"
    return None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` with a fresh salt (ValueError when check_password refuses it)."""
    if problem := check_password(password):
        raise ValueError(problem)
    return _hasher.hash(password)


def _stand_in_hash() -> str:
    global _stand_in
    with _lock:
        if _stand_in is None:
            _stand_in = _hasher.hash(secrets.token_urlsafe(32))
        return _stand_in


def verify(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from. With no hash (an unknown
    user, a user without a password) the stand-in is checked instead and the answer is False.
    Blocking (tens of milliseconds): call it in a thread."""
    candidate = password[:MAX_LENGTH]  # the same bounded work for any length sent
    ok: bool
    try:
        ok = _hasher.verify(password_hash or _stand_in_hash(), candidate)
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and bool(password_hash) and len(password) <= MAX_LENGTH and "\x00" not in password
