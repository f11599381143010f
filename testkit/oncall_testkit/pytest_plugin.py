"""The pytest plugin (entry point ``pytest11``): the kit's fixtures, available to any test once the kit is installed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .host import FakeChannelHost
from .receiver import Receiver
from .receiver import receiver as running_receiver


@pytest.fixture
def fake_host() -> FakeChannelHost:
    """A fresh ``FakeChannelHost``: bind a channel to it and assert on ``fake_host.calls``."""
    return FakeChannelHost()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running ``Receiver`` on 127.0.0.1: script its answers, read ``receiver.requests``."""
    async with running_receiver() as rec:
        yield rec
