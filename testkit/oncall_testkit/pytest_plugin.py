"""The pytest plugin (entry point ``pytest11``): the kit's fixtures, available to any test once the kit is installed."""

from __future__ import annotations

import pytest

from .host import FakeChannelHost


@pytest.fixture
def fake_host() -> FakeChannelHost:
    """A fresh ``FakeChannelHost``: bind a channel to it and assert on ``fake_host.calls``."""
    return FakeChannelHost()
