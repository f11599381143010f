"""Settings read from ``ONCALL_*``: on/off switches and retention refuse what they can't mean, naming the variable."""

from __future__ import annotations

import pytest

from oncall.config import Settings

SWITCHES = {"ONCALL_ENGINE": "engine", "ONCALL_NOTIFIER": "notifier", "ONCALL_GRPC_REFLECTION": "grpc_reflection"}


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize(("raw", "value"), [
    ("on", True), ("ON", True), ("true", True), ("1", True), ("Yes", True), (" on ", True),
    ("off", False), ("OFF", False), ("false", False), ("0", False), ("no", False), ("", True),
])
def test_an_on_off_setting_takes_the_usual_spellings(name, raw, value):
    assert getattr(Settings.from_env({name: raw}), SWITCHES[name]) is value


@pytest.mark.parametrize("name", SWITCHES)
def test_unset_switches_are_on(name):
    assert getattr(Settings.from_env({}), SWITCHES[name]) is True


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("raw", ["of", "onn", "disabled", "2", "nope"])
def test_a_mistyped_switch_is_refused_at_startup_naming_the_setting(name, raw):
    with pytest.raises(SystemExit) as exc:
        Settings.from_env({name: raw})
    assert str(exc.value) == f"{name} must be on or off (or true/false, 1/0, yes/no), got {raw!r}"


@pytest.mark.parametrize("name", ["ONCALL_AUDIT_RETENTION_DAYS", "ONCALL_NOTIFICATION_RETENTION_DAYS"])
def test_a_negative_retention_is_refused_rather_than_keeping_everything(name):
    with pytest.raises(SystemExit) as exc:
        Settings.from_env({name: "-30"})
    assert str(exc.value) == f"{name} must be at least 0, got -30"


def test_a_retention_of_0_keeps_everything_as_the_readme_says():
    settings = Settings.from_env({"ONCALL_AUDIT_RETENTION_DAYS": "0", "ONCALL_NOTIFICATION_RETENTION_DAYS": "0"})
    assert (settings.audit_retention_days, settings.notification_retention_days) == (0, 0)
    default = Settings.from_env({})
    assert (default.audit_retention_days, default.notification_retention_days) == (365, 90)
