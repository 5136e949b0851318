"""Fault injection for the local org: a short spec string and the injector that applies it.

Spec syntax — comma-separated `key=value` pairs (spaces ignored; "" or "none" = no faults):

    transient=P     P of requests fail with a transient fault, picked evenly among
                    503, 500, 400 UNABLE_TO_LOCK_ROW and a dropped connection
    limit=P         403 REQUEST_LIMIT_EXCEEDED ("TotalRequests Limit exceeded.")
    error500=P      500 UNKNOWN_EXCEPTION
    error503=P      503 SERVER_UNAVAILABLE
    lock=P          400 UNABLE_TO_LOCK_ROW
    drop=P          close the TCP connection without answering (nothing is written)
    dropafter=P     do the work, then close the connection without answering (the write
                    happened; tests that a retry is idempotent)
    latency=D       add D to every affected request: "200ms", "0.2s", "150" (ms) or a range
                    "100-300ms" (uniform)
    budget=N        daily API budget: api-usage counts every API request and, once N requests
                    were used, every request gets 403 REQUEST_LIMIT_EXCEEDED
    object=NAME     only requests for this sObject, as named in the URL (e.g. VoiceCall; several
                    with |); a mixed POST/PATCH composite/sobjects names none, so it is not hit
    route=NAME      only these routes (several with |): describe, sobject, upsert, query,
                    composite, event, limits
    seed=N          seed of the random generator (default 0), so runs are reproducible

P is a probability 0..1 or a percentage ("20%"); the probabilities must add up to at most 1.
Faults never apply to /__admin routes, `GET /services/data/`, the OAuth token endpoint or
the SOAP login. Examples: "transient=0.2", "limit=0.1,drop=0.05,latency=200ms,seed=3",
"error503=1,object=VoiceCall", "budget=1000".
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from workbench.errors import ConfigError

PROBABILITY_KEYS = ("transient", "limit", "error500", "error503", "lock", "drop", "dropafter")
ROUTES = frozenset({"describe", "sobject", "upsert", "query", "composite", "event", "limits"})
TRANSIENT_KINDS = ("error503", "error500", "lock", "drop")


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault spec; `FaultSpec()` injects nothing."""

    probabilities: dict[str, float] = field(default_factory=dict)
    latency_ms: tuple[float, float] = (0.0, 0.0)
    budget: int | None = None
    objects: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()
    seed: int = 0

    def __str__(self) -> str:
        parts = [f"{key}={value:g}" for key, value in self.probabilities.items() if value]
        low, high = self.latency_ms
        if high:
            parts.append(f"latency={low:g}ms" if low == high else f"latency={low:g}-{high:g}ms")
        if self.budget is not None:
            parts.append(f"budget={self.budget}")
        if self.objects:
            parts.append("object=" + "|".join(sorted(self.objects)))
        if self.routes:
            parts.append("route=" + "|".join(sorted(self.routes)))
        if parts and self.seed:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)

    def applies_to(self, route: str, object_name: str | None) -> bool:
        """Whether scoped faults (probabilities, latency) apply to this request."""
        if self.routes and route not in self.routes:
            return False
        if self.objects and (object_name or "").lower() not in {o.lower() for o in self.objects}:
            return False
        return True


def _probability(key: str, text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(f"fault spec: {key}={text} is not a probability (0..1 or N%)") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"fault spec: {key}={text} is outside 0..1")
    return value


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text)
    if not match:
        raise ConfigError(f"fault spec: latency={text} is not a duration like 200ms or 0.2s")
    value = float(match.group(1))
    return value * 1000 if match.group(2) == "s" else value


def _latency(text: str) -> tuple[float, float]:
    match = re.fullmatch(r"([\d.]+)(?:ms|s)?-([\d.]+(?:ms|s)?)", text)
    if match:
        unit = "s" if text.endswith("s") and not text.endswith("ms") else "ms"
        low = _duration_ms(match.group(1) + unit)
        high = _duration_ms(match.group(2) if match.group(2)[-1] == "s" else match.group(2) + "ms")
        if low > high:
            raise ConfigError(f"fault spec: latency={text} has its range backwards")
        return low, high
    value = _duration_ms(text)
    return value, value


def parse_fault_spec(spec: str | None) -> FaultSpec:
    """Parse a spec string (syntax in the module docstring); raises ConfigError when invalid."""
    text = (spec or "").replace(" ", "")
    if text.lower() in ("", "none", "off"):
        return FaultSpec()
    probabilities: dict[str, float] = {}
    latency = (0.0, 0.0)
    budget: int | None = None
    objects: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()
    seed = 0
    for item in text.split(","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.lower()
        if not sep or not value:
            raise ConfigError(f"fault spec: {item!r} should be key=value (e.g. transient=0.2)")
        if key in PROBABILITY_KEYS:
            probabilities[key] = _probability(key, value)
        elif key == "latency":
            latency = _latency(value.lower())
        elif key == "budget":
            if not value.isdigit():
                raise ConfigError(f"fault spec: budget={value} is not a whole number of requests")
            budget = int(value)
        elif key == "seed":
            if not value.lstrip("-").isdigit():
                raise ConfigError(f"fault spec: seed={value} is not an integer")
            seed = int(value)
        elif key == "object":
            objects = frozenset(value.split("|"))
        elif key == "route":
            routes = frozenset(r.lower() for r in value.split("|"))
            unknown = sorted(routes - ROUTES)
            if unknown:
                raise ConfigError(
                    f"fault spec: unknown route {unknown[0]!r} (one of {', '.join(sorted(ROUTES))})"
                )
        else:
            known = ", ".join((*PROBABILITY_KEYS, "latency", "budget", "object", "route", "seed"))
            raise ConfigError(f"fault spec: unknown key {key!r} (known: {known})")
    if sum(probabilities.values()) > 1.0 + 1e-9:
        raise ConfigError(f"fault spec: probabilities add up to more than 1 in {spec!r}")
    return FaultSpec(probabilities, latency, budget, objects, routes, seed)


class FaultInjector:
    """Draws the fault (if any) for each request from a seeded generator."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._rng = random.Random(spec.seed)

    def latency_seconds(self, route: str, object_name: str | None) -> float:
        low, high = self.spec.latency_ms
        if not high or not self.spec.applies_to(route, object_name):
            return 0.0
        return (low if low == high else self._rng.uniform(low, high)) / 1000

    def draw(self, route: str, object_name: str | None) -> str | None:
        """The fault kind for this request: one of `PROBABILITY_KEYS` minus transient, or None."""
        if not self.spec.probabilities or not self.spec.applies_to(route, object_name):
            return None
        roll = self._rng.random()
        for key in PROBABILITY_KEYS:
            probability = self.spec.probabilities.get(key, 0.0)
            if roll < probability:
                return self._rng.choice(TRANSIENT_KINDS) if key == "transient" else key
            roll -= probability
        return None


# The error bodies Salesforce answers with (status, errorCode, message).
FAULT_RESPONSES: dict[str, tuple[int, str, str]] = {
    "limit": (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    "error500": (
        500,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1357924680-12345 (-1023456789)",
    ),
    "error503": (503, "SERVER_UNAVAILABLE", "Server temporarily unavailable (injected fault)."),
    "lock": (
        400,
        "UNABLE_TO_LOCK_ROW",
        "unable to obtain exclusive access to this record or 1 records (injected fault)",
    ),
}
