"""`workbench bench speech`: what the speech stack costs per frame, how fast it is, how accurate.

Everything runs through the telephone path a call uses: TTS → 8 kHz μ-law 20 ms frames →
(optionally a lossy, jittery network leg and the jitter buffer) → μ-law decode → streaming
8 → 16 kHz resampling → VAD and STT. Each utterance is padded with 300 ms of line silence on
both sides, as a caller's audio would be. Reported:

- `per_frame_us`: cost of each stage per 20 ms frame (mean, p95, max) and of their sum, from
  the clean domain-model passes (every voice);
- `stt`: real-time factor (decode time / audio time) and the delay from the last frame to the
  final transcript (mean, p95), per language model;
- `tts`: per backend, model load time, time to the first 8 kHz μ-law frame and real-time factor
  for a 10-word sentence (median of runs, after one warm-up);
- `wer`: per voice, condition (clean; impaired = 3 % random loss and 40 ms mean jitter through
  `NetworkLeg` + `JitterBuffer`) and language model (general; domain built from
  assets/speech/domain_sentences.txt, which shares no sentence with the test set).

`quick=True` uses three sentences and runs the general model only on clean piper audio.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_MS, SAMPLE_RATE, SILENCE_FRAME, iter_frames
from workbench.audio.resample import StreamingResampler
from workbench.paths import ASSETS_DIR
from workbench.speech.stt import StreamingRecognizer, load_recognizer, set_input_band
from workbench.speech.vad import VoiceActivityDetector
from workbench.speech.wer import corpus_wer, word_error_rate
from workbench.stats import percentile

logger = logging.getLogger(__name__)

SPEECH_ASSETS = ASSETS_DIR / "speech"
WER_SENTENCES = SPEECH_ASSETS / "wer_sentences.txt"
DOMAIN_SENTENCES = SPEECH_ASSETS / "domain_sentences.txt"
# The espeak voices the workbench offers as callers (its Klatt variants), and espeak's default
# formant voice for comparison (pocketsphinx recognises it badly; reported, not targeted).
WER_VOICES = (
    "piper:joe",
    "espeak:en-us+klatt3",
    "espeak:en-us+klatt4",
    "espeak:en-us+klatt",
    "espeak:en-us",
)
TARGETED_ESPEAK_VOICES = ("espeak:en-us+klatt3", "espeak:en-us+klatt4", "espeak:en-us+klatt")
TTS_BACKENDS = {"espeak": "espeak:en-us", "piper": "piper:joe"}
TTS_SENTENCE = "Thanks for calling, how can I help you with your account today?"  # 10 words
PAD_FRAMES = 15  # 300 ms of line silence before and after each utterance
IMPAIRED = {"loss": 0.03, "jitter_ms": 40.0}
QUICK_SENTENCES = 3
QUICK_GENERAL = "piper:joe"  # the general model is slow (RTF ~0.2-0.6): one voice in quick mode

TARGETS = {
    "per_frame_total_mean_us": 1000.0,
    "tts_ttfa_ms": {"espeak": 30.0, "piper": 150.0},
    "wer_domain_clean": {
        "piper:joe": 0.10,
        **{voice: 0.30 for voice in TARGETED_ESPEAK_VOICES},
    },
}


def load_sentences(path: os.PathLike[str] | str) -> list[str]:
    """One sentence a line; blank lines and `#` comments skipped."""
    with open(path, encoding="utf-8") as lines:
        stripped = (line.strip() for line in lines)
        return [s for s in stripped if s and not s.startswith("#")]


def _summary(values: Sequence[float], digits: int = 2) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p95": None, "max": None, "n": 0}
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(array.mean()), digits),
        "p95": round(percentile(values, 95), digits),
        "max": round(float(array.max()), digits),
        "n": int(array.size),
    }


@dataclass
class _FrameTimes:
    """Per-frame costs in µs, one list per stage."""

    decode: list[float] = field(default_factory=list)
    resample: list[float] = field(default_factory=list)
    vad: list[float] = field(default_factory=list)
    stt_feed: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float | None]]:
        return {
            "ulaw_decode": _summary(self.decode),
            "resample_8k_to_16k": _summary(self.resample),
            "vad": _summary(self.vad),
            "stt_feed_domain_lm": _summary(self.stt_feed),
            "total": _summary(self.total),
        }


@dataclass
class _SttTimes:
    feed_s: float = 0.0
    audio_s: float = 0.0
    final_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "real_time_factor": round((self.feed_s + sum(self.final_ms) / 1000) / self.audio_s, 4)
            if self.audio_s
            else None,
            "final_after_end_ms": _summary(self.final_ms),
        }


def recognise_frames(
    frames: Sequence[bytes],
    recognizer: StreamingRecognizer,
    *,
    frame_times: _FrameTimes | None = None,
    stt_times: _SttTimes | None = None,
) -> str:
    """Run μ-law frames through decode → resample → VAD → STT as a call would; the final text."""
    resampler = StreamingResampler(SAMPLE_RATE, 16000)
    vad = VoiceActivityDetector()
    clock = time.perf_counter_ns
    recognizer.begin_utterance()
    feed_ns = 0
    for index, frame in enumerate(frames):
        t0 = clock()
        pcm8k = ulaw_decode(frame)
        t1 = clock()
        pcm16k = resampler.process(pcm8k)
        t2 = clock()
        vad.process(pcm8k, index * FRAME_MS)
        t3 = clock()
        recognizer.feed(pcm16k)
        t4 = clock()
        feed_ns += t4 - t3
        if frame_times is not None:
            frame_times.decode.append((t1 - t0) / 1000)
            frame_times.resample.append((t2 - t1) / 1000)
            frame_times.vad.append((t3 - t2) / 1000)
            frame_times.stt_feed.append((t4 - t3) / 1000)
            frame_times.total.append((t4 - t0) / 1000)
    started = clock()
    recognizer.feed(resampler.flush())
    transcript = recognizer.end_utterance()
    final_ns = clock() - started
    if stt_times is not None:
        stt_times.feed_s += feed_ns / 1e9
        stt_times.audio_s += len(frames) * FRAME_MS / 1000
        stt_times.final_ms.append(final_ns / 1e6)
    return transcript.text


def padded_frames(ulaw: bytes) -> list[bytes]:
    """The utterance's frames between 300 ms of line silence on each side."""
    silence = [SILENCE_FRAME] * PAD_FRAMES
    return silence + list(iter_frames(ulaw)) + silence


