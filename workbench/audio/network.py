"""The caller's network leg: delay, jitter, random and bursty loss, reordering, all seeded.

A `NetworkLeg` decides, packet by packet, whether a 20 ms frame arrives and when. It does no
I/O and reads no clock: the caller passes the send time and gets back the arrival time, so the
virtual-time driver can run a call faster than real time and get the same result for the same
seed.

Delay model: every packet takes `delay_ms` plus a non-negative jitter sample whose mean is
`jitter_ms`, so no packet ever arrives sooner than the fixed delay allows. Reordering arises
when one packet's jitter exceeds the next one's by more than the 20 ms between them, and on
purpose: a packet picked with probability `reorder` is held back a further `reorder_delay_ms`
so that later packets overtake it (as a packet that took a slower path would be).

Loss model: an independent random loss (`loss`) and a two-state Gilbert–Elliott channel
(`burst`) whose bad state loses packets in runs, the way a fading radio link or a congested
queue does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Literal

import numpy as np

from workbench.errors import ConfigError

JitterDistribution = Literal["normal", "uniform", "pareto"]
JITTER_DISTRIBUTIONS: tuple[str, ...] = ("normal", "uniform", "pareto")

# Shape of the Lomax (Pareto II) jitter: a heavy tail with a finite variance.
_PARETO_SHAPE = 2.5
_STANDARD_NORMAL = NormalDist()


def _check_probability(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ConfigError(f"{owner}: {name} must be a probability between 0 and 1, got {value!r}")


def _check_non_negative(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{owner}: {name} must be a number of milliseconds >= 0, got {value!r}")


@dataclass(frozen=True)
class GilbertElliott:
    """A two-state loss channel: a good state and a bad state that loses packets in bursts.

    Before each packet the channel moves good → bad with probability `p_good_to_bad` and
    bad → good with `p_bad_to_good`; then the packet is lost with `loss_in_bad` or
    `loss_in_good` according to the state.
    """

    p_good_to_bad: float
    p_bad_to_good: float
    loss_in_bad: float = 1.0
    loss_in_good: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p_good_to_bad", "p_bad_to_good", "loss_in_bad", "loss_in_good"):
            _check_probability("Gilbert-Elliott loss", name, getattr(self, name))
        if self.p_bad_to_good == 0 and self.p_good_to_bad > 0:
            raise ConfigError(
                "Gilbert-Elliott loss: p_bad_to_good must be > 0 or the channel never recovers"
            )

    @classmethod
    def from_loss_rate(cls, loss_rate: float, mean_burst_packets: float) -> GilbertElliott:
        """The simple form: a long-run loss rate and the mean length of a run of lost packets."""
        _check_probability("Gilbert-Elliott loss", "loss_rate", loss_rate)
        if not (isinstance(mean_burst_packets, int | float) and mean_burst_packets >= 1):
            raise ConfigError(
                f"Gilbert-Elliott loss: mean_burst_packets must be >= 1, got {mean_burst_packets!r}"
            )
        if loss_rate >= 1:
            raise ConfigError("Gilbert-Elliott loss: loss_rate must be below 1")
        # Every packet in the bad state is lost, so a burst lasts 1/p_bad_to_good packets and
        # the channel spends p_gb / (p_gb + p_bg) of the time in the bad state.
        p_bad_to_good = 1.0 / mean_burst_packets
        p_good_to_bad = min(1.0, loss_rate * p_bad_to_good / (1.0 - loss_rate))
        return cls(p_good_to_bad=p_good_to_bad, p_bad_to_good=p_bad_to_good)

    @property
    def loss_rate(self) -> float:
        """The long-run fraction of packets lost."""
        total = self.p_good_to_bad + self.p_bad_to_good
        bad_share = self.p_good_to_bad / total if total else 0.0
        return bad_share * self.loss_in_bad + (1.0 - bad_share) * self.loss_in_good


@dataclass(frozen=True)
class NetworkConditions:
    """What the network does to the caller's packets.

    - `delay_ms`: the fixed one-way delay every packet takes.
    - `jitter_ms`: the mean of the extra, variable delay on top of `delay_ms` (never negative),
      drawn from `jitter_distribution`: "normal" (half-normal), "uniform" (0 to twice the
      mean) or "pareto" (heavy-tailed: now and then one packet is very late).
    - `loss`: probability that a packet is lost independently of the others.
    - `burst`: a Gilbert–Elliott channel for losses that come in runs (None: no bursts).
    - `reorder`: probability that a packet is held back `reorder_delay_ms` more, so that the
      packets sent after it overtake it.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter_distribution: JitterDistribution = "normal"
    loss: float = 0.0
    burst: GilbertElliott | None = None
    reorder: float = 0.0
    reorder_delay_ms: float = 40.0

    def __post_init__(self) -> None:
        _check_non_negative("network conditions", "delay_ms", self.delay_ms)
        _check_non_negative("network conditions", "jitter_ms", self.jitter_ms)
        _check_non_negative("network conditions", "reorder_delay_ms", self.reorder_delay_ms)
        if self.jitter_distribution not in JITTER_DISTRIBUTIONS:
            raise ConfigError(
                f"network conditions: unknown jitter distribution {self.jitter_distribution!r} "
                f"(choose from {', '.join(JITTER_DISTRIBUTIONS)})"
            )
        _check_probability("network conditions", "loss", self.loss)
        _check_probability("network conditions", "reorder", self.reorder)
        if self.burst is not None and not isinstance(self.burst, GilbertElliott):
            raise ConfigError(
                f"network conditions: burst must be a GilbertElliott channel, got {self.burst!r}"
            )

    @property
    def expected_loss_rate(self) -> float:
        """The long-run fraction of packets lost by random and burst loss together."""
        burst_rate = self.burst.loss_rate if self.burst else 0.0
        return 1.0 - (1.0 - self.loss) * (1.0 - burst_rate)

    @classmethod
    def clean(cls) -> NetworkConditions:
        """A perfect leg: no delay, no jitter, no loss."""
        return cls()

    @classmethod
    def preset(cls, name: str) -> NetworkConditions:
        """Named conditions: see `PRESETS` (an unknown name raises `ConfigError`)."""
        try:
            return PRESETS[name]
        except KeyError:
            raise ConfigError(
                f"unknown network preset {name!r} (choose from {', '.join(PRESETS)})"
            ) from None

    def with_changes(self, **changes: object) -> NetworkConditions:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


