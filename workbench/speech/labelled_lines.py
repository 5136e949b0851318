"""Labelled caller audio for turn-taking: speech over noise, and noise alone, with its truth.

The lines (`assets/speech/turn_taking_lines.tsv`) are acknowledgements and interruptions, each in
one split: `tune` (thresholds may be chosen on it) or `heldout` (never; its figures are the ones
reported). Each line is spoken by each voice in `VOICES` at one of `RATES_WPM`, over a
background (none, office babble or line noise at 10-20 dB SNR) with, sometimes, a cough, a breath
or a door in the lead-in before the voice. Each split also has clips with no speech at all: the
same transients and backgrounds alone. The noise comes from `nonspeech.py` (made offline) with
seeds that differ between the splits, so the held-out half shares no text and no noise sample
with the tuning half.

Every clip is 8 kHz int16 with its truth: `onset_ms` (the first audible sample of the voice,
the same definition the call benches use: |x| > 300 at the normalised speech level) and
`speech_end_ms`; both None for noise-only clips. The speech is normalised to `SPEECH_RMS` (its
20 ms blocks with voice), and SNRs are against that level, for noise-only clips too.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.audio.heard import AUDIBLE_THRESHOLD
from workbench.errors import ConfigError
from workbench.paths import ASSETS_DIR
from workbench.speech import nonspeech

RATE = 8000
LINES_ASSET = ASSETS_DIR / "speech" / "turn_taking_lines.tsv"
SPLITS = ("tune", "heldout")
LABELS = ("acknowledgement", "interruption")
VOICES = ("piper:joe", "espeak:en-us+klatt3", "espeak:en-us+f3")
RATES_WPM: tuple[int | None, ...] = (None, 140, 210)  # the voice's own pace, slow, fast
SNRS_DB = (10.0, 15.0, 20.0)
SPEECH_RMS = 2500.0  # about -22 dBFS: a caller at a normal level after the phone's AGC
LEAD_MS = 1000.0  # line audio before anything happens (detectors measure the floor)
TAIL_MS = 600.0
FADE_IN_MS = 300.0  # backgrounds fade in, so a clip does not open with a step
# Transient peaks relative to SPEECH_RMS (speech peaks at ~3-4x its RMS).
TRANSIENT_PEAK = {"cough": (2.0, 4.0), "breath": (0.3, 0.6), "door": (2.0, 4.0)}
_SPLIT_SEED = {"tune": 1000, "heldout": 2000}


@dataclass(frozen=True)
class LabelledText:
    split: str
    label: str
    text: str


@dataclass(frozen=True)
class Condition:
    """What the line carries besides the voice."""

    background: str = "clean"  # clean | babble | line
    snr_db: float | None = None  # the background's level against SPEECH_RMS
    transient: str | None = None  # cough | breath | door, in the lead-in (or alone)

    @property
    def name(self) -> str:
        parts = [self.background if self.snr_db is None else f"{self.background}@{self.snr_db:g}dB"]
        if self.transient:
            parts.append(self.transient)
        return "+".join(parts)


@dataclass(frozen=True)
class LabelledClip:
    id: str
    split: str
    kind: str  # acknowledgement | interruption | noise
    text: str  # "" for noise
    voice: str | None
    rate_wpm: int | None
    condition: Condition
    pcm: np.ndarray = field(repr=False)  # int16, 8 kHz
    onset_ms: float | None  # true voice onset; None for noise
    speech_end_ms: float | None

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.pcm) / RATE


def load_texts(path=LINES_ASSET) -> list[LabelledText]:
    """The labelled lines: `split<TAB>label<TAB>text`, `#` comments and blank lines skipped."""
    texts = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 3 or parts[0] not in SPLITS or parts[1] not in LABELS:
            raise ConfigError(
                f"{path}:{number}: expected split (tune|heldout), label "
                f"(acknowledgement|interruption) and text separated by tabs"
            )
        texts.append(LabelledText(*parts))
    return texts


def seed_of(*parts: object) -> int:
    """A stable seed from names and numbers (Python's hash() changes between processes)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def speech_conditions(split: str, text_index: int, voice_index: int) -> Condition:
    """The background and transient of a split's clip of text `text_index` in voice
    `voice_index`: each voice meets every background, transient and rate (the rate is
    `(text_index + voice_index) % 3`), in an order that differs between the splits."""
    rng = np.random.default_rng(seed_of(split, "speech", text_index, voice_index))
    background = ("clean", "babble", "line")[(text_index + 2 * voice_index) % 3]
    snr = None if background == "clean" else float(rng.choice(SNRS_DB))
    offset = 0 if split == "tune" else 2
    transient = (None, "cough", "breath", "door")[(text_index // 3 + voice_index + offset) % 4]
    return Condition(background, snr, transient)


def noise_conditions() -> list[Condition]:
    """The noise-only clips of each split: every transient clean and in light noise, and the
    backgrounds alone at their loudest."""
    conditions = []
    for transient in ("cough", "breath", "door"):
        conditions += [
            Condition(transient=transient),
            Condition(transient=transient),
            Condition("line", 20.0, transient),
            Condition("babble", 20.0, transient),
        ]
    conditions += [Condition("babble", 10.0)] * 4 + [Condition("babble", 15.0)] * 2
    conditions += [Condition("line", 10.0)] * 3
    return conditions


def _active_rms(pcm: np.ndarray) -> float:
    blocks = pcm[: len(pcm) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = blocks[np.abs(blocks).max(axis=1) > AUDIBLE_THRESHOLD]
    return float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.0


def normalised_speech(pcm: np.ndarray) -> np.ndarray:
    """Speech (float) scaled so its voiced blocks have SPEECH_RMS (two passes: the 'voiced' test
    depends on the level)."""
    audio = pcm.astype(np.float64)
    for _ in range(2):
        rms = _active_rms(audio)
        if rms > 0:
            audio = audio * (SPEECH_RMS / rms)
    return audio


def mix(
    speech: np.ndarray | None, condition: Condition, seed: int
) -> tuple[np.ndarray, float | None, float | None]:
    """A clip: the lead-in (with the transient ending >= 250 ms before the voice), the speech
    (or 1.5 s of nothing), the tail, the background under all of it; int16, with the voice's
    onset and end in ms (None without speech)."""
    rng = np.random.default_rng(seed)
    transient = None
    if condition.transient:
        low, high = TRANSIENT_PEAK[condition.transient]
        transient = nonspeech.TRANSIENTS[condition.transient](seed) * (
            SPEECH_RMS * rng.uniform(low, high)
        )
    lead = int(LEAD_MS * RATE / 1000)
    gap = int(0.25 * RATE)  # a transient ends at least this long before the voice
    transient_at = 0
    if transient is not None:
        lead = max(lead, int(0.3 * RATE) + len(transient) + gap)
        latest = lead - len(transient) - gap
        transient_at = int(rng.integers(int(0.3 * RATE), latest + 1))
    body = speech if speech is not None else np.zeros(int(1.5 * RATE))
    n = lead + len(body) + int(TAIL_MS * RATE / 1000)
    clip = np.zeros(n, dtype=np.float64)
    clip[lead : lead + len(body)] += body
    if transient is not None:
        if speech is None:
            transient_at = lead  # alone: where the voice would have been
        clip[transient_at : transient_at + len(transient)] += transient
    if condition.background != "clean":
        noise = nonspeech.BACKGROUNDS[condition.background](n / RATE, seed).astype(np.float64)
        fade = np.minimum(1.0, np.arange(n) / (FADE_IN_MS * RATE / 1000))
        clip += noise * fade * SPEECH_RMS / 10.0 ** (condition.snr_db / 20.0)
    onset = end = None
    if speech is not None:
        # (on the samples as written: 300.4 rounds to 300, which is not audible)
        audible = np.flatnonzero(np.abs(np.round(speech)) > AUDIBLE_THRESHOLD)
        onset = 1000.0 * (lead + audible[0]) / RATE
        end = 1000.0 * (lead + audible[-1] + 1) / RATE
    return np.clip(np.round(clip), -32768, 32767).astype(np.int16), onset, end


class _Voices:
    """Caller voices, rendered through the TTS cache (the clips are remade, their speech is
    not)."""

    def __init__(self) -> None:
        self._tts: dict[tuple[str, int | None], object] = {}

    def render(self, voice: str, rate_wpm: int | None, text: str) -> np.ndarray:
        from workbench.speech.tts import TelephoneTTS, load_synthesizer
        from workbench.speech.tts_cache import TTSCache

        key = (voice, rate_wpm)
        if key not in self._tts:
            self._tts[key] = TelephoneTTS(
                load_synthesizer(voice, rate_wpm=rate_wpm), None, TTSCache()
            )
        return self._tts[key].render_pcm(text, RATE)  # type: ignore[attr-defined]


def labelled_clips(
    split: str,
    *,
    voices: Sequence[str] = VOICES,
    quick: bool = False,
    include_noise: bool = True,
) -> Iterator[LabelledClip]:
    """The split's clips, speech first then noise alone. `quick`: every third text and noise
    clip (a smoke run, not a measurement)."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    voices_ = _Voices()
    texts = [t for t in load_texts() if t.split == split]
    if quick:
        texts = texts[::3]
    index = 0
    for text_index, line in enumerate(texts):
        for voice_index, voice in enumerate(voices):
            rate = RATES_WPM[(text_index + voice_index) % len(RATES_WPM)]
            condition = speech_conditions(split, text_index, voice_index)
            seed = seed_of(split, index, _SPLIT_SEED[split])
            speech = normalised_speech(voices_.render(voice, rate, line.text))
            pcm, onset, end = mix(speech, condition, seed)
            yield LabelledClip(
                f"{split}-{index:03d}", split, line.label, line.text, voice, rate,
                condition, pcm, onset, end,
            )  # fmt: skip
            index += 1
    if not include_noise:
        return
    conditions = noise_conditions()
    if quick:
        conditions = conditions[::3]
    for noise_index, condition in enumerate(conditions):
        seed = seed_of(split, "noise", noise_index, _SPLIT_SEED[split])
        pcm, _, _ = mix(None, condition, seed)
        yield LabelledClip(
            f"{split}-noise-{noise_index:02d}", split, "noise", "", None, None,
            condition, pcm, None, None,
        )  # fmt: skip
