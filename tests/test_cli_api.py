"""The CLI's API client: where it goes (``ONCALL_SERVER_URL``), and requests written as the server reads them."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from multidict import MultiDict

from oncall.alerting.v1 import alerting_pb2, incidents_pb2, schedules_pb2
from oncall.cli.api import ConfigError, _query_pairs, method_descriptor, remote_from_env
from oncall.rest.jsonmap import query_doc


def test_no_server_url_is_local() -> None:
    assert remote_from_env({}) is None
    assert remote_from_env({"ONCALL_API_KEY": "oncall_x_y"}) is None


def test_a_remote_needs_a_key_and_never_echoes_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="ONCALL_API_KEY"):
        remote_from_env({"ONCALL_SERVER_URL": "https://oncall.example.com"})
    with pytest.raises(ConfigError, match="http:// or https://"):
        remote_from_env({"ONCALL_SERVER_URL": "oncall.example.com", "ONCALL_API_KEY": "oncall_a_secret"})
    with pytest.raises(ConfigError, match="not both") as refused:
        remote_from_env({"ONCALL_SERVER_URL": "http://h", "ONCALL_API_KEY": "oncall_a_secret",
                         "ONCALL_API_KEY_FILE": str(tmp_path / "k")})
    assert "secret" not in str(refused.value)
    (tmp_path / "k").write_text("oncall_a_fromfile\n")
    remote = remote_from_env({"ONCALL_SERVER_URL": "https://h:8443/", "ONCALL_API_KEY_FILE": str(tmp_path / "k")})
    assert remote is not None and remote.url == "https://h:8443" and remote.key == "oncall_a_fromfile"
    assert "fromfile" not in repr(remote.where)
    with pytest.raises(ConfigError, match="cannot read"):
        remote_from_env({"ONCALL_SERVER_URL": "http://h", "ONCALL_API_KEY_FILE": str(tmp_path / "missing")})


def test_methods_are_found_by_short_or_full_name() -> None:
    assert method_descriptor("AlertService/ListAlerts").full_name == "oncall.alerting.v1.AlertService.ListAlerts"
    assert method_descriptor("/oncall.alerting.v1.AlertService/GetAlert").name == "GetAlert"
    with pytest.raises(ValueError, match="no method"):
        method_descriptor("AlertService/Nope")


@pytest.mark.parametrize("request_message", [
    alerting_pb2.ListAlertsRequest(
        statuses=[alerting_pb2.ALERT_STATUS_TRIGGERED, alerting_pb2.ALERT_STATUS_ACKNOWLEDGED],
        labels={"env": "prod", "team": "a b&c=d"}, integration_id=7,
        created_after=Timestamp(seconds=1_700_000_000, nanos=5000), page_size=20, page_token="tok/+="),
    incidents_pb2.ListIncidentsRequest(labels={"k[x]": "v"}, page_size=1),
    schedules_pb2.ListShiftsRequest(schedule_id="primary"),
    alerting_pb2.ListAlertsRequest(),
])
def test_query_parameters_are_read_back_as_the_same_request(request_message) -> None:  # type: ignore[no-untyped-def]
    """What the client writes in a query string, the server's transcoder reads as the very same message."""
    doc = json_format.MessageToDict(request_message, preserving_proto_field_name=True)
    pairs = _query_pairs(request_message.DESCRIPTOR, doc)
    read = query_doc(request_message.DESCRIPTOR, MultiDict(pairs), frozenset())
    back = type(request_message)()
    json_format.ParseDict(read, back)
    assert back == request_message
