"""The one retry policy: exponential backoff with jitter, never sooner than the other side asked."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter (half to full of base·2ⁿ), at least the provider's Retry-After."""
    ceiling = min(cap, base * (2.0 ** max(0, attempt - 1)))
    delay = ceiling * (0.5 + rng.random() / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, 3600.0))
    return delay
