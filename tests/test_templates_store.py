"""Template storage: immutable versions, validation on save, soft delete — against real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oncall.errors import AlreadyExists, InvalidArgument, NotFound
from oncall.notification import store
from oncall.plugins import load_plugins

SMS_V1 = {"sms": {"text": "v1 {{ alert.summary }}"}}
SMS_V2 = {"sms": {"text": "v2 {{ alert.summary }}"}}


@pytest.fixture(scope="module")
def renderers() -> Any:
    _, registry = load_plugins()
    assert "sms" in registry.renderers, "the renderers plugin must be installed (pip install -e plugins/renderers)"
    return registry.renderers


async def rows(pool: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def test_an_update_adds_version_n_plus_1_and_older_versions_stay_readable(pool, renderers):
    created = await store.create_template(
        pool, renderers=renderers, id="payments", name="Payments", channels=SMS_V1, created_by="ana"
    )
    assert (created.template.version, created.template.current_version) == (1, 1)

    updated = await store.update_template(pool, "payments", renderers=renderers, channels=SMS_V2, created_by="bo")

    assert (updated.template.version, updated.template.current_version) == (2, 2)
    assert (await store.get_template(pool, "payments")).channels == SMS_V2
    v1 = await store.get_template(pool, "payments", 1)
    assert (v1.version, v1.current_version, v1.channels, v1.created_by) == (1, 2, SMS_V1, "ana")
    assert [(v.version, v.created_by) for v in await store.list_versions(pool, "payments")] == [(1, "ana"), (2, "bo")]
    # each save is its own row; the first was not touched
    assert await rows(pool, "SELECT version, channels FROM notification.template_versions ORDER BY version") == [
        {"version": 1, "channels": SMS_V1},
        {"version": 2, "channels": SMS_V2},
    ]


async def test_concurrent_updates_get_consecutive_distinct_versions(pool, renderers):
    await store.create_template(pool, renderers=renderers, id="busy", name="Busy", channels=SMS_V1)

    saved = await asyncio.gather(*(
        store.update_template(pool, "busy", renderers=renderers, channels={"sms": {"text": f"edit {i}"}})
        for i in range(6)
    ))

    assert sorted(s.template.version for s in saved) == [2, 3, 4, 5, 6, 7]
    assert (await store.get_template(pool, "busy")).current_version == 7
    assert [v.version for v in await store.list_versions(pool, "busy")] == [1, 2, 3, 4, 5, 6, 7]


async def test_an_update_naming_a_stale_version_is_refused(pool, renderers):
    await store.create_template(pool, renderers=renderers, id="t", name="T", channels=SMS_V1)
    await store.update_template(pool, "t", renderers=renderers, channels=SMS_V2, expected_version=1)

    with pytest.raises(store.VersionConflict, match="version 2, not 1"):
        await store.update_template(pool, "t", renderers=renderers, channels=SMS_V1, expected_version=1)
    assert (await store.get_template(pool, "t")).current_version == 2


async def test_a_syntax_error_blocks_the_save_naming_channel_part_and_line(pool, renderers):
    broken = {
        "sms": {"text": "ok {{ alert.id }}"},
        "email": {"subject": "fine", "text": "line one\nline two {% endfor %}\nline three"},
        "slack": {"body": '{"text": "{% if %}"}'},
    }
    with pytest.raises(InvalidArgument) as refused:
        await store.create_template(pool, renderers=renderers, id="broken", name="Broken", channels=broken)

    message = refused.value.detail
    assert "email.text line 2: syntax error" in message
    assert "slack.body line 1: syntax error" in message  # every error is listed, not just the first
    assert await rows(pool, "SELECT id FROM notification.templates") == []
    assert await rows(pool, "SELECT template_id FROM notification.template_versions") == []


async def test_an_update_with_errors_leaves_the_current_version_alone(pool, renderers):
    await store.create_template(pool, renderers=renderers, id="t", name="T", channels=SMS_V1)

    with pytest.raises(InvalidArgument, match=r"sms.text line 1: syntax error"):
        await store.update_template(pool, "t", renderers=renderers, channels={"sms": {"text": "{{ x"}})

    assert (await store.get_template(pool, "t")).current_version == 1
    assert len(await store.list_versions(pool, "t")) == 1


async def test_a_variable_missing_from_the_sample_is_a_warning_and_the_template_is_saved(pool, renderers):
    saved = await store.create_template(
        pool, renderers=renderers, id="typo", name="Typo",
        channels={"sms": {"text": "{{ alert.summary }}\n{{ alert.sumary }}"}},
    )

    assert saved.template.version == 1
    [warning] = [w for w in saved.warnings if "sumary" in w.message]
    assert (str(warning.channel), warning.part, warning.line) == ("sms", "text", 2)


async def test_validation_uses_the_templates_own_sample(pool, renderers):
    sample = {"alert": {"summary": "disk full", "custom": {"team": "db"}}}
    saved = await store.create_template(
        pool, renderers=renderers, id="custom", name="Custom", sample=sample,
        channels={"sms": {"text": "{{ alert.custom.team }}: {{ alert.summary }}"}},
    )
    assert not [w for w in saved.warnings if "custom" in w.message]
    assert saved.template.sample == sample
    # an update without a sample keeps validating against the one saved before
    again = await store.update_template(
        pool, "custom", renderers=renderers, channels={"sms": {"text": "{{ alert.custom.team }}!"}}
    )
    assert again.template.sample == sample
    assert not [w for w in again.warnings if "custom" in w.message]


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"fax": {"text": "hi"}}, "unknown channel 'fax'"),
        ({"email": {"body": "hi"}}, "email: unknown part 'body'"),
        ({"sms": {"text": 42}}, "sms.text: expected a string"),
    ],
)
async def test_an_unknown_channel_or_part_is_invalid_and_nothing_is_written(pool, renderers, channels, message):
    with pytest.raises(InvalidArgument, match=message):
        await store.create_template(pool, renderers=renderers, id="bad", name="Bad", channels=channels)
    assert await rows(pool, "SELECT id FROM notification.templates") == []


async def test_ids_are_made_from_names_and_never_reused(pool, renderers):
    first = await store.create_template(pool, renderers=renderers, name="Payments — Primary!", channels=SMS_V1)
    second = await store.create_template(pool, renderers=renderers, name="Payments — Primary!", channels=SMS_V1)

    assert first.template.id == "payments-primary"
    assert second.template.id.startswith("payments-primary-") and second.template.id != first.template.id
    with pytest.raises(AlreadyExists):
        await store.create_template(pool, renderers=renderers, id="payments-primary", name="X", channels=SMS_V1)
    with pytest.raises(InvalidArgument, match="template id"):
        await store.create_template(pool, renderers=renderers, id="Not A Slug", name="X", channels=SMS_V1)


async def test_a_deleted_template_is_gone_for_new_use_but_its_versions_stay_readable(pool, renderers):
    await store.create_template(pool, renderers=renderers, id="old", name="Old", channels=SMS_V1)
    await store.update_template(pool, "old", renderers=renderers, channels=SMS_V2)
    await store.create_template(pool, renderers=renderers, id="kept", name="Kept", channels=SMS_V1)

    await store.delete_template(pool, "old")

    with pytest.raises(NotFound):
        await store.get_template(pool, "old")
    assert (await store.get_template(pool, "old", 1)).channels == SMS_V1
    assert (await store.get_template(pool, "old", 2)).deleted_at is not None
    assert [v.version for v in await store.list_versions(pool, "old")] == [1, 2]
    assert [t.id for t in await store.list_templates(pool)] == ["kept"]
    assert [t.id for t in await store.list_templates(pool, include_deleted=True)] == ["kept", "old"]
    with pytest.raises(NotFound):
        await store.update_template(pool, "old", renderers=renderers, channels=SMS_V1)
    with pytest.raises(NotFound):
        await store.delete_template(pool, "old")
    with pytest.raises(AlreadyExists):  # the id stays taken: old notifications still name it
        await store.create_template(pool, renderers=renderers, id="old", name="Old again", channels=SMS_V1)


async def test_a_version_that_does_not_exist_is_not_found(pool, renderers):
    await store.create_template(pool, renderers=renderers, id="t", name="T", channels=SMS_V1)
    with pytest.raises(NotFound, match="no version 3"):
        await store.get_template(pool, "t", 3)
    with pytest.raises(NotFound):
        await store.list_versions(pool, "nope")
