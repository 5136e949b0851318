"""pocketsphinx streaming recognition with the en-us model inside the wheel, at 16 kHz.

Two language models are selectable:

- **general**: the wheel's `en-us.lm.bin` with the full CMU dictionary (used when no domain
  sentences are given);
- **domain**: an ARPA trigram model built from the caller's sentences with pocketsphinx's own
  `pocketsphinx.lm.ArpaBoLM`, plus a dictionary holding only the model's words. It is cached
  under `cache_dir("stt")`, named by a hash of the prepared sentences, so the same sentences
  never rebuild. The small dictionary is what makes loading fast (~60 ms instead of ~2 s for
  the full 126k-word dictionary).

Sentences are prepared for the model the way a caller speaks them: numerals are spelled digit
by digit ("order 47129" → "order four seven one two nine"), text is lowercased and
punctuation dropped. Words missing from the CMU dictionary cannot be pronounced by the
decoder, so they are left out of the model with one warning listing them.

Decoding settings: the second "flat" forward pass is turned off (`fwdflat=False`): on the
bundled WER sentences it did not change accuracy with a domain model but cost ~80 ms after
the end of each utterance, which the caller waits for. Lattice rescoring (`bestpath`) stays on.

Word timings come from the segmentation (10 ms frames): a word spans
[start_frame × 10 ms, (end_frame + 1) × 10 ms). Fillers (`<s>`, `</s>`, `<sil>`, noise) are
dropped and alternative pronunciation markers ("the(2)") removed.

Cepstral mean normalisation (CMN) runs live and adapts as audio arrives, but it starts from an
initial estimate, and with pocketsphinx's default (made for wideband microphone speech) the
first utterance of a fresh decoder fed telephone-band audio came out nearly all wrong (WER
~1.0 on espeak voices, then fine once adapted). So the estimate is seeded for the input band:
`input_band="telephone"` (8 kHz audio upsampled to 16 kHz, nothing above 4 kHz; the default,
since calls are telephone audio) or "wideband" (`workbench transcribe` on a 16 kHz+ file).
The seeds are the CMN values pocketsphinx converged to on synthetic speech (espeak and piper
voices, averaged) through each path; the telephone seed took the first utterance from WER
1.0 to ~0.2. `reset_adaptation()` goes back to the seed (a new call is a new line).

Confidence is the mean posterior probability of the recognised words (each segment's
lattice posterior, already 0..1). The whole-hypothesis posterior (`hyp().prob`) shrinks with
every word, so it ranks a long correct sentence below a short wrong one; the mean word
posterior does not. An empty result has confidence 0.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pocketsphinx

from workbench.errors import ConfigError
from workbench.paths import cache_dir
from workbench.speech.stt import Transcript, Word
from workbench.speech.wer import spoken_digits

logger = logging.getLogger(__name__)

FRAME_MS = 10  # pocketsphinx's feature frame rate is 100 per second
# Part of the cache key: bump when the way models are built changes.
_BUILD_VERSION = "arpabo-v1"
_DISCOUNT_MASS = 0.5
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_ALTERNATIVE = re.compile(r"\(\d+\)$")
# Initial CMN per input band (13 cepstral means; see the module docstring).
CMN_INIT = {
    "wideband": "56.5,6.3,-4.6,15.2,-7.8,-2.2,-2.4,-15.7,0.2,-4.2,5.6,-0.5,-6.4",
    "telephone": "53.8,23.9,-31.0,44.8,-30.3,15.2,-14.0,-10.1,-1.8,-6.5,10.5,-8.0,2.0",
}


@dataclass(frozen=True)
class DomainModel:
    """A domain language model on disk; `built` is False when it came from the cache."""

    lm_path: Path
    dict_path: Path
    words: int
    built: bool


def prepare_sentence(sentence: str) -> list[str]:
    """The words of a sentence as a caller would say them, lowercased, no punctuation."""
    return _WORD.findall(spoken_digits(sentence).lower().replace("’", "'"))


@functools.cache
def _pronunciations() -> dict[str, list[str]]:
    """The CMU dictionary shipped in the wheel: word → its dictionary lines (all variants)."""
    entries: dict[str, list[str]] = {}
    path = pocketsphinx.get_model_path("en-us/cmudict-en-us.dict")
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            word = line.split(" ", 1)[0]
            entries.setdefault(_ALTERNATIVE.sub("", word), []).append(line)
    return entries


def _model_key(prepared: list[list[str]]) -> str:
    """Content hash of the sentences, the build recipe and the pocketsphinx release (its
    dictionary supplies the pronunciations)."""
    text = "\n".join(" ".join(words) for words in prepared)
    release = importlib.metadata.version("pocketsphinx")
    return hashlib.sha256(f"{_BUILD_VERSION}\n{release}\n{text}".encode()).hexdigest()[:20]


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a concurrent reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_domain_model(sentences: Sequence[str]) -> DomainModel:
    """Build (or find in the cache) the domain language model and dictionary for `sentences`."""
    from pocketsphinx.lm import ArpaBoLM

    prepared = [words for words in (prepare_sentence(s) for s in sentences) if words]
    if not prepared:
        raise ConfigError("the domain sentences hold no words to build a language model from")
    key = _model_key(prepared)
    directory = cache_dir("stt")
    lm_path = directory / f"domain-{key}.lm"
    dict_path = directory / f"domain-{key}.dict"
    if lm_path.is_file() and dict_path.is_file():
        with dict_path.open(encoding="utf-8") as lines:
            words = len({_ALTERNATIVE.sub("", line.split(" ", 1)[0]) for line in lines})
        return DomainModel(lm_path, dict_path, words, built=False)

    pronunciations = _pronunciations()
    unknown = sorted({w for words in prepared for w in words if w not in pronunciations})
    if unknown:
        logger.warning(
            "left out of the domain language model (not in the pronunciation dictionary): %s",
            ", ".join(unknown),
        )
    known = [[w for w in words if w in pronunciations] for words in prepared]
    known = [words for words in known if words]
    if not known:
        raise ConfigError("none of the domain sentences' words are in the pronunciation dictionary")
    builder = ArpaBoLM(
        text="\n".join(" ".join(words) for words in known),
        add_start=True,
        discount_mass=_DISCOUNT_MASS,
    )
    builder.compute()
    vocabulary = sorted({w for words in known for w in words})
    _write_atomically(dict_path, "".join(line for w in vocabulary for line in pronunciations[w]))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=lm_path.name, suffix=".tmp")
    os.close(fd)
    try:
        builder.write_file(tmp)
        os.replace(tmp, lm_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("built domain language model %s (%d words)", lm_path.name, len(vocabulary))
    return DomainModel(lm_path, dict_path, len(vocabulary), built=True)


def _is_filler(word: str) -> bool:
    return word.startswith("<") or word.startswith("[") or word.startswith("++")


class PocketsphinxRecognizer:
    """A `StreamingRecognizer` on one pocketsphinx decoder, reusable across utterances.

    `partial_every_frames` asks the decoder for a partial hypothesis only every N-th `feed`
    call (1 = every call); the hypothesis search costs about as much as decoding the frame.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        domain_sentences: Sequence[str] | None = None,
        input_band: str = "telephone",
        partial_every_frames: int = 2,
    ) -> None:
        options: dict[str, object] = {"loglevel": "FATAL", "fwdflat": False}
        self.domain_model: DomainModel | None = None
        if domain_sentences:
            self.domain_model = build_domain_model(domain_sentences)
            options["lm"] = str(self.domain_model.lm_path)
            options["dict"] = str(self.domain_model.dict_path)
            # A domain model's search is small, so it affords a leaner decoder: no phone-loop
            # lookahead (it exists to prune a large search; ~13 % of the per-frame cost),
            # narrower word-exit and phone beams, three Gaussians per mixture instead of four
            # (together ~20 % less). WER on the bench's held-out sentences stayed the same or
            # improved for every voice. Further went too far: topn=2 heard "james" as "game",
            # beam=1e-40 with topn=3 broke three-questions' "and are you open" ("an error").
            options.update(pl_window=0, wbeam=1e-25, pbeam=1e-40, topn=3)
        self.model = "domain" if self.domain_model else "general"
        try:
            self._decoder = pocketsphinx.Decoder(**options)
        except RuntimeError as error:
            raise ConfigError(
                f"pocketsphinx could not load its {self.model} model: {error}"
            ) from None
        self.partial_every_frames = max(1, partial_every_frames)
        self.input_band = ""
        self.set_input_band(input_band)
        self._in_utterance = False
        self._partial: str = ""
        self._feeds = 0
        self._samples = 0

    def set_input_band(self, band: str) -> None:
        """Seed the CMN for "telephone" or "wideband" audio (restarts its adaptation)."""
        if band not in CMN_INIT:
            raise ConfigError(f"unknown input band {band!r} (choose one of: {', '.join(CMN_INIT)})")
        if band != self.input_band:
            self._decoder.set_cmn(CMN_INIT[band])
            self.input_band = band

    def reset_adaptation(self) -> None:
        """Forget the CMN learnt from earlier audio (a new call): back to the band's seed."""
        self._decoder.set_cmn(CMN_INIT[self.input_band])

    def begin_utterance(self) -> None:
        if self._in_utterance:  # an abandoned utterance: close it so the decoder can restart
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._in_utterance = True
        self._partial = ""
        self._feeds = 0
        self._samples = 0

    def feed(self, pcm16k: np.ndarray) -> str | None:
        if not self._in_utterance:
            raise RuntimeError("feed() outside an utterance: call begin_utterance() first")
        pcm = np.asarray(pcm16k, dtype=np.int16)
        if len(pcm) == 0:
            return None
        self._decoder.process_raw(pcm.tobytes(), False, False)
        self._samples += len(pcm)
        self._feeds += 1
        if self._feeds % self.partial_every_frames:
            return None
        hypothesis = self._decoder.hyp()
        text = hypothesis.hypstr if hypothesis is not None else ""
        if text and text != self._partial:
            self._partial = text
            return text
        return None

    def end_utterance(self) -> Transcript:
        if not self._in_utterance:
            raise RuntimeError("end_utterance() without begin_utterance()")
        self._decoder.end_utt()
        self._in_utterance = False
        hypothesis = self._decoder.hyp()
        if hypothesis is None or not hypothesis.hypstr:
            return Transcript("", (), 0.0)
        audio_ms = 1000.0 * self._samples / 16000
        words: list[Word] = []
        posteriors: list[float] = []
        for segment in self._decoder.seg():
            if _is_filler(segment.word):
                continue
            start_ms = min(segment.start_frame * FRAME_MS, audio_ms)
            end_ms = min((segment.end_frame + 1) * FRAME_MS, audio_ms)
            words.append(Word(_ALTERNATIVE.sub("", segment.word), float(start_ms), float(end_ms)))
            posteriors.append(min(1.0, max(0.0, float(segment.prob))))
        confidence = float(np.mean(posteriors)) if posteriors else 0.0
        return Transcript(hypothesis.hypstr, tuple(words), confidence)
