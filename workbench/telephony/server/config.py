"""How `workbench serve` runs: `ServerConfig`, its defaults and the checks before it starts.

Apart from the server so that everything that only needs the settings (the call bridge, the
workers' supervisor, the commands) can read them without importing the aiohttp application.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ConfigError

HUMAN_VOICE = "espeak:en-us+f3"  # how a typed reply from the desk sounds to the caller
# Admission: calls a process takes by default, per core it gets (cores / workers). Calibrated
# with `workbench bench serve --overload 2` (a server kept full, twice its limit dialling) on
# the 2-core VM of 2026-12-07: one process held 12 admitted calls in every run (turn p95
# 307-323 ms), 16 in two runs of three, not 20 (p95 1.7-3.7 s). Its GIL is the limit (0.85
# cores at 40 calls). Machines and environments differ (2026-12-04's held 56): measure yours.
DEFAULT_CALLS_PER_CORE = 6
WHEN_FULL = ("busy", "reject", "message")
INTERRUPTION_MODES = ("pause", "judge")
# The overload guard's defaults (`admission.py` says what they measure).
DEFAULT_MAX_LOOP_LAG_MS = 300.0
DEFAULT_MAX_TURN_LATENCY_MS = 1500.0


@dataclass(frozen=True)
class ServerConfig:
    """How `workbench serve` runs. `require_token=None` means: required off loopback."""

    host: str = "127.0.0.1"
    port: int = 8080
    agent_path: Path | None = None
    token: str | None = None
    require_token: bool | None = None
    crm: bool = True
    public_url: str | None = None  # e.g. "wss://agent.example.com" for TwiML behind a proxy
    drain_timeout_s: float = 30.0
    max_call_s: float = 3600.0
    max_send_backlog: int = 500  # outbound messages queued (~10 s of audio) before giving up
    send_buffer_bytes: int | None = None  # cap socket + transport send buffers (tests)
    human_voice: str = HUMAN_VOICE
    endpointing: str = "semantic"
    keep_finished: int = 200  # summaries of finished calls kept for inspection
    workers: int = 1  # processes serving calls (`workers.py`); 1: this process alone
    ear: str | None = None  # `--ear`; None: the agent's `ear:`, else fast (capacity)
    max_calls: int | None = None  # calls this process takes at once; None: `default_max_calls`
    when_full: str = "busy"  # what `/twiml` answers beyond capacity (WHEN_FULL)
    twilio_auth_token: str | None = None  # check `X-Twilio-Signature` on /twiml and /media
    max_loop_lag_ms: float = DEFAULT_MAX_LOOP_LAG_MS  # refuse calls while this late (0: off)
    max_turn_latency_ms: float = DEFAULT_MAX_TURN_LATENCY_MS  # … or replies this slow (0: off)
    # `--interruption`: "pause" (go quiet at the caller's voice: `clear`, then resume or
    # yield), "judge" (talk on until the words show an interruption); None: the session's
    # default.
    interruption: str | None = None

    @property
    def token_required(self) -> bool:
        """A token given is always enforced; without one, off loopback refuses to start."""
        if self.token:
            return True
        return self.require_token if self.require_token is not None else not is_loopback(self.host)

    @property
    def calls_per_process(self) -> int:
        return self.max_calls if self.max_calls is not None else default_max_calls(self.workers)


def default_max_calls(workers: int = 1, cores: int | None = None) -> int:
    """Calls one process takes by default: `DEFAULT_CALLS_PER_CORE` per core it gets."""
    cores = cores or os.cpu_count() or 1
    return max(1, round(DEFAULT_CALLS_PER_CORE * cores / max(1, workers)))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(config: ServerConfig) -> None:
    """Refuse to start an unprotected server on a reachable address."""
    if config.token_required and not config.token:
        raise ConfigError(
            f"binding {config.host} exposes the agent beyond this machine: pass --token "
            "(a shared secret callers must present) or bind 127.0.0.1"
        )
    if config.max_calls is not None and config.max_calls < 1:
        raise ConfigError(f"--max-calls {config.max_calls}: a server takes at least one call")
    if config.max_loop_lag_ms < 0:
        raise ConfigError(f"--max-loop-lag-ms {config.max_loop_lag_ms:g}: 0 (off) or more")
    if config.max_turn_latency_ms < 0:
        raise ConfigError(f"--max-turn-latency-ms {config.max_turn_latency_ms:g}: 0 (off) or more")
    if config.interruption is not None and config.interruption not in INTERRUPTION_MODES:
        raise ConfigError(
            f"--interruption {config.interruption!r}: expected {' or '.join(INTERRUPTION_MODES)}"
        )
    if config.when_full not in WHEN_FULL:
        raise ConfigError(f"--when-full {config.when_full!r}: expected {', '.join(WHEN_FULL)}")
    if config.public_url and not config.public_url.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"--public-url {config.public_url!r}: expected the public ws:// or wss:// base URL, "
            "e.g. wss://agent.example.com"
        )
