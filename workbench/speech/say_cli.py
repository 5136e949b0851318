"""`workbench say`: synthesise text to a WAV file, natively or as the phone line carries it."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import SAMPLE_RATE as TELEPHONE_RATE
from workbench.audio.wav import write_ulaw_wav, write_wav
from workbench.errors import ConfigError, WorkbenchError
from workbench.speech.lexicon import Lexicon
from workbench.speech.tts import (
    DEFAULT_VOICE,
    TelephoneTTS,
    load_synthesizer,
    prepare_text,
    require_text,
    synthesize,
)

logger = logging.getLogger(__name__)


def check_writable(output: Path) -> None:
    """Fail before synthesis, with one line, if the WAV file cannot be written where asked."""
    if output.suffix.lower() != ".wav":
        raise ConfigError(f"{output}: the output must be a .wav file")
    if output.is_dir():
        raise WorkbenchError(f"{output}: is a directory, not a file")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise WorkbenchError(f"{output}: cannot write, directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise WorkbenchError(f"{output}: cannot write, permission denied")


def run_say(
    text: str,
    output: Path,
    *,
    voice: str = DEFAULT_VOICE,
    telephone: bool = False,
    rate: int | None = None,
    pitch: int | None = None,
    lexicon: Path | None = None,
) -> str:
    """Write TEXT as a WAV file and return a one-line summary (path, duration, rate, format).

    Without `telephone`, 16-bit PCM at the voice's own rate; with it, 8 kHz μ-law exactly as
    `TelephoneTTS` sends it. The lexicon is the given file, or the default one.
    """
    require_text(text)
    output = Path(output)
    check_writable(output)
    words = Lexicon.load(lexicon) if lexicon is not None else Lexicon.default()
    started = time.perf_counter()
    synthesizer = load_synthesizer(voice, rate_wpm=rate, pitch=pitch)
    warm_up = getattr(synthesizer, "warm_up", None)
    if warm_up is not None:
        warm_up()  # piper loads its model: timed apart from synthesis
    load_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    if telephone:
        ulaw = TelephoneTTS(synthesizer, lexicon=words).render(text)
        samples: np.ndarray = ulaw_decode(ulaw)
        sample_rate, form = TELEPHONE_RATE, "μ-law"
    else:
        samples = synthesize(synthesizer, prepare_text(text, words))
        sample_rate, form = synthesizer.sample_rate, "PCM16"
    elapsed_ms = (time.perf_counter() - started) * 1000
    try:
        if telephone:
            write_ulaw_wav(output, ulaw)
        else:
            write_wav(output, samples, sample_rate)
    except (OSError, RuntimeError) as error:
        raise WorkbenchError(f"{output}: cannot write ({error})") from None
    duration = len(samples) / sample_rate
    return (
        f"{output}: {duration:.2f} s, {sample_rate} Hz {form}, voice {synthesizer.voice} "
        f"(loaded in {load_ms:.0f} ms, synthesised in {elapsed_ms:.0f} ms)"
    )