def impair_frames(frames: Sequence[bytes], seed: int) -> list[bytes] | None:
    """What the far end plays out after a lossy, jittery leg and a jitter buffer.

    None when the network or jitter-buffer modules are not available.
    """
    try:
        from workbench.audio.jitter import JitterBuffer
        from workbench.audio.network import NetworkConditions, NetworkLeg
    except ImportError:
        return None
    leg = NetworkLeg(NetworkConditions(**IMPAIRED), seed=seed)
    packets = [leg.send(seq, seq * FRAME_MS, frame) for seq, frame in enumerate(frames)]
    arrivals = sorted((p for p in packets if p is not None), key=lambda p: p.arrival_ms)
    buffer = JitterBuffer()
    out: list[bytes] = []
    next_arrival = 0
    last_arrival = arrivals[-1].arrival_ms if arrivals else 0.0
    tick = 0
    # Play until every packet has arrived and the buffer has drained (plus the trailing pad).
    while tick * FRAME_MS <= last_arrival + 400 or len(out) < len(frames):
        now = tick * FRAME_MS
        while next_arrival < len(arrivals) and arrivals[next_arrival].arrival_ms <= now:
            buffer.push(arrivals[next_arrival])
            next_arrival += 1
        played = buffer.pop(now)
        out.append(played.payload)
        tick += 1
        if tick > len(frames) * 3:  # a safety bound; never reached with sane conditions
            break
    return out


def _timed_synthesis(voice: str, runs: int) -> dict[str, object]:
    """Load time, time to first telephone frame and RTF of one TTS voice."""
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    started = time.perf_counter()
    synthesizer = load_synthesizer(voice)
    tts = TelephoneTTS(synthesizer)
    first_frame = tts.stream_frames(TTS_SENTENCE)
    next(first_frame)  # warm-up: first use loads models, fills caches
    list(first_frame)
    load_ms = (time.perf_counter() - started) * 1000
    ttfa: list[float] = []
    rtf: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        frames = tts.stream_frames(TTS_SENTENCE)
        next(frames)
        ttfa.append((time.perf_counter() - started) * 1000)
        list(frames)
        started = time.perf_counter()
        samples = sum(len(chunk) for chunk in synthesizer.stream(TTS_SENTENCE))
        elapsed = time.perf_counter() - started
        rtf.append(elapsed / (samples / synthesizer.sample_rate))
    return {
        "voice": voice,
        "load_and_warmup_ms": round(load_ms, 1),
        "ttfa_ms_median": round(statistics.median(ttfa), 2),
        "real_time_factor_median": round(statistics.median(rtf), 4),
        "runs": runs,
    }


def _render_all(voice: str, sentences: Sequence[str]) -> list[bytes]:
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    tts = TelephoneTTS(load_synthesizer(voice))
    return [tts.render(sentence) for sentence in sentences]


def _progress(message: str) -> None:
    logger.info(message)


def machine_info() -> dict[str, object]:
    """The machine a benchmark ran on, and how busy it was when it started."""
    return {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }


