"""The two ears a call can listen with, and how a face chooses one.

- **fast**: pocketsphinx streaming alone — partials, endpointing, the interruption judge and
  the final words. About 0.5 ms of CPU per 20 ms frame: what `serve` uses for capacity.
- **accurate**: the same streaming recogniser for partials, endpointing and the judge, and a
  final pass by Whisper base over the utterance's audio for the words the agent
  understands (`stt_whisper.WhisperFinalPass`). What a designer listens with.

The choice, most specific first: a command's `--ear`, a scenario's `ear:`, the agent's
`ear:`, else the face's default (`accurate` where a designer listens, `fast` for `serve`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.speech.alignment import edit_script
from workbench.speech.stt import StreamingRecognizer, Transcript, Word
from workbench.speech.stt_whisper import MODEL_NAME

EARS = ("fast", "accurate")
EAR_HELP = (
    "How calls listen: fast (pocketsphinx streaming alone; cheap) or accurate (plus a "
    "Whisper base final pass). Overrides the scenario's and the agent's `ear:`."
)
# The waterfall's lane for the final pass: its real compute, or a vendor's figure in its place.
FINAL_PASS_LANE = f"STT final pass ({MODEL_NAME}, local)"


def vendor_final_pass_lane(profile: str) -> str:
    """The lane when latency profile `profile` charges a vendor's finalisation for the pass."""
    return f"STT final pass [{profile} stand-in; words by {MODEL_NAME}]"


def check_ear(ear: str) -> str:
    """`ear` if it names an ear, else a `ConfigError` listing the choices."""
    if ear not in EARS:
        raise ConfigError(f"unknown ear {ear!r} (choose one of: {', '.join(EARS)})")
    return ear


def resolve_ear(*choices: str | None, default: str) -> str:
    """The first ear given, most specific first, else the face's `default`."""
    for choice in choices:
        if choice:
            return check_ear(choice)
    return check_ear(default)


def load_ear(
    ear: str,
    *,
    domain_sentences: Sequence[str] | None = None,
    spoken_forms: Mapping[str, str] | None = None,
    vocabulary: Sequence[str] = (),
    word_times: bool = False,
) -> StreamingRecognizer:
    """An ear as one `StreamingRecognizer`, for whole utterances outside a call (`transcribe`,
    the benchmarks). Calls use the two passes apart (the session starts the final pass early)."""
    from workbench.speech.stt import load_recognizer

    streaming = load_recognizer(
        "pocketsphinx", domain_sentences=domain_sentences, spoken_forms=spoken_forms
    )
    if check_ear(ear) == "fast":
        return streaming
    from workbench.speech.stt_whisper import WhisperFinalPass

    return TwoPassRecognizer(streaming, WhisperFinalPass(vocabulary), word_times=word_times)


class TwoPassRecognizer:
    """The accurate ear over one utterance: the streaming recogniser's partials as it goes,
    the final pass's words at the end (its `streaming_text` keeps the first pass's)."""

    name = "accurate"

    def __init__(self, streaming: Any, final_pass: Any, *, word_times: bool = False) -> None:
        self.streaming = streaming
        self.final_pass = final_pass
        self.word_times = word_times
        self.streaming_text = ""
        self.streaming_transcript: Transcript | None = None
        self._chunks: list[np.ndarray] = []

    def set_input_band(self, band: str) -> None:
        setter = getattr(self.streaming, "set_input_band", None)
        if setter is not None:
            setter(band)

    def reset_adaptation(self) -> None:
        reset = getattr(self.streaming, "reset_adaptation", None)
        if reset is not None:
            reset()

    def begin_utterance(self) -> None:
        self._chunks = []
        self.streaming.begin_utterance()

    def feed(self, pcm16k: np.ndarray) -> str | None:
        self._chunks.append(np.asarray(pcm16k, dtype=np.int16).copy())
        return self.streaming.feed(pcm16k)

    def end_utterance(self) -> Transcript:
        self.streaming_transcript = self.streaming.end_utterance()
        self.streaming_text = self.streaming_transcript.text
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = []
        final = self.final_pass.transcribe(audio, word_times=self.word_times)
        return reconcile(final, self.streaming_transcript)


