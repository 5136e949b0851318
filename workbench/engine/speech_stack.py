"""The speech components an agent's calls share: recognisers, the agent's voice, fillers.

Loading them is slow (a pocketsphinx decoder with a domain language model takes about a
second; piper loads its network), so a `SpeechStack` is built once per agent and process and
handed to every call. Recognisers keep per-utterance state, so each concurrent call borrows
its own from a small pool.

Two ears listen through it (`EARS`): the *fast* ear is the streaming recogniser alone; the
*accurate* ear adds a final pass (Whisper base, `final_pass()`, in a worker process started
on first use and shared by every call: `speech/final_pass_process.py`) whose words the agent
understands. Both are taught the agent's own
vocabulary.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import iter_frames
from workbench.audio.heard import first_audible_index
from workbench.speech.lexicon import Lexicon
from workbench.speech.stt import load_recognizer
from workbench.speech.tts import TelephoneTTS, load_synthesizer
from workbench.speech.tts_cache import TTSCache
from workbench.speech.vad import VoiceActivityDetector

log = logging.getLogger(__name__)

# Silero's own default, not `bench vad`'s stricter 0.7: a pause is taken back cheaply (the
# reply resumes), a late pause is not; piper's "Wait, …" peaked at 0.69 on a clean line.
PAUSE_THRESHOLD = 0.5
LEAD_IN_MS = 5  # of the voice's leading silence kept, so the first sound is not clipped


class SpeechStack:
    """Recognisers, VAD settings and the agent's telephone voice for one agent."""

    def __init__(
        self,
        agent: Any,
        *,
        stt_backend: str = "pocketsphinx",
        domain_lm: bool = True,
        agent_voice: str | None = None,
        tts_cache: bool = True,
    ) -> None:
        self.agent = agent
        self.stt_backend = stt_backend
        self._domain_sentences = agent.domain_sentences() if domain_lm else None
        self._pool: list[Any] = []
        self._lock = threading.Lock()
        self.cache = TTSCache() if tts_cache else None
        lexicon = Lexicon.default()
        lexicon_path = getattr(agent, "lexicon_path", None)
        if lexicon_path:
            lexicon = lexicon.extend(Lexicon.load(lexicon_path))
        self.lexicon = lexicon
        # How the agent's own words are said (its lexicon), for the recogniser's dictionary.
        self.spoken_forms = lexicon.spoken_forms()
        self.agent_voice = agent_voice or agent.voice
        self.agent_tts = TelephoneTTS(load_synthesizer(self.agent_voice), lexicon, self.cache)
        self._caller_voices: dict[str, TelephoneTTS] = {}
        self._fillers: dict[str, list[bytes]] = {}
        # Load the models now so the first call does not pay for them.
        self.agent_tts.synthesizer.sample_rate  # noqa: B018 (piper loads its network lazily)
        self.release_recognizer(self.acquire_recognizer())
        self._final_pass: Any = None
        self._final_pass_lock = threading.Lock()

    def vocabulary(self) -> list[str]:
        """The agent's own words (names, products, lexicon) that bias the final pass."""
        vocabulary = getattr(self.agent, "vocabulary", None)
        return list(vocabulary()) if vocabulary is not None else []

    def final_pass(self) -> Any:
        """The accurate ear's final pass for this agent (loaded once, shared by all calls)."""
        with self._final_pass_lock:
            if self._final_pass is None:
                from workbench.speech.final_pass_process import ProcessFinalPass

                self._final_pass = ProcessFinalPass(self.vocabulary())
            return self._final_pass

    def first_pieces(self, sentence: str) -> list[str]:
        """A reply's first sentence cut at its first clause (and a long clause once more before
        a joining word), so its first audio needs only a few words synthesised. Sentences
        holding reading-mode markup are left whole."""
        if "<" in sentence:
            return [sentence]
        from workbench.speech.tts_piper import split_for_streaming

        return split_for_streaming(sentence) or [sentence]

    def render_agent_speech(self, sentence: str, *, first: bool = False) -> bytes:
        """One sentence in the agent's voice as μ-law; the first sentence of a reply loses the
        voice's leading silence (keeping `LEAD_IN_MS`), which the caller would otherwise wait
        through — synthesisers pad the start of every utterance."""
        ulaw = self.agent_tts.render(sentence)
        if not first:
            return ulaw
        pcm = ulaw_decode(ulaw)
        start = first_audible_index(pcm)
        if start is None:
            return ulaw
        keep_from = max(0, start - LEAD_IN_MS * 8)
        return ulaw[keep_from:]

    def new_vad(self, *, aggressiveness: int = 2, start_ms: float = 60.0) -> VoiceActivityDetector:
        return VoiceActivityDetector(aggressiveness=aggressiveness, start_ms=start_ms, stop_ms=200)

    def new_onset_detector(self) -> Any:
        """A detector of the caller's voice (not their room) for pausing the agent: Silero,
        fed the 16 kHz audio the recognisers hear."""
        from workbench.speech.silero import MODEL_RATE, SileroVoiceDetector

        return SileroVoiceDetector(threshold=PAUSE_THRESHOLD, sample_rate=MODEL_RATE)

    def acquire_recognizer(self) -> Any:
        """A recogniser for one call, its adaptation reset so every call starts alike."""
        recognizer = None
        with self._lock:
            if self._pool:
                recognizer = self._pool.pop()
        if recognizer is None:
            recognizer = load_recognizer(
                self.stt_backend,
                domain_sentences=self._domain_sentences,
                spoken_forms=self.spoken_forms,
                vocabulary=self.vocabulary(),
            )
        reset = getattr(recognizer, "reset_adaptation", None)
        if reset is not None:
            reset()
        return recognizer

    def release_recognizer(self, recognizer: Any) -> None:
        with self._lock:
            self._pool.append(recognizer)

    def filler_frames(self, text: str) -> list[bytes]:
        """A filler phrase pre-rendered in the agent's voice, ready to play instantly."""
        if not text:
            return []
        if text not in self._fillers:
            self._fillers[text] = list(iter_frames(self.agent_tts.render(text)))
        return self._fillers[text]

    def caller_tts(self, voice: str, rate_wpm: int | None = None) -> TelephoneTTS:
        """A caller's voice for scripted calls (cached: callers repeat their lines)."""
        key = f"{voice}|{rate_wpm}"
        if key not in self._caller_voices:
            self._caller_voices[key] = TelephoneTTS(
                load_synthesizer(voice, rate_wpm=rate_wpm), None, self.cache or TTSCache()
            )
        return self._caller_voices[key]