PRESETS: dict[str, NetworkConditions] = {
    "clean": NetworkConditions(),
    # A good office Wi-Fi: small delay, a little jitter, rare isolated losses.
    "wifi": NetworkConditions(delay_ms=15.0, jitter_ms=8.0, loss=0.005),
    # A mobile data call: more delay, heavy-tailed jitter from scheduling, short loss bursts.
    "lte": NetworkConditions(
        delay_ms=60.0,
        jitter_ms=20.0,
        jitter_distribution="pareto",
        burst=GilbertElliott.from_loss_rate(0.01, 2.0),
        reorder=0.005,
    ),
    # A bad line: 5 % loss in bursts, 80 ms jitter, some reordering.
    "poor": NetworkConditions(
        delay_ms=120.0,
        jitter_ms=80.0,
        burst=GilbertElliott.from_loss_rate(0.05, 3.0),
        reorder=0.02,
    ),
    # A long-haul satellite hop: a big fixed delay, otherwise steady.
    "satellite": NetworkConditions(delay_ms=300.0, jitter_ms=10.0, loss=0.01),
}


@dataclass(frozen=True)
class Packet:
    """A frame as it arrives: its sequence number, when it was sent, when it arrived."""

    seq: int
    sent_ms: float
    arrival_ms: float
    payload: bytes