UNSURE_FINAL = 0.5  # the final pass's mean token probability below which it is unsure
SURE_STREAMING = 0.5  # the streaming pass's mean word posterior above which it is sure
# ... and a second tier: a streaming pass this sure beats a final pass below DOUBTFUL_FINAL
# (pocketsphinx at 0.9+ had matched one of the agent's phrases: "how late are you guys open
# on friday" where Whisper wrote "how they are you dim open"). Tuning sentences only: espeak
# Klatt3 28.4 → 27.1 % (dev), short answers 51.7 → 48.3 %; piper unchanged on every set.
DOUBTFUL_FINAL = 0.7
VERY_SURE_STREAMING = 0.85


def reconcile(
    final: Transcript, streaming: Transcript | None, sounds: frozenset[str] = frozenset()
) -> Transcript:
    """The words the agent understands, from both passes of the accurate ear.

    The final pass's words, except: where it is unsure and the streaming pass is sure, the
    streaming pass's (pocketsphinx's domain model knows the agent's phrasing; on the tuning
    sentences, not the held-out set, this took espeak's Klatt voices from 33-37 % to 30-35 %
    WER and left piper at 7 %); where the streaming pass heard only acknowledgement `sounds`
    ("uh huh", "mm hmm") and the final pass is not sure, the streaming pass's (Whisper was
    trained to leave such sounds out: it wrote "Uh-huh." as "i'll" and "Mm-hmm." as
    "eminem"); digit strings as the streaming pass heard them (`digits_from_streaming`);
    and a short answer Whisper wrote twice over the silence after it ("no no", "thanks
    thanks") once, when the streaming pass did not hear it twice (`undoubled`).
    """
    if streaming is None:
        return final
    final = undoubled(final, streaming.text)
    heard = streaming.text.split()
    if heard and final.confidence < SURE_OF_A_SOUND and all(w in sounds for w in heard):
        return streaming
    unsure = final.confidence < UNSURE_FINAL and streaming.confidence > SURE_STREAMING
    doubtful = final.confidence < DOUBTFUL_FINAL and streaming.confidence >= VERY_SURE_STREAMING
    if (unsure or doubtful) and streaming.text.strip():
        return streaming
    return with_streaming_digits(final, streaming.text)


SURE_OF_A_SOUND = 0.6  # Whisper's confidence above which its words beat an acknowledgement
DOUBLED_MAX_WORDS = 3  # the longest answer whose doubling is taken for Whisper's


def undoubled(final: Transcript, streaming_text: str) -> Transcript:
    """`final` once where it is one short answer twice ("bye bye") and the streaming pass did
    not hear it twice. Whisper's window holds seconds of silence after a short answer, and it
    now and then writes the answer again there; pocketsphinx, which hears the audio as it
    comes, does not."""
    words = final.text.split()
    half = len(words) // 2
    if not 0 < half <= DOUBLED_MAX_WORDS or len(words) % 2 or words[:half] != words[half:]:
        return final
    if " ".join(words) in " ".join(streaming_text.split()):
        return final  # the caller said it twice ("no no")
    return Transcript(" ".join(words[:half]), final.words[:half], final.confidence)


def with_streaming_digits(final: Transcript, streaming_text: str) -> Transcript:
    """`final` with its digit strings as the streaming ear heard them (`digits_from_streaming`);
    replacing digits share the time of the words they replace."""
    final_words = final.text.split()
    runs = _streaming_digit_runs(final_words, streaming_text)
    if not runs:
        return final
    timed = len(final.words) == len(final_words)
    words: list[Word] = []
    i = 0
    while i < len(final_words):
        start, end = (final.words[i].start_ms, final.words[i].end_ms) if timed else (0.0, 0.0)
        if i not in runs:
            words.append(Word(final_words[i], start, end))
            i += 1
            continue
        last, digits = runs[i]
        if timed:
            end = final.words[last].end_ms
        step = (end - start) / len(digits)
        words += [Word(d, start + k * step, start + (k + 1) * step) for k, d in enumerate(digits)]
        i = last + 1
    return Transcript(" ".join(w.word for w in words), tuple(words), final.confidence)


