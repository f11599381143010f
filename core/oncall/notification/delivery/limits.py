"""Limits: circuit breakers and token buckets, shared by every replica through PostgreSQL.

A claim asks ``hold_open_circuits`` and ``take_tokens`` which units may go now (the rest
wait, never dropped); a record moves the circuits by the answers (``after_answers``).

Circuits: closed, retryable failures in a row are counted; at the threshold the circuit
opens and everything for it waits out a pause. Then one delivery goes as the probe
(half-open) while the rest wait for its answer: success closes the circuit and lets them
all go at once; failure opens it again for twice as long. Answers to sends that were
already out when the circuit opened count for nothing. A permanent error (one bad
destination or message) says nothing about the channel: a probe that gets one lets the
next one probe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from oncall_hookspecs import Channel, DeliveryResult

from ...config import Settings
from ...store.database import Conn
from . import capabilities, store
from .claim import Plan, Unit
from .store import Circuit

log = logging.getLogger(__name__)

CIRCUIT_PAUSE_MAX_S = 600.0  # the pause doubles after each failed probe, up to this


class Limits:
    """The rate limits and circuit settings of one worker."""

    def __init__(self, settings: Settings, channels: Mapping[str, Channel],
                 overrides: Mapping[str, Mapping[str, tuple[float, float]]]) -> None:
        self.settings = settings
        self.channels = channels
        self.overrides = overrides

    def rate_limits(self, name: str) -> dict[str, tuple[float, float]]:
        """The core's default, then the channel plugin's own, then the operator's setting."""
        limits = capabilities.rate_limits(name, self.channels[name])
        limits.update(self.overrides.get(name, {}))
        return limits

    def pause_s(self, pauses: int) -> float:
        """The length of the n-th pause in a row: ``circuit_pause_s``, doubling, at most CIRCUIT_PAUSE_MAX_S."""
        base = float(self.settings.circuit_pause_s)
        return min(base * 2.0 ** min(pauses - 1, 20), max(base, CIRCUIT_PAUSE_MAX_S))

    async def hold_open_circuits(self, conn: Conn, units: Sequence[Unit], plan: Plan, now: datetime) -> list[Unit]:
        """Hold back units whose circuit is open; once its pause is over, let one through as the probe.

        A circuit that is not closed is read under its row lock, so replicas deciding at the same
        moment agree: one probe per circuit, and the rest wait for its answer (``claim.write_plan``
        records which unit probes).
        """
        keys = sorted({u.circuit for u in units})
        circuits = await store.circuits(conn, keys)
        tripped = sorted(k for k, c in circuits.items() if c.state != "closed")
        if tripped:  # in key order: two claims never wait on each other in a circle
            circuits.update(await store.circuits(conn, tripped, lock=True))
        keep = []
        for u in units:
            c = circuits.get(u.circuit)
            u = replace(u, circuit_generation=c.generation if c else 0)
            if c is None or c.state == "closed":
                keep.append(u)
            elif c.open_until is not None and c.open_until > now:  # paused, or its probe is out
                for r in u.rows:
                    plan.defer[r.id] = c.open_until
            elif u.circuit in plan.probes:  # the pause is over and this circuit's probe is chosen
                plan.probes[u.circuit][1].extend(u.ids)
            else:
                plan.probes[u.circuit] = (u, [])
                keep.append(u)
        return keep

    async def take_tokens(self, conn: Conn, units: Sequence[Unit], plan: Plan, now: datetime) -> list[Unit]:
        """Token buckets in PostgreSQL, so every replica draws from the same ones."""
        wants: list[list[tuple[str, float, float]]] = []
        for u in units:
            name = u.leader.channel
            limits = self.rate_limits(name)
            need = []
            if "destination" in limits:
                need.append((f"{name}:{u.leader.destination}", *limits["destination"]))
            if "channel" in limits:
                need.append((f"channel:{name}", *limits["channel"]))
            wants.append(need)
        bursts = {k: b for need in wants for k, b, _ in need}
        if not bursts:
            return list(units)
        buckets = await store.lock_buckets(conn, bursts, now)
        level: dict[str, float] = {}
        for need in wants:
            for key, burst, per in need:
                if key not in level:
                    b = buckets[key]
                    level[key] = min(burst, b.tokens + max(0.0, (now - b.updated_at).total_seconds()) / per)
        keep = []
        for u, need in zip(units, wants, strict=True):
            short = [(key, per) for key, _, per in need if level[key] < 1.0]
            if short:
                wait = max((1.0 - level[key]) * per for key, per in short)
                for r in u.rows:
                    plan.defer[r.id] = now + timedelta(seconds=wait)
                continue
            for key, _, _ in need:
                level[key] -= 1.0
            keep.append(u)
        await store.save_buckets(conn, level, now)
        return keep

    async def after_answers(self, conn: Conn, answers: Sequence[tuple[Unit, DeliveryResult]], now: datetime) -> None:
        """Move the circuit breakers by the answers just recorded, in order (see the module's docstring)."""
        by_key: dict[str, list[tuple[Unit, DeliveryResult]]] = {}
        for unit, result in answers:
            by_key.setdefault(unit.circuit, []).append((unit, result))
        keys = sorted(by_key)
        busy = await store.troubled_circuits(conn, keys)
        keys = [k for k in keys if k in busy or any(not r.ok and not r.permanent for _, r in by_key[k])]
        if not keys:
            return  # the common case: every circuit closed, nothing failed
        changed: list[Circuit] = []
        released: list[tuple[Unit, datetime | None, datetime]] = []  # a probe's unit, held until, now free at
        for before in await store.lock_circuits(conn, keys):  # in key order, as claims lock them
            c = before
            for unit, result in by_key[c.channel]:
                failed = not result.ok and not result.permanent
                if c.state == "closed":
                    if result.ok:
                        c = replace(c, failures=0)
                    elif failed and unit.circuit_generation == c.generation:
                        c = replace(c, failures=c.failures + 1)
                        if c.failures >= self.settings.circuit_threshold:
                            pause = self.pause_s(1)
                            log.warning("channel %s failed %d times in a row; pausing it for %.0f s, then one "
                                        "delivery probes it", c.channel, c.failures, pause)
                            c = replace(c, state="open", failures=0, pauses=1, generation=c.generation + 1,
                                        open_until=now + timedelta(seconds=pause))
                elif unit.leader.id == c.probe_id:  # the probe's answer decides
                    held_until = c.open_until
                    if result.ok:
                        log.warning("channel %s answered its probe; the circuit is closed", c.channel)
                        c = replace(c, state="closed", failures=0, pauses=0, probe_id=None, open_until=None)
                        free_at = now
                    elif failed:
                        pause = self.pause_s(c.pauses + 1)
                        log.warning("channel %s failed its probe; pausing it for %.0f s", c.channel, pause)
                        free_at = now + timedelta(seconds=pause)
                        c = replace(c, state="open", pauses=c.pauses + 1, probe_id=None, open_until=free_at)
                    else:  # nothing learnt about the channel: the next delivery probes
                        c = replace(c, probe_id=None, open_until=now)
                        free_at = now
                    released.append((unit, held_until, free_at))
                # else: a send that was out when the circuit opened; its answer counts for nothing
            if c != before:
                changed.append(c)
        await store.save_circuits(conn, changed)
        for unit, held_until, free_at in released:
            # what waited for the probe goes when it says; rows a claim holds now see the new state
            name = unit.leader.channel
            destination = unit.leader.destination if unit.circuit != name else None
            await store.free_waiting(conn, name, destination, held_until, free_at, now)
            await store.wake_workers(conn)
