"""The public HTTP paths other doors tell callers about (a heartbeat's beat, a calendar feed).

Here rather than in ``http/`` so that the gRPC services can name them without importing the
HTTP server.
"""

from __future__ import annotations

BEAT_PATH = "/api/v1/heartbeat/{id}"
CALENDAR_PATH = "/api/v1/schedules/{id}/calendar.ics"


def calendar_url(base_url: str, schedule_id: str, secret: str) -> str:
    """The feed URL a calendar app subscribes to (the secret is URL-safe base64)."""
    return f"{base_url}{CALENDAR_PATH.format(id=schedule_id)}?token={secret}"