def run_speech_bench(*, quick: bool, progress: Callable[[str], None] = _progress) -> dict:
    """Run the speech benchmark and return one JSON-able dict (see the module docstring)."""
    started = time.perf_counter()
    # Other work on the machine inflates every timing here: the load average says how much.
    machine = machine_info()
    sentences = load_sentences(WER_SENTENCES)
    if quick:
        sentences = sentences[:QUICK_SENTENCES]
    domain_sentences = load_sentences(DOMAIN_SENTENCES)

    progress("loading recognisers")
    load_started = time.perf_counter()
    recognizers = {"domain": load_recognizer(domain_sentences=domain_sentences)}
    domain_load_ms = (time.perf_counter() - load_started) * 1000
    load_started = time.perf_counter()
    recognizers["general"] = load_recognizer()
    general_load_ms = (time.perf_counter() - load_started) * 1000
    for recognizer in recognizers.values():
        set_input_band(recognizer, "telephone")  # they hear upsampled 8 kHz audio

    frame_times = _FrameTimes()
    stt_times = {"domain": _SttTimes(), "general": _SttTimes()}
    wer: dict[str, dict[str, object]] = {}
    impaired_available = impair_frames([SILENCE_FRAME], seed=0) is not None
    for voice in WER_VOICES:
        for recognizer in recognizers.values():  # each voice is a new caller: a new call
            reset = getattr(recognizer, "reset_adaptation", None)
            if reset is not None:
                reset()
        progress(f"synthesising {len(sentences)} sentences with {voice}")
        renders = _render_all(voice, sentences)
        clean = [padded_frames(ulaw) for ulaw in renders]
        conditions: dict[str, list[list[bytes]] | None] = {"clean": clean}
        if impaired_available:
            conditions["impaired"] = [
                impair_frames(frames, seed=i)  # type: ignore[misc]
                for i, frames in enumerate(clean)
            ]
        else:
            conditions["impaired"] = None
        results: dict[str, object] = {}
        for condition, utterances in conditions.items():
            if utterances is None:
                results[condition] = {
                    "domain": None,
                    "general": None,
                    "reason": "workbench.audio.network / jitter not available",
                }
                continue
            per_lm: dict[str, object] = {}
            for lm in ("domain", "general"):
                if quick and lm == "general" and (condition != "clean" or voice != QUICK_GENERAL):
                    per_lm[lm] = None
                    continue
                progress(f"recognising {voice} {condition} with the {lm} model")
                pairs = []
                for sentence, frames in zip(sentences, utterances, strict=True):
                    measure = condition == "clean" and lm == "domain"
                    text = recognise_frames(
                        frames,
                        recognizers[lm],
                        frame_times=frame_times if measure else None,
                        stt_times=stt_times[lm] if condition == "clean" else None,
                    )
                    pairs.append((sentence, text))
                worst = sorted(pairs, key=lambda p: -word_error_rate(*p))[:3]
                per_lm[lm] = {
                    "wer": round(corpus_wer(pairs), 4),
                    "worst": [{"reference": r, "hypothesis": h} for r, h in worst],
                }
            if per_lm.get("general", "") is None:
                per_lm["general_skipped"] = (
                    f"quick mode: general model on clean {QUICK_GENERAL} only"
                )
            results[condition] = per_lm
        if impaired_available:
            results["impairment"] = dict(IMPAIRED, seed="sentence index")
        wer[voice] = results

    progress("timing TTS")
    runs = 3 if quick else 7
    tts = {backend: _timed_synthesis(voice, runs) for backend, voice in TTS_BACKENDS.items()}

    per_frame = frame_times.summary()
    total_mean = per_frame["total"]["mean"]
    checks = {
        "per_frame_total_mean_le_1ms": total_mean is not None and total_mean <= 1000.0,
        "espeak_ttfa_le_30ms": tts["espeak"]["ttfa_ms_median"] <= 30.0,
        "piper_ttfa_le_150ms": tts["piper"]["ttfa_ms_median"] <= 150.0,
    }
    for voice, limit in TARGETS["wer_domain_clean"].items():  # type: ignore[union-attr]
        domain = wer[voice]["clean"]["domain"]  # type: ignore[index]
        checks[f"wer_domain_{voice}_le_{limit:g}"] = domain["wer"] <= limit  # type: ignore[index]

    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    return {
        "benchmark": "speech",
        "quick": quick,
        "machine": machine,
        "sentences": len(sentences),
        "domain_lm_sentences": len(domain_sentences),
        "per_frame_us": per_frame,
        "stt": {
            "load_ms": {"domain": round(domain_load_ms, 1), "general": round(general_load_ms, 1)},
            "domain": stt_times["domain"].summary(),
            "general": stt_times["general"].summary(),
        },
        "tts": tts,
        "wer": wer,
        "targets": TARGETS,
        "checks": checks,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
