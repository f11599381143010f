"""The one translation of database errors into domain errors, at the store edge.

A store function wraps the statements that may break a constraint in ``violations(...)``,
naming the sentence the caller is shown for each kind it expects:

- a unique violation becomes AlreadyExists (a name taken),
- a foreign-key violation becomes NotFound (what the row refers to is gone),
- a check violation becomes InvalidArgument (a value the table refuses).

The sentence is the store's, never the database's: PostgreSQL's message quotes the values
and names the constraint, which no caller should see. A violation of a kind the block did
not name propagates unchanged, as the bug it is (INTERNAL over gRPC, 500 over HTTP).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from ..errors import AlreadyExists, InvalidArgument, NotFound


@contextlib.contextmanager
def violations(
    *, unique: str | None = None, foreign_key: str | None = None, check: str | None = None,
) -> Iterator[None]:
    """Within the block, a constraint violation of a named kind becomes its domain error."""
    try:
        yield
    except psycopg.errors.UniqueViolation:
        if unique is None:
            raise
        raise AlreadyExists(unique) from None
    except psycopg.errors.ForeignKeyViolation:
        if foreign_key is None:
            raise
        raise NotFound(foreign_key) from None
    except psycopg.errors.CheckViolation:
        if check is None:
            raise
        raise InvalidArgument(check) from None
