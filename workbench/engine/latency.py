"""What each stage costs on the call's clock.

The virtual-time driver measures every stage's real compute time and asks a `LatencyModel`
what to charge:

- `MeasuredLatency` charges the measured time: the honest cost of the real local components.
- `FixedLatency` charges a constant per stage: runs become bit-for-bit reproducible (tests).
- `ProfileLatency` charges a seeded draw from a per-stage distribution standing in for a remote
  vendor ("what if STT finalisation took a cloud vendor's 180 ms?"); stages the profile does not
  name keep their measured cost. Profiles are YAML files: bundled ones live in
  `assets/profiles/`, and any path works too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from workbench.errors import ConfigError
from workbench.paths import ASSETS_DIR
from workbench.yamlfile import load_model

PROFILES_DIR = ASSETS_DIR / "profiles"

# The stages whose cost lands on a turn's critical path.
STAGES = (
    "stt_final",
    "classify",
    "retrieve",
    "respond",
    "respond_more",
    "tts_first_audio",
    "tts_sentence",
)


class LatencyModel(Protocol):
    name: str

    def cost_ms(self, stage: str, measured_ms: float, *, tokens: int = 0) -> float:
        """Milliseconds to charge for `stage`, given what it really took."""
        ...


@dataclass
class MeasuredLatency:
    name: str = "measured"

    def cost_ms(self, stage: str, measured_ms: float, *, tokens: int = 0) -> float:
        return measured_ms


DEFAULT_FIXED_COSTS = {
    "stt_feed": 0.0,
    "stt_final": 40.0,
    "stt_close": 20.0,  # the accurate ear: the streaming recogniser closes its utterance
    "stt_pass": 250.0,  # the accurate ear's final pass
    "classify": 2.0,
    "retrieve": 3.0,
    "respond": 1.0,
    "respond_more": 1.0,
    "tts_first_audio": 5.0,
    "tts_sentence": 5.0,
    "tts_rephrase": 5.0,
}


@dataclass
class FixedLatency:
    costs: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FIXED_COSTS))
    name: str = "fixed"

    def cost_ms(self, stage: str, measured_ms: float, *, tokens: int = 0) -> float:
        return self.costs.get(stage, 0.0)


def _given(value: float | None) -> float:
    """A parameter the distribution's validator has made sure of."""
    assert value is not None
    return float(value)


class StageDistribution(BaseModel):
    """One stage's stand-in cost: a distribution in milliseconds (plus token rate for LLMs)."""

    model_config = ConfigDict(extra="forbid")

    distribution: Literal["fixed", "normal", "lognormal", "uniform"]
    value_ms: float | None = None  # fixed
    mean_ms: float | None = None  # normal
    sd_ms: float | None = None  # normal
    median_ms: float | None = None  # lognormal
    p95_ms: float | None = None  # lognormal
    min_ms: float | None = None  # uniform
    max_ms: float | None = None  # uniform
    tokens_per_s: float | None = None  # respond: time for the first sentence's tokens

    @model_validator(mode="after")
    def _parameters_present(self) -> StageDistribution:
        needed = {
            "fixed": ("value_ms",),
            "normal": ("mean_ms", "sd_ms"),
            "lognormal": ("median_ms", "p95_ms"),
            "uniform": ("min_ms", "max_ms"),
        }[self.distribution]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.distribution} needs {', '.join(missing)}")
        if self.distribution == "lognormal" and _given(self.p95_ms) <= _given(self.median_ms):
            raise ValueError("p95_ms must be above median_ms")
        return self

    def sample(self, rng: np.random.Generator) -> float:
        # (the validator above made sure the distribution's parameters are given)
        if self.distribution == "fixed":
            return _given(self.value_ms)
        if self.distribution == "normal":
            return max(0.0, float(rng.normal(_given(self.mean_ms), _given(self.sd_ms))))
        if self.distribution == "uniform":
            return float(rng.uniform(_given(self.min_ms), _given(self.max_ms)))
        median = _given(self.median_ms)
        sigma = math.log(_given(self.p95_ms) / median) / 1.6449
        return float(rng.lognormal(math.log(median), sigma))


class LatencyProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    stages: dict[str, StageDistribution]

    @model_validator(mode="after")
    def _known_stages(self) -> LatencyProfileFile:
        unknown = sorted(set(self.stages) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; known: {list(STAGES)}")
        return self


class ProfileLatency:
    """Seeded vendor stand-ins for the stages a profile names; measured cost for the rest."""

    def __init__(self, profile: LatencyProfileFile, seed: int = 0) -> None:
        self.profile = profile
        self.name = profile.name
        self._rng = np.random.default_rng(seed)

    @property
    def stands_in_for_stt(self) -> bool:
        """The profile names a vendor's STT finalisation (the accurate ear's pass takes it)."""
        return "stt_final" in self.profile.stages

    def cost_ms(self, stage: str, measured_ms: float, *, tokens: int = 0) -> float:
        # The accurate ear's final pass is the STT finalisation a vendor would do.
        spec = self.profile.stages.get("stt_final" if stage == "stt_pass" else stage)
        if spec is None:
            return measured_ms
        cost = spec.sample(self._rng)
        if spec.tokens_per_s and tokens:
            cost += tokens / spec.tokens_per_s * 1000.0
        return cost


def bundled_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str, seed: int = 0) -> LatencyModel:
    """`measured`, `fixed`, a bundled profile name, or a path to a profile YAML file."""
    if name_or_path == "measured":
        return MeasuredLatency()
    if name_or_path == "fixed":
        return FixedLatency()
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            choices = ", ".join(["measured", "fixed", *bundled_profiles()])
            raise ConfigError(f"unknown latency profile {name_or_path!r} (choose: {choices})")
    profile = load_model(path, LatencyProfileFile, "latency profile")
    return ProfileLatency(profile, seed=seed)
