"""Database errors become domain errors once, at the store edge (``store/errors.py``): the
sentence is the store's, never PostgreSQL's (which quotes the values and the constraint),
and a violation the store did not expect stays the bug it is."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from oncall.errors import AlreadyExists, InvalidArgument, NotFound
from oncall.escalation import policies
from oncall.store.errors import violations

SECRET = "hunter2-in-a-value"


async def _tables(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(
        """CREATE TEMP TABLE parent (id text PRIMARY KEY);
           CREATE TEMP TABLE child (parent text REFERENCES parent (id), n integer CHECK (n > 0))"""
    )
    await conn.execute("INSERT INTO parent VALUES (%s)", (SECRET,))


@pytest.mark.parametrize(
    ("statement", "domain_error"),
    [
        ("INSERT INTO parent VALUES (%s)", AlreadyExists),
        ("INSERT INTO child VALUES (%s || '-gone', 1)", NotFound),
        ("INSERT INTO child VALUES (%s, -1)", InvalidArgument),
    ],
)
async def test_a_constraint_violation_becomes_its_domain_error_in_the_stores_words(
    pool: Any, statement: str, domain_error: type[Exception]
) -> None:
    async with pool.connection() as conn:
        await _tables(conn)
        with pytest.raises(domain_error) as raised:
            with violations(unique="taken", foreign_key="gone", check="refused"):
                async with conn.transaction():
                    await conn.execute(statement, (SECRET,))
    assert str(raised.value) in ("taken", "gone", "refused")
    assert SECRET not in str(raised.value) and raised.value.__cause__ is None
    assert raised.value.__suppress_context__  # the database's words are not carried along


async def test_a_violation_the_store_did_not_name_propagates_unchanged(pool: Any) -> None:
    async with pool.connection() as conn:
        await _tables(conn)
        with pytest.raises(psycopg.errors.CheckViolation):
            with violations(unique="taken"):
                async with conn.transaction():
                    await conn.execute("INSERT INTO child VALUES (%s, -1)", (SECRET,))


async def test_a_taken_policy_name_is_already_exists_through_the_translation(pool: Any) -> None:
    made = policies.PolicyInput(name="primary", steps=[policies.Step(0, (policies.Target("user", "ada"),))])
    await policies.create_policy(pool, made)
    with pytest.raises(AlreadyExists, match="a policy named 'primary' already exists"):
        await policies.create_policy(pool, made)