_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MIN_DIGIT_RUN = 3  # shorter numbers ("2 pm", "one") are left to the final pass


def digits_from_streaming(final_text: str, streaming_text: str) -> str:
    """The final pass's words, with each digit string the streaming recogniser also heard as
    digits taken from the streaming recogniser, read as digit words.

    Whisper tiny writes digit strings as numbers and, on telephone audio, often merges a digit
    ("five five one zero two" → "55002"); pocketsphinx, whose domain language model holds
    digit sequences, hears them one by one. So where the two ears' words align, both hold a
    run of at least `MIN_DIGIT_RUN` digits, the streaming ear read its run digit by digit and
    heard as many digits, the streaming ear's digits win. A longer streaming run is not taken:
    with Whisper base the only such case on the tuning sentences was pocketsphinx inserting a
    digit ("58214" → "four five eight two one four"), and none was a digit Whisper dropped.
    """
    return with_streaming_digits(Transcript(final_text, (), 0.0), streaming_text).text


def _streaming_digit_runs(
    final_words: Sequence[str], streaming_text: str
) -> dict[int, tuple[int, list[str]]]:
    """Final word index where a replaced run starts → (its last word index, digit words)."""
    from workbench.speech.wer import normalize_words

    # Each final word's normalised tokens, so runs map back to whole words.
    pieces = [normalize_words(word) for word in final_words]
    tokens = [token for piece in pieces for token in piece]
    owner = [i for i, piece in enumerate(pieces) for _ in piece]
    streaming = normalize_words(streaming_text)
    spelled = _spelled_digit_runs(streaming_text)
    pairs = _align(tokens, streaming)
    runs: dict[int, tuple[int, list[str]]] = {}
    for start, end in _digit_runs(tokens):
        mapped = [j for i, j in pairs if start <= i < end and j is not None]
        if not mapped:
            continue
        low, high = min(mapped), max(mapped) + 1
        # Widen to the whole digit run the streaming ear heard there.
        while low > 0 and streaming[low - 1].isdigit():
            low -= 1
        while high < len(streaming) and streaming[high].isdigit():
            high += 1
        heard = streaming[low:high]
        if len(heard) != end - start or "".join(heard) not in spelled:
            continue  # another length, or not digits read one by one ("four hundred twenty")
        words = sorted({owner[i] for i in range(start, end)})
        if any(not all(t.isdigit() for t in pieces[w]) for w in words):
            continue  # a word mixing digits and letters ("3pm"): leave it
        runs[words[0]] = (words[-1], [_DIGIT_NAMES[int(t)] for t in heard])
    return runs


def _spelled_digit_runs(text: str) -> set[str]:
    """The digit strings `text` reads one digit word at a time ("five five one" → "551")."""
    runs: set[str] = set()
    run = ""
    for word in [*text.lower().split(), ""]:
        if word in _DIGIT_NAMES or word == "oh":
            run += str(_DIGIT_NAMES.index(word)) if word != "oh" else "0"
            continue
        if len(run) >= MIN_DIGIT_RUN:
            runs.add(run)
        run = ""
    return runs


def _digit_runs(tokens: Sequence[str]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = None
    for i, token in enumerate([*tokens, ""]):
        if token.isdigit():
            start = i if start is None else start
        elif start is not None:
            if i - start >= MIN_DIGIT_RUN:
                runs.append((start, i))
            start = None
    return runs


def _digits_closer(a: str, b: str) -> float:
    """Two digits align more cheaply than a digit with a word: runs map onto runs."""
    if a == b:
        return 0.0
    return 0.5 if a.isdigit() and b.isdigit() else 1.0


def _align(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int | None]]:
    """Each token of `a` with the index of its token in `b` (None where it was dropped)."""
    return [(e.ref, e.hyp) for e in edit_script(a, b, _digits_closer) if e.ref is not None]
