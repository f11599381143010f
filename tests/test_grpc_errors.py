"""How gRPC calls fail: a bug is INTERNAL "internal error" (its text only ever in no one's
hands), a database out of reach is UNAVAILABLE with the same sentence as HTTP's 503, and every kind of
method, streams included, goes through the same mapping. The hostile-input corpus is
``test_grpc_hostile.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import grpc
import psycopg
import pytest
from fixtures.rpc import HANG_GUARD_S, failure_of
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from oncall.alerting import store as alerting_store
from oncall.alerting.v1 import alerting_pb2 as pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.notification import outbox
from oncall.notification.v1 import notification_pb2 as notification_pb
from oncall.notification.v1 import notification_pb2_grpc
from oncall.store.database import UNAVAILABLE_DETAIL

SECRET = "hunter2-do-not-echo"


def _raises_a_bug(*args: Any, **kwargs: Any) -> Any:
    try:
        raise ValueError(f"the inner cause mentions {SECRET}")
    except ValueError as inner:
        raise RuntimeError(f"something broke with password={SECRET}") from inner


async def test_an_unexpected_exception_is_internal_error_and_logs_the_method_not_its_text(
    grpc_channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(alerting_store, "get_alert", _raises_a_bug)
    stub = alerting_pb2_grpc.AlertServiceStub(grpc_channel)
    with caplog.at_level(logging.ERROR, logger="oncall.rpc.errors"):
        failure = await failure_of(stub.GetAlert(pb.GetAlertRequest(alert_id=1), timeout=HANG_GUARD_S))
    assert (failure.code(), failure.details()) == (grpc.StatusCode.INTERNAL, "internal error")
    assert SECRET not in str(failure.debug_error_string())
    [record] = [r for r in caplog.records if r.name == "oncall.rpc.errors"]
    logged = caplog.text
    assert "/oncall.alerting.v1.AlertService/GetAlert" in record.getMessage()
    assert "Traceback" in logged and "builtins.RuntimeError" in logged and "builtins.ValueError" in logged
    assert "_raises_a_bug" in logged  # the frames are there: where it broke
    assert SECRET not in logged


async def test_an_unexpected_exception_in_a_stream_is_internal_error_too(
    grpc_channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(outbox, "get_notification", _raises_a_bug)
    stub = notification_pb2_grpc.NotificationServiceStub(grpc_channel)
    with caplog.at_level(logging.ERROR, logger="oncall.rpc.errors"):
        call = stub.WatchNotification(notification_pb.WatchNotificationRequest(id=1), timeout=HANG_GUARD_S)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            async for _ in call:
                pass
    assert (failure.value.code(), failure.value.details()) == (grpc.StatusCode.INTERNAL, "internal error")
    assert "/oncall.notification.v1.NotificationService/WatchNotification" in caplog.text
    assert SECRET not in caplog.text


# Statements PostgreSQL refuses with a message that quotes what was sent: a column name,
# and (for a unique violation) the duplicated value itself.
_FAILING_SQL = {
    "undefined column": f'SELECT "{SECRET}" FROM alerting.alerts',
    "unique violation": f"""CREATE TEMP TABLE seen (secret text PRIMARY KEY);
                           INSERT INTO seen VALUES ('{SECRET}'), ('{SECRET}')""",
}


def _runs_sql(statement: str) -> Any:
    async def fails(pool: Any, *args: Any, **kwargs: Any) -> Any:
        async with pool.connection() as conn:
            await conn.execute(statement)

    return fails


@pytest.mark.parametrize("failure_kind", sorted(_FAILING_SQL))
async def test_a_database_error_reaches_a_unary_caller_as_internal_error_without_its_sql(
    grpc_channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    failure_kind: str,
) -> None:
    monkeypatch.setattr(alerting_store, "get_alert", _runs_sql(_FAILING_SQL[failure_kind]))
    stub = alerting_pb2_grpc.AlertServiceStub(grpc_channel)
    with caplog.at_level(logging.ERROR, logger="oncall.rpc.errors"):
        failure = await failure_of(stub.GetAlert(pb.GetAlertRequest(alert_id=1), timeout=HANG_GUARD_S))
    assert (failure.code(), failure.details()) == (grpc.StatusCode.INTERNAL, "internal error")
    assert SECRET not in str(failure.debug_error_string()) and "alerting.alerts" not in failure.details()
    assert "/oncall.alerting.v1.AlertService/GetAlert" in caplog.text
    assert "psycopg.errors." in caplog.text  # the log says what kind of database error it was
    assert SECRET not in caplog.text


@pytest.mark.parametrize("failure_kind", sorted(_FAILING_SQL))
async def test_a_database_error_reaches_a_stream_caller_as_internal_error_without_its_sql(
    grpc_channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    failure_kind: str,
) -> None:
    monkeypatch.setattr(outbox, "get_notification", _runs_sql(_FAILING_SQL[failure_kind]))
    stub = notification_pb2_grpc.NotificationServiceStub(grpc_channel)
    with caplog.at_level(logging.ERROR, logger="oncall.rpc.errors"):
        call = stub.WatchNotification(notification_pb.WatchNotificationRequest(id=1), timeout=HANG_GUARD_S)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            async for _ in call:
                pass
    assert (failure.value.code(), failure.value.details()) == (grpc.StatusCode.INTERNAL, "internal error")
    assert SECRET not in str(failure.value.debug_error_string())
    assert "/oncall.notification.v1.NotificationService/WatchNotification" in caplog.text
    assert SECRET not in caplog.text


@contextlib.asynccontextmanager
async def every_connection_taken(pool: Any, wait_s: float) -> Any:
    """Hold every connection of ``pool``, and have a request for another give up after ``wait_s``."""
    held = contextlib.AsyncExitStack()
    async with held:
        for _ in range(pool.max_size):
            await held.enter_async_context(pool.connection())
        usual, pool.timeout = pool.timeout, wait_s
        try:
            yield
        finally:
            pool.timeout = usual


async def test_a_database_out_of_reach_is_unavailable_for_calls_and_streams(server: Any) -> None:
    async with server.channel() as channel, \
            every_connection_taken(server.ctx.pool, wait_s=0.2):
        alerts = alerting_pb2_grpc.AlertServiceStub(channel)
        failure = await failure_of(alerts.GetAlert(pb.GetAlertRequest(alert_id=1), timeout=HANG_GUARD_S))
        assert (failure.code(), failure.details()) == (grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_DETAIL)

        notifications = notification_pb2_grpc.NotificationServiceStub(channel)
        call = notifications.WatchNotification(notification_pb.WatchNotificationRequest(id=1), timeout=HANG_GUARD_S)
        with pytest.raises(grpc.aio.AioRpcError) as stream_failure:
            async for _ in call:
                pass
        assert stream_failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert stream_failure.value.details() == UNAVAILABLE_DETAIL
    # and once connections are free again, the same call is answered
    async with server.channel() as channel:
        missing = await failure_of(alerting_pb2_grpc.AlertServiceStub(channel).GetAlert(pb.GetAlertRequest(alert_id=1)))
        assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_the_health_watch_stream_answers_through_the_interceptor(grpc_channel: grpc.aio.Channel) -> None:
    # grpc_health's Watch writes with context.write rather than yielding; the interceptor
    # used to iterate it, and every Watch failed UNKNOWN.
    call = health_pb2_grpc.HealthStub(grpc_channel).Watch(health_pb2.HealthCheckRequest(service=""))
    try:
        first = await asyncio.wait_for(call.read(), HANG_GUARD_S)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        call.cancel()


async def test_a_client_stream_message_that_does_not_parse_is_invalid_argument(grpc_channel: grpc.aio.Channel) -> None:
    reflection = grpc_channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda b: b,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    good = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    not_utf8 = reflection_pb2.ServerReflectionRequest(file_by_filename="~~").SerializeToString().replace(b"~~", b"\xc0\xc0")
    call = reflection(iter([good, not_utf8]), timeout=HANG_GUARD_S)
    answered = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for response in call:
            answered.append(response)
    assert len(answered) == 1 and answered[0].HasField("list_services_response")
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "file_by_filename is not UTF-8 text" in failure.value.details()


async def test_every_kind_of_method_answers_a_database_bug_with_internal_error_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One server with the interceptor and one method of each of the four kinds, each failing
    # with the error PostgreSQL gives for a duplicate (its text quotes the value).
    from oncall.rpc.errors import ErrorMappingInterceptor

    def bug() -> Exception:
        return psycopg.errors.UniqueViolation(
            f'duplicate key value violates unique constraint "seen_pkey" DETAIL: Key (secret)=({SECRET}) already exists.'
        )

    async def unary_unary(request: Any, context: Any) -> Any:
        raise bug()

    async def unary_stream(request: Any, context: Any) -> Any:
        yield health_pb2.HealthCheckResponse()
        raise bug()

    async def stream_unary(requests: Any, context: Any) -> Any:
        async for _ in requests:
            raise bug()

    async def stream_stream(requests: Any, context: Any) -> Any:
        async for _ in requests:
            yield health_pb2.HealthCheckResponse()
            raise bug()

    codec = {"request_deserializer": health_pb2.HealthCheckRequest.FromString,
             "response_serializer": health_pb2.HealthCheckResponse.SerializeToString}
    handlers = {
        "UnaryUnary": grpc.unary_unary_rpc_method_handler(unary_unary, **codec),
        "UnaryStream": grpc.unary_stream_rpc_method_handler(unary_stream, **codec),
        "StreamUnary": grpc.stream_unary_rpc_method_handler(stream_unary, **codec),
        "StreamStream": grpc.stream_stream_rpc_method_handler(stream_stream, **codec),
    }
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Bugs", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            request = health_pb2.HealthCheckRequest(service="x")
            calls = {
                kind: getattr(channel, factory)(
                    f"/test.Bugs/{kind}",
                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                    response_deserializer=health_pb2.HealthCheckResponse.FromString,
                )
                for kind, factory in (("UnaryUnary", "unary_unary"), ("UnaryStream", "unary_stream"),
                                      ("StreamUnary", "stream_unary"), ("StreamStream", "stream_stream"))
            }
            with caplog.at_level(logging.ERROR, logger="oncall.rpc.errors"):
                for kind, method in calls.items():
                    argument = iter([request]) if kind.startswith("Stream") else request
                    call = method(argument, timeout=HANG_GUARD_S)
                    with pytest.raises(grpc.aio.AioRpcError) as failure:
                        if kind.endswith("Stream"):
                            async for _ in call:
                                pass
                        else:
                            await call
                    assert (failure.value.code(), failure.value.details()) == (
                        grpc.StatusCode.INTERNAL, "internal error"), kind
                    assert SECRET not in str(failure.value.debug_error_string()), kind
                    assert f"/test.Bugs/{kind}" in caplog.text
    finally:
        await server.stop(None)
    assert "psycopg.errors.UniqueViolation" in caplog.text and SECRET not in caplog.text