@dataclass(frozen=True)
class NetworkStats:
    """What the leg has done so far. `reordered` counts packets that arrived before a packet
    sent earlier; `mean_delay_ms` is over the packets that arrived."""

    sent: int
    lost: int
    reordered: int
    mean_delay_ms: float

    @property
    def loss_rate(self) -> float:
        return self.lost / self.sent if self.sent else 0.0


class NetworkLeg:
    """One direction of a call's network path, deterministic for a given seed."""

    def __init__(self, conditions: NetworkConditions | None = None, seed: int = 0) -> None:
        self._conditions = conditions or NetworkConditions.clean()
        self._check(self._conditions)
        self._rng = np.random.default_rng(seed)
        self._in_bad_state = False
        self._sent = 0
        self._lost = 0
        self._reordered = 0
        self._delay_total_ms = 0.0
        self._latest_arrival_ms = -math.inf

    @staticmethod
    def _check(conditions: NetworkConditions) -> None:
        if not isinstance(conditions, NetworkConditions):
            raise TypeError(f"expected NetworkConditions, got {type(conditions).__name__}")

    @property
    def conditions(self) -> NetworkConditions:
        return self._conditions

    def set_conditions(self, conditions: NetworkConditions) -> None:
        """Change the conditions mid-call; packets already sent keep their arrival times."""
        self._check(conditions)
        if conditions.burst is None:
            self._in_bad_state = False
        self._conditions = conditions

    def send(self, seq: int, sent_ms: float, payload: bytes) -> Packet | None:
        """The packet as it will arrive, or None when the network loses it."""
        conditions = self._conditions
        # Always draw the same number of values per packet, so that changing the conditions
        # mid-call does not shift the random stream of the packets that follow.
        u_random_loss, u_transition, u_burst_loss, u_jitter, u_reorder = (
            float(u) for u in self._rng.random(5)
        )
        self._sent += 1

        lost = u_random_loss < conditions.loss
        burst = conditions.burst
        if burst is not None:
            if self._in_bad_state:
                self._in_bad_state = not (u_transition < burst.p_bad_to_good)
            else:
                self._in_bad_state = u_transition < burst.p_good_to_bad
            loss_here = burst.loss_in_bad if self._in_bad_state else burst.loss_in_good
            lost = lost or u_burst_loss < loss_here
        if lost:
            self._lost += 1
            return None

        delay = conditions.delay_ms + self._jitter(conditions, u_jitter)
        if u_reorder < conditions.reorder:
            delay += conditions.reorder_delay_ms
        arrival_ms = sent_ms + delay
        if arrival_ms < self._latest_arrival_ms:
            self._reordered += 1
        self._latest_arrival_ms = max(self._latest_arrival_ms, arrival_ms)
        self._delay_total_ms += delay
        return Packet(seq=seq, sent_ms=sent_ms, arrival_ms=arrival_ms, payload=payload)

    @staticmethod
    def _jitter(conditions: NetworkConditions, u: float) -> float:
        """A non-negative jitter sample with mean `jitter_ms`, by inverse transform of `u`."""
        mean = conditions.jitter_ms
        if mean == 0:
            return 0.0
        if conditions.jitter_distribution == "uniform":
            return 2.0 * mean * u
        if conditions.jitter_distribution == "pareto":
            scale = mean * (_PARETO_SHAPE - 1.0)  # Lomax mean is scale / (shape - 1)
            return scale * ((1.0 - u) ** (-1.0 / _PARETO_SHAPE) - 1.0)
        # Half-normal |N(0, σ)| has mean σ·sqrt(2/π).
        sigma = mean * math.sqrt(math.pi / 2.0)
        return sigma * _STANDARD_NORMAL.inv_cdf(0.5 + 0.5 * min(u, 1.0 - 1e-12))

    @property
    def stats(self) -> NetworkStats:
        delivered = self._sent - self._lost
        return NetworkStats(
            sent=self._sent,
            lost=self._lost,
            reordered=self._reordered,
            mean_delay_ms=self._delay_total_ms / delivered if delivered else 0.0,
        )
